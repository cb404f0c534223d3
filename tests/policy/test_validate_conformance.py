"""validate() against Tailscale's server: every capture, accepted or rejected.

- Accepted policies pass schema and validate with no error.
- Policies rejected with ``test(s) failed`` pass validate: only their tests fail,
  which is the engine's business (``tailcfg.policy.evaluate.run``).
- Every other rejection (statically detectable) is reported, first, with the
  server's exact message. The nodeAttrs case the server answers with a 500 is
  reported with tailcfg's own message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tailcfg import hujson
from tailcfg.policy.validate.schema import check_schema
from tailcfg.policy.validate.validator import validate

DATA = Path(__file__).resolve().parent.parent / "conformance" / "data"
CAPTURES: list[dict[str, Any]] = [
    json.loads(line)
    for line in (DATA / "tailscale-saas-captures.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
TESTS_FAILED = "test(s) failed"
SERVER_ERROR = "internal server error"
STATIC = [
    c
    for c in CAPTURES
    if c["expect"].get("valid") is False
    and c["expect"]["error_message"] not in (TESTS_FAILED, SERVER_ERROR)
]
PASSING = [
    c
    for c in CAPTURES
    if c["expect"].get("valid") is not False or c["expect"]["error_message"] == TESTS_FAILED
]


def _messages(case: dict[str, Any]) -> list[str]:
    doc = hujson.parse(case["policy"], f"{case['name']}.hujson")
    return [d.message for d in validate(doc, users=case["users"])]


@pytest.mark.parametrize("case", PASSING, ids=[c["name"] for c in PASSING])
def test_accepted_by_the_server_passes(case: dict[str, Any]) -> None:
    doc = hujson.parse(case["policy"], f"{case['name']}.hujson")
    assert check_schema(doc) == []
    assert _messages(case) == []


@pytest.mark.parametrize("case", STATIC, ids=[c["name"] for c in STATIC])
def test_rejection_has_the_servers_message(case: dict[str, Any]) -> None:
    messages = _messages(case)
    assert messages[:1] == [case["expect"]["error_message"]]


def test_the_server_500_is_reported() -> None:
    (case,) = [c for c in CAPTURES if c["expect"].get("error_message") == SERVER_ERROR]
    assert _messages(case) == [
        "autogroup:self is not supported as a nodeAttrs target "
        "(Tailscale's server fails with an internal error)"
    ]


def test_count_of_reproduced_rejections() -> None:
    reproduced = [c for c in STATIC if _messages(c)[:1] == [c["expect"]["error_message"]]]
    print(
        f"validate conformance: {len(reproduced)}/{len(STATIC)} statically detectable "
        f"rejections reproduced word for word; {len(PASSING)} accepted policies pass"
    )
    assert (len(reproduced), len(STATIC), len(PASSING)) == (58, 58, 542)
