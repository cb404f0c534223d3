"""Run a policy's ``sshTests``: may ``src`` log in to each ``dst`` as each login user?

``accept`` holds when an accept or a check rule lets every source device in; ``check``
needs a check rule; ``deny`` holds when no SSH rule lets any source device in. Only
SSH rules count (an ACL to port 22 does not). Verdicts come from each destination
device's compiled SSH policy (``principals`` x ``sshUsers``).
"""

from __future__ import annotations

from dataclasses import replace

from tailcfg.policy.evaluate.packets import src_points
from tailcfg.policy.evaluate.provenance import Provenance
from tailcfg.policy.evaluate.spec import (
    SSH_TEST_KEYS,
    Alias,
    Kind,
    check_login,
    check_src,
    check_ssh_dst,
    single_host_ip,
    ssh_dst_policy_error,
    unknown_keys,
)
from tailcfg.policy.evaluate.verdicts import Outcome, RuleRef, TestEntry, TestResult
from tailcfg.policy.evaluate.world import SrcPoint, World
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Ref, SshTest


def ssh_dst_devices(alias: Alias, world: World, src: SrcPoint) -> list[Node] | str:
    if alias.kind in (Kind.TAG, Kind.USER):
        devices = list(world.devices(alias.text))
    elif alias.text == "autogroup:self":
        devices = list(world.same_owner(src.node)) if src.node is not None else []
    else:
        literal = alias.text
        if alias.kind is Kind.HOST:
            literal = single_host_ip(world.names.hosts[alias.text]) or ""
        owner = world.resolver.node_by_ip(literal) if literal else None
        if owner is None:
            where = "in --nodes" if world.topology else "without --nodes (run with --nodes)"
            return f"no device has the address {literal or alias.text!r} {where}"
        devices = [owner]
    return devices


