"""Read and edit ``.sops.yaml`` with ruamel's round trip: comments, order and anchors kept.

sops picks the *first* creation rule whose ``path_regex`` matches a file's path (relative to
the config's directory); a rule without ``path_regex`` matches everything. A host rule
``path_regex: secrets/<host>/[^/]+\\.yaml$`` therefore goes before the first rule that would
already match the host's files (the catch-all), or last when none does.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import PlainScalarString

from tailcfg.atomicfile import atomic_write_text
from tailcfg.errors import SopsError
from tailcfg.textfile import read_text, yaml_problem


@dataclass(frozen=True, slots=True)
class CreationRule:
    index: int
    path_regex: str | None
    recipients: tuple[str, ...]  # age recipients over all key groups

    def matches(self, rel_path: str) -> bool:
        return self.path_regex is None or re.search(self.path_regex, rel_path) is not None


def host_path_regex(secrets_rel: str, host: str) -> str:
    """``secrets/<host>/[^/]+\\.yaml$`` for a secrets dir relative to ``.sops.yaml``."""
    prefix = re.escape(secrets_rel.strip("/")).replace("\\/", "/")
    return f"{prefix}/{host}/[^/]+\\.yaml$"


def load_rules(config: Path) -> tuple[CreationRule, ...]:
    data, _ = _load(config)
    return tuple(_rule(i, raw) for i, raw in enumerate(_rules(data, config)))


def rule_for(rules: Sequence[CreationRule], rel_path: str) -> CreationRule | None:
    """The rule sops would use for ``rel_path`` (the first match), or None."""
    return next((rule for rule in rules if rule.matches(rel_path)), None)


def ensure_host_rule(
    config: Path,
    *,
    host: str,
    recipient: str,
    admins: Sequence[str],
    secrets_rel: str = "secrets",
) -> bool:
    """Make ``.sops.yaml`` hold the host's rule (host recipient + admins); True if it changed.

    Creates the file when missing. An existing rule with the same ``path_regex`` is updated
    in place when its recipients differ; otherwise the file is left byte-for-byte alone.
    """
    regex = host_path_regex(secrets_rel, host)
    wanted = [*dict.fromkeys([*admins, recipient])]
    data, indent = _load(config) if config.exists() else (CommentedMap(), Indent())
    rules = data.setdefault("creation_rules", CommentedSeq())
    if not isinstance(rules, CommentedSeq):
        raise SopsError(f"{config}: creation_rules must be a list")
    keys = _anchored_keys(data)
    ages = _age_seq([_key_node(data, keys, r, host if r == recipient else None) for r in wanted])
    existing = next(
        (r for r in rules if isinstance(r, CommentedMap) and r.get("path_regex") == regex), None
    )
    if existing is not None:
        if set(_rule(0, existing).recipients) == set(wanted):
            return False
        existing.pop("age", None)
        existing["key_groups"] = CommentedSeq([CommentedMap([("age", ages)])])
    else:
        rule = CommentedMap([("path_regex", regex)])
        rule["key_groups"] = CommentedSeq([CommentedMap([("age", ages)])])
        position = _insert_at(rules, secrets_rel, host)
        rules.insert(position, rule)
        if 0 < position < len(rules) - 1:
            _move_end_comments(rules, position)
    atomic_write_text(config, dump_round_trip(data, indent))
    return True


# --- internals -----------------------------------------------------------------------------


def _move_end_comments(rules: CommentedSeq, position: int) -> None:
    """Comments after rule ``position - 1`` introduce the rule that followed it: keep them
    above that rule once the new one is inserted at ``position``."""
    node = rules[position - 1]
    while isinstance(node, (CommentedMap, CommentedSeq)) and node:
        if node.ca.end:
            tokens, node.ca.end = node.ca.end, []
            text = "".join(str(getattr(t, "value", "")) for t in tokens)
            lines = [ln.strip()[1:].strip() for ln in text.splitlines() if ln.strip()]
            column = int(getattr(tokens[0], "column", 0) or 0)
            if lines:
                rules.yaml_set_comment_before_after_key(
                    position + 1, before="\n".join(lines), indent=column
                )
            return
        node = node[list(node)[-1]] if isinstance(node, CommentedMap) else node[-1]


def _insert_at(rules: list[Any], secrets_rel: str, host: str) -> int:
    """After the last per-host rule, but before any rule that already matches the host."""
    probe = f"{secrets_rel.strip('/')}/{host}/tailscale.yaml"
    parsed = [_rule(i, raw) for i, raw in enumerate(rules)]
    first_match = next((r.index for r in parsed if r.matches(probe)), len(rules))
    host_rule = re.compile(re.escape(secrets_rel.strip("/")) + r"/[a-z0-9-]+/")
    per_host = [r.index for r in parsed if r.path_regex and host_rule.match(r.path_regex)]
    after_hosts = per_host[-1] + 1 if per_host else len(rules)
    return min(first_match, after_hosts)


@dataclass(frozen=True, slots=True)
class Indent:
    """Block indentation of a YAML file, as ruamel's ``YAML.indent`` takes it."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


