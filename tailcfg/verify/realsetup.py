"""Setting up the real tailnet: Headscale users, the policy through GitOps, the keys.

``Run`` holds what every step needs (the LAN, the running Headscale, the binaries). The
policy goes through tailcfg's GitOps path (``plan_push`` / ``apply_push`` with the
Headscale dialect): first without its tests (Headscale runs a policy's tests on every
write, against its live nodes, and there are none yet), then with them once the nodes
joined. Keys: minted through the Headscale backend, sealed with sops, decrypted as the
host (:func:`tailcfg.verify.bootstrap.bootstrap_host`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tailcfg import hujson
from tailcfg.apiclient import Credentials
from tailcfg.errors import TailcfgError
from tailcfg.gitops.client import HeadscalePolicy, ServerTestsFailed
from tailcfg.gitops.push import apply_push, plan_push
from tailcfg.gitops.state import GitopsState
from tailcfg.inventory import Host, Inventory
from tailcfg.keys.backends import HeadscaleV1
from tailcfg.peers.headscale import HeadscaleServer
from tailcfg.peers.netns import Lan
from tailcfg.policy.evaluate.verdicts import TestReport
from tailcfg.sops import Sops, find_sops
from tailcfg.verify.bootstrap import HostKey, bootstrap_host
from tailcfg.verify.bootstrap import host_private_key as private_key_path
from tailcfg.verify.hsadmin import headscale_user, node_name, policy_logins
from tailcfg.verify.identity import Member, Names, auto_approved
from tailcfg.verify.mesh import advertised
from tailcfg.verify.model import Event, EventSink, HostResult
from tailcfg.verify.realnodes import NodeSpec
from tailcfg.verify.realplan import held_addresses, passwd_with


@dataclass(frozen=True, slots=True)
class RealPeers:
    headscale: Path
    tailscaled: Path
    tailscale: Path


@dataclass
class Run:
    options: Any
    repo: Inventory
    engine: TestReport
    work: Path
    on_event: EventSink
    lan: Lan
    hs: HeadscaleServer
    peers: RealPeers
    hold: Any = None


def policy_value(path: Path) -> dict[str, Any]:
    value = hujson.parse(path.read_text(encoding="utf-8"), str(path)).value
    assert isinstance(value, dict)
    return value


def create_users(run: Run) -> None:
    """One Headscale user per login the policy or the inventory names."""
    logins = policy_logins(policy_value(run.repo.policy))
    logins += [h.user for h in run.repo.hosts.values() if h.user]
    if run.repo.control.user:
        logins.append(run.repo.control.user)
    for login in dict.fromkeys(headscale_user(x) for x in logins):
        run.hs.create_user(login)


def push(run: Run, policy: Path, *, tests: bool) -> None:
    """The policy through tailcfg's GitOps path (plan, If-Match put); without its tests
    unless ``tests`` (Headscale runs them against its live nodes on every write)."""
    if not tests:
        value = policy_value(policy)
        if value.get("tests") or value.get("sshTests"):
            policy = run.work / "policy-without-tests.json"
            body = {k: v for k, v in value.items() if k not in ("tests", "sshTests")}
            policy.write_text(json.dumps(body, indent=2), encoding="utf-8")
    creds = Credentials(headscale_api_key=run.hs.api_key)
    state = GitopsState(run.work / "gitops-state.json")
    with HeadscalePolicy(run.hs.url, credentials=creds) as client:
        plan = plan_push(policy, client=client, state=state)
        apply_push(plan, client=client, state=state)


def push_tests(run: Run, policy: Path) -> str | None:
    """Push the policy with its tests, now that the nodes exist; Headscale's refusal if any."""
    try:
        push(run, policy, tests=True)
    except ServerTestsFailed as exc:
        return " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return None


