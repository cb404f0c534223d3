"""Results of running a policy's ``tests`` and ``sshTests``: plain, immutable data.

One :class:`TestResult` per assertion (a ``tests`` destination, or an ``sshTests``
login against one destination); :class:`TestReport` keeps them in file order and
groups them by entry (``tests[i]`` / ``sshTests[i]``) for JUnit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from tailcfg.source import Span


class HasSpan(Protocol):
    """Anything of the policy model that knows where it is (found on first use)."""

    @property
    def span(self) -> Span: ...


Where = Span | HasSpan


def _span(where: Where) -> Span:
    return where if isinstance(where, Span) else where.span


class Outcome(StrEnum):
    ACCEPT = "accept"
    CHECK = "check"
    DENY = "deny"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule of the policy that decided a verdict: ``acls[3]`` at its span."""

    section: str
    index: int
    span: Span | None = None

    @property
    def name(self) -> str:
        """``acls[3]``; a rule without an index (``index < 0``) is named by its section."""
        return self.section if self.index < 0 else f"{self.section}[{self.index}]"

    def render(self) -> str:
        if self.span is None:
            return self.name
        return f"{self.span.path}:{self.span.line} ({self.name})"


@dataclass(frozen=True, slots=True)
class TestResult:
    """One assertion of one test entry and how it came out."""

    __test__ = False  # not a pytest class

    section: str  # "tests" or "sshTests"
    entry: int
    where: Where  # the assertion's string (or the entry): a Span, or a model Ref
    src: str
    dst: str
    proto: str | None  # tests: the protocol as written; sshTests: None
    login: str | None  # sshTests: the login user; tests: None
    expected: Outcome
    actual: Outcome
    passed: bool
    reason: str
    rules: tuple[RuleRef, ...] = ()
    policy_error: bool = False  # the server rejects the policy itself (its own wording)
    # The verdict cannot be known offline (it depends on facts of the tailnet the policy
    # does not hold, such as users' roles): reported as a warning, not a failure.
    unverified: bool = False

    @property
    def span(self) -> Span:
        """Where the assertion is (computed from the document on first use)."""
        return _span(self.where)

    @property
    def entry_name(self) -> str:
        return f"{self.section}[{self.entry}]"

    @property
    def target(self) -> str:
        """``src -> dst`` (with the login for sshTests)."""
        who = (
            f"{self.src} -> {self.login}@{self.dst}" if self.login else f"{self.src} -> {self.dst}"
        )
        return who


@dataclass(frozen=True, slots=True)
class TestEntry:
    """The results of one ``tests``/``sshTests`` entry."""

    __test__ = False  # not a pytest class

    section: str
    index: int
    where: Where
    src: str
    results: tuple[TestResult, ...]

    @property
    def span(self) -> Span:
        return _span(self.where)

    @property
    def name(self) -> str:
        """``acls[3]``; a rule without an index (``index < 0``) is named by its section."""
        return self.section if self.index < 0 else f"{self.section}[{self.index}]"

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


@dataclass(frozen=True, slots=True)
class TestReport:
    """Every test of a policy; ``passed`` when all assertions hold."""

    __test__ = False  # not a pytest class

    path: str
    entries: tuple[TestEntry, ...] = ()
    mode: str = "symbolic"  # or "topology" (evaluated on --nodes)
    notes: tuple[str, ...] = field(default=())

    @property
    def results(self) -> tuple[TestResult, ...]:
        return tuple(r for e in self.entries for r in e.results)

    @property
    def failures(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.entries)

    @property
    def unverified(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if r.unverified)

    @property
    def policy_errors(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if r.policy_error)

    def __iter__(self) -> Iterator[TestResult]:
        return iter(self.results)
