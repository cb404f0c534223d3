"""explain: the verdict, the granting rules (file:line), and the nearest misses."""

from __future__ import annotations

import pytest
from evalcases import load, nodes

from tailcfg.errors import TailcfgError
from tailcfg.policy.evaluate.explain import explain, format_explanation, split_dst_port
from tailcfg.policy.evaluate.verdicts import Outcome


@pytest.mark.parametrize(
    ("args", "kwargs", "text"),
    [
        (
            ("alice@example.com", "tag:prod", 22),
            {},
            "alice@example.com -> tag:prod:22: ACCEPT\ngranted by:\n  policy.hujson:7 (acls[0])",
        ),
        (
            ("bob@example.com", "tag:prod", 8443),
            {},
            "bob@example.com -> tag:prod:8443: DENY\n"
            "nearest misses:\n"
            "  policy.hujson:7 (acls[0]): lacks port (ports 22,443)\n"
            "  policy.hujson:13 (grants[0]): lacks src (matches the destination, not the source)",
        ),
        (
            ("tag:prod", "tag:db", 5432),
            {"proto": "udp"},
            "tag:prod -> tag:db:5432/udp: DENY\n"
            "nearest misses:\n"
            "  policy.hujson:8 (acls[1]): lacks proto (protocols [6])",
        ),
        (
            ("bob-laptop", "prod1", 8080),
            {"nodes": "topology"},
            "bob-laptop -> prod1:8080: ACCEPT\ngranted by:\n  policy.hujson:10 (acls[3])",
        ),
        (
            ("bob@example.com", "tag:prod", 8080),
            {"nodes": "topology"},
            "bob@example.com -> tag:prod:8080: ACCEPT (partially: not every device pair)\n"
            "granted by:\n"
            "  policy.hujson:10 (acls[3])\n"
            "nearest misses:\n"
            "  policy.hujson:7 (acls[0]): lacks port (ports 22,443)\n"
            "devices:\n"
            "  bob-laptop -> prod1: allowed\n"
            "  bob-laptop -> prod2: denied",
        ),
        (
            ("alice@example.com", "nas", 445),
            {"nodes": "topology"},
            "alice@example.com -> nas:445: ACCEPT\ngranted by:\n  policy.hujson:9 (acls[2])",
        ),
        (
            ("alice@example.com", "tag:db", 22),
            {"ssh_login": "alice"},
            "alice@example.com -> tag:db as alice (ssh): CHECK\n"
            "granted by:\n"
            "  policy.hujson:18 (ssh[1])",
        ),
        (
            ("alice@example.com", "tag:db", 22),
            {"ssh_login": "root"},
            "alice@example.com -> tag:db as root (ssh): DENY\n"
            "nearest misses:\n"
            "  policy.hujson:18 (ssh[1]): lacks login (users autogroup:nonroot)",
        ),
    ],
)
def test_explain(args: tuple[str, str, int], kwargs: dict[str, str], text: str) -> None:
    options: dict[str, object] = dict(kwargs)
    if options.get("nodes") == "topology":
        options["nodes"] = nodes()
    result = explain(load(), *args, **options)  # type: ignore[arg-type]
    assert format_explanation(result) == text


def test_explain_json_shape() -> None:
    result = explain(load(), "alice@example.com", "tag:prod", 22)
    assert result.verdict is Outcome.ACCEPT
    assert result.to_json() == {
        "src": "alice@example.com",
        "dst": "tag:prod",
        "port": 22,
        "proto": None,
        "login": None,
        "verdict": "accept",
        "partial": False,
        "rules": [{"rule": "acls[0]", "path": "policy.hujson", "line": 7, "col": 5}],
        "misses": [],
        "pairs": [
            {"src": "alice@example.com", "dst": "tag:prod", "allowed": True, "checked": False}
        ],
    }


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("carol@example.com", "tag:prod", "explain: src 'carol@example.com' is not a user"),
        ("alice@example.com", "tag:nope", 'explain: dst="tag:nope": tag not found: "tag:nope"'),
        ("alice@example.com", "nowhere", "explain: dst 'nowhere': no such host or device"),
        ("alice@example.com", "lan", "explain: dst 'lan' is a network, not one host"),
    ],
)
def test_explain_errors(src: str, dst: str, message: str) -> None:
    with pytest.raises(TailcfgError) as info:
        explain(load(), src, dst, 22)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "default", "want"),
    [
        ("tag:prod:22", None, ("tag:prod", 22)),
        ("[fd7a:115c:a1e0::1]:443", None, ("fd7a:115c:a1e0::1", 443)),
        ("tag:prod", 22, ("tag:prod", 22)),
        ("100.64.0.1", 22, ("100.64.0.1", 22)),
    ],
)
def test_split_dst_port(text: str, default: int | None, want: tuple[str, int]) -> None:
    assert split_dst_port(text, default=default) == want


def test_split_dst_port_needs_a_port() -> None:
    with pytest.raises(TailcfgError, match="expected DST:PORT"):
        split_dst_port("tag:prod")
