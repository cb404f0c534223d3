"""The decision a Tailscale SSH server makes from the SSH policy it received.

Rules are tried in order; a rule matches when one of its principals is the connecting
node (``nodeIP``, or ``any``) and its ``sshUsers`` map the requested login to a local user
(the login itself, ``*``, and ``=`` meaning "the same name"; an empty mapping refuses the
login under this rule and the search goes on). The first matching rule's action decides:
``accept``, ``holdAndDelegate`` (check mode) or ``reject``; no match is a denial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def local_user(ssh_users: Mapping[str, Any], login: str) -> str:
    mapped = ssh_users.get(login, ssh_users.get("*", ""))
    if mapped == "=":
        return login
    return str(mapped or "")


def _principal_matches(principal: Mapping[str, Any], addresses: Iterable[str]) -> bool:
    if principal.get("any"):
        return True
    node_ip = principal.get("nodeIP")
    return isinstance(node_ip, str) and node_ip in set(addresses)


def ssh_decision(policy: Mapping[str, Any], addresses: Iterable[str], login: str) -> str:
    """``accept``, ``check`` or ``deny`` for ``login`` from a node with ``addresses``."""
    addrs = tuple(addresses)
    for rule in policy.get("rules") or ():
        if not any(_principal_matches(p, addrs) for p in rule.get("principals") or ()):
            continue
        if not local_user(rule.get("sshUsers") or {}, login):
            continue
        action = rule.get("action") or {}
        if action.get("reject"):
            return "deny"
        if action.get("holdAndDelegate"):
            return "check"
        if action.get("accept"):
            return "accept"
    return "deny"
