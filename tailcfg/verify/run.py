"""``tailcfg verify``: the orchestration, from a repository directory to a report.

lint + engine tests → embedded control plane (127.0.0.1, free port, temporary state) →
per host: mint, seal, decrypt as the host, start the node → approve routes → wait for the
mesh → one probe set per test assertion → the revocation drill → report. Everything runs
in a temporary directory that is removed afterwards; ``hold`` (for ``--keep``) is awaited
while the control plane and the nodes still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tailcfg import hujson
from tailcfg.control.server import running_control
from tailcfg.errors import TailcfgError, VerifyError
from tailcfg.inventory import Host, Inventory, load_inventory
from tailcfg.keys.backends import TailscaleV2
from tailcfg.keys.credentials import Credentials
from tailcfg.node.agent import NodeAgent
from tailcfg.node.crypto import parse_key
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.evaluate.verdicts import TestReport
from tailcfg.policy.validate.lint import lint_file
from tailcfg.sops import Sops, find_sops
from tailcfg.verify.bootstrap import HostKey, KeyRequestFor, bootstrap_host, host_key_request
from tailcfg.verify.bootstrap import host_private_key as private_key_path
from tailcfg.verify.drill import revocation_drill
from tailcfg.verify.identity import Names
from tailcfg.verify.mesh import Api, approve, declared_member, member_of, start_node, wait_for_mesh
from tailcfg.verify.model import (
    DEFAULT_HOST_KEY,
    Event,
    EventSink,
    HostResult,
    Timings,
    VerifyReport,
)
from tailcfg.verify.probes import Mesh, probe_all, python_node_ssh
from tailcfg.verify.realnet import find_peers, verify_real

Hold = Callable[[VerifyReport], Awaitable[None]]


@dataclass(frozen=True)
class VerifyOptions:
    directory: Path
    host_key_path: str = DEFAULT_HOST_KEY  # template with {host}, relative to directory
    probe_timeout: float = 1.0
    mesh_timeout: float = 15.0
    drill: bool = True
    revocation_limit_ms: float | None = None  # default: 1000 (embedded), 2000 (headscale)
    key_request: KeyRequestFor = host_key_request
    control: str = "embedded"  # embedded | headscale (a real `headscale serve`)
    node: str = "python"  # python | tailscaled (real tailscaled in network namespaces)
    peers_dir: Path = Path(".peers")  # where scripts/build-peers put bin/{headscale,...}


def _noop(event: Event) -> None:
    return None


def verify(
    options: VerifyOptions, *, on_event: EventSink = _noop, hold: Hold | None = None
) -> VerifyReport:
    """Run the whole proof (its own event loop)."""
    return asyncio.run(verify_async(options, on_event=on_event, hold=hold))


def _copy_repo(directory: Path, target: Path) -> Inventory:
    shutil.copytree(directory, target, ignore=shutil.ignore_patterns(".git", "secrets"))
    return load_inventory(target / "tailcfg.yaml")


def _control_policy(path: Path, engine: TestReport, work: Path) -> tuple[Path, str | None]:
    """The policy file the control plane loads; without its tests when they fail."""
    if engine.passed:
        return path, None
    value = hujson.parse(path.read_text(encoding="utf-8"), str(path)).value
    assert isinstance(value, dict)
    stripped = {k: v for k, v in value.items() if k not in ("tests", "sshTests")}
    copy = work / "policy-without-tests.json"
    copy.write_text(json.dumps(stripped, indent=2), encoding="utf-8")
    note = (
        "the policy's own tests fail, so a control server would refuse it; verify loaded "
        "it without its tests to observe the tunnels"
    )
    return copy, note


async def verify_async(
    options: VerifyOptions, *, on_event: EventSink = _noop, hold: Hold | None = None
) -> VerifyReport:
    started = time.monotonic()
    directory = options.directory
    if (options.control, options.node) not in (("embedded", "python"), ("headscale", "tailscaled")):
        raise VerifyError(
            f"--control {options.control} --node {options.node}: the Python node speaks only "
            "the embedded control plane's protocol and tailscaled only ts2021 (Headscale); "
            "use --control embedded --node python or --control headscale --node tailscaled"
        )
    if options.control == "headscale":
        find_peers(options.peers_dir)  # no root or no binaries: one line, before anything
    inventory = load_inventory(directory / "tailcfg.yaml")
    policy_rel = str(inventory.policy.relative_to(inventory.root_dir))
    report = VerifyReport(directory=directory, policy=policy_rel)
    lint = lint_file(inventory.policy)
    on_event(
        Event("lint", f"{policy_rel}: {len(lint.errors)} errors, {len(lint.warnings)} warnings")
    )
    if not lint.ok:
        errors = tuple(d.render() for d in lint.errors)
        return replace(report, lint_errors=errors)
    text = inventory.policy.read_text(encoding="utf-8")
    policy = load_policy(text, policy_rel)
    engine = run_tests(policy)
    on_event(
        Event("lint", f"engine: {len(engine.results)} assertions, {len(engine.failures)} failing")
    )
    with tempfile.TemporaryDirectory(prefix="tailcfg-verify-") as tmp:
        work = Path(tmp)
        repo = _copy_repo(directory, work / "repo")
        control_policy, note = _control_policy(repo.policy, engine, work)
        problems = (note,) if note else ()
        if options.control == "headscale":
            report = replace(report, problems=problems)
            report = await verify_real(
                options, repo, engine, control_policy, report, work, on_event, hold, started
            )
            on_event(Event("done", "passed" if report.passed else "FAILED", ok=report.passed))
            return report
        admin = _admin_login(inventory)
        with running_control(work / "control", control_policy, admin_login=admin) as control:
            on_event(Event("control", f"control plane on {control.url}"))
            admin_file = str(control.state_dir / "admin.key")
            report = replace(
                report, control_url=control.url, admin_key_file=admin_file, problems=problems
            )
            report = await _with_control(
                options, repo, engine, report, control.admin_key, work, on_event, hold, started
            )
    on_event(Event("done", "passed" if report.passed else "FAILED", ok=report.passed))
    return report


def _admin_login(inventory: Inventory) -> str:
    """The control plane's admin (it mints every key): the first host owner, else admin@."""
    users = [h.user for h in inventory.hosts.values() if h.user and not h.tags]
    return (
        users[0]
        if users
        else f"admin@{inventory.tailnet if '.' in inventory.tailnet else 'example.com'}"
    )


