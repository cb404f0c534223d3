"""``verify --control headscale --node tailscaled``: the same proof on real peers.

A bridge with network namespaces (:mod:`tailcfg.peers.netns`) → a real ``headscale
serve`` on the bridge's root address → one Headscale user per login the policy or the
inventory names → the policy pushed through tailcfg's GitOps path (``HeadscalePolicy``:
plan, If-Match put) → per host: a key minted through the Headscale backend, sealed with
sops, decrypted as the host → one real ``tailscaled`` per host in its own namespace,
``tailscale up --auth-key file:...`` (``--ssh`` for hosts with ``ssh: true``, their routes,
the exit node) → wait until every node knows the peers the engine computes for Headscale's
node list → disco pings on every pair → every assertion probed as real TCP/UDP/ICMP (the
probe agent in each namespace; listeners on every port the tests name) and sshTests through
real Tailscale SSH (OpenSSH client, the namespace's ``/etc/passwd`` holding the logins) →
each node's received packet filter and SSH policy compared with ``policy compile`` → the
revocation drill (delete the node through Headscale's API). Everything stops and is
deleted at the end, also when a step fails.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tailcfg.atomicfile import atomic_write_text
from tailcfg.errors import PeerError
from tailcfg.inventory import Inventory
from tailcfg.node.device import ProbeResult
from tailcfg.peers.binaries import locate
from tailcfg.peers.headscale import HeadscaleServer
from tailcfg.peers.netns import Lan, missing_privileges
from tailcfg.peers.tailscaled import NodeProbes, Tailscaled, lan_derp_map
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate.verdicts import TestReport
from tailcfg.verify.drill import revocation_drill
from tailcfg.verify.hsadmin import (
    HeadscaleAdmin,
    node_name,
    to_topology,
)
from tailcfg.verify.identity import Member, Names
from tailcfg.verify.mesh import declared_member
from tailcfg.verify.model import Event, EventSink, Timings, VerifyReport
from tailcfg.verify.probes import Mesh, probe_all
from tailcfg.verify.realnodes import (
    open_sessions,
    prepare,
    start_and_join,
    wait_for_mesh,
    warm_paths,
)
from tailcfg.verify.realplan import route_needs, ssh_logins, test_ports
from tailcfg.verify.realsetup import (
    RealPeers,
    Run,
    bootstrap,
    create_users,
    host_results,
    policy_value,
    push,
    push_tests,
    route_notes,
    specs,
)
from tailcfg.verify.received import check_received

SSH_TIMEOUT = 5.0
# Headscale batches node changes (tuning.node_store_batch_timeout 500 ms, then
# tuning.batch_change_delay 800 ms before map updates go out): a deleted node may keep
# receiving packets for up to ~1.3 s, so its revocation drill allows 2 s.
REVOCATION_MS = 2000.0


def find_peers(peers_dir: Path) -> RealPeers:
    """The pinned binaries, and root; PeerError (one line) when anything is missing."""
    why = missing_privileges()
    if why is not None:
        raise PeerError(f"verify --node tailscaled {why}")
    return RealPeers(
        locate("headscale", peers_dir),
        locate("tailscaled", peers_dir),
        locate("tailscale", peers_dir),
    )


@dataclass
class RealProber:
    """A real node as the probes see it: its probe agent."""

    node: Tailscaled
    agent: NodeProbes

    @property
    def name(self) -> str:
        return self.node.name

    async def probe(
        self, dst: str, port: int = 0, proto: str = "tcp", timeout: float = 1.0
    ) -> ProbeResult:
        answer = await self.agent.probe(dst, port, proto=proto, timeout=timeout)
        rtt = None if answer.rtt_ms is None else answer.rtt_ms / 1000
        return ProbeResult(answer.ok, rtt, answer.reason)


async def verify_real(
    options: Any,
    repo: Inventory,
    engine: TestReport,
    control_policy: Path,
    report: VerifyReport,
    work: Path,
    on_event: EventSink,
    hold: Any,
    started: float,
) -> VerifyReport:
    """The whole proof on real peers (``options`` is a ``VerifyOptions``; ``hold`` is
    awaited with the report while the peers still run, for ``--keep``)."""
    peers = find_peers(options.peers_dir)
    with Lan.create() as lan:
        hs = await asyncio.to_thread(
            functools.partial(
                HeadscaleServer.start,
                work / "headscale",
                binary=peers.headscale,
                listen_host=lan.host_ip,
                derp_map=lan_derp_map(lan.host_ip),
            )
        )
        with hs:
            on_event(Event("control", f"headscale on {hs.url} (bridge {lan.bridge})"))
            run = Run(options, repo, engine, work, on_event, lan, hs, peers, hold)
            return await _with_headscale(run, control_policy, report, started)


async def _with_headscale(
    run: Run, control_policy: Path, report: VerifyReport, started: float
) -> VerifyReport:
    options = run.options
    t0 = time.monotonic()
    problems = list(report.problems)
    await asyncio.to_thread(create_users, run)
    await asyncio.to_thread(push, run, control_policy, tests=False)
    run.on_event(Event("control", "policy (without its tests) pushed through GitOps"))
    keys, failed = await asyncio.to_thread(bootstrap, run)
    t1 = time.monotonic()
    wanted = specs(run, keys)
    admin = HeadscaleAdmin(run.hs.url, run.hs.api_key)
    nodes: list[Tailscaled] = []
    agents: list[NodeProbes] = []
    try:
        namespaces = [prepare(run.lan, spec) for spec in wanted]
        joins = [
            asyncio.to_thread(
                start_and_join,
                ns,
                spec,
                state=run.work / "nodes" / spec.host.name / "state",
                tailscaled=run.peers.tailscaled,
                tailscale=run.peers.tailscale,
                login_server=run.hs.url,
                started=nodes,
            )
            for ns, spec in zip(namespaces, wanted, strict=True)
        ]
        outcomes = await asyncio.gather(*joins, return_exceptions=True)
        hs_nodes = await admin.nodes()
        hosts = host_results(run, wanted, outcomes, failed, hs_nodes)
        ok_hosts = {h.name for h in hosts if h.addresses}
        joined = {n.name: n for n in nodes if n.name in ok_hosts}
        topology = to_topology(hs_nodes)
        problems += route_notes(run, topology)
        pushed = control_policy.read_text(encoding="utf-8")
        policy = load_policy(pushed, report.policy)
        needs = route_needs(run.engine, topology, Names.from_policy(policy_value(run.repo.policy)))
        late = await wait_for_mesh(
            joined, policy, topology, route_needs=needs, timeout=options.mesh_timeout
        )
        problems += [f"mesh incomplete: {x}" for x in late]
        run.on_event(Event("mesh", f"mesh of {len(joined)} tailscaled nodes", ok=not late))
        differences = []
        if control_policy == run.repo.policy:
            refusal = await asyncio.to_thread(push_tests, run, control_policy)
            if refusal is None:
                run.on_event(Event("control", "policy with its tests pushed: headscale ran them"))
            else:
                differences.append(f"headscale refused the policy's tests: {refusal}")
                run.on_event(Event("control", differences[-1], ok=False))
        t2 = time.monotonic()
        ipv4 = {d.name: d.ipv4 for d in topology}
        warm_ms, unwarmed = await warm_paths(joined, ipv4)
        problems += [f"no direct path: {x}" for x in unwarmed]
        session_ms, unopened = await open_sessions(joined, ipv4)
        problems += [f"no WireGuard session: {x}" for x in unopened]
        warm_ms += session_ms
        tcp, udp = test_ports(run.engine)
        probers: dict[str, RealProber] = {}
        for name, node in joined.items():
            agent = await NodeProbes.start(node.ns)
            agents.append(agent)
            await agent.listen(tcp, udp)
            probers[name] = RealProber(node, agent)
        value = policy_value(run.repo.policy)
        mesh = Mesh(
            probers,
            tuple(
                Member(d.name, d.tags, d.user, (d.ipv4, d.ipv6), d.approved_routes)
                for d in topology
                if d.name in joined
            ),
            tuple(declared_member(h) for h in run.repo.hosts.values()),
            {h.name: h.detail for h in hosts},
            Names.from_policy(value),
            options.probe_timeout,
            ssh_probe=_ssh_probe(run, probers),
            observer="the real peers",
        )
        rows = await probe_all(run.engine, mesh, run.on_event)
        t3 = time.monotonic()
        received = await asyncio.to_thread(
            check_received, joined, policy, topology, ssh_logins(value)
        )
        agree = sum(r.agrees for r in received)
        run.on_event(
            Event("received", f"{agree}/{len(received)} nodes received the engine's filters")
        )
        drill = None
        if options.drill and not late:

            async def delete(name: str) -> None:
                node = next((n for n in await admin.nodes() if node_name(n) == name), None)
                if node is None:
                    raise PeerError(f"headscale lists no node {name} to delete")
                await admin.delete_node(str(node["id"]))

            drill = await revocation_drill(
                delete,
                mesh,
                rows,
                limit_ms=options.revocation_limit_ms or REVOCATION_MS,
                deadline_s=10.0,
            )
            run.on_event(Event("drill", drill.reason, ok=drill.passed))
        timings = Timings(
            total_s=time.monotonic() - started,
            bootstrap_s=t1 - t0,
            mesh_s=t2 - t1,
            handshake_ms=warm_ms,
            probes=sum(len(r.probes) for r in rows),
            probe_s=t3 - t2,
        )
        report = replace(
            report,
            hosts=tuple(hosts),
            rows=tuple(rows),
            drill=drill,
            problems=tuple(problems),
            timings=timings,
            control_url=run.hs.url,
            control="headscale",
            node="tailscaled",
            received=received,
            differences=tuple(differences),
        )
        if run.hold is not None:
            # as in the embedded mode: the admin API key (Headscale's, a Bearer token of its
            # REST API) in a 0600 file while the run is held, never on the terminal
            key_file = run.work / "admin.key"
            atomic_write_text(key_file, run.hs.api_key + "\n", mode=0o600)
            await run.hold(replace(report, admin_key_file=str(key_file)))
        return report
    finally:
        for agent in agents:
            await agent.close()
        await asyncio.gather(*(asyncio.to_thread(n.close) for n in nodes))
        await admin.aclose()


def _ssh_probe(run: Run, probers: Mapping[str, RealProber]) -> Any:
    async def probe(src: Member, dst: Member, login: str) -> tuple[str, str]:
        host = run.repo.hosts.get(dst.name)
        if host is None or not host.ssh:
            return "-", f"{dst.name} does not run Tailscale SSH (no ssh: true in tailcfg.yaml)"
        if dst.ipv4 is None:
            return "-", f"{dst.name} has no IPv4 address"
        outcome, why = await probers[src.name].agent.ssh(dst.ipv4, login, timeout=SSH_TIMEOUT)
        return ("-", why) if outcome == "error" else (outcome, why)

    return probe
