"""What tests cannot know offline, and how their verdicts say so.

Without ``--nodes`` tailcfg evaluates tests on stand-in devices (see
:mod:`tailcfg.policy.evaluate.world`). Two facts of the real tailnet are then unknown, and a
verdict that hangs on one is reported as *unverified* (it stays ``passed``; the reason
says what is unknown and how to decide it) instead of failed:

- **users' roles** — when the policy selects by role (``autogroup:admin`` and the like),
  the tests run twice: with no user holding a role and with every user holding every
  role. Access only grows with roles, so where the two runs agree the verdict is certain;
  where they differ it depends on the roles.
- **whose device an address is** — a test naming a tailnet address (100.64.0.0/10,
  fd7a:115c:a1e0::/48) that no known device has, or an address routed only by a ``via``
  grant's routers: a stand-in holds it, reached only by rules naming the address. An
  *accept* there is certain (more identity only adds access); a *deny* is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tailcfg.policy.evaluate.spec import single_host_ip
from tailcfg.policy.evaluate.verdicts import Outcome, TestEntry, TestReport, TestResult
from tailcfg.policy.evaluate.world import World
from tailcfg.policy.model import addrs
from tailcfg.policy.model.autogroups import ROLE_AUTOGROUPS
from tailcfg.policy.model.policy import Policy

ALL_ROLES = ("owner", "admin", "it-admin", "network-admin", "billing-admin", "auditor")
_NO_DEVICE = "no device has the address"


def settle(
    world: World, report: TestReport, with_roles: Callable[[tuple[str, ...]], TestReport]
) -> TestReport:
    """``report`` (of a symbolic ``world``) with the unknowable verdicts made unverified."""
    roles = role_autogroups(world.policy)
    if roles:
        report = _merge_roles(report, with_roles(ALL_ROLES), roles)
    return _unknown_addresses(world, report)


def role_autogroups(policy: Policy) -> list[str]:
    """The role autogroups the policy's access rules select by, in first-seen order."""
    found: dict[str, None] = {}
    refs = [r for a in policy.acls for r in (*a.src, *a.dst)]
    refs += [r for g in policy.grants for r in (*g.src, *g.dst)]
    refs += [r for x in policy.ssh for r in (*x.src, *x.dst)]
    for ref in refs:
        text = ref.text.strip()
        for role in sorted(ROLE_AUTOGROUPS):
            if text == role or text.startswith(role + ":"):  # an acls dst carries its ports
                found.setdefault(role)
    return list(found)


def _unverified(result: TestResult, why: str) -> TestResult:
    reason = f"{result.target}: unverified: {why} ({result.reason})"
    return replace(result, passed=True, unverified=True, reason=reason)


def _map(report: TestReport, fix: Callable[[TestEntry, int, TestResult], TestResult]) -> TestReport:
    entries = []
    for entry in report.entries:
        results = tuple(fix(entry, i, r) for i, r in enumerate(entry.results))
        entries.append(replace(entry, results=results))
    return replace(report, entries=tuple(entries))


def _merge_roles(plain: TestReport, roled: TestReport, roles: list[str]) -> TestReport:
    other = {(e.section, e.index): e for e in roled.entries}

    def fix(entry: TestEntry, i: int, a: TestResult) -> TestResult:
        twin = other.get((entry.section, entry.index))
        if twin is None or i >= len(twin.results) or twin.results[i].passed == a.passed:
            return a
        with_role = "passes" if twin.results[i].passed else "fails"
        why = (
            f"the verdict depends on roles ({', '.join(roles)}) that tailcfg does not know "
            f"offline: it {with_role} when {a.src} holds one, "
            f"{'passes' if a.passed else 'fails'} when not; give --nodes with the users' "
            "roles to decide"
        )
        return _unverified(a, why)

    return _map(plain, fix)


def _denies(r: TestResult) -> bool:
    """The verdict was a denial (a failed accept/check, or a passed deny)."""
    return r.actual is Outcome.DENY


def _literal(world: World, r: TestResult, text: str, *, with_port: bool) -> str | None:
    host = text.strip()
    if with_port:
        host = host[1:].partition("]")[0] if host.startswith("[") else host.rpartition(":")[0]
    if host in world.names.hosts:
        return single_host_ip(world.names.hosts[host])
    return host if addrs.parse_addr(host) is not None else None


def _in_tailnet(literal: str) -> bool:
    parsed = addrs.parse_addr(literal)
    if parsed is None:
        return False
    iv = (parsed[0], parsed[1], parsed[1])
    return addrs.contains(addrs.CGNAT, iv) or addrs.contains(addrs.TAILSCALE_ULA, iv)


def _via_covers(world: World, literal: str) -> bool:
    parsed = addrs.parse_addr(literal)
    if parsed is None:
        return False
    iv = (parsed[0], parsed[1], parsed[1])
    for grant in world.policy.grants:
        if not grant.via:
            continue
        for dst in grant.dst:
            if any(addrs.contains(d, iv) for d in world.resolver.dst_intervals(dst.text)):
                return True
    return False


def _address_doubt(world: World, r: TestResult) -> str | None:
    """Why the holder of the result's address is unknown offline, or None."""
    if r.actual is Outcome.INVALID and _NO_DEVICE in r.reason:
        return "the address is a device tailcfg does not know offline"
    if not _denies(r):
        return None
    src = _literal(world, r, r.src, with_port=False)
    if src is not None and _in_tailnet(src) and world.resolver.node_by_ip(src) is None:
        return f"{src} is a tailnet device whose identity is not known offline"
    dst = _literal(world, r, r.dst, with_port=r.section == "tests")
    if dst is None:
        return None
    holders = world.holders(dst)
    if holders and any(h.node.name not in world.standins for h in holders):
        return None
    if _in_tailnet(dst):
        return f"{dst} is a tailnet device whose identity is not known offline"
    if _via_covers(world, dst):
        return f"{dst} is routed by a via grant's routers, which are not known offline"
    return None


def _unknown_addresses(world: World, report: TestReport) -> TestReport:
    def fix(_entry: TestEntry, _i: int, r: TestResult) -> TestResult:
        if r.unverified:
            return r
        why = _address_doubt(world, r)
        if why is None:
            return r
        if r.passed and r.expected is not Outcome.DENY:
            return r
        return _unverified(r, why + "; give --nodes to decide")

    return _map(report, fix)
