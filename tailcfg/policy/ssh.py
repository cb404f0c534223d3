"""Each device's SSH policy (``tailcfg.SSHPolicy``) from the policy's ``ssh`` rules.

Principals are the source devices' addresses (``nodeIP``), sorted. ``sshUsers`` maps
``root`` to ``root`` or ``""``, adds ``"*": "="`` for autogroup:nonroot and each literal
login to itself. ``localpart:*@domain`` adds, per source user in that domain, a rule
mapping the login's local part to itself. Check rules come before accept rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tailcfg.policy.addrs import Interval, addr_str
from tailcfg.policy.model import Policy, SshRule
from tailcfg.policy.nodes import Node
from tailcfg.policy.resolve import AddrSet, Resolver

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


class _SshCompiler:
    def __init__(self, policy: Policy, r: Resolver, node: Node, check_url: str) -> None:
        self.policy = policy
        self.r = r
        self.node = node
        self.check_url = check_url
        self.user_order = {u.lower(): i for i, u in enumerate(policy.users)}

    def action(self, rule: SshRule) -> dict[str, Any]:
        if rule.action.strip() == "check":
            return {"holdAndDelegate": self.check_url + CHECK_PATH}
        return dict(ACCEPT_ACTION)

    def _emit(
        self,
        out: list[dict[str, Any]],
        rule: SshRule,
        principals: list[dict[str, str]],
        users: dict[str, str],
    ) -> None:
        item: dict[str, Any] = {
            "principals": principals,
            "sshUsers": users,
            "action": self.action(rule),
        }
        if rule.accept_env:
            item["acceptEnv"] = [e.text for e in rule.accept_env]
        out.append(item)

    def _by_user(self, srcset: AddrSet) -> tuple[list[tuple[str, list[Interval]]], list[Interval]]:
        users: dict[str, list[Interval]] = {}
        tagged: list[Interval] = []
        for n in self.r.nodes:
            ivs = self.r.ivs[n.name]
            if not srcset.contains_node(ivs):
                continue
            if n.tags:
                tagged.extend(ivs)
            elif n.user:
                users.setdefault(n.user.lower(), []).extend(ivs)
        order = sorted(users, key=lambda u: (self.user_order.get(u, len(self.user_order)), u))
        return [(u, users[u]) for u in order], tagged

    def _localpart(self, login: str, domains: Sequence[str]) -> str | None:
        local, _, dom = login.rpartition("@")
        if any(dom.lower() == d.lower() for d in domains):
            return local
        return None

    def _tag_dups(self, rule: SshRule) -> list[dict[str, str]]:
        """autogroup:tagged lists a device once per tag: the extra copies."""
        if not any(s.text.strip() == "autogroup:tagged" for s in rule.src):
            return []
        out: list[dict[str, str]] = []
        for n in self.r.tagged:
            for _ in n.tags[1:]:
                out.extend({"nodeIP": a} for a in n.addresses)
        return out

    def rule(self, rule: SshRule, out: list[dict[str, Any]]) -> None:
        src_ivs: list[Interval] = []
        for s in rule.src:
            src_ivs.extend(self.r.src_intervals(s.text))
        srcset = AddrSet(src_ivs)
        if not srcset:
            return
        users = [u.text.strip() for u in rule.users]
        base = _user_map(users)
        domains = [d for u in users if (d := localpart_domain(u)) is not None]
        by_user, tagged = self._by_user(srcset)

        def emit_user(login: str | None, ivs: list[Interval]) -> None:
            principals = _principals(ivs)
            if not principals:
                return
            self._emit(out, rule, principals, dict(base))
            lp = self._localpart(login, domains) if login and domains else None
            if lp:
                self._emit(out, rule, principals, {lp: lp})

        dsts = [d.text.strip() for d in rule.dst]
        node = self.node
        mine = self.r.ivs[node.name]
        if SELF in dsts and not node.tags and node.user:
            for login, ivs in by_user:
                if login == node.user.lower():
                    emit_user(login, ivs)
        others = [d for d in dsts if d != SELF]
        if not others:
            return
        dst_ivs: list[Interval] = []
        for d in others:
            dst_ivs.extend(self.r.src_intervals(d))
        if AddrSet(dst_ivs).contains_node(mine):
            if domains:
                for login, ivs in by_user:
                    emit_user(login, ivs)
                if tagged:
                    emit_user(None, tagged)
            else:
                principals = _principals(srcset.intervals) + self._tag_dups(rule)
                if principals:
                    self._emit(out, rule, principals, dict(base))
        elif domains and srcset.contains_node(mine):
            if node.tags:
                emit_user(None, list(mine))
            elif node.user:
                for login, ivs in by_user:
                    if login == node.user.lower():
                        emit_user(login, ivs)


def compile_ssh(policy: Policy, r: Resolver, node: Node, *, check_url: str) -> dict[str, Any]:
    """``{"rules": [...]}`` for one device (empty rules when nothing applies)."""
    c = _SshCompiler(policy, r, node, check_url)
    rules: list[dict[str, Any]] = []
    for rule in policy.ssh:
        if rule.action.strip() in ("accept", "check"):
            c.rule(rule, rules)
    rules.sort(key=lambda x: 0 if "holdAndDelegate" in x["action"] else 1)
    return {"rules": rules}