def guess_indent(text: str) -> Indent:
    """The first nested mapping and the first block sequence decide (defaults otherwise)."""
    mapping = sequence = offset = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for parent, child in itertools.pairwise(lines):
        if not parent.rstrip().endswith(":"):
            continue
        base = len(parent) - len(parent.lstrip(" -"))
        col = len(child) - len(child.lstrip(" "))
        if child.lstrip().startswith("- ") and offset is None and col >= base:
            offset = col - base
            after = child[col + 1 :]
            sequence = offset + 1 + len(after) - len(after.lstrip(" "))
        elif not child.lstrip().startswith("- ") and mapping is None and col > base:
            mapping = col - base
    default = Indent()
    return Indent(
        mapping or default.mapping,
        sequence if sequence is not None else default.sequence,
        offset if offset is not None else default.offset,
    )


def dump_round_trip(data: Any, indent: Indent) -> str:
    """Text of a round-trip tree with the file's own indentation."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=indent.mapping, sequence=indent.sequence, offset=indent.offset)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _load(config: Path) -> tuple[Any, Indent]:
    text = read_text(config, "sops config", error=SopsError)
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise SopsError(yaml_problem(config, exc)) from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise SopsError(f"{config}: expected a mapping with creation_rules")
    return data, guess_indent(text)


def _rules(data: Any, config: Path) -> list[Any]:
    rules = data.get("creation_rules") if isinstance(data, dict) else None
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise SopsError(f"{config}: creation_rules must be a list")
    return rules


def _rule(index: int, raw: Any) -> CreationRule:
    if not isinstance(raw, dict):
        return CreationRule(index, None, ())
    recipients: list[str] = _split_age(raw.get("age"))
    for group in raw.get("key_groups") or ():
        if isinstance(group, dict):
            recipients += _split_age(group.get("age"))
    regex = raw.get("path_regex")
    return CreationRule(index, str(regex) if regex is not None else None, tuple(recipients))


def _split_age(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v).strip() for v in value]


def _anchored_keys(data: CommentedMap) -> dict[str, Any]:
    """Recipient -> its node in the top-level ``keys:`` list (so rules can alias it)."""
    keys = data.get("keys")
    if not isinstance(keys, list):
        return {}
    return {str(node).strip(): node for node in keys}


def _key_node(data: CommentedMap, keys: dict[str, Any], recipient: str, anchor: str | None) -> Any:
    """The ``keys:`` entry for ``recipient`` (added, anchored, when the file uses ``keys:``)."""
    if recipient in keys:
        node = keys[recipient]
        if getattr(node, "anchor", None) is not None and node.anchor.value is None and anchor:
            node.yaml_set_anchor(anchor, always_dump=True)
        return node
    if "keys" not in data or anchor is None:
        return recipient
    node = PlainScalarString(recipient, anchor=_free_anchor(keys, anchor))
    data["keys"].append(node)
    keys[recipient] = node
    return node


def _free_anchor(keys: dict[str, Any], wanted: str) -> str:
    taken = {n.anchor.value for n in keys.values() if getattr(n, "anchor", None) is not None}
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}_{n}", n + 1
    return name


def _age_seq(nodes: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(nodes)
    seq.fa.set_flow_style()
    return seq