class SshTestsRunner:
    """Evaluates ``sshTests`` entries in one world."""

    __test__ = False  # not a pytest class

    def __init__(self, world: World, prov: Provenance) -> None:
        self.world = world
        self.prov = prov

    def entry(self, t: SshTest) -> TestEntry:
        src_text = t.src.text if t.src is not None else ""
        return TestEntry("sshTests", t.index, t, src_text, tuple(self._results(t, src_text)))

    def _result(
        self,
        t: SshTest,
        span_ref: Ref | None,
        dst: str,
        login: str | None,
        expected: Outcome,
        actual: Outcome,
        reason: str,
        *,
        passed: bool = False,
        rules: tuple[RuleRef, ...] = (),
        policy_error: bool = False,
    ) -> TestResult:
        return TestResult(
            section="sshTests",
            entry=t.index,
            where=span_ref if span_ref is not None else t,
            src=t.src.text if t.src is not None else "",
            dst=dst,
            proto=None,
            login=login,
            expected=expected,
            actual=actual,
            passed=passed,
            reason=reason,
            rules=rules,
            policy_error=policy_error,
        )

    def _invalid(
        self, t: SshTest, login_ref: Ref, dst: str, expected: Outcome, reason: str
    ) -> TestResult:
        return self._result(t, login_ref, dst, login_ref.text, expected, Outcome.INVALID, reason)

    def _assertions(self, t: SshTest) -> list[tuple[Outcome, Ref]]:
        return [
            *((Outcome.ACCEPT, r) for r in t.accept),
            *((Outcome.CHECK, r) for r in t.check),
            *((Outcome.DENY, r) for r in t.deny),
        ]

    def _results(self, t: SshTest, src_text: str) -> list[TestResult]:
        out: list[TestResult] = []
        for ref in t.dst:
            err = ssh_dst_policy_error(ref.text)
            if err:
                out.append(
                    self._result(
                        t,
                        ref,
                        ref.text,
                        None,
                        Outcome.ACCEPT,
                        Outcome.INVALID,
                        err,
                        policy_error=True,
                    )
                )
        if out:
            return out
        problem = unknown_keys(t.raw, SSH_TEST_KEYS) if t.raw else None
        assertions = self._assertions(t)
        if t.src is None:
            problem = problem or "sshTests entry has no src"
        if not t.dst:
            problem = problem or "sshTests entry has no dst"
        if not assertions:
            problem = problem or "sshTests entry has no accept, check or deny"
        src = check_src(src_text, self.world.names) if problem is None else problem
        points = src_points(src, self.world) if not isinstance(src, str) else src
        if isinstance(src, str) or isinstance(points, str):
            reason = f"invalid test: {points if isinstance(points, str) else src}"
            result = self._result(t, None, "", None, Outcome.ACCEPT, Outcome.INVALID, reason)
            if problem == "sshTests entry has no dst" and t.src is not None and assertions:
                # Seen in live policies; what the server does with it is not known.
                reason = (
                    f"{src_text}: unverified: an sshTests entry without dst asserts nothing "
                    "here; whether the server accepts it is not known"
                )
                result = replace(result, passed=True, unverified=True, reason=reason)
            return [result]
        for ref in t.dst:
            for expected, login in assertions:
                out.append(self._assertion(t, src, points, ref, expected, login))
        return out

    def _assertion(
        self,
        t: SshTest,
        src: Alias,
        points: list[SrcPoint],
        dst_ref: Ref,
        expected: Outcome,
        login_ref: Ref,
    ) -> TestResult:
        login = login_ref.text
        dst = check_ssh_dst(dst_ref.text, self.world.names, src)
        problem = check_login(login) or (dst if isinstance(dst, str) else None)
        if problem is not None or isinstance(dst, str):
            return self._invalid(t, login_ref, dst_ref.text, expected, f"invalid test: {problem}")
        if dst.kind in (Kind.HOST, Kind.IP):
            devices = ssh_dst_devices(dst, self.world, points[0])
            if isinstance(devices, str):
                return self._invalid(
                    t, login_ref, dst_ref.text, expected, f"invalid test: {devices}"
                )
        allowed, checked, denied, rules = self._evaluate(dst, points, login)
        total = len(allowed) + len(denied)
        if total == 0:
            return self._invalid(
                t,
                login_ref,
                dst_ref.text,
                expected,
                f"invalid test: dst {dst_ref.text!r} has no devices",
            )
        head = f"{src.text} -> {dst_ref.text} as {login}"
        all_checked = len(checked) == total
        if expected is Outcome.DENY:
            passed = not allowed
            actual = Outcome.DENY if passed else Outcome.ACCEPT
            reason = (
                f"{head}: denied: no SSH rule matches"
                if passed
                else f"{head}: expected deny, accepted by {_render(rules)}"
            )
        else:
            need_check = expected is Outcome.CHECK
            passed = not denied and (all_checked or not need_check)
            actual = (
                Outcome.CHECK if all_checked else Outcome.ACCEPT if not denied else Outcome.DENY
            )
            if passed:
                reason = f"{head}: {actual.value}ed by {_render(rules)}"
            elif denied:
                who = "" if len(denied) == total else f" for {', '.join(sorted(denied)[:3])}"
                reason = f"{head}: expected {expected.value}, denied{who}: no SSH rule matches"
            else:
                reason = f"{head}: expected check, accepted without check by {_render(rules)}"
        return self._result(
            t,
            login_ref,
            dst_ref.text,
            login,
            expected,
            actual,
            reason,
            passed=passed,
            rules=tuple(rules),
        )

    def _evaluate(
        self, dst: Alias, points: list[SrcPoint], login: str
    ) -> tuple[list[str], list[str], list[str], list[RuleRef]]:
        allowed: list[str] = []
        checked: list[str] = []
        denied: list[str] = []
        rules: dict[RuleRef, None] = {}
        for sp in points:
            devices = ssh_dst_devices(dst, self.world, sp)
            if isinstance(devices, str):
                continue
            for node in devices:
                pair = f"{sp.label} -> {self.world.label(node)}"
                matcher = self.world.ssh(node)
                verdicts = [matcher.verdict(s, login) for s in sp.addrs]
                if not any(v.allowed for v in verdicts):
                    denied.append(pair)
                    continue
                allowed.append(pair)
                if any(v.checked for v in verdicts):
                    checked.append(pair)
                for s in sp.addrs:
                    for ref, _ in self.prov.ssh_granting(s, sp.node, node, login):
                        rules.setdefault(ref)
        return allowed, checked, denied, list(rules)


def _render(rules: list[RuleRef]) -> str:
    if not rules:
        return "the compiled SSH policy (rule not traced)"
    return ", ".join(r.render() for r in rules)
