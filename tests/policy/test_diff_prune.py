"""Diff pruning (``tailcfg/policy/diff/prune.py``): regressions and PR-shaped edits.

Two pruning gaps fixed in f8f5782 ("prune marks ipsets changed when reordered or when a
host/ipset they name changed"): before it, a rule naming an ipset counted as unchanged
when the ipset's members were only reordered (``add``/``remove`` apply in order, so a
reorder can change what it holds), or when a host or an inner ipset it names changed.
Each case diffs a small old/new policy pair without and with ``--nodes``, asserts the
whole rendered diff and that the pruned diff equals a full compile (as
``test_diff_properties.test_pruning_changes_nothing`` compares them).

The ipsets are named both as a source (``ipset:s -> tag:web:22``) and as a destination
(``ann -> ipset:s:443``). Without ``--nodes`` the symbolic universe places stand-in
routers for every address a rule's destination holds, an ipset's included.

Then a hypothesis property: a generated policy, 1-3 small edits of the kind a pull
request makes, and the pruned diff equals the full-compile diff.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_diff_properties import GROUPS, HOSTS, NODES, PORTS, SRCS, USERS, acl, load, policy_doc

from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.diff.access import access_delta
from tailcfg.policy.diff.caps import cap_delta
from tailcfg.policy.diff.compare import PolicyDiff, diff_policies
from tailcfg.policy.diff.prune import prune
from tailcfg.policy.diff.render import RENDERERS
from tailcfg.policy.diff.universe import build_universe
from tailcfg.policy.model.nodes import Node, nodes_from_list
from tailcfg.policy.model.policy import Policy

TOPOLOGY = nodes_from_list(
    [
        {"name": "ann-1", "user": "ann@example.com", "ipv4": "100.64.0.1"},
        {"name": "web-1", "tags": ["tag:web"], "ipv4": "100.64.1.1"},
        {"name": "web-2", "tags": ["tag:web"], "ipv4": "100.64.1.2"},
    ]
)


def policy_text(ipsets: str, host: str = "100.64.1.2") -> str:
    """A small policy naming ``ipset:s`` as a source and as a destination."""
    return f"""{{
  "tagOwners": {{"tag:web": ["ann@example.com"]}},
  "hosts": {{"two": "{host}"}},
  "ipsets": {{{ipsets}}},
  "acls": [
    {{"action": "accept", "src": ["ipset:s"], "dst": ["tag:web:22"]}},
    {{"action": "accept", "src": ["ann@example.com"], "dst": ["ipset:s:443"]}},
    // unrelated to the ipset: pruned away
    {{"action": "accept", "src": ["tag:web"], "dst": ["ann@example.com:80"]}},
  ],
}}
"""


def pruned_equals_full(old: Policy, new: Policy, nodes: tuple[Node, ...] | None) -> PolicyDiff:
    """The diff of ``old`` -> ``new``, after asserting it equals a full compile's."""
    u = build_universe(old, new, nodes)
    full = access_delta(u, u.side(old), u.side(new))
    d = diff_policies(old, new, nodes=nodes)
    assert d.facts == (full.gained, full.lost)
    assert d.delta.ssh == full.ssh
    assert (d.delta.caps_gained, d.delta.caps_lost) == cap_delta(u, u.side(old), u.side(new))
    return d


def head(mode: str) -> str:
    return f"policy diff old.hujson -> new.hujson ({mode})\n"


