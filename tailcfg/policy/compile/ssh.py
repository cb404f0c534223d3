"""Each device's SSH policy (``tailcfg.SSHPolicy``) from the policy's ``ssh`` rules.

Principals are the source devices' addresses (``nodeIP``), sorted. ``sshUsers`` maps
``root`` to ``root`` or ``""``, adds ``"*": "="`` for autogroup:nonroot and each literal
login to itself. ``localpart:*@domain`` adds, per source user in that domain, a rule
mapping the login's local part to itself. Check rules come before accept rules.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from tailcfg.policy.compile import recorder
from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.model.addrs import Interval, addr_str
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy, SshRule

ACCEPT_ACTION: dict[str, Any] = {
    "accept": True,
    "allowAgentForwarding": True,
    "allowLocalPortForwarding": True,
    "allowRemotePortForwarding": True,
}
CHECK_PATH = "/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER"
SELF = "autogroup:self"
NONROOT = "autogroup:nonroot"
LOCALPART = "localpart:"


def localpart_domain(user: str) -> str | None:
    """``localpart:*@example.com`` -> ``example.com``; None for any other shape."""
    if not user.startswith(LOCALPART):
        return None
    local, at, domain = user[len(LOCALPART) :].rpartition("@")
    if not at or local != "*" or not domain:
        return None
    return domain


def _user_map(users: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if NONROOT in users:
        out["*"] = "="
    out["root"] = "root" if "root" in users else ""
    for u in users:
        if u not in ("root", NONROOT) and localpart_domain(u) is None:
            out[u] = u
    return out


def _principals(ivs: Sequence[Interval]) -> list[dict[str, str]]:
    out = []
    for v, lo, hi in AddrSet(ivs).intervals:
        for x in range(lo, min(hi, lo + 65535) + 1):
            out.append({"nodeIP": addr_str(v, x)})
    return out


class _Plan:
    """One SSH rule, resolved once for all devices."""

    def __init__(self, rule: SshRule, r: Resolver, user_order: dict[str, int], url: str) -> None:
        self.rule = rule
        src_ivs: list[Interval] = []
        for src in rule.src:
            src_ivs.extend(r.src_intervals(src.text))
        self.srcset = AddrSet(src_ivs)
        users = [u.text.strip() for u in rule.users]
        self.base = _user_map(users)
        self.domains = [d.lower() for u in users if (d := localpart_domain(u)) is not None]
        self.action = (
            {"holdAndDelegate": url + CHECK_PATH}
            if rule.action.strip() == "check"
            else dict(ACCEPT_ACTION)
        )
        self.action.update(recorder.action_fields(rule, r))
        self.accept_env = [e.text for e in rule.accept_env]
        dsts = [d.text.strip() for d in rule.dst]
        self.has_self = SELF in dsts
        others = [d for d in dsts if d != SELF]
        self.has_others = bool(others)
        self.dst_names = {n.name for d in others for n in r.devices_for(d)}
        src_nodes = {n.name: n for x in rule.src for n in r.devices_for(x.text)}
        self.src_names = set(src_nodes)
        by_user: dict[str, list[Interval]] = {}
        tagged: list[Interval] = []
        dups: list[dict[str, str]] = []
        agtagged = any(x.text.strip() == "autogroup:tagged" for x in rule.src)
        for n in r.nodes:
            if n.name not in src_nodes:
                continue
            ivs = r.ivs[n.name]
            if n.tags:
                tagged.extend(ivs)
                if agtagged:
                    for _ in n.tags[1:]:
                        dups.extend({"nodeIP": a} for a in n.addresses)
            elif n.user:
                by_user.setdefault(n.user.lower(), []).extend(ivs)
        order = sorted(by_user, key=lambda u: (user_order.get(u, len(user_order)), u))
        self.user_principals = {u: _principals(by_user[u]) for u in order}
        self.tagged = _principals(tagged)
        self.everyone = _principals(self.srcset.intervals) + dups

    def item(self, principals: list[dict[str, str]], users: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "principals": principals,
            "sshUsers": users,
            "action": copy.deepcopy(self.action),
        }
        if self.accept_env:
            out["acceptEnv"] = list(self.accept_env)
        return out

    def emit_user(self, out: list[dict[str, Any]], login: str | None) -> None:
        principals = self.user_principals.get(login, []) if login else self.tagged
        if not principals:
            return
        out.append(self.item(principals, dict(self.base)))
        if login and self.domains:
            local, _, dom = login.rpartition("@")
            if dom in self.domains:
                out.append(self.item(principals, {local: local}))

    def for_node(self, node: Node, mine: list[Interval], out: list[dict[str, Any]]) -> None:
        if not self.srcset:
            return
        login = node.user.lower() if node.user and not node.tags else None
        if self.has_self and login:
            self.emit_user(out, login)
        if not self.has_others:
            return
        if node.name in self.dst_names:
            if self.domains:
                for user in self.user_principals:
                    self.emit_user(out, user)
                self.emit_user(out, None)
            elif self.everyone:
                out.append(self.item(self.everyone, dict(self.base)))
        elif self.domains and node.name in self.src_names:
            if node.tags:
                principals = _principals(mine)
                out.append(self.item(principals, dict(self.base)))
            elif login:
                self.emit_user(out, login)


class SshCompiler:
    """Every device's SSH policy; rules are resolved once, devices looked up by index."""

    def __init__(self, policy: Policy, r: Resolver, *, check_url: str) -> None:
        self.r = r
        order = {u.lower(): i for i, u in enumerate(policy.users)}
        self.plans = [
            _Plan(rule, r, order, check_url)
            for rule in policy.ssh
            if rule.action.strip() in ("accept", "check")
        ]

    def for_node(self, node: Node) -> dict[str, Any]:
        """``{"rules": [...]}`` for one device (check rules before accept rules)."""
        rules: list[dict[str, Any]] = []
        mine = self.r.ivs[node.name]
        for plan in self.plans:
            plan.for_node(node, mine, rules)
        rules.sort(key=lambda x: 0 if "holdAndDelegate" in x["action"] else 1)
        return {"rules": rules}


def compile_ssh(policy: Policy, r: Resolver, node: Node, *, check_url: str) -> dict[str, Any]:
    """One device's SSH policy; the rules are resolved once per resolver and reused."""
    if policy is not r.policy:
        return SshCompiler(policy, r, check_url=check_url).for_node(node)
    key = ("ssh", check_url)
    compiler = r.memo.get(key)
    if not isinstance(compiler, SshCompiler):
        compiler = r.memo[key] = SshCompiler(policy, r, check_url=check_url)
    return compiler.for_node(node)
