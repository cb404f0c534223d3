"""Policy engine benchmark: compile growth with the number of devices, and the tests run.

Two generated tailnets, each 2,000 rules (1,500 ACLs + 500 grants), 300 groups, 200 tags
and 10,000 tests, on 250 / 500 / 1,000 / 2,000 devices:

- ``standard``: issue 3's scenario (1-3 sources and 1-3 tag destinations a rule);
- ``heavy``: denser rules (2-6 destinations with port lists, 1 in 20 ACLs also from
  autogroup:member), about 55k DstPorts entries and 450k peer pairs at 1,000 devices.

For each it prints compile time (every device's packet filter, SSH policy and peers),
cost per device and its ratio to the 250-device figure, then the 10,000 tests at 1,000
devices: the first run on a freshly compiled world (every index built lazily on the way:
packet filters, device masks, rule provenance) and the part of it spent naming the rules
behind each verdict (``Provenance``: its index and lookups), a repeat run on the same
world, and the whole ``run_tests`` (world + compile + tests). One verdict line per goal
of issue 3 item 8: compile 1,000 devices < 1 s; tests < 0.3 s; growth ~linear (per-device cost at
2,000 devices within 1.5x of the 250 figure).

Times are process CPU seconds, best of ``--repeat`` (garbage collector paused as
``timeit`` does), so other load on the machine inflates them less.

    .venv/bin/python bench/bench_policy.py [--scenario standard|heavy|all] [--repeat 5]
                                           [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tailcfg.policy.compile.compiled import CompiledPolicy
from tailcfg.policy.compile.engine import compile_policy, load_policy
from tailcfg.policy.evaluate.packets import TestsRunner
from tailcfg.policy.evaluate.provenance import Provenance
from tailcfg.policy.evaluate.run import build_world, run_tests, run_tests_in
from tailcfg.policy.evaluate.world import World
from tailcfg.policy.model.nodes import Node, nodes_from_list
from tailcfg.policy.model.policy import Policy

T = TypeVar("T")

N_RULES = 2000
N_GRANTS = 500
N_GROUPS = 300
N_TAGS = 200
N_USERS = 400
N_DEVICES = 1000
N_TESTS = 10_000
SIZES = (250, 500, 1000, 2000)
PORTS = ["22", "80", "443", "5432", "8080", "9100", "8000-8100", "53"]
HEAVY_PORTS = [
    "22,80,443",
    "80,443",
    "22,80,443,8080,9100",
    "5432",
    "9100-9200",
    "53,123",
    "*",
    "8000-8100,9000",
    "22,443",
]
GOAL_COMPILE_S = 1.0
GOAL_TESTS_S = 0.3
GOAL_GROWTH = 1.5  # per-device cost at 2,000 devices / at 250


def _ip(i: int) -> tuple[str, str]:
    return f"100.{64 + i // 65536}.{(i // 256) % 256}.{i % 256 or 1}", f"fd7a:115c:a1e0::{i:x}"


def make_nodes(n: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        v4, v6 = _ip(i + 2)
        if i % 5 < 3:
            owner: dict[str, Any] = {"user": f"u{rng.randrange(N_USERS)}@example.com", "tags": []}
        else:
            owner = {"user": None, "tags": [f"tag:t{rng.randrange(N_TAGS)}"]}
        out.append({"name": f"d{i}", "ipv4": v4, "ipv6": v6, **owner})
    return out


def _src(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return f"group:g{rng.randrange(N_GROUPS)}"
    if kind < 0.75:
        return f"tag:t{rng.randrange(N_TAGS)}"
    return f"u{rng.randrange(N_USERS)}@example.com"


def _acl(rng: random.Random, heavy: bool) -> dict[str, Any]:
    n_dst, ports = (rng.randint(2, 6), HEAVY_PORTS) if heavy else (rng.randint(1, 3), PORTS)
    dst = [f"tag:t{rng.randrange(N_TAGS)}:{rng.choice(ports)}" for _ in range(n_dst)]
    n_src = rng.randint(1, 4) if heavy else rng.randint(1, 3)
    acl: dict[str, Any] = {"action": "accept", "src": [_src(rng) for _ in range(n_src)]}
    if heavy and rng.random() < 0.05:
        acl["src"].append("autogroup:member")
    acl["dst"] = dst
    if not heavy and rng.random() < 0.2:
        acl["proto"] = rng.choice(["tcp", "udp"])
    return acl


def make_policy(rng: random.Random, *, heavy: bool = False) -> dict[str, Any]:
    groups = {
        f"group:g{i}": [f"u{rng.randrange(N_USERS)}@example.com" for _ in range(rng.randint(2, 12))]
        for i in range(N_GROUPS)
    }
    tag_owners = {f"tag:t{i}": [f"group:g{i % N_GROUPS}"] for i in range(N_TAGS)}
    acls = [_acl(rng, heavy) for _ in range(N_RULES - N_GRANTS)]
    grants = [
        {
            "src": [_src(rng) for _ in range(rng.randint(1, 3))],
            "dst": [f"tag:t{rng.randrange(N_TAGS)}" for _ in range(rng.randint(1, 2))],
            "ip": [f"tcp:{rng.choice(PORTS)}"],
        }
        for _ in range(N_GRANTS)
    ]
    tests = []
    for _ in range(N_TESTS):
        key = "accept" if rng.random() < 0.5 else "deny"
        port = rng.choice(["22", "80", "443", "5432", "8080", "9100", "8050", "53"])
        tests.append({"src": _src(rng), key: [f"tag:t{rng.randrange(N_TAGS)}:{port}"]})
    return {"groups": groups, "tagOwners": tag_owners, "acls": acls, "grants": grants,
            "tests": tests}  # fmt: skip


def timed(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    """Best-of-``repeat`` CPU time of this process (steady on a shared, loaded machine)."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()  # as timeit does: a collection pass is not the code's cost
        try:
            t0 = time.process_time()
            result = fn()
            best = min(best, time.process_time() - t0)
        finally:
            gc.enable()
    return best, result