NO_CHANGE = "no access change\n0 changes\n"
CASES: dict[str, tuple[str, str, str, str]] = {
    # only adds, reordered: the same addresses, no access change (the rules naming the
    # ipset are still compiled on both sides: see test_prune_keeps_the_rules_naming_the_ipset)
    "reorder-adds": (
        policy_text('"ipset:s": ["100.64.1.1", "two"]'),
        policy_text('"ipset:s": ["two", "100.64.1.1"]'),
        NO_CHANGE,
        NO_CHANGE,
    ),
    # a remove moved before its add removes nothing: 100.64.1.2 (web-2) joins the set;
    # it is both a device and an address of the /30, so it gains as either source
    "reorder-remove": (
        policy_text('"ipset:s": ["add 100.64.1.0/30", "remove two"]'),
        policy_text('"ipset:s": ["remove two", "add 100.64.1.0/30"]'),
        "Access gained:\n"
        "  + ann@example.com -> two (100.64.1.2): 443  by new.hujson:7 (acls[1])\n"
        "  + two (100.64.1.2) -> tag:web: 22  by new.hujson:6 (acls[0])\n"
        "2 gained\n",
        "Access gained:\n"
        "  + ann@example.com -> web-2: 443  by new.hujson:7 (acls[1])\n"
        "  + web-2 (tag:web), two (100.64.1.2) -> web-1, web-2: 22  by new.hujson:6 (acls[0])\n"
        "2 gained\n",
    ),
    # the ipset's text is the same; the host it names moved from web-2 to web-1
    "host-named-by-ipset": (
        policy_text('"ipset:s": ["two"]'),
        policy_text('"ipset:s": ["two"]', host="100.64.1.1"),
        "Access gained:\n"
        "  + ann@example.com -> two (100.64.1.1): 443  by new.hujson:7 (acls[1])\n"
        "  + two (100.64.1.1) -> tag:web: 22  by new.hujson:6 (acls[0])\n"
        "Access lost:\n"
        "  - ann@example.com -> two (100.64.1.2): 443  was old.hujson:7 (acls[1])\n"
        "  - two (100.64.1.2) -> tag:web: 22  was old.hujson:6 (acls[0])\n"
        "Declarations:\n"
        "  ~ hosts two changed: +100.64.1.1 -100.64.1.2\n"
        "2 gained, 2 lost, 1 declaration changed\n",
        "Access gained:\n"
        "  + ann@example.com -> web-1: 443  by new.hujson:7 (acls[1])\n"
        "  + web-1 (tag:web) -> web-1, web-2: 22  by new.hujson:6 (acls[0])\n"
        "Access lost:\n"
        "  - ann@example.com -> web-2: 443  was old.hujson:7 (acls[1])\n"
        "  - web-2 (tag:web) -> web-1, web-2: 22  was old.hujson:6 (acls[0])\n"
        "Declarations:\n"
        "  ~ hosts two changed: +100.64.1.1 -100.64.1.2\n"
        "2 gained, 2 lost, 1 declaration changed\n",
    ),
    # ipset:s is the same text; the ipset it names changed from web-1 to web-2
    "ipset-named-by-ipset": (
        policy_text('"ipset:in": ["100.64.1.1"], "ipset:s": ["ipset:in"]'),
        policy_text('"ipset:in": ["100.64.1.2"], "ipset:s": ["ipset:in"]'),
        "Access gained:\n"
        "  + ann@example.com -> two (100.64.1.2): 443  by new.hujson:7 (acls[1])\n"
        "  + two (100.64.1.2) -> tag:web: 22  by new.hujson:6 (acls[0])\n"
        "Access lost:\n"
        "  - 100.64.1.1 -> tag:web: 22  was old.hujson:6 (acls[0])\n"
        "  - ann@example.com -> 100.64.1.1: 443  was old.hujson:7 (acls[1])\n"
        "Declarations:\n"
        "  ~ ipsets ipset:in changed: +100.64.1.2 -100.64.1.1\n"
        "2 gained, 2 lost, 1 declaration changed\n",
        "Access gained:\n"
        "  + ann@example.com -> web-2: 443  by new.hujson:7 (acls[1])\n"
        "  + web-2 (tag:web) -> web-1, web-2: 22  by new.hujson:6 (acls[0])\n"
        "Access lost:\n"
        "  - ann@example.com -> web-1: 443  was old.hujson:7 (acls[1])\n"
        "  - web-1 (tag:web) -> web-1, web-2: 22  was old.hujson:6 (acls[0])\n"
        "Declarations:\n"
        "  ~ ipsets ipset:in changed: +100.64.1.2 -100.64.1.1\n"
        "2 gained, 2 lost, 1 declaration changed\n",
    ),
}


def load_pair(case: str) -> tuple[Policy, Policy]:
    old_text, new_text = CASES[case][:2]
    return load_policy(old_text, "old.hujson"), load_policy(new_text, "new.hujson")


@pytest.mark.parametrize("case", sorted(CASES))
def test_symbolic(case: str) -> None:
    old, new = load_pair(case)
    d = pruned_equals_full(old, new, None)
    assert RENDERERS["text"](d) == head("symbolic") + CASES[case][2]


@pytest.mark.parametrize("case", sorted(CASES))
def test_topology(case: str) -> None:
    old, new = load_pair(case)
    d = pruned_equals_full(old, new, TOPOLOGY)
    assert RENDERERS["text"](d) == head("topology") + CASES[case][3]


