"""Render diagnostics for people and machines: text, JSON, GitHub annotations, SARIF 2.1.0.

Pure functions from reports to strings, shared by every command that reports
positioned findings. The shapes are documented in ``docs/output-formats.md``:

- ``text``: one ``path:line:col: severity[code]: message`` per finding, then a summary.
- ``json``: ``{"version": 1, "files": [{"path", "diagnostics": [{"severity", "code",
  "message", "line", "col", "end_line", "end_col", "notes"}]}], "summary": {...}}``.
- ``github``: workflow commands ``::error file=..,line=..,col=..,endLine=..,
  endColumn=..,title=..::message``, escaped as the Actions runner expects.
- ``sarif``: one SARIF 2.1.0 run; one rule per diagnostic code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Protocol

from tailcfg.source import Diagnostic, Severity

JSON_VERSION = 1
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_GITHUB_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}
_SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


class Report(Protocol):
    """What a renderer needs of one checked file (``LintResult`` is one)."""

    @property
    def path(self) -> str: ...

    @property
    def diagnostics(self) -> Sequence[Diagnostic]: ...


def summary(reports: Sequence[Report]) -> dict[str, int]:
    """Counts of files and findings by severity."""
    counts = {"files": len(reports), "errors": 0, "warnings": 0, "notes": 0}
    for report in reports:
        for diag in report.diagnostics:
            counts[diag.severity.value + "s"] += 1
    return counts


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_text(reports: Sequence[Report]) -> str:
    """``path:line:col: error[code]: message`` lines and a closing summary line."""
    lines = [diag.render() for report in reports for diag in report.diagnostics]
    counts = summary(reports)
    lines.append(
        f"{_plural(counts['files'], 'file')} checked: {_plural(counts['errors'], 'error')}, "
        f"{_plural(counts['warnings'], 'warning')}"
    )
    return "\n".join(lines) + "\n"


def diagnostic_json(diag: Diagnostic) -> dict[str, Any]:
    """One diagnostic in the documented JSON shape."""
    span = diag.span
    return {
        "severity": diag.severity.value,
        "code": diag.code,
        "message": diag.message,
        "line": span.line,
        "col": span.col,
        "end_line": span.end_line,
        "end_col": span.end_col,
        "notes": list(diag.notes),
    }


def render_json(reports: Sequence[Report]) -> str:
    """The stable machine shape (``version`` 1), pretty-printed, keys in a fixed order."""
    document = {
        "version": JSON_VERSION,
        "files": [
            {"path": report.path, "diagnostics": [diagnostic_json(d) for d in report.diagnostics]}
            for report in reports
        ],
        "summary": summary(reports),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def escape_github_data(text: str) -> str:
    """Escape a workflow command's message: ``%``, CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_github_property(text: str) -> str:
    """Escape a workflow command's property value: as data, plus ``:`` and ``,``."""
    return escape_github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(path: str, diag: Diagnostic) -> str:
    """``::error file=..,line=..,col=..,endLine=..,endColumn=..,title=..::message``."""
    span = diag.span
    props = {
        "file": path,
        "line": str(span.line),
        "col": str(span.col),
        "endLine": str(span.end_line),
        "endColumn": str(span.end_col),
        "title": f"tailcfg {diag.code}",
    }
    joined = ",".join(f"{key}={escape_github_property(value)}" for key, value in props.items())
    message = diag.message + "".join(f"\nnote: {note}" for note in diag.notes)
    return f"::{_GITHUB_COMMANDS[diag.severity]} {joined}::{escape_github_data(message)}"


def render_github(reports: Sequence[Report]) -> str:
    """One GitHub Actions annotation per finding (nothing when clean)."""
    lines = [github_annotation(r.path, d) for r in reports for d in r.diagnostics]
    return "".join(line + "\n" for line in lines)


def artifact_uri(path: str) -> str:
    """A SARIF ``uri``: relative paths with ``/`` (percent-escaped), absolute as ``file://``."""
    if PureWindowsPath(path).drive:
        return PureWindowsPath(path).as_uri()
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return posix.as_uri()
    return "/".join(_escape_uri_segment(part) for part in posix.parts)


def _escape_uri_segment(segment: str) -> str:
    safe = "-._~!$&'()*+,;=:@"
    out = []
    for ch in segment:
        if ch.isascii() and (ch.isalnum() or ch in safe):
            out.append(ch)
        else:
            out.extend(f"%{byte:02X}" for byte in ch.encode("utf-8"))
    return "".join(out)


def _sarif_result(path: str, diag: Diagnostic, rule_index: int) -> dict[str, Any]:
    span = diag.span
    text = diag.message + "".join(f"\nnote: {note}" for note in diag.notes)
    return {
        "ruleId": diag.code,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVELS[diag.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(path)},
                    "region": {
                        "startLine": span.line,
                        "startColumn": span.col,
                        "endLine": span.end_line,
                        "endColumn": span.end_col,
                    },
                }
            }
        ],
    }


def _sarif_rule(code: str, severity: Severity, descriptions: Mapping[str, str]) -> dict[str, Any]:
    description = descriptions.get(code, code.replace("-", " "))
    return {
        "id": code,
        "name": "".join(part.capitalize() for part in code.split("-")),
        "shortDescription": {"text": description},
        "defaultConfiguration": {"level": _SARIF_LEVELS[severity]},
    }


def render_sarif(
    reports: Sequence[Report],
    *,
    tool_name: str = "tailcfg",
    tool_version: str = "0",
    information_uri: str | None = None,
    rule_descriptions: Mapping[str, str] | None = None,
) -> str:
    """A SARIF 2.1.0 log with one run: rules from the diagnostic codes, regions per finding."""
    descriptions = rule_descriptions or {}
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for report in reports:
        for diag in report.diagnostics:
            if diag.code not in index:
                index[diag.code] = len(rules)
                rules.append(_sarif_rule(diag.code, diag.severity, descriptions))
            results.append(_sarif_result(report.path, diag, index[diag.code]))
    driver: dict[str, Any] = {"name": tool_name, "version": tool_version, "rules": rules}
    if information_uri:
        driver["informationUri"] = information_uri
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
    "sarif": render_sarif,
}
