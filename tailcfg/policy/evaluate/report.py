"""Render a :class:`~tailcfg.policy.evaluate.verdicts.TestReport` as text, JSON or JUnit XML.

JSON (``render_json``), version 1::

    {"version": 1, "path": "policy.hujson", "mode": "symbolic" | "topology",
     "passed": bool,
     "summary": {"entries": int, "assertions": int, "passed": int, "failed": int,
                 "unverified": int},
     "results": [{"section": "tests" | "sshTests", "entry": int,
                  "path": str, "line": int, "col": int,
                  "src": str, "dst": str, "proto": str | null, "login": str | null,
                  "expected": "accept" | "check" | "deny",
                  "actual": "accept" | "check" | "deny" | "invalid",
                  "passed": bool, "reason": str, "policy_error": bool,
                  "unverified": bool,  # verdict unknown offline (passed stays true)
                  "rules": [{"rule": "acls[0]", "path": str, "line": int, "col": int}]}]}

JUnit (``render_junit``): one ``<testsuite>`` for the file, one ``<testcase>`` per
``tests``/``sshTests`` entry (``name="tests[0] src"``, ``file``, ``line``); a failing
entry has one ``<failure message=...>`` whose text lists every failed assertion.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from tailcfg.policy.evaluate.verdicts import RuleRef, TestEntry, TestReport, TestResult

JSON_VERSION = 1


def _where(r: TestResult) -> str:
    return f"{r.span.path}:{r.span.line}:{r.span.col}"


def render_text(report: TestReport, *, verbose: bool = False) -> str:
    """Failures (and with ``verbose`` every assertion), then a one-line summary."""
    if not report.entries:
        return f"{report.path}: no tests or sshTests: nothing to check (passed)"
    lines = []
    for r in report.results:
        if r.passed and not r.unverified and not verbose:
            continue
        status = "UNVERIFIED" if r.unverified else "ok" if r.passed else "FAIL"
        lines.append(f"{_where(r)}: {status} {r.entry_name}: {r.reason}")
    lines.append(summary(report))
    return "\n".join(lines)


def summary(report: TestReport) -> str:
    results = report.results
    failed = sum(1 for r in results if not r.passed)
    unverified = len(report.unverified)
    verdict = "passed" if report.passed else "FAILED"
    also = f" ({unverified} unverified)" if unverified else ""
    return (
        f"{report.path}: {len(results)} assertions in {len(report.entries)} test entries "
        f"({report.mode}): {len(results) - failed} passed{also}, {failed} failed: {verdict}"
    )


def _rule_json(rule: RuleRef) -> dict[str, Any]:
    span = rule.span
    return {
        "rule": rule.name,
        "path": span.path if span else None,
        "line": span.line if span else None,
        "col": span.col if span else None,
    }


def result_json(r: TestResult) -> dict[str, Any]:
    return {
        "section": r.section,
        "entry": r.entry,
        "path": r.span.path,
        "line": r.span.line,
        "col": r.span.col,
        "src": r.src,
        "dst": r.dst,
        "proto": r.proto,
        "login": r.login,
        "expected": r.expected.value,
        "actual": r.actual.value,
        "passed": r.passed,
        "reason": r.reason,
        "policy_error": r.policy_error,
        "unverified": r.unverified,
        "rules": [_rule_json(x) for x in r.rules],
    }


def report_json(report: TestReport) -> dict[str, Any]:
    results = report.results
    failed = sum(1 for r in results if not r.passed)
    return {
        "version": JSON_VERSION,
        "path": report.path,
        "mode": report.mode,
        "passed": report.passed,
        "summary": {
            "entries": len(report.entries),
            "assertions": len(results),
            "passed": len(results) - failed,
            "failed": failed,
            "unverified": len(report.unverified),
        },
        "results": [result_json(r) for r in results],
    }


def render_json(report: TestReport) -> str:
    return json.dumps(report_json(report), indent=2, sort_keys=False)


def _testcase(parent: ET.Element, report: TestReport, entry: TestEntry) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        {
            "classname": f"{report.path}.{entry.section}",
            "name": f"{entry.name} {entry.src}".rstrip(),
            "file": entry.span.path,
            "line": str(entry.span.line),
            "assertions": str(len(entry.results)),
            "time": "0",
        },
    )
    failed = [r for r in entry.results if not r.passed]
    if failed:
        first = failed[0]
        failure = ET.SubElement(
            case,
            "failure",
            {
                "message": first.reason if len(failed) == 1 else f"{len(failed)} assertions failed",
                "type": "invalid" if first.actual.value == "invalid" else "assertion",
            },
        )
        failure.text = "\n".join(f"{_where(r)}: {r.reason}" for r in failed)


def render_junit(report: TestReport) -> str:
    """JUnit XML: one testcase per test entry; parseable by ElementTree and CI tools."""
    failures = sum(1 for e in report.entries if not e.passed)
    attrs = {"tests": str(len(report.entries)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": "tailcfg policy test", **attrs})
    suite = ET.SubElement(
        root, "testsuite", {"name": report.path, **attrs, "skipped": "0", "time": "0"}
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "mode", "value": report.mode})
    for entry in report.entries:
        _testcase(suite, report, entry)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


RENDERERS = {"text": render_text, "json": render_json, "junit": render_junit}