async def _with_control(
    options: VerifyOptions,
    repo: Inventory,
    engine: TestReport,
    report: VerifyReport,
    admin_key: str,
    work: Path,
    on_event: EventSink,
    hold: Hold | None,
    started: float,
) -> VerifyReport:
    """Bootstrap, start, probe, drill; ``hold`` is awaited while the nodes still run."""
    url = report.control_url
    t0 = time.monotonic()
    keys, failed = await _bootstrap(options, repo, url, admin_key, work, on_event)
    t1 = time.monotonic()
    api = Api(url, admin_key)
    try:
        async with contextlib.AsyncExitStack() as stack:
            agents, hosts = await _start_nodes(stack, repo, url, keys, failed, work, on_event)
            mesh, late = await _form_mesh(api, agents, hosts, repo, report.policy, options)
            on_event(
                Event(
                    "mesh",
                    "mesh incomplete" if late else f"mesh of {len(agents)} nodes ready",
                    ok=not late,
                )
            )
            t2 = time.monotonic()
            handshakes_ms = await _warm_up(agents)
            rows = await probe_all(engine, mesh, on_event)
            t3 = time.monotonic()
            drill = None
            if options.drill and not late:

                async def delete(name: str) -> None:
                    await api.delete_device(int(agents[name].identity["NodeID"]))

                drill = await revocation_drill(
                    delete, mesh, rows, limit_ms=options.revocation_limit_ms or 1000.0
                )
                on_event(Event("drill", drill.reason, ok=drill.passed))
            timings = Timings(
                total_s=time.monotonic() - started,
                bootstrap_s=t1 - t0,
                mesh_s=t2 - t1,
                handshake_ms=handshakes_ms,
                probes=sum(len(r.probes) for r in rows),
                probe_s=t3 - t2,
            )
            unsealed = tuple(
                f"host {n} has no ssh_host_key: its key was not sealed, so sops decryption by"
                " the host is not proven"
                for n, k in keys.items()
                if not k.sealed
            )
            problems = report.problems + tuple(f"mesh incomplete: {x}" for x in late)
            report = replace(
                report,
                hosts=tuple(hosts),
                rows=tuple(rows),
                drill=drill,
                problems=problems,
                notes=unsealed,
                timings=timings,
            )
            if hold is not None:
                await hold(report)
    finally:
        await api.aclose()
    return report


async def _form_mesh(
    api: Api,
    agents: dict[str, NodeAgent],
    hosts: list[HostResult],
    repo: Inventory,
    policy_name: str,
    options: VerifyOptions,
) -> tuple[Mesh, list[str]]:
    """Approve routes, wait for every node's peers; the mesh and the nodes still lagging."""
    text = repo.policy.read_text(encoding="utf-8")
    value = hujson.parse(text, str(repo.policy)).value
    assert isinstance(value, dict)
    names = Names.from_policy(value)
    approved = await approve(api, agents, value.get("autoApprovers") or {}, names)
    policy = load_policy(text, policy_name)
    late = await wait_for_mesh(agents, policy, await api.devices(), timeout=options.mesh_timeout)
    members = tuple(member_of(a, approved.get(n, ())) for n, a in agents.items())
    declared = tuple(declared_member(h) for h in repo.hosts.values())
    notes = {h.name: _short(h.detail) for h in hosts}
    mesh = Mesh(
        agents,
        members,
        declared,
        notes,
        names,
        options.probe_timeout,
        decide_ssh=python_node_ssh(agents),
    )
    return mesh, late


def _short(detail: str) -> str:
    """``did not join: host dao cannot decrypt its key: <why>`` without the why."""
    head, _, rest = detail.partition(": ")
    first = rest.split(": ")[0]
    return f"{head}: {first}" if head == "did not join" and " " in first.strip() else detail


