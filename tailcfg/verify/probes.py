"""Turn each ``tests`` / ``sshTests`` assertion into probes through the tunnels.

A ``tests`` assertion is probed from every device with the source identity to every
device that owns the destination (all devices of a tag; the device holding an address,
or the router whose approved route holds it, whose host answers for it), on the test's
port and protocol. An ``sshTests`` assertion is a TCP/22 probe plus the decision of the
SSH policy the destination received. The observation is ``accept`` when every probe is
answered, ``deny`` when none is, ``mixed`` otherwise; for SSH the policy's decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tailcfg.node.agent import NodeAgent
from tailcfg.node.device import ProbeResult
from tailcfg.policy.evaluate.verdicts import TestReport, TestResult
from tailcfg.verify.identity import Member, Names, matches, owner_of, split_dst
from tailcfg.verify.model import MISMATCH, NOT_PROBED, OK, Event, EventSink, Probe, Row
from tailcfg.verify.ssh import ssh_decision

PROTOS = {
    None: "tcp",
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "icmp": "icmp",
    "1": "icmp",
}
Target = tuple[Member, str]  # destination device and the address probed


class Prober(Protocol):
    """A device that sends probes through the tailnet (the Python node, a real tailscaled)."""

    @property
    def name(self) -> str: ...

    async def probe(
        self, dst: str, port: int = 0, proto: str = "tcp", timeout: float = 1.0
    ) -> ProbeResult: ...


# A real SSH attempt: (source, destination, login) -> (accept|check|deny, detail), or
# ("-", why) when it cannot be made.
SshProbe = Callable[["Member", "Member", str], Awaitable[tuple[str, str]]]
# The SSH decision without a real SSH server: from the policy the destination received.
SshDecide = Callable[["Member", "Member", str], str]


@dataclass(frozen=True, slots=True)
class Mesh:
    """The running tailnet as the probes see it."""

    agents: Mapping[str, Prober]  # by device name
    members: tuple[Member, ...]  # live devices
    declared: tuple[Member, ...]  # what the inventory promises
    notes: Mapping[str, str]  # inventory host -> why its device differs or is missing
    names: Names
    timeout: float = 1.0
    decide_ssh: SshDecide | None = None
    ssh_probe: SshProbe | None = None
    observer: str = "the tunnels"  # who observed: named in a mismatch

    def having(self, alias: str, *, declared: bool = False) -> list[Member]:
        pool = self.declared if declared else self.members
        return [m for m in pool if matches(alias, m, self.names)]

    def missing(self, alias: str) -> str | None:
        """Why no device has ``alias`` although the inventory promises one (None: not promised)."""
        promised = self.having(alias, declared=True)
        if not promised:
            return None
        why = "; ".join(
            f"inventory host {m.name} should have it ({self.notes.get(m.name, '?')})"
            for m in promised
        )
        return f"no device has identity {alias}: {why}"


def targets(alias: str, src: Member, mesh: Mesh) -> list[Target]:
    """What to probe for a destination: each device on its IPv4 and its IPv6 address, or
    the owner of one address."""
    if alias == "autogroup:self":
        own = [m for m in mesh.members if not m.tags and m.user == src.user]
        return [(m, a) for m in own for a in m.addresses]
    if alias.startswith(("tag:", "group:")) or "@" in alias:
        return [(m, a) for m in mesh.having(alias) for a in m.addresses]
    address = mesh.names.address_of(alias)
    if address is None:
        return []
    owner = owner_of(address, mesh.members)
    return [(owner, address)] if owner is not None else []


def _aggregate(outcomes: Sequence[str]) -> str:
    kinds = set(outcomes)
    return kinds.pop() if len(kinds) == 1 else "mixed"


async def _probe(
    agent: Prober, dst: Member, address: str, proto: str, port: int, timeout: float
) -> Probe:
    result = await agent.probe(address, port, proto=proto, timeout=timeout)
    rtt = None if result.rtt is None else result.rtt * 1000
    return Probe(agent.name, dst.name, address, proto, port, result.ok, result.reason, rtt)


def _explain(observed: str, probes: Sequence[Probe]) -> str:
    shown = [f"{p.src}->{p.dst} {p.address}:{p.port}/{p.proto} {p.reason}" for p in probes[:4]]
    more = f" (+{len(probes) - 4} more)" if len(probes) > 4 else ""
    return ", ".join(shown) + more if shown else observed


Pair = tuple[Member, Member, str]  # source, destination device, address probed


def _pairs(result: TestResult, mesh: Mesh) -> list[Pair] | tuple[str, str, str]:
    """The (source, destination) pairs to probe, or (observed, status, reason) if none."""
    srcs = mesh.having(result.src)
    if not srcs:
        why = mesh.missing(result.src)
        if why is None:
            return "-", NOT_PROBED, f"no device in the inventory has identity {result.src}"
        return "none", MISMATCH, why
    alias = result.dst if result.section == "sshTests" else split_dst(result.dst)[0]
    pairs = [(s, d, a) for s in srcs for d, a in targets(alias, s, mesh) if d.name != s.name]
    if pairs:
        return pairs
    why = mesh.missing(alias) if alias.startswith("tag:") else None
    if why is not None:
        return "none", MISMATCH, why
    return "-", NOT_PROBED, f"no device other than the source holds {alias}"


async def _observe(
    result: TestResult, mesh: Mesh, pairs: list[Pair], proto: str, port: int
) -> tuple[str, str, list[Probe], str]:
    """Probe every pair: (observed, detail, probes, warning)."""
    coros = [_probe(mesh.agents[s.name], d, a, proto, port, mesh.timeout) for s, d, a in pairs]
    probes = list(await asyncio.gather(*coros))
    if result.section != "sshTests":
        observed = _aggregate(["accept" if p.ok else "deny" for p in probes])
        return observed, _explain(observed, probes), probes, ""
    login = result.login or ""
    if mesh.ssh_probe is not None:
        ssh_probe = mesh.ssh_probe

        async def session(src: Member, dst: Member, probe: Probe) -> tuple[str, str]:
            if not probe.ok:  # no TCP/22 path: no SSH session can start
                return "deny", f"tcp/22 {probe.reason}"
            return await ssh_probe(src, dst, login)

        v4 = [(s, d, p) for (s, d, a), p in zip(pairs, probes, strict=True) if ":" not in a]
        sessions = list(await asyncio.gather(*(session(s, d, p) for s, d, p in v4)))
        pairs = [(s, d, p.address) for s, d, p in v4]
        outcomes = [o for o, _ in sessions]
        decided = ", ".join(
            dict.fromkeys(
                f"{s.name}->{d.name} {o} ({why})"
                for (s, d, _), (o, why) in zip(pairs, sessions, strict=True)
            )
        )
        observed = _aggregate(outcomes)
        detail = f"ssh: {decided}"
        return observed, detail, probes, ""
    outcomes = [_ssh_outcome(mesh, s, d, login) for s, d, _ in pairs]
    observed = _aggregate(outcomes)
    decided = ", ".join(
        dict.fromkeys(
            f"{s.name}->{d.name} {o}" for (s, d, _), o in zip(pairs, outcomes, strict=True)
        )
    )
    detail = f"ssh policy: {decided}; tcp/22: {_explain(observed, probes)}"
    return observed, detail, probes, _port22_warning(pairs, outcomes, probes)


async def run_row(result: TestResult, mesh: Mesh) -> Row:
    """Probe one assertion and compare with its expectation and the engine's verdict."""
    started = time.monotonic()
    expected, engine = result.expected.value, result.actual.value
    ssh = result.section == "sshTests"
    test = (
        f"{result.src} -> {result.login}@{result.dst}" if ssh else f"{result.src} -> {result.dst}"
    )
    if result.proto and not ssh:
        test += f" ({result.proto})"
    location = f"{result.span.path}:{result.span.line}:{result.span.col}"

    def row(
        observed: str, status: str, reason: str, probes: Sequence[Probe] = (), warning: str = ""
    ) -> Row:
        elapsed = (time.monotonic() - started) * 1000
        return Row(
            result.section,
            result.entry,
            test,
            expected,
            engine,
            observed,
            status,
            reason,
            elapsed,
            tuple(probes),
            location,
            warning,
        )

    proto = "tcp" if ssh else PROTOS.get(result.proto)
    if proto is None:
        return row("-", NOT_PROBED, f"no probe for protocol {result.proto}")
    pairs = _pairs(result, mesh)
    if isinstance(pairs, tuple):
        return row(*pairs)
    port = 22 if ssh else split_dst(result.dst)[1]
    observed, detail, probes, warning = await _observe(result, mesh, pairs, proto, port)
    if observed == "-":
        return row(observed, NOT_PROBED, detail, probes, warning)
    if observed != expected:
        reason = f"expected {expected}, observed {observed}: {detail}"
        if engine != observed:
            reason = (
                f"expected {expected}, observed {observed}, the engine says {engine}: "
                f"{mesh.observer} disagree with the engine: {detail}"
            )
        return row(observed, MISMATCH, reason, probes, warning)
    if engine != expected:
        reason = f"the engine says {engine}, {mesh.observer} agree with the expectation: {detail}"
        return row(observed, MISMATCH, reason, probes, warning)
    return row(observed, OK, detail, probes, warning)


