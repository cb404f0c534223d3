"""tailcfg.sopsconfig: .sops.yaml edits keep comments, order and anchors; idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailcfg.sopsconfig import (
    CreationRule,
    Indent,
    ensure_host_rule,
    guess_indent,
    host_path_regex,
    load_rules,
    rule_for,
)

ODIN = "age1fdwhcg84ns28vlm0zana7gpwhhvan0dvw0rf78zf2wz0pkexcpds36q7ge"
NAS = "age1wh38phef2tzhh2pk0w5xrrqh37072rdj0xwnqnn5ayvdnptgv9rqcus9mn"
DAO = "age10jh5yjh9rnjqv0jmqvzfzlgmyfazhjt0y2trw662hxtg0k32syfsmav0nh"

SEED = """\
# who can decrypt what
keys:
  - &odin age1fdwhcg84ns28vlm0zana7gpwhhvan0dvw0rf78zf2wz0pkexcpds36q7ge  # the admin
  - &dao age10jh5yjh9rnjqv0jmqvzfzlgmyfazhjt0y2trw662hxtg0k32syfsmav0nh
creation_rules:
  - path_regex: secrets/dao/[^/]+\\.yaml$
    key_groups:
      - age: [*odin, *dao]
  # Catch-all: everything else only for the admin.
  - path_regex: secrets/[^/]+\\.yaml$
    key_groups:
      - age: [*odin]
"""


def test_adds_rule_after_host_rules_keeping_comments_and_anchors(tmp_path: Path) -> None:
    config = tmp_path / ".sops.yaml"
    config.write_text(SEED)
    assert ensure_host_rule(config, host="nas", recipient=NAS, admins=[ODIN]) is True
    assert config.read_text() == SEED.replace(
        "  - &dao age10jh5yjh9rnjqv0jmqvzfzlgmyfazhjt0y2trw662hxtg0k32syfsmav0nh\n",
        f"  - &dao {DAO}\n  - &nas {NAS}\n",
    ).replace(
        "  # Catch-all",
        "  - path_regex: secrets/nas/[^/]+\\.yaml$\n"
        "    key_groups:\n"
        "      - age: [*odin, *nas]\n"
        "  # Catch-all",
    )
    before = config.read_bytes()
    assert ensure_host_rule(config, host="nas", recipient=NAS, admins=[ODIN]) is False
    assert config.read_bytes() == before
    rules = load_rules(config)
    assert rule_for(rules, "secrets/nas/tailscale.yaml") == CreationRule(
        1, "secrets/nas/[^/]+\\.yaml$", (ODIN, NAS)
    )
    assert rule_for(rules, "secrets/misc.yaml") == CreationRule(2, "secrets/[^/]+\\.yaml$", (ODIN,))
    assert rule_for(rules, "elsewhere/x.yaml") is None


def test_updates_a_changed_host_recipient(tmp_path: Path) -> None:
    config = tmp_path / ".sops.yaml"
    config.write_text(SEED)
    assert ensure_host_rule(config, host="dao", recipient=NAS, admins=[ODIN]) is True
    rules = load_rules(config)
    assert rules[0] == CreationRule(0, "secrets/dao/[^/]+\\.yaml$", (ODIN, NAS))
    assert "      - age: [*odin, *dao_2]\n" in config.read_text()


def test_catch_all_without_path_regex_stays_last(tmp_path: Path) -> None:
    config = tmp_path / ".sops.yaml"
    config.write_text(f"creation_rules:\n- age: {ODIN}\n")
    assert ensure_host_rule(config, host="nas", recipient=NAS, admins=[ODIN])
    assert config.read_text() == (
        "creation_rules:\n"
        "- path_regex: secrets/nas/[^/]+\\.yaml$\n"
        "  key_groups:\n"
        f"  - age: [{ODIN}, {NAS}]\n"
        f"- age: {ODIN}\n"
    )
    assert load_rules(config)[1] == CreationRule(1, None, (ODIN,))


def test_creates_the_file(tmp_path: Path) -> None:
    config = tmp_path / ".sops.yaml"
    assert ensure_host_rule(
        config, host="nas", recipient=NAS, admins=[ODIN, NAS], secrets_rel="ops/secrets"
    )
    assert config.read_text() == (
        "creation_rules:\n"
        "  - path_regex: ops/secrets/nas/[^/]+\\.yaml$\n"
        "    key_groups:\n"
        f"      - age: [{ODIN}, {NAS}]\n"
    )


def test_comma_separated_age(tmp_path: Path) -> None:
    config = tmp_path / ".sops.yaml"
    config.write_text(f"creation_rules:\n  - path_regex: x\n    age: '{ODIN}, {NAS}'\n")
    assert load_rules(config) == (CreationRule(0, "x", (ODIN, NAS)),)


@pytest.mark.parametrize(
    ("text", "indent"),
    [
        (SEED, Indent(2, 4, 2)),
        ("a:\n- b: 1\n  c:\n    d: 2\n", Indent(2, 2, 0)),
        ("a:\n    b:\n        - 1\n", Indent(4, 6, 4)),
        ("a: 1\n", Indent()),
    ],
)
def test_guess_indent(text: str, indent: Indent) -> None:
    assert guess_indent(text) == indent


def test_host_path_regex() -> None:
    assert host_path_regex("secrets", "dao") == "secrets/dao/[^/]+\\.yaml$"
    assert host_path_regex("./ops.d/secrets/", "dao") == "\\./ops\\.d/secrets/dao/[^/]+\\.yaml$"