@pytest.mark.parametrize("case", sorted(CASES))
def test_prune_keeps_the_rules_naming_the_ipset(case: str) -> None:
    old, new = load_pair(case)
    small_old, small_new, dirty = prune(old, new, TOPOLOGY)
    # acls[0] reaches tag:web, acls[1] the ipset's devices: web-1 and web-2 are dirty;
    # acls[2] (tag:web -> ann) reaches ann-1 only and is dropped on both sides
    assert dirty == frozenset({"web-1", "web-2"})
    for small, full in ((small_old, old), (small_new, new)):
        assert small.acls == full.acls[:2]


def test_identical_policies_prune_to_nothing() -> None:
    text = CASES["reorder-adds"][0]
    old, new = load_policy(text, "old.hujson"), load_policy(text, "new.hujson")
    _, _, dirty = prune(old, new, TOPOLOGY)
    assert dirty == frozenset()


# --- PR-shaped edits --------------------------------------------------------------

IPSETS = {
    "ipset:lan": ["add 192.168.0.0/24", "remove nas", "add 100.64.1.0/30"],
    "ipset:all": ["ipset:lan", "db-host", "remove 100.64.1.2"],
}
ADDRESSES = ["192.168.0.10", "100.64.2.1", "100.64.1.1", "100.64.0.3", "10.1.2.0/24"]
ipset_acl = st.fixed_dictionaries(
    {
        "action": st.just("accept"),
        "src": st.lists(st.sampled_from([*SRCS, *IPSETS]), min_size=1, max_size=2, unique=True),
        "dst": st.lists(
            st.builds(
                lambda a, p: f"{a}:{p}", st.sampled_from([*IPSETS, "nas"]), st.sampled_from(PORTS)
            ),
            min_size=1,
            max_size=2,
            unique=True,
        ),
    }
)
pr_policy = st.builds(
    lambda doc, extra: {**doc, "ipsets": IPSETS, "acls": [*doc["acls"], *extra]},
    policy_doc,
    st.lists(ipset_acl, min_size=1, max_size=2),
)
index = st.integers(0, 99)
edit = st.one_of(
    st.tuples(st.just("member"), st.sampled_from(sorted(GROUPS)), st.sampled_from(USERS)),
    st.tuples(st.just("port"), index, index, st.sampled_from(PORTS)),
    st.tuples(st.just("add-rule"), st.one_of(acl, ipset_acl)),
    st.tuples(st.just("remove-rule"), index),
    st.tuples(st.just("host"), st.sampled_from(sorted(HOSTS)), st.sampled_from(ADDRESSES)),
    st.tuples(st.just("reorder"), st.sampled_from(sorted(IPSETS)), st.integers(0, 2)),
)


def apply_edit(doc: dict[str, Any], e: tuple[Any, ...]) -> None:
    """One small pull-request edit of ``doc``, in place."""
    kind, *args = e
    acls = doc["acls"]
    if kind == "member":
        group, user = args
        doc["groups"][group] = sorted({*doc["groups"][group], user})
    elif kind == "port":
        rule = acls[args[0] % len(acls)]
        i = args[1] % len(rule["dst"])
        alias = rule["dst"][i].rpartition(":")[0]
        rule["dst"][i] = f"{alias}:{args[2]}"
    elif kind == "add-rule":
        acls.append(args[0])
    elif kind == "remove-rule" and len(acls) > 1:
        del acls[args[0] % len(acls)]
    elif kind == "host":
        doc["hosts"][args[0]] = args[1]
    elif kind == "reorder":
        members = doc["ipsets"][args[0]]
        k = args[1] % len(members)
        doc["ipsets"][args[0]] = members[k:] + members[:k] if k else members[::-1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pr_policy, st.lists(edit, min_size=1, max_size=3), st.sampled_from([None, NODES]))
def test_pr_shaped_edits_prune_exactly(
    doc: dict[str, Any], edits: list[tuple[Any, ...]], nodes: tuple[Node, ...] | None
) -> None:
    new_doc = copy.deepcopy(doc)
    for e in edits:
        apply_edit(new_doc, e)
    old = load(copy.deepcopy(doc), "old.hujson")
    new = load(new_doc, "new.hujson")
    pruned_equals_full(old, new, nodes)
    if json.dumps(doc, sort_keys=True) == json.dumps(new_doc, sort_keys=True):
        assert not diff_policies(old, new, nodes=nodes).changed
