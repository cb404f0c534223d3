"""Run a policy's ``tests`` and ``sshTests`` offline, as Tailscale's server does.

Public API::

    run_tests(policy, nodes=None) -> TestReport
    run_tests_file(policy_path, *, nodes_path=None) -> TestReport   (loads + validates)

Without ``nodes`` identities are symbolic: a stand-in device per user, tag and
destination address (see :mod:`tailcfg.policy.evaluate.world`). With ``nodes`` the tests
run on the real devices, through each destination device's compiled packet filter or
SSH policy. Each result names the rules (``acls[i]``/``grants[i]``/``ssh[i]`` with
spans) that decided it; see :mod:`tailcfg.policy.evaluate.verdicts` for the result types and
``docs/policy-tests.md`` for the semantics.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate import offline
from tailcfg.policy.evaluate.logins import SshTestsRunner
from tailcfg.policy.evaluate.packets import TestsRunner
from tailcfg.policy.evaluate.spec import Alias, Dst, Kind, check_dst, single_host_ip
from tailcfg.policy.evaluate.verdicts import Outcome, RuleRef, TestEntry, TestReport, TestResult
from tailcfg.policy.evaluate.world import World, policy_names
from tailcfg.policy.model.nodes import Node, load_nodes
from tailcfg.policy.model.policy import Policy
from tailcfg.textfile import read_text

__all__ = [
    "Outcome",
    "RuleRef",
    "TestEntry",
    "TestReport",
    "TestResult",
    "build_world",
    "run_tests",
    "run_tests_file",
    "run_tests_in",
]


def _dst_literals(policy: Policy, world_names_nodes: Sequence[Node]) -> Iterator[str]:
    names = policy_names(policy, world_names_nodes)
    anyone = Alias(Kind.ALL, "*")
    checked: dict[str, Dst | str] = {}
    for t in policy.tests:
        for ref in (*t.accept, *t.deny):
            dst = checked.get(ref.text)
            if dst is None:
                dst = checked[ref.text] = check_dst(ref.text, names, anyone)
            if isinstance(dst, Dst) and dst.alias.kind in (Kind.IP, Kind.HOST):
                literal = (
                    dst.alias.text
                    if dst.alias.kind is Kind.IP
                    else single_host_ip(names.hosts.get(dst.alias.text, ""))
                )
                if literal:
                    yield literal


def build_world(policy: Policy, nodes: Sequence[Node] | None = None) -> World:
    """The devices tests and explain run on: ``nodes`` (or none) plus stand-ins."""
    literals = list(_dst_literals(policy, nodes or ()))
    return World(policy, nodes, dst_literals=literals, for_tests=True)


def run_tests(policy: Policy, nodes: Sequence[Node] | None = None) -> TestReport:
    """Evaluate every ``tests`` and ``sshTests`` entry of ``policy``."""
    return run_tests_in(build_world(policy, nodes))


def run_tests_in(world: World) -> TestReport:
    """Evaluate the tests of ``world.policy`` in an already built world (reuses its filters).

    Without ``--nodes`` some verdicts cannot be known (users' roles, whose device an
    address is): :func:`tailcfg.policy.evaluate.offline.settle` reports those as unverified.
    """
    report = _run(world)
    if world.topology:
        return report
    literals = list(_dst_literals(world.policy, ()))

    def with_roles(roles: tuple[str, ...]) -> TestReport:
        roled = World(
            world.policy, None, dst_literals=literals, standin_roles=roles, for_tests=True
        )
        return _run(roled)

    return offline.settle(world, report, with_roles)


def _run(world: World) -> TestReport:
    policy = world.policy
    nodes = world.nodes if world.topology else None
    prov = world.provenance
    entries: list[TestEntry] = []
    if policy.tests:
        runner = TestsRunner(world, prov)
        entries.extend(runner.entry(t) for t in policy.tests)
    if policy.ssh_tests:
        ssh_runner = SshTestsRunner(world, prov)
        entries.extend(ssh_runner.entry(t) for t in policy.ssh_tests)
    mode = "topology" if nodes is not None else "symbolic"
    return TestReport(policy.path, tuple(entries), mode=mode)


def run_tests_file(policy_path: Path, *, nodes_path: Path | None = None) -> TestReport:
    """Load (and validate: PolicyError as the server words it) a policy file, run its tests."""
    policy = load_policy(read_text(policy_path, "policy"), str(policy_path))
    nodes = load_nodes(nodes_path) if nodes_path is not None else None
    return run_tests(policy, nodes)