def _profile(label: str, fn: Callable[[], object]) -> None:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    print(f"\n--- profile: {label} (top 15 by cumulative time) ---")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(15)


def _verdict(ok: bool, text: str) -> str:
    return f"  {'OK  ' if ok else 'MISS'} {text}"


def _size(compiled: CompiledPolicy) -> str:
    dst_ports = sum(
        len(rule.get("DstPorts") or ()) for n in compiled.nodes.values() for rule in n.packet_filter
    )
    peers = sum(len(n.peers) for n in compiled.nodes.values())
    return f"{dst_ports:,} DstPorts entries, {peers:,} peer pairs"


def _growth(policy: Policy, nodes: tuple[Node, ...], repeat: int) -> list[str]:
    print("  compile (every device's filter, SSH policy, peers):")
    compile_policy(policy, nodes[: SIZES[0]])  # warm-up: one-time caches are not growth
    base = 0.0
    per: dict[int, float] = {}
    times: dict[int, float] = {}
    for n in SIZES:
        t, compiled = timed(lambda n=n: compile_policy(policy, nodes[:n]), repeat)  # type: ignore[misc]
        times[n], per[n] = t, t / n
        base = base or per[n]
        step = f"x{t / times[n // 2]:4.2f} time for 2x devices" if n // 2 in times else ""
        print(
            f"    {n:5d} devices: {t:7.3f} s  {per[n] * 1e3:6.3f} ms/device  "
            f"x{per[n] / base:4.2f} per device  {step:27s} ({_size(compiled)})"
        )
    growth = per[SIZES[-1]] / per[SIZES[0]]
    return [
        _verdict(
            times[N_DEVICES] < GOAL_COMPILE_S,
            f"compile {N_DEVICES} devices: {times[N_DEVICES]:.3f} s (goal < {GOAL_COMPILE_S} s)",
        ),
        _verdict(
            growth <= GOAL_GROWTH,
            f"growth: per-device cost x{growth:.2f} from {SIZES[0]} to {SIZES[-1]} devices "
            f"(goal ~linear: <= x{GOAL_GROWTH})",
        ),
    ]


