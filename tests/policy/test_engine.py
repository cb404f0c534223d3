"""The engine facade and ``tailcfg policy compile``: loading, positioned rejections, JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailcfg.cli.main import main
from tailcfg.errors import HujsonError, PolicyError, TailcfgError
from tailcfg.hujson import parse
from tailcfg.policy.compile.checks import check_policy
from tailcfg.policy.compile.engine import compile_file, load_policy
from tailcfg.policy.model.parse import build_policy

HOMELAB = Path(__file__).resolve().parents[2] / "examples" / "homelab"
TCP = [6]
CHECK_ROOT = {"action": "check", "src": ["*"], "dst": ["tag:x"], "users": ["root"]}

DAO = {
    "packet_filter": [
        {
            "SrcIPs": ["100.93.46.75", "fd7a:115c:a1e0::9137:2e4b"],
            "DstPorts": [
                {"IP": "100.86.11.46", "Ports": {"First": 22, "Last": 22}},
                {"IP": "100.86.11.46", "Ports": {"First": 443, "Last": 443}},
                {"IP": "fd7a:115c:a1e0::7f37:b2e", "Ports": {"First": 22, "Last": 22}},
                {"IP": "fd7a:115c:a1e0::7f37:b2e", "Ports": {"First": 443, "Last": 443}},
            ],
            "IPProto": TCP,
        },
        {
            "SrcIPs": ["100.68.120.3", "fd7a:115c:a1e0::4437:7803"],
            "DstPorts": [
                {"IP": "100.86.11.46", "Ports": {"First": 9100, "Last": 9100}},
                {"IP": "fd7a:115c:a1e0::7f37:b2e", "Ports": {"First": 9100, "Last": 9100}},
            ],
            "IPProto": TCP,
        },
        {
            "SrcIPs": ["100.110.33.140", "fd7a:115c:a1e0::6e37:218c"],
            "DstPorts": [
                {"IP": "100.86.11.46", "Ports": {"First": 443, "Last": 443}},
                {"IP": "fd7a:115c:a1e0::7f37:b2e", "Ports": {"First": 443, "Last": 443}},
            ],
            "IPProto": TCP,
        },
    ],
    "ssh_policy": {
        "rules": [
            {
                "principals": [{"nodeIP": "100.93.46.75"}, {"nodeIP": "fd7a:115c:a1e0::9137:2e4b"}],
                "sshUsers": {"*": "=", "root": "root"},
                "action": {
                    "accept": True,
                    "allowAgentForwarding": True,
                    "allowLocalPortForwarding": True,
                    "allowRemotePortForwarding": True,
                },
            }
        ]
    },
    "peers": ["ci-runner", "laptop", "monitor"],
}

BAD_TAG = (
    '{\n  "acls": [\n    {"action": "accept", "src": ["tag:nope"], "dst": ["*:*"]},\n  ],\n}\n'
)


def test_compile_file_one_node() -> None:
    out = compile_file(HOMELAB / "policy.hujson", HOMELAB / "nodes.json", node="dao")
    assert out == {"nodes": {"dao": DAO}}


def test_compile_file_all_nodes_in_topology_order() -> None:
    out = compile_file(HOMELAB / "policy.hujson", HOMELAB / "nodes.json")
    names = [n["name"] for n in json.loads((HOMELAB / "nodes.json").read_text())]
    assert list(out["nodes"]) == names
    assert out["nodes"]["dao"] == DAO


def test_compile_file_unknown_node(tmp_path: Path) -> None:
    with pytest.raises(TailcfgError, match="no node named 'zzz'"):
        compile_file(HOMELAB / "policy.hujson", HOMELAB / "nodes.json", node="zzz")


def test_rejected_policy_is_positioned() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(BAD_TAG, "p.hujson")
    d = info.value.diagnostic
    assert (d.message, d.span.path, d.span.line, d.span.col) == (
        'src=tag not found: "tag:nope"',
        "p.hujson",
        3,
        34,
    )


def test_syntax_errors_propagate() -> None:
    with pytest.raises(HujsonError):
        load_policy('{"acls": [}', "p.hujson")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"acls": [{"action": "deny", "src": ["*"], "dst": ["*:*"]}]},
            'action="deny" is not supported',
        ),
        (
            {"acls": [{"action": "accept", "src": ["*"], "dst": ["*:ssh"]}]},
            'dst="*:ssh": port range "ssh": invalid first integer',
        ),
        ({"grants": [{"src": ["*"], "dst": ["*"]}]}, "ip and app can not both be empty"),
        (
            {"grants": [{"src": ["*"], "dst": ["0.0.0.0/0"], "ip": ["*"]}]},
            'dst "0.0.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"',
        ),
        (
            {"groups": {"group:a": ["x@example.com"], "group:b": ["group:a"]}},
            'groups["group:b"]: "group:a": group members cannot be recursive',
        ),
        (
            {
                "ssh": [
                    {
                        "action": "check",
                        "src": ["*"],
                        "dst": ["*"],
                        "users": ["root"],
                        "checkPeriod": "200h",
                    }
                ]
            },
            "checkPeriod 200h0m0s is above the max (168h)",
        ),
    ],
)
def test_server_wording(policy: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(json.dumps(policy))
    assert info.value.diagnostic.message == message


def test_cli_compile(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "policy",
            "compile",
            str(HOMELAB / "policy.hujson"),
            "--nodes",
            str(HOMELAB / "nodes.json"),
            "--node",
            "dao",
        ]
    )
    assert rc == 0
    assert json.loads(capsys.readouterr().out) == {"nodes": {"dao": DAO}}


def test_cli_compile_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "bad.hujson"
    policy.write_text(BAD_TAG, encoding="utf-8")
    rc = main(["policy", "compile", str(policy), "--nodes", str(HOMELAB / "nodes.json")])
    captured = capsys.readouterr()
    assert rc == 1
    assert captured.out == ""
    assert captured.err.strip().endswith(
        '3:34: error[undefined-tag]: src=tag not found: "tag:nope"'
    )


@pytest.mark.parametrize(
    ("text", "message", "line_col"),
    [
        (
            '{"acls": [\n  {"action": "drop", "src": ["*"], "dst": ["*:*"]}]}',
            'action="drop" is not supported',
            (2, 14),
        ),
        (
            '{"ssh": [{"action": "check", "src": ["*"], "dst": ["autogroup:member"],\n'
            '  "users": ["root"], "checkPeriod": "-1m"}]}',
            "checkPeriod -1m0s must be a positive duration",
            (2, 37),
        ),
        (
            '{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["tcp:22"],\n  "via": ["nope"]}]}',
            "via can only be a tag",
            (2, 11),
        ),
    ],
)
def test_engine_checks_point_at_the_value(
    text: str, message: str, line_col: tuple[int, int]
) -> None:
    """The engine's own checks (run after the validator) are positioned on the value."""
    with pytest.raises(PolicyError) as info:
        check_policy(build_policy(parse(text, "p.hujson")))
    d = info.value.diagnostic
    assert (d.message, (d.span.line, d.span.col)) == (message, line_col)
