"""Semantic diff of two policies: who gains and who loses access, not a text diff.

Public API::

    diff_policies(old, new, *, nodes=None) -> PolicyDiff
    diff_sources(old_spec, new_spec, *, nodes_path=None, cwd=None) -> PolicyDiff
        each spec a file path or ``REV:path`` (read with git, :mod:`tailcfg.gitobj`)

Reachability comes from the engine (:mod:`tailcfg.policy.diff.access`): both policies are
compiled on the same devices and their packet filters and SSH policies compared. The
result is grouped for reading (:mod:`tailcfg.policy.diff.group`): sources collapse to
``*``, autogroups, groups, users and tags when every device of the identity changes
alike; destinations are devices (stand-ins read as their identity), and addresses
served through a router (``nas via gateway``, ``autogroup:internet via exit``).
Declarations (groups, tagOwners, hosts, autoApprovers, nodeAttrs) are compared as
sets. Reformatting, reordering or editing comments changes nothing.
Renderers: :mod:`tailcfg.policy.diff.render`; shapes in ``docs/diff.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailcfg import gitobj
from tailcfg.policy.compile.engine import load_policy, users_of
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.diff.access import Delta, Facts, access_delta
from tailcfg.policy.diff.caps import cap_delta
from tailcfg.policy.diff.decl import DeclChange, declaration_changes
from tailcfg.policy.diff.group import (
    AccessChange,
    CapChange,
    PortSpec,
    SshChange,
    group_access,
    group_caps,
    group_ssh,
    rule_json,
)
from tailcfg.policy.diff.prune import prune_split
from tailcfg.policy.diff.rules import RuleFinder
from tailcfg.policy.diff.universe import build_universe, compile_sides
from tailcfg.policy.model.nodes import Node, load_nodes
from tailcfg.policy.model.policy import Policy

__all__ = [
    "AccessChange",
    "CapChange",
    "DeclChange",
    "PolicyDiff",
    "PortSpec",
    "SshChange",
    "diff_policies",
    "diff_sources",
]


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    """The semantic difference between two policies (empty when they mean the same)."""

    old: str
    new: str
    mode: str  # "symbolic" (stand-in devices) or "topology" (--nodes)
    gained: tuple[AccessChange, ...] = ()
    lost: tuple[AccessChange, ...] = ()
    ssh_gained: tuple[SshChange, ...] = ()
    ssh_lost: tuple[SshChange, ...] = ()
    ssh_changed: tuple[SshChange, ...] = ()
    caps_gained: tuple[CapChange, ...] = ()
    caps_lost: tuple[CapChange, ...] = ()
    declarations: tuple[DeclChange, ...] = ()
    delta: Delta = field(default_factory=Delta, compare=False, repr=False)

    @property
    def access_changed(self) -> bool:
        """Does any source reach any destination differently (network, SSH, capabilities)?"""
        ssh = self.ssh_gained or self.ssh_lost or self.ssh_changed
        return bool(self.gained or self.lost or ssh or self.caps_gained or self.caps_lost)

    @property
    def changed(self) -> bool:
        """Access or any declaration differs (what ``--exit-code`` reports)."""
        return self.access_changed or bool(self.declarations)

    @property
    def facts(self) -> tuple[Facts, Facts]:
        """The ungrouped (gained, lost) facts, see :mod:`tailcfg.policy.diff.access`."""
        return self.delta.gained, self.delta.lost

    def to_json(self) -> dict[str, Any]:
        """The stable machine shape (``version`` 1, documented in ``docs/diff.md``)."""
        return {
            "version": 1,
            "old": self.old,
            "new": self.new,
            "mode": self.mode,
            "changed": self.changed,
            "access_changed": self.access_changed,
            "access": {
                "gained": [c.to_json() for c in self.gained],
                "lost": [c.to_json() for c in self.lost],
            },
            "ssh": {
                "gained": [c.to_json() for c in self.ssh_gained],
                "lost": [c.to_json() for c in self.ssh_lost],
                "changed": [c.to_json() for c in self.ssh_changed],
            },
            "capabilities": {
                "gained": [c.to_json() for c in self.caps_gained],
                "lost": [c.to_json() for c in self.caps_lost],
            },
            "declarations": [d.to_json() for d in self.declarations],
            "rules": {
                "access": {
                    "gained": [[rule_json(r) for r in c.rules] for c in self.gained],
                    "lost": [[rule_json(r) for r in c.rules] for c in self.lost],
                },
                "ssh": {
                    "gained": [[rule_json(r) for r in c.rules] for c in self.ssh_gained],
                    "lost": [[rule_json(r) for r in c.rules] for c in self.ssh_lost],
                    "changed": [[rule_json(r) for r in c.rules] for c in self.ssh_changed],
                },
            },
        }


def diff_policies(old: Policy, new: Policy, *, nodes: Sequence[Node] | None = None) -> PolicyDiff:
    """Compare what ``old`` and ``new`` let every identity reach (see the module docstring)."""
    universe = build_universe(old, new, nodes)
    resolvers = Resolver(old, universe.nodes), Resolver(new, universe.nodes)
    pruned = prune_split(old, new, universe.nodes, resolvers=resolvers)
    small_old, small_new, dirty = pruned.old, pruned.new, pruned.dirty
    if dirty is not None and not dirty:
        delta = Delta()  # no rule means anything new: nothing to compile
    else:
        sides = compile_sides(pruned, resolvers)
        delta = access_delta(universe, *sides, only=dirty)
        delta.caps_gained, delta.caps_lost = cap_delta(universe, *sides, only=dirty)
    finders = RuleFinder(small_old, resolvers[0]), RuleFinder(small_new, resolvers[1])
    gained, lost = group_access(universe, (old, new), delta, finders)
    caps_gained, caps_lost = group_caps(universe, (old, new), delta)
    ssh_gained, ssh_lost, ssh_changed = group_ssh(universe, (old, new), delta, finders)
    return PolicyDiff(
        old=old.path,
        new=new.path,
        mode="topology" if nodes is not None else "symbolic",
        gained=gained,
        lost=lost,
        ssh_gained=ssh_gained,
        ssh_lost=ssh_lost,
        ssh_changed=ssh_changed,
        caps_gained=caps_gained,
        caps_lost=caps_lost,
        declarations=declaration_changes(old, new),
        delta=delta,
    )


def diff_sources(
    old_spec: str,
    new_spec: str,
    *,
    nodes_path: Path | None = None,
    cwd: Path | None = None,
) -> PolicyDiff:
    """Read both sides (a file or ``REV:path``), load and validate them, and diff them."""
    old_src = gitobj.read_source(old_spec, cwd=cwd)
    new_src = gitobj.read_source(new_spec, cwd=cwd)
    nodes = load_nodes(nodes_path) if nodes_path is not None else None
    users = users_of(nodes) if nodes is not None else ()
    old = load_policy(old_src.text, old_src.label, users=users)
    new = load_policy(new_src.text, new_src.label, users=users)
    return diff_policies(old, new, nodes=nodes)
