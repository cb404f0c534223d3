"""Remote vs local: do they differ in text, in value, in meaning, in access? With the diff.

The semantic diff is the engine of ``tailcfg policy diff``
(:func:`tailcfg.policy.diff.compare.diff_policies`, rendered by :mod:`tailcfg.policy.diff.render`).
When a side cannot be loaded by the policy engine (the remote holds something this
version of tailcfg rejects, or not even HuJSON), the comparison is structural: the parsed
values (comments and layout ignored) and a unified diff of their canonical JSON; any
difference of value then counts as a difference in access.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tailcfg import hujson
from tailcfg.errors import TailcfgError
from tailcfg.policy.compile.engine import load_policy, users_of
from tailcfg.policy.diff.compare import diff_policies
from tailcfg.policy.diff.render import render_markdown, render_text
from tailcfg.policy.model.nodes import Node


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """How ``old`` (the remote) and ``new`` (the local file) differ."""

    same_text: bool
    same_value: bool  # equal once parsed: only formatting and comments differ
    same_access: bool  # network and SSH reachability
    same_meaning: bool  # also groups, tagOwners, hosts, autoApprovers, nodeAttrs
    engine: str  # "semantic" or "structural"
    text: str  # the rendered diff ("" when there is nothing to show)
    markdown: str
    data: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # why the structural engine was used, when it was

    @property
    def summary(self) -> str:
        if self.same_text:
            return "identical"
        if self.same_value:
            return "differs only in formatting or comments"
        if self.same_meaning:
            return "differs in text, not in meaning"
        if self.same_access:
            return "differs in declarations, not in access"
        return "differs in access"


def _value(text: str, path: str) -> Any:
    return hujson.parse(text, path).value if text.strip() else {}


def compare_policies(
    old_text: str,
    new_text: str,
    *,
    old_path: str = "remote",
    new_path: str = "local",
    nodes: Sequence[Node] | None = None,
) -> PolicyChange:
    """Compare two policy texts (HujsonError when ``new_text`` is not HuJSON)."""
    new_value = _value(new_text, new_path)
    try:
        old_value = _value(old_text, old_path)
    except TailcfgError as exc:
        note = f"{old_path} is not HuJSON: {exc}"
        return _structural(None, new_value, old_path, new_path, False, False, note)
    same = (old_text == new_text, old_value == new_value)
    try:
        return _semantic(old_text, new_text, old_path, new_path, nodes, *same)
    except TailcfgError as exc:
        note = f"semantic diff unavailable: {exc}"
    return _structural(old_value, new_value, old_path, new_path, *same, note)


def _semantic(
    old_text: str,
    new_text: str,
    old_path: str,
    new_path: str,
    nodes: Sequence[Node] | None,
    same_text: bool,
    same_value: bool,
) -> PolicyChange:
    users = users_of(nodes) if nodes is not None else ()
    old = load_policy(old_text if old_text.strip() else "{}", old_path, users=users)
    new = load_policy(new_text, new_path, users=users)
    diff = diff_policies(old, new, nodes=nodes)
    return PolicyChange(
        same_text=same_text,
        same_value=same_value,
        same_access=not diff.access_changed,
        same_meaning=not diff.changed,
        engine="semantic",
        text=render_text(diff) if diff.changed else "",
        markdown=render_markdown(diff),
        data=diff.to_json(),
    )


def canonical_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _structural(
    old_value: Any,
    new_value: Any,
    old_path: str,
    new_path: str,
    same_text: bool,
    same_value: bool,
    note: str,
) -> PolicyChange:
    old_lines = canonical_json(old_value).splitlines(keepends=True) if old_value is not None else []
    lines = difflib.unified_diff(
        old_lines, canonical_json(new_value).splitlines(keepends=True), old_path, new_path
    )
    text = "".join(lines)
    body = f"```diff\n{text}```\n" if text else "No change in the policy's values.\n"
    return PolicyChange(
        same_text=same_text,
        same_value=same_value,
        same_access=same_value,
        same_meaning=same_value,
        engine="structural",
        text=text,
        markdown=body,
        data={"engine": "structural", "same_value": same_value, "diff": text},
        note=note,
    )
