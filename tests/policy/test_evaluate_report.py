"""TestReport renderers: text, JSON (documented shape) and JUnit XML (parsed back)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from evalcases import load, nodes

from tailcfg.policy.evaluate.report import render_json, render_junit, render_text
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.evaluate.verdicts import TestReport

TESTS = [
    {"src": "alice@example.com", "accept": ["tag:prod:22"], "deny": ["tag:db:22"]},
    {"src": "bob@example.com", "accept": ["tag:prod:80", "tag:prod:22,443"]},
]
SSH_TESTS = [{"src": "alice@example.com", "dst": ["tag:db"], "check": ["alice"]}]


def _report() -> TestReport:
    return run_tests(load(TESTS, SSH_TESTS))


def test_text_lists_failures_with_positions_and_a_summary() -> None:
    assert render_text(_report()) == (
        "policy.hujson:21:131: FAIL tests[1]: bob@example.com -> tag:prod:80: "
        "expected accept, denied: no rule matches\n"
        "policy.hujson:21:146: FAIL tests[1]: invalid test: "
        "'tag:prod:22,443': a test names one port, not a list\n"
        "policy.hujson: 5 assertions in 3 test entries (symbolic): 3 passed, 2 failed: FAILED"
    )


def test_text_verbose_lists_passes() -> None:
    lines = render_text(_report(), verbose=True).splitlines()
    assert lines[0] == (
        "policy.hujson:21:53: ok tests[0]: alice@example.com -> tag:prod:22: "
        "accepted by policy.hujson:7 (acls[0])"
    )
    assert len(lines) == 6


def test_text_without_tests() -> None:
    assert render_text(run_tests(load())) == (
        "policy.hujson: no tests or sshTests: nothing to check (passed)"
    )


def test_json_shape() -> None:
    doc = json.loads(render_json(_report()))
    assert {k: doc[k] for k in ("version", "path", "mode", "passed", "summary")} == {
        "version": 1,
        "path": "policy.hujson",
        "mode": "symbolic",
        "passed": False,
        "summary": {"entries": 3, "assertions": 5, "passed": 3, "failed": 2, "unverified": 0},
    }
    assert doc["results"][0] == {
        "section": "tests",
        "entry": 0,
        "path": "policy.hujson",
        "line": 21,
        "col": 53,
        "src": "alice@example.com",
        "dst": "tag:prod:22",
        "proto": None,
        "login": None,
        "expected": "accept",
        "actual": "accept",
        "passed": True,
        "reason": "alice@example.com -> tag:prod:22: accepted by policy.hujson:7 (acls[0])",
        "policy_error": False,
        "unverified": False,
        "rules": [{"rule": "acls[0]", "path": "policy.hujson", "line": 7, "col": 5}],
    }
    assert doc["results"][4]["section"] == "sshTests"
    assert (doc["results"][4]["login"], doc["results"][4]["actual"]) == ("alice", "check")
    assert [r["passed"] for r in doc["results"]] == [True, True, False, False, True]


def test_junit_structure() -> None:
    root = ET.fromstring(render_junit(_report()))
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "3", "1")
    (suite,) = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == (
        "policy.hujson",
        "3",
        "1",
    )
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("classname"), c.get("line")) for c in cases] == [
        ("tests[0] alice@example.com", "policy.hujson.tests", "21"),
        ("tests[1] bob@example.com", "policy.hujson.tests", "21"),
        ("sshTests[0] alice@example.com", "policy.hujson.sshTests", "22"),
    ]
    assert [len(c.findall("failure")) for c in cases] == [0, 1, 0]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "2 assertions failed"
    assert (failure.text or "").splitlines() == [
        "policy.hujson:21:131: bob@example.com -> tag:prod:80: expected accept, denied: "
        "no rule matches",
        "policy.hujson:21:146: invalid test: 'tag:prod:22,443': a test names one port, not a list",
    ]
    props = suite.find("properties")
    assert props is not None
    assert [(p.get("name"), p.get("value")) for p in props] == [("mode", "symbolic")]


def test_junit_without_tests_is_an_empty_suite() -> None:
    root = ET.fromstring(render_junit(run_tests(load())))
    assert root.get("tests") == "0"
    assert root.findall("testsuite/testcase") == []


GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "policy-test"
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"
RENDER = {
    "report.txt": lambda r: render_text(r, verbose=True) + "\n",
    "report.json": lambda r: render_json(r) + "\n",
    "report.xml": render_junit,
}


@pytest.mark.parametrize("name", sorted(RENDER))
def test_golden(name: str) -> None:
    """Every format of one report, byte for byte (TAILCFG_UPDATE_GOLDEN=1 rewrites)."""
    got = RENDER[name](run_tests(load(TESTS, SSH_TESTS), nodes()))
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")