def _port22_warning(pairs: Sequence[Pair], outcomes: Sequence[str], probes: Sequence[Probe]) -> str:
    """SSH allowed by the SSH policy while the packet filter drops TCP/22 on the way."""
    blocked = list(
        dict.fromkeys(
            f"{s.name}->{d.name}"
            for (s, d, _), o, p in zip(pairs, outcomes, probes, strict=True)
            if o in ("accept", "check") and not p.ok
        )
    )
    if not blocked:
        return ""
    return (
        f"the SSH policy admits {', '.join(blocked)} but the packet filter drops TCP/22 "
        "there: Tailscale SSH also needs an access rule (acls/grants) to port 22"
    )


def _ssh_outcome(mesh: Mesh, src: Member, dst: Member, login: str) -> str:
    if mesh.decide_ssh is not None:
        return mesh.decide_ssh(src, dst, login)
    return "deny"


def python_node_ssh(agents: Mapping[str, NodeAgent]) -> SshDecide:
    """The Python nodes' SSH decision: the SSH policy the destination received."""

    def decide(src: Member, dst: Member, login: str) -> str:
        if agents[src.name].peer_named(dst.name) is None:
            return "deny"  # not even a peer: no path to its SSH server
        return ssh_decision(agents[dst.name].ssh_policy, src.addresses, login)

    return decide


async def probe_all(engine: TestReport, mesh: Mesh, on_event: EventSink) -> list[Row]:
    results = engine.results
    total = len(results)
    done = 0

    async def one(result: TestResult) -> Row:
        nonlocal done
        row = await run_row(result, mesh)
        done += 1
        on_event(Event("probe", f"{row.test}: {row.observed}", done, total, ok=not row.failed))
        return row

    return list(await asyncio.gather(*(one(r) for r in results)))