class _Recorder(Provenance):
    """Provenance that keeps the lookups a tests run makes."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def granting(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return super().granting(*args, **kwargs)


def _provenance(policy: Policy, nodes: tuple[Node, ...], repeat: int) -> tuple[float, int]:
    """Rule provenance's share of a first run: a fresh index answering that run's lookups."""
    world = build_world(policy, nodes)
    recorder = _Recorder(policy, world.resolver)
    runner = TestsRunner(world, recorder)
    for test in policy.tests:
        runner.entry(test)

    def replay() -> None:
        prov = Provenance(policy, world.resolver)
        for args, kwargs in recorder.calls:
            prov.granting(*args, **kwargs)

    spent, _ = timed(replay, repeat)
    return spent, len(recorder.calls)


def _tests(policy: Policy, nodes: tuple[Node, ...], repeat: int) -> list[str]:
    best_first = best_again = float("inf")
    report = None
    for _ in range(repeat):
        world: World = build_world(policy, nodes)
        _ = world.compiled  # compile is its own goal; the indexes are built lazily below
        t_first, report = timed(lambda w=world: run_tests_in(w), 1)  # type: ignore[misc]
        t_again, _ = timed(lambda w=world: run_tests_in(w), 1)  # type: ignore[misc]
        best_first, best_again = min(best_first, t_first), min(best_again, t_again)
    assert report is not None
    t_all, _ = timed(lambda: run_tests(policy, nodes), repeat)
    t_prov, n_prov = _provenance(policy, nodes, repeat)
    print(
        f"  tests ({len(report.results)} assertions, {len(report.failures)} failing as "
        f"generated), {len(nodes)} devices:\n"
        f"    first run, indexes built on the way: {best_first:7.3f} s\n"
        f"      of which rule provenance (index + {n_prov} lookups): {t_prov:.3f} s\n"
        f"    repeat on the same world:            {best_again:7.3f} s\n"
        f"    run_tests (world + compile + tests): {t_all:7.3f} s"
    )
    return [
        _verdict(
            best_first < GOAL_TESTS_S,
            f"{N_TESTS} tests, first run incl. index build: {best_first:.3f} s "
            f"(goal < {GOAL_TESTS_S} s)",
        )
    ]


def scenario(name: str, *, heavy: bool, repeat: int, profile: bool) -> list[str]:
    doc = make_policy(random.Random(20261121), heavy=heavy)
    text = json.dumps(doc, indent=1)
    nodes: tuple[Node, ...] = nodes_from_list(make_nodes(max(SIZES), random.Random(7)))
    print(
        f"\n[{name}] {N_RULES} rules ({N_RULES - N_GRANTS} acls, {N_GRANTS} grants), "
        f"{N_GROUPS} groups, {N_TAGS} tags, {N_TESTS} tests, {len(text) / 1e6:.1f} MB"
    )
    t_load, policy = timed(lambda: load_policy(text, "bench.hujson"), 1)
    print(f"  load + validate: {t_load:.3f} s")
    verdicts = _growth(policy, nodes, repeat)
    verdicts += _tests(policy, nodes[:N_DEVICES], repeat)
    if profile:
        _profile(f"{name}: compile", lambda: compile_policy(policy, nodes[:N_DEVICES]))
        world = build_world(policy, nodes[:N_DEVICES])
        _ = world.compiled
        _profile(f"{name}: tests, first run", lambda: run_tests_in(world))
    return [f"[{name}]", *verdicts]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=["standard", "heavy", "all"], default="all")
    ap.add_argument("--repeat", type=int, default=5, help="best of N (default 5)")
    ap.add_argument("--profile", action="store_true", help="cProfile compile and the tests")
    args = ap.parse_args(argv)
    names = ["standard", "heavy"] if args.scenario == "all" else [args.scenario]
    lines: list[str] = []
    for name in names:
        lines += scenario(name, heavy=name == "heavy", repeat=args.repeat, profile=args.profile)
    print(f"\nverdicts (CPU seconds, best of {args.repeat}):")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
