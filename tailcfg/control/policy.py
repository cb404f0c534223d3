"""The control plane's view of the policy: load, compile for the devices, run its tests.

Compilation is the policy engine's (``tailcfg.policy.compile.engine``), the same code as
``tailcfg policy compile``; the tests are ``tailcfg.policy.evaluate.run_tests``, the same
code as ``tailcfg policy test``. Tag ownership for auth keys is read from ``tagOwners``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailcfg import hujson
from tailcfg.control.compiler import compile_devices
from tailcfg.policy.compile.engine import DEFAULT_CHECK_URL, Policy, load_policy
from tailcfg.policy.evaluate.run import run_tests as run_policy_tests
from tailcfg.policy.model.nodes import Node

DEFAULT_POLICY = (
    "// The default policy: every device may reach every other device.\n"
    '{\n\t"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],\n}\n'
)


def etag_of(text: str) -> str:
    """sha256 hex of the stored HuJSON, which is what gitops-pusher compares."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NodePolicy:
    """What one device receives: its packet filter, SSH policy and visible peers (names).

    ``peers`` is shared between devices and may contain the device's own name; ignore it.
    """

    packet_filter: list[dict[str, Any]]
    ssh_policy: dict[str, Any]
    peers: frozenset[str]


@dataclass(frozen=True)
class LoadedPolicy:
    text: str
    policy: Policy = field(compare=False)
    value: Mapping[str, Any] = field(compare=False)

    @property
    def etag(self) -> str:
        return etag_of(self.text)


def load(text: str, path: str = "policy.hujson", *, users: Sequence[str] = ()) -> LoadedPolicy:
    """Parse and validate a policy (raises HujsonError / PolicyError)."""
    policy = load_policy(text, path, users=users)
    value = hujson.parse(text, path).value
    return LoadedPolicy(text=text, policy=policy, value=value if isinstance(value, dict) else {})


def compile_for(
    loaded: LoadedPolicy, nodes: Sequence[Node], *, check_url: str | None = None
) -> dict[str, NodePolicy]:
    """Per device name: packet filter, SSH policy and peers (as ``compile_policy``'s)."""
    compiled = compile_devices(loaded.policy, nodes, check_url=check_url or DEFAULT_CHECK_URL)
    return {name: NodePolicy(*entry) for name, entry in compiled.items()}


def run_tests(loaded: LoadedPolicy) -> list[dict[str, Any]]:
    """The failed tests in Tailscale's ``data`` shape (``[{"user", "errors"}]``); [] if all pass.

    Like Tailscale's server, the tests run on identities (users, tags, addresses), not on
    the devices that happen to be registered.
    """
    if not (loaded.value.get("tests") or loaded.value.get("sshTests")):
        return []
    report = run_policy_tests(loaded.policy)
    by_user: dict[str, list[str]] = {}
    for result in report.results:
        if not result.passed:
            by_user.setdefault(str(result.src), []).append(str(result.reason))
    return [{"user": user, "errors": errors} for user, errors in by_user.items()]


def _members(loaded: LoadedPolicy, group: str) -> tuple[str, ...]:
    entry = loaded.policy.groups.get(group)
    return tuple(m.text for m in entry.members) if entry is not None else ()


def may_apply_tag(loaded: LoadedPolicy, tag: str, *, login: str, is_admin: bool) -> bool:
    """Whether ``login`` owns ``tag`` through tagOwners (directly, a group or autogroup:admin)."""
    entry = loaded.policy.tag_owners.get(tag)
    if entry is None:
        return False
    for owner in (m.text for m in entry.members):
        if owner == login:
            return True
        if owner in ("autogroup:admin", "autogroup:owner") and is_admin:
            return True
        if owner.startswith("group:") and login in _members(loaded, owner):
            return True
    return False


def _approves(
    loaded: LoadedPolicy, approvers: Sequence[str], *, tags: Sequence[str], login: str | None
) -> bool:
    """Tagged devices are approved through their tags; others through their user."""
    for approver in approvers:
        if tags:
            if approver in tags:
                return True
        elif login is not None and (
            approver in (login, "autogroup:member")
            or (approver.startswith("group:") and login in _members(loaded, approver))
        ):
            return True
    return False


def auto_approved(
    loaded: LoadedPolicy, routes: Sequence[str], *, tags: Sequence[str], login: str | None
) -> tuple[str, ...]:
    """The advertised ``routes`` that ``autoApprovers`` approves for this device."""
    aa = loaded.policy.auto_approvers
    prefixes = []
    for prefix, refs in aa.routes.items():
        with contextlib.suppress(ValueError):
            prefixes.append((ipaddress.ip_network(prefix, strict=False), [r.text for r in refs]))
    exit_approvers = [r.text for r in aa.exit_node]
    out: list[str] = []
    for route in routes:
        try:
            net = ipaddress.ip_network(route, strict=False)
        except ValueError:
            continue
        if net.prefixlen == 0:
            ok = _approves(loaded, exit_approvers, tags=tags, login=login)
        else:
            ok = any(
                net.version == p.version
                and net.subnet_of(p)  # type: ignore[arg-type]
                and _approves(loaded, who, tags=tags, login=login)
                for p, who in prefixes
            )
        if ok:
            out.append(route)
    return tuple(out)


def tag_defined(loaded: LoadedPolicy, tag: str) -> bool:
    return tag in loaded.policy.tag_owners
