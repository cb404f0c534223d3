"""Properties of run_tests over generated policies (hypothesis).

- adding an accept rule never removes access;
- shuffling the rules never changes a verdict;
- symbolic evaluation and evaluation on a topology with devices for every identity agree;
- evaluation is deterministic.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.evaluate.verdicts import Outcome
from tailcfg.policy.model.nodes import Node, nodes_from_list

USERS = ["ann@example.com", "ben@example.com", "cat@example.com"]
TAGS = ["tag:web", "tag:db", "tag:ops"]
GROUPS = {"group:dev": ["ann@example.com", "ben@example.com"], "group:all": USERS}
PORTS = ["22", "80", "443", "5432"]
SRCS = [*USERS, *TAGS, *GROUPS, "autogroup:member", "autogroup:tagged", "*"]
TEST_SRCS = [*USERS, *TAGS, *GROUPS, "autogroup:member", "autogroup:tagged"]
DSTS = [*TAGS, *USERS, *GROUPS, "autogroup:member", "autogroup:tagged", "*"]

src = st.sampled_from(SRCS)
acl = st.fixed_dictionaries(
    {
        "action": st.just("accept"),
        "src": st.lists(src, min_size=1, max_size=3),
        "dst": st.lists(
            st.builds(
                lambda d, p: f"{d}:{p}",
                st.sampled_from(DSTS),
                st.sampled_from([*PORTS, "*", "22,80", "400-500"]),
            ),
            min_size=1,
            max_size=3,
        ),
    },
    optional={"proto": st.sampled_from(["tcp", "udp"])},
)
grant = st.fixed_dictionaries(
    {
        "src": st.lists(src, min_size=1, max_size=2),
        "dst": st.lists(st.sampled_from([*TAGS, *USERS, "*"]), min_size=1, max_size=2),
        "ip": st.lists(st.sampled_from(["tcp:22", "tcp:443", "udp:5432", "80", "*"]), min_size=1),
    }
)
test_entry = st.fixed_dictionaries(
    {
        "src": st.sampled_from(TEST_SRCS),
        "accept": st.lists(
            st.builds(lambda t, p: f"{t}:{p}", st.sampled_from(TAGS), st.sampled_from(PORTS)),
            max_size=3,
        ),
        "deny": st.lists(
            st.builds(lambda t, p: f"{t}:{p}", st.sampled_from(TAGS), st.sampled_from(PORTS)),
            max_size=2,
        ),
    },
    optional={"proto": st.sampled_from(["tcp", "udp"])},
).filter(lambda t: bool(t["accept"] or t["deny"]))


def _text(acls: list[Any], grants: list[Any], tests: list[Any]) -> str:
    doc: dict[str, Any] = {
        "groups": GROUPS,
        "tagOwners": {t: ["ann@example.com"] for t in TAGS},
        "acls": acls,
        "grants": grants,
        "tests": tests,
    }
    return json.dumps(doc, indent=1)


def _verdicts(text: str, nodes: tuple[Node, ...] | None = None) -> list[Outcome]:
    report = run_tests(load_policy(text, "p.hujson"), nodes)
    return [r.actual for r in report.results]


def _topology(per_identity: int) -> tuple[Node, ...]:
    items = []
    n = 0
    for owner in [*USERS, *TAGS]:
        for k in range(per_identity):
            n += 1
            item: dict[str, Any] = {
                "name": f"{owner.split('@')[0].replace(':', '-')}-{k}",
                "ipv4": f"100.80.{n // 250}.{n % 250 + 1}",
                "ipv6": f"fd7a:115c:a1e0::80:{n:x}",
            }
            item.update({"tags": [owner]} if owner.startswith("tag:") else {"user": owner})
            items.append(item)
    return nodes_from_list(items)


policies = st.tuples(
    st.lists(acl, max_size=5), st.lists(grant, max_size=3), st.lists(test_entry, min_size=1)
)


@settings(max_examples=40, deadline=None)
@given(policies, acl)
def test_adding_an_accept_rule_never_removes_access(
    p: tuple[list[Any], list[Any], list[Any]], extra: dict[str, Any]
) -> None:
    acls, grants, tests = p
    before = _verdicts(_text(acls, grants, tests))
    after = _verdicts(_text([*acls, extra], grants, tests))
    assert len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        if b is Outcome.ACCEPT:
            assert a is Outcome.ACCEPT


@settings(max_examples=40, deadline=None)
@given(policies, st.randoms(use_true_random=False))
def test_shuffling_rules_never_changes_a_verdict(
    p: tuple[list[Any], list[Any], list[Any]], rnd: random.Random
) -> None:
    acls, grants, tests = p
    before = _verdicts(_text(acls, grants, tests))
    acls2, grants2 = list(acls), list(grants)
    rnd.shuffle(acls2)
    rnd.shuffle(grants2)
    assert _verdicts(_text(acls2, grants2, tests)) == before


@settings(max_examples=40, deadline=None)
@given(policies, st.sampled_from([1, 2]))
def test_symbolic_and_topology_agree(
    p: tuple[list[Any], list[Any], list[Any]], per_identity: int
) -> None:
    text = _text(*p)
    assert _verdicts(text) == _verdicts(text, _topology(per_identity))


@settings(max_examples=15, deadline=None)
@given(policies)
def test_evaluation_is_deterministic(p: tuple[list[Any], list[Any], list[Any]]) -> None:
    text = _text(*p)
    policy = load_policy(text, "p.hujson")
    first = run_tests(policy, _topology(1))
    assert run_tests(policy, _topology(1)) == first