def bootstrap(run: Run) -> tuple[dict[str, HostKey], dict[str, str]]:
    """Mint (Headscale backend), seal (sops), decrypt as the host: every host."""
    repo = run.repo
    sops = Sops(find_sops(search_path=None), repo.root_dir, repo.sops_config, {})
    creds = Credentials(headscale_api_key=run.hs.api_key)
    keys: dict[str, HostKey] = {}
    failed: dict[str, str] = {}

    def request(host: Host) -> Any:
        base = run.options.key_request(host)
        user = host.user or (repo.control.user if host.tags else None)
        return replace(base, user=headscale_user(user) if user else None)

    with HeadscaleV1(run.hs.url, credentials=creds) as backend:
        for name, host in repo.hosts.items():
            private = private_key_path(run.options.directory, run.options.host_key_path, name)
            try:
                keys[name] = bootstrap_host(
                    repo,
                    host,
                    backend=backend,
                    sops=sops,
                    private_key=private,
                    out_dir=run.work / "nodes",
                    key_request=request,
                )
            except TailcfgError as exc:
                failed[name] = str(exc)
                run.on_event(Event("host", str(exc), ok=False))
                continue
            run.on_event(
                Event("host", f"{name}: key minted, sealed, decrypted with its SSH host key")
            )
    return keys, failed


def specs(run: Run, keys: Mapping[str, HostKey]) -> list[NodeSpec]:
    value = policy_value(run.repo.policy)
    names = Names.from_policy(value)
    logins = sorted(
        {
            str(login)
            for t in value.get("sshTests") or ()
            for k in ("accept", "check", "deny")
            for login in t.get(k) or ()
        }
    )
    passwd = passwd_with(logins)
    return [
        NodeSpec(
            run.repo.hosts[name],
            key.auth_key_file,
            tuple(held_addresses(run.repo.hosts[name], names)),
            passwd,
        )
        for name, key in keys.items()
    ]


def host_results(
    run: Run,
    specs: Sequence[NodeSpec],
    outcomes: Sequence[object],
    failed: Mapping[str, str],
    hs_nodes: Sequence[Mapping[str, Any]],
) -> list[HostResult]:
    joined = {spec.host.name: outcome for spec, outcome in zip(specs, outcomes, strict=True)}
    by_name = {node_name(n): n for n in hs_nodes}
    results = []
    for name, host in run.repo.hosts.items():
        outcome = joined.get(name)
        if name in failed:
            results.append(HostResult(name, False, f"did not join: {failed[name]}"))
            continue
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, TailcfgError):
                raise outcome
            results.append(HostResult(name, False, f"did not join: {outcome}"))
            run.on_event(Event("host", f"{name}: did not join: {outcome}", ok=False))
            continue
        seconds = float(outcome) if isinstance(outcome, float) else 0.0
        node = by_name.get(name)
        if node is None:
            results.append(HostResult(name, False, "joined, but headscale lists no such node"))
            continue
        tags = tuple(node.get("tags") or ())
        addresses = tuple(str(a) for a in node.get("ipAddresses") or ())
        user = str((node.get("user") or {}).get("name") or "")
        ok, detail = True, "joined"
        if set(tags) != set(host.tags):
            ok, detail = False, f"it registered with tags {list(tags)}"
        elif not host.tags and host.user and user != headscale_user(host.user):
            ok, detail = False, f"it registered as {user}'s device, not {host.user}'s"
        results.append(HostResult(name, ok, detail, tags, addresses, "", seconds))
        up = f"{name}: up as {', '.join(addresses)} tags={list(tags)} in {seconds:.1f} s"
        run.on_event(Event("host", up, ok=ok))
    return results


def route_notes(run: Run, topology: Sequence[Any]) -> list[str]:
    """Where Headscale approved other routes than autoApprovers says (a recorded note)."""
    value = policy_value(run.repo.policy)
    names = Names.from_policy(value)
    approvers = value.get("autoApprovers") or {}
    notes = []
    for device in topology:
        host = run.repo.hosts.get(device.name)
        if host is None:
            continue
        member = Member(device.name, device.tags, device.user)
        want = {r for r in advertised(host) if auto_approved(approvers, r, member, names)}
        have = set(device.approved_routes)
        if want != have:
            notes.append(
                f"headscale approved {sorted(have)} for {device.name}; autoApprovers approve "
                f"{sorted(want)} of its advertised {list(advertised(host))}"
            )
    return notes
