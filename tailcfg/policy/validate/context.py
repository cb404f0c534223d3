"""Shared state of one validation run: the document, its declarations, the findings.

Findings come in two phases, like the server's: *parse* errors (what Go's JSON
decoding of the policy rejects, in document order of the top-level sections) and
*semantic* errors (the validation pass after decoding, in the server's order of
sections). The first finding of the combined list is what the server would answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tailcfg.hujson import Document, JsonPath
from tailcfg.policy.validate.schema import original_path
from tailcfg.policy.validate.syntax import go_quote
from tailcfg.source import Diagnostic, Severity

UNVERIFIED = "unverified"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass
class Context:
    """The document under validation and the findings collected so far."""

    doc: Document
    value: Any = None  # the document's value with canonical field names
    domains: frozenset[str] | None = None
    parse_errors: dict[str, list[Diagnostic]] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)
    unverified: list[Diagnostic] = field(default_factory=list)
    hints: list[Diagnostic] = field(default_factory=list)  # legacy spellings and the like

    @property
    def policy(self) -> Mapping[str, Any]:
        return _mapping(self.value)

    @property
    def groups(self) -> Mapping[str, Any]:
        return _mapping(self.policy.get("groups"))

    @property
    def tag_owners(self) -> Mapping[str, Any]:
        return _mapping(self.policy.get("tagOwners"))

    @property
    def hosts(self) -> Mapping[str, Any]:
        return _mapping(self.policy.get("hosts"))

    @property
    def ipsets(self) -> Mapping[str, Any]:
        return _mapping(self.policy.get("ipsets"))

    def diagnostic(
        self, path: JsonPath, message: str, code: str, *, key: bool = False
    ) -> Diagnostic:
        written = original_path(self.doc.value, path)
        span = self.doc.key_span_at(written) if key else self.doc.span_at(written)
        return Diagnostic(span, message, code=code, severity=Severity.ERROR)

    def parse_error(self, path: JsonPath, message: str, code: str, *, key: bool = False) -> None:
        """A decoding error of the top-level section ``path[0]``."""
        section = str(path[0]) if path else ""
        diag = self.diagnostic(path, message, code, key=key)
        self.parse_errors.setdefault(section, []).append(diag)

    def error(self, path: JsonPath, message: str, code: str, *, key: bool = False) -> None:
        """A semantic error, found after decoding."""
        self.errors.append(self.diagnostic(path, message, code, key=key))

    def warn(self, path: JsonPath, message: str, *, key: bool = False) -> None:
        """A construct whose acceptance by the server is not known: ``warning[unverified]``.

        The rule of the project: an error only where the server is known to reject (a
        capture, or Tailscale's documentation says so); where its answer is unknown, a
        positioned warning that says so, and the engine goes on with the reading given in
        ``message``. A false rejection costs a user more than a missed one: the server still
        validates on push.
        """
        written = original_path(self.doc.value, path)
        span = self.doc.key_span_at(written) if key else self.doc.span_at(written)
        diag = Diagnostic(span, message, code=UNVERIFIED, severity=Severity.WARNING)
        if diag not in self.unverified:
            self.unverified.append(diag)

    def rules(self, section: str) -> Iterator[tuple[JsonPath, Mapping[str, Any]]]:
        """The object entries of a top-level list, with their paths."""
        items = self.policy.get(section)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, Mapping):
                    yield (section, index), item

    def in_sorted_findings(self, sections: list[str]) -> list[Diagnostic]:
        """Parse errors by section in document order, then the semantic errors."""
        out: list[Diagnostic] = []
        for section in ["", *sections]:
            out.extend(self.parse_errors.get(section, ()))
        for section, diags in self.parse_errors.items():
            if section and section not in sections:
                out.extend(diags)
        out.extend(self.errors)
        return out


def strings(rule: Mapping[str, Any], key: str, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """The string elements of ``rule[key]`` (a list), with their paths."""
    value = rule.get(key)
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield (*path, key, index), item


def aliases(rule: Mapping[str, Any], key: str, path: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """Like :func:`strings`, trimmed of surrounding whitespace as the server trims aliases."""
    for item_path, item in strings(rule, key, path):
        yield item_path, item.strip()


def quoted(text: str) -> str:
    """Go's %q of a string, as the server's messages use."""
    return go_quote(text)
