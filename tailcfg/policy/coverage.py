"""Test coverage of a policy: which rules its tests exercise, and what they leave out.

Public API::

    policy_coverage(policy, doc, nodes=None) -> CoverageReport
    coverage_file(policy_path, *, nodes_path=None) -> CoverageReport   (loads + validates)
    RENDERERS: {"text", "json", "github"} -> (CoverageReport) -> str

A rule is *exercised* when some ``tests``/``sshTests`` assertion's verdict names it
(the rules :mod:`tailcfg.policy.evaluate.run` reports as granting). Counted rules: every
ACL, every grant with ``ip`` and no ``via``, and every SSH rule; grants that only carry
``app`` capabilities or route ``via`` a tag are listed as not testable. A test entry
whose assertions name no rule (typically deny-only entries) *touches no rule*. Unused
groups, hosts and tags come from :func:`tailcfg.policy.validate.validator.warnings`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailcfg import hujson, outputs
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.model.nodes import Node, load_nodes
from tailcfg.policy.model.policy import Policy
from tailcfg.policy.validate.validator import warnings
from tailcfg.source import Diagnostic, Severity, Span
from tailcfg.textfile import read_text

JSON_VERSION = 1


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    """One rule and the test entries (``tests[i]``/``sshTests[i]``) exercising it."""

    rule: RuleRef
    tests: tuple[str, ...]
    testable: bool = True

    @property
    def covered(self) -> bool:
        return bool(self.tests)


@dataclass(frozen=True, slots=True)
class IdleTest:
    """A test entry none of whose assertions names a rule."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class CoverageReport:
    path: str
    mode: str
    rules: tuple[RuleCoverage, ...]
    idle_tests: tuple[IdleTest, ...]
    unused: tuple[Diagnostic, ...]

    @property
    def counted(self) -> tuple[RuleCoverage, ...]:
        return tuple(r for r in self.rules if r.testable)

    @property
    def covered(self) -> int:
        return sum(1 for r in self.counted if r.covered)

    @property
    def total(self) -> int:
        return len(self.counted)

    @property
    def percent(self) -> float:
        """Exercised rules in percent, rounded to one decimal (100 when there are none)."""
        return 100.0 if not self.total else round(100.0 * self.covered / self.total, 1)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Findings in file order: unexercised rules, idle tests, unused declarations."""
        out: list[Diagnostic] = []
        for r in self.rules:
            if r.rule.span is None or r.covered:
                continue
            if r.testable:
                msg = f"{r.rule.name} is not exercised by any test"
                out.append(Diagnostic(r.rule.span, msg, "uncovered-rule", Severity.WARNING))
            else:
                msg = f"{r.rule.name} cannot be exercised by tests (app or via grant)"
                out.append(Diagnostic(r.rule.span, msg, "untestable-rule", Severity.NOTE))
        for t in self.idle_tests:
            msg = f"{t.name} touches no rule (no assertion is granted by a rule)"
            out.append(Diagnostic(t.span, msg, "test-touches-no-rule", Severity.NOTE))
        out.extend(self.unused)
        return tuple(sorted(out, key=lambda d: (d.span.line, d.span.col)))


def _rules(policy: Policy) -> list[tuple[RuleRef, bool]]:
    out = [(RuleRef("acls", a.index, a.span), True) for a in policy.acls]
    out += [(RuleRef("grants", g.index, g.span), g.has_ip and not g.via) for g in policy.grants]
    out += [(RuleRef("ssh", s.index, s.span), True) for s in policy.ssh]
    return sorted(out, key=lambda x: x[0].span.offset if x[0].span else 0)


def policy_coverage(
    policy: Policy, doc: hujson.Document, nodes: Sequence[Node] | None = None
) -> CoverageReport:
    """Run the policy's tests and report which rules they exercise."""
    report = run_tests(policy, nodes)
    by_rule: dict[tuple[str, int], dict[str, None]] = {}
    idle: list[IdleTest] = []
    for entry in report.entries:
        touched = False
        for result in entry.results:
            for ref in result.rules:
                by_rule.setdefault((ref.section, ref.index), {})[entry.name] = None
                touched = True
        if not touched:
            idle.append(IdleTest(entry.name, entry.span))
    rules = tuple(
        RuleCoverage(ref, tuple(by_rule.get((ref.section, ref.index), ())), testable)
        for ref, testable in _rules(policy)
    )
    return CoverageReport(policy.path, report.mode, rules, tuple(idle), tuple(warnings(doc)))


def coverage_file(policy_path: Path, *, nodes_path: Path | None = None) -> CoverageReport:
    """Load (PolicyError as the server words it) and measure a policy file's coverage."""
    text = read_text(policy_path, "policy")
    policy = load_policy(text, str(policy_path))
    nodes = load_nodes(nodes_path) if nodes_path is not None else None
    return policy_coverage(policy, hujson.parse(text, str(policy_path)), nodes)


# ---- renderers ----------------------------------------------------------------------


def summary(report: CoverageReport) -> str:
    return (
        f"{report.path}: {report.covered} of {report.total} rules exercised by tests "
        f"({report.percent:.1f}%, {report.mode})"
    )


def render_text(report: CoverageReport) -> str:
    lines = [d.render() for d in report.diagnostics]
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def _span_json(span: Span | None) -> dict[str, Any]:
    return {"line": span.line if span else None, "col": span.col if span else None}


def report_json(report: CoverageReport) -> dict[str, Any]:
    """The stable machine shape (``version`` 1, documented in docs/output-formats.md)."""
    return {
        "version": JSON_VERSION,
        "path": report.path,
        "mode": report.mode,
        "summary": {
            "rules": report.total,
            "covered": report.covered,
            "percent": report.percent,
            "idle_tests": len(report.idle_tests),
            "unused": len(report.unused),
        },
        "rules": [
            {
                "rule": r.rule.name,
                **_span_json(r.rule.span),
                "testable": r.testable,
                "covered": r.covered,
                "tests": list(r.tests),
            }
            for r in report.rules
        ],
        "idle_tests": [{"test": t.name, **_span_json(t.span)} for t in report.idle_tests],
        "unused": [outputs.diagnostic_json(d) for d in report.unused],
    }


def render_json(report: CoverageReport) -> str:
    return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    diagnostics: Sequence[Diagnostic]


def render_github(report: CoverageReport) -> str:
    """Annotations (file, line, col) for every finding, then a ``::notice`` summary."""
    text = outputs.render_github([_File(report.path, report.diagnostics)])
    return (
        text + f"::notice title=tailcfg coverage::{outputs.escape_github_data(summary(report))}\n"
    )


RENDERERS: dict[str, Callable[[CoverageReport], str]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
}
