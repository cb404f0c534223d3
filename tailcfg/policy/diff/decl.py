"""Changes of a policy's declarations: groups, tagOwners, hosts, autoApprovers, nodeAttrs.

Each section is compared as sets (order, layout and comments never count): a group
gains or loses members, a tag gains or loses owners, a host changes address, a route
prefix gains or loses approvers, a nodeAttrs target gains or loses attributes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tailcfg.policy.model.policy import NamedList, Policy


@dataclass(frozen=True, slots=True)
class DeclChange:
    """One declared name whose contents changed (``added``/``removed`` sorted)."""

    section: str  # groups, tagOwners, hosts, ipsets, postures, autoApprovers, nodeAttrs
    name: str
    status: str  # "added" (a new name), "removed" (a name gone) or "changed"
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "status": self.status,
            "added": list(self.added),
            "removed": list(self.removed),
        }


Section = dict[str, frozenset[str]]


def _named(section: Mapping[str, NamedList]) -> Section:
    return {k: frozenset(m.text.strip() for m in v.members) for k, v in section.items()}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _node_attrs(policy: Policy) -> Section:
    out: dict[str, set[str]] = {}
    for entry in policy.node_attrs:
        key = ", ".join(sorted(t.text.strip() for t in entry.target))
        values = out.setdefault(key, set())
        values.update(_text(a) for a in entry.attr)
        values.update(f"ipPool: {p.text.strip()}" for p in entry.ip_pool)
        values.update(f"app: {k} {_text(v)}" for k, v in entry.app.items())
    return {k: frozenset(v) for k, v in out.items()}


def _auto_approvers(policy: Policy) -> Section:
    aa = policy.auto_approvers
    out = {f"routes {k}": frozenset(r.text.strip() for r in v) for k, v in aa.routes.items()}
    if aa.exit_node:
        out["exitNode"] = frozenset(r.text.strip() for r in aa.exit_node)
    return out


def sections(policy: Policy) -> list[tuple[str, Section]]:
    """The declarations of a policy, section by section, as name -> set of values."""
    return [
        ("groups", _named(policy.groups)),
        ("tagOwners", _named(policy.tag_owners)),
        ("hosts", {k: frozenset({h.value.text.strip()}) for k, h in policy.hosts.items()}),
        ("ipsets", _named(policy.ipsets)),
        ("postures", _named(policy.postures)),
        ("autoApprovers", _auto_approvers(policy)),
        ("nodeAttrs", _node_attrs(policy)),
    ]


def declaration_changes(old: Policy, new: Policy) -> tuple[DeclChange, ...]:
    """Every declared name whose set of values differs, in section then name order."""
    out: list[DeclChange] = []
    for (section, before), (_, after) in zip(sections(old), sections(new), strict=True):
        for name in sorted(set(before) | set(after)):
            a, b = before.get(name, frozenset()), after.get(name, frozenset())
            if name not in before:
                status = "added"
            elif name not in after:
                status = "removed"
            elif a != b:
                status = "changed"
            else:
                continue
            out.append(
                DeclChange(section, name, status, tuple(sorted(b - a)), tuple(sorted(a - b)))
            )
    return tuple(out)