async def _bootstrap(
    options: VerifyOptions,
    repo: Inventory,
    url: str,
    admin_key: str,
    work: Path,
    on_event: EventSink,
) -> tuple[dict[str, HostKey], dict[str, str]]:
    sops = Sops(find_sops(search_path=None), repo.root_dir, repo.sops_config, {})
    creds = Credentials(tailscale_api_key=admin_key)
    keys: dict[str, HostKey] = {}
    failed: dict[str, str] = {}

    def one(name: str) -> HostKey:
        host = repo.hosts[name]
        private = private_key_path(options.directory, options.host_key_path, name)
        with TailscaleV2(url, tailnet="-", credentials=creds) as backend:
            done = bootstrap_host(
                repo,
                host,
                backend=backend,
                sops=sops,
                private_key=private,
                out_dir=work / "nodes",
                key_request=options.key_request,
            )
            return done

    names = list(repo.hosts)
    results = await asyncio.gather(
        *(asyncio.to_thread(one, n) for n in names), return_exceptions=True
    )
    for name, result in zip(names, results, strict=True):
        if isinstance(result, TailcfgError):
            failed[name] = str(result)
            on_event(Event("host", str(result), ok=False))
        elif isinstance(result, BaseException):
            raise result
        else:
            keys[name] = result
            how = (
                "sealed, decrypted with its SSH host key"
                if result.sealed
                else "handed over unsealed (no ssh_host_key: sealing not proven)"
            )
            on_event(Event("host", f"{name}: key minted, {how}"))
    return keys, failed


async def _start_nodes(
    stack: contextlib.AsyncExitStack,
    repo: Inventory,
    url: str,
    keys: dict[str, HostKey],
    failed: dict[str, str],
    work: Path,
    on_event: EventSink,
) -> tuple[dict[str, NodeAgent], list[HostResult]]:
    """Start every node at once; the results in inventory order."""
    names = [n for n in repo.hosts if n not in failed]
    started = time.monotonic()
    starts = [
        start_node(stack, url, repo.hosts[n], keys[n].auth_key_file, work / "nodes" / n / "state")
        for n in names
    ]
    outcome = dict(zip(names, await asyncio.gather(*starts, return_exceptions=True), strict=True))
    seconds = time.monotonic() - started
    agents: dict[str, NodeAgent] = {}
    hosts: list[HostResult] = []
    for name, host in repo.hosts.items():
        agent = outcome.get(name)
        if name in failed or not isinstance(agent, NodeAgent):
            if isinstance(agent, BaseException) and not isinstance(agent, TailcfgError):
                raise agent
            why = failed.get(name) or str(agent)
            hosts.append(HostResult(name, False, f"did not join: {why}"))
            if name not in failed:
                on_event(Event("host", f"{name}: did not join: {why}", ok=False))
            continue
        agents[agent.name] = agent
        ok, detail = _joined_as_declared(agent, host, keys[name])
        hosts.append(
            HostResult(name, ok, detail, agent.tags, agent.addresses, agent.endpoint, seconds)
        )
        up = f"{name}: up as {', '.join(agent.addresses)} tags={list(agent.tags)}"
        on_event(Event("host", up, ok=ok))
    return agents, hosts


def _joined_as_declared(agent: NodeAgent, host: Host, key: HostKey) -> tuple[bool, str]:
    """Whether the device has the identity the inventory declares, and if not why."""
    if set(agent.tags) != set(host.tags):
        detail = f"it registered with tags {list(agent.tags)}"
        minted = list(key.request.tags)
        if set(minted) != set(host.tags):
            detail += f": its auth key was minted with tags {minted}"
        return False, detail
    owner = agent.identity.get("User")
    if not host.tags and host.user and owner != host.user:
        return False, (
            f"it registered as {owner}'s device, not {host.user}'s: the embedded control "
            "plane mints every key as its admin"
        )
    return True, "joined"


async def _warm_up(agents: dict[str, NodeAgent], timeout: float = 2.0) -> float:
    """One ICMP echo to every peer, answered or not, so that the WireGuard handshakes are done
    before the probes that count (a filter drops packets, never handshakes). Returns the ms
    until every tunnel had a session (all handshakes run at once)."""
    started = time.monotonic()
    pending = [
        (agent, parse_key(peer.key))
        for agent in agents.values()
        for peer in agent.peers.values()
        if peer.addresses
    ]
    echoes = [
        asyncio.create_task(agent.probe(peer.addresses[0], 0, proto="icmp", timeout=0.2))
        for agent in agents.values()
        for peer in agent.peers.values()
        if peer.addresses
    ]

    def done(agent: NodeAgent, key: bytes) -> bool:
        session = agent.device.engine.session(key) if agent.device is not None else None
        return session is not None and session.current is not None

    while pending and time.monotonic() - started < timeout:
        pending = [(a, k) for a, k in pending if not done(a, k)]
        await asyncio.sleep(0.002)
    elapsed = (time.monotonic() - started) * 1000
    for echo in echoes:
        echo.cancel()
    await asyncio.gather(*echoes, return_exceptions=True)
    return elapsed
