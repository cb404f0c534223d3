"""Conformance with Tailscale's hosted server: one case per recorded capture.

For every capture: accepted/rejected agreement (for the policytest/sshtest categories
acceptance also depends on the ``tests``/``sshTests`` verdicts), the server's error text
for rejected policies, and for accepted ones each device's packet filter (SrcIPs as a
set, everything else exactly, in the server's rule order) and SSH rules (principals as a
multiset), and each device's visible peers. Cases listed in ``known_differences.md`` are
expected to disagree (``xfail(strict=True)``): fixing one makes its test fail until the
line is removed.
"""

from __future__ import annotations

from typing import Any

import pytest
from harness import Outcome, active_cases, evaluate_case, known_differences

CASES = active_cases()
KNOWN = known_differences()


def _param(case: dict[str, Any]) -> Any:
    reason = KNOWN.get(case["name"])
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, id=case["name"], marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_capture(case: dict[str, Any]) -> None:
    outcome = evaluate_case(case)
    if outcome.needs_evaluate:
        pytest.xfail(outcome.reason)
    assert outcome.agree, outcome.reason


def test_known_differences_name_real_cases() -> None:
    names = {c["name"] for c in CASES}
    assert sorted(set(KNOWN) - names) == []


def test_every_capture_is_replayed() -> None:
    assert len(CASES) == 599


def test_report_table() -> None:
    from report import table

    outcomes = [
        ({"category": "acl", "name": "a1"}, Outcome(True)),
        ({"category": "acl", "name": "a2"}, Outcome(False, "packet filter differs:\n...")),
        ({"category": "ssh", "name": "s1"}, Outcome(True)),
    ]
    assert table(False, True, outcomes).splitlines() == [
        "category      cases  agree       %",
        "acl               2      1   50.0%",
        "ssh               1      1  100.0%",
        "total             3      2   66.7%",
        "",
        "a2: packet filter differs:",
    ]
    assert table(True, False, outcomes).splitlines()[:3] == [
        "| category | cases | agree | % |",
        "|---|---:|---:|---:|",
        "| acl | 2 | 1 | 50.0 |",
    ]
