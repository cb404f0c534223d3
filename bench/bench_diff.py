"""Benchmark ``policy diff``: two 2,000-rule policies over 1,000 devices (goal: < 1 s).

The new policy is the old one with a pull request applied: a typical one (a few rules
change ports, one is removed, one is added, an SSH login is added), a large one (also
a group named by ~30 rules gains a member) and a wide one (also a rule to ``*:22``).
Prints the phases of ``diff_policies`` (universe, resolvers, prune, compile of the dirty
devices, compare, capabilities, group with the rules behind each row), the best and
median totals, and the goal verdict.

    .venv/bin/python bench/bench_diff.py [--rules 2000] [--devices 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.diff.access import access_delta
from tailcfg.policy.diff.caps import cap_delta
from tailcfg.policy.diff.compare import diff_policies
from tailcfg.policy.diff.decl import declaration_changes
from tailcfg.policy.diff.group import group_access, group_caps, group_ssh
from tailcfg.policy.diff.prune import prune_split
from tailcfg.policy.diff.rules import RuleFinder
from tailcfg.policy.diff.universe import Side, Universe, build_universe, compile_sides
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy

GOAL_S = 1.0


def make_nodes(n: int, tags: int, users: int) -> list[Node]:
    out = []
    for i in range(n):
        v4 = f"100.{80 + i // 250}.{i % 250 + 1}.{7 + i % 3}"
        v6 = f"fd7a:115c:a1e0::{i + 1:x}"
        if i % 3:
            out.append(Node(f"srv-{i}", v4, v6, tags=(f"tag:t{i % tags}",)))
        else:
            out.append(Node(f"dev-{i}", v4, v6, user=f"user{i % users}@example.com"))
    return out


def make_policy(rng: random.Random, rules: int, tags: int, users: int) -> dict[str, Any]:
    groups = {
        f"group:g{g}": sorted({f"user{rng.randrange(users)}@example.com" for _ in range(5)})
        for g in range(20)
    }
    owners = {f"tag:t{t}": ["group:g0"] for t in range(tags)}
    acls = []
    for _ in range(rules):
        kind = rng.random()
        if kind < 0.4:
            src = f"tag:t{rng.randrange(tags)}"
        elif kind < 0.7:
            src = f"group:g{rng.randrange(20)}"
        else:
            src = f"user{rng.randrange(users)}@example.com"
        port = rng.choice(["22", "80", "443", "5432", "8000-8100", "9100", "*"])
        acls.append(
            {"action": "accept", "src": [src], "dst": [f"tag:t{rng.randrange(tags)}:{port}"]}
        )
    ssh = [
        {
            "action": "accept",
            "src": [f"group:g{g}"],
            "dst": [f"tag:t{g}"],
            "users": ["autogroup:nonroot"],
        }
        for g in range(20)
    ]
    return {"groups": groups, "tagOwners": owners, "acls": acls, "ssh": ssh}


def pull_request(
    rng: random.Random, doc: dict[str, Any], large: bool, wide: bool = False
) -> dict[str, Any]:
    """A typical PR (a few ports change, one rule goes, one comes, an SSH login is added);
    ``large`` also adds a member to a group that about 30 rules name; ``wide`` also opens
    TCP/22 on every device (``*``) to a group."""
    new: dict[str, Any] = json.loads(json.dumps(doc))
    acls = new["acls"]
    for _ in range(3):
        rule = acls[rng.randrange(len(acls))]
        rule["dst"] = [rule["dst"][0].rsplit(":", 1)[0] + ":" + rng.choice(["23", "8443"])]
    del acls[rng.randrange(len(acls))]
    acls.append({"action": "accept", "src": ["group:g3"], "dst": ["tag:t7:3000"]})
    new["ssh"][0]["users"].append("deploy")
    if large:
        new["groups"]["group:g1"].append("user199@example.com")
    if wide:
        acls.append({"action": "accept", "src": ["group:g5"], "dst": ["*:22"], "proto": "tcp"})
    return new


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=2000)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(4)
    tags, users = 60, 200
    nodes = make_nodes(args.devices, tags, users)
    old_doc = make_policy(rng, args.rules, tags, users)
    t_load, old = timed(lambda: load_policy(json.dumps(old_doc, indent=1), "old.json"))
    print(f"policies: {args.rules} rules, {args.devices} devices; load one: {t_load:.3f} s")
    for name, large, wide in (
        ("typical", False, False),
        ("large", True, False),
        ("wide", False, True),
    ):
        new_doc = pull_request(rng, old_doc, large, wide)
        new = load_policy(json.dumps(new_doc, indent=1), "new.json")
        totals = []
        for _ in range(args.repeat):
            t_total, result = timed(lambda: diff_policies(old, new, nodes=nodes))  # noqa: B023
            totals.append(t_total)
        print(f"-- {name} pull request")
        phases(old, new, nodes, args.repeat)
        best, med = min(totals), statistics.median(totals)
        verdict = "goal met" if med < GOAL_S else "GOAL MISSED"
        print(
            f"diff_policies: best {best:.3f} s, median {med:.3f} s "
            f"(median {med / GOAL_S:.2f}x the {GOAL_S:.0f} s goal: {verdict})"
        )
        print(
            f"result: {len(result.gained)} gained rows, {len(result.lost)} lost rows, "
            f"{len(result.ssh_gained)} SSH gained, {len(result.declarations)} declarations"
        )
    t_same, same = timed(lambda: diff_policies(old, old, nodes=nodes))
    print(f"-- a policy with itself: {t_same:.3f} s (changed={same.changed})")


def compile_dirty(
    nodes: Sequence[Node], sides: Sequence[Side], dirty: frozenset[str] | None
) -> None:
    """Compile the devices the comparison reads (sides compile lazily, device by device)."""
    for side in sides:
        for n in nodes:
            if dirty is None or n.name in dirty:
                side.packet_filter(n)
                side.ssh_policy(n)


def phases(old: Policy, new: Policy, nodes: list[Node], repeat: int) -> None:
    """The steps of ``diff_policies``, each timed on its own (best of ``repeat``)."""
    best: dict[str, float] = {}

    def step(name: str, fn: Any) -> Any:
        t, out = timed(fn)
        best[name] = min(best.get(name, t), t)
        return out

    for _ in range(repeat):
        u = step("universe", lambda: build_universe(old, new, nodes))
        rs = step("resolvers", lambda: (Resolver(old, u.nodes), Resolver(new, u.nodes)))  # noqa: B023
        pruned = step("prune", lambda: prune_split(old, new, u.nodes, resolvers=rs))  # noqa: B023
        dirty = pruned.dirty
        sides = compile_sides(pruned, rs)
        step("compile", lambda: compile_dirty(u.nodes, sides, dirty))  # noqa: B023
        delta = step("compare", lambda: access_delta(u, *sides, only=dirty))  # noqa: B023
        step("caps", lambda: cap_delta(u, *sides, only=dirty))  # noqa: B023
        finders = RuleFinder(pruned.old, rs[0]), RuleFinder(pruned.new, rs[1])
        step("group", lambda: group_all(u, (old, new), delta, finders))  # noqa: B023
    shared = "nothing shared"
    if pruned.shared:
        common, old_own, new_own = pruned.shared
        shared = (
            f"{len(common.acls)} compiled once for both, "
            f"{len(old_own.acls)} + {len(new_own.acls)} own"
        )
    print(
        f"phases (best of {repeat}): universe {best['universe']:.3f} s, "
        f"resolvers {best['resolvers']:.3f} s, prune {best['prune']:.3f} s "
        f"({len(dirty or ())} dirty devices, {len(pruned.new.acls)} rules kept, {shared}), "
        f"compile (dirty devices) {best['compile']:.3f} s, compare {best['compare']:.3f} s, "
        f"caps {best['caps']:.3f} s, group + rules {best['group']:.3f} s"
    )


def group_all(u: Universe, policies: tuple[Policy, Policy], delta: Any, finders: Any) -> None:
    group_access(u, policies, delta, finders)
    group_caps(u, policies, delta)
    group_ssh(u, policies, delta, finders)
    declaration_changes(*policies)


if __name__ == "__main__":
    main()
