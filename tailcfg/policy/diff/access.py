"""Who reaches what under two policies: the reachability model behind ``policy diff``.

Both policies are compiled by the engine on one set of devices, a
:class:`~tailcfg.policy.diff.universe.Universe` (the ``--nodes`` topology plus stand-ins).

:func:`access_delta` then compares, device by device, what each compiled packet filter
and SSH policy admits, and returns the difference as *facts*:

- :attr:`Delta.gained` / :attr:`Delta.lost`: ``(src, dst) -> {proto: ((first, last), ...)}``
  where ``src`` is ``("dev", name)`` (a device, reaching over IPv4 or IPv6) or
  ``("net", family, lo, hi)`` (addresses that are no device's, cut at every boundary a
  rule draws), and ``dst`` is ``("dev", name)`` (the device's own addresses) or
  ``("net", router, family, lo, hi)`` (addresses the router serves through a subnet or
  exit route). Port ranges are merged.
- :attr:`Delta.ssh`: ``(src device, dst device, login) -> (old action, new action)``
  with actions ``accept``/``check``/None; :data:`OTHER_LOGIN` stands for every login
  that no ``sshUsers`` names (``autogroup:nonroot``).

Devices whose filter and SSH policy are equal on both sides are skipped, so the cost
follows the size of the change, not devices x rules. At the others, only the cells
(destination, protocol, port range) that a differing filter entry touches are evaluated
(:mod:`tailcfg.policy.diff.device`); the shapes live in :mod:`tailcfg.policy.diff.facts`.
"""

from __future__ import annotations

from typing import Any

from tailcfg.policy.diff.device import DeviceDelta, FilterParser
from tailcfg.policy.diff.facts import (
    OTHER_LOGIN,
    CapFacts,
    Delta,
    DstKey,
    Facts,
    PortMap,
    SrcKey,
    subtract,
)
from tailcfg.policy.diff.universe import Side, Universe
from tailcfg.policy.evaluate.filter_match import SshMatcher
from tailcfg.policy.evaluate.world import node_addrs
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node

__all__ = [
    "OTHER_LOGIN",
    "CapFacts",
    "Delta",
    "DstKey",
    "Facts",
    "PortMap",
    "SrcKey",
    "access_delta",
    "subtract",
]


# ---- SSH --------------------------------------------------------------------------


def _action(m: SshMatcher, node: Node, login: str) -> str | None:
    best: str | None = None
    for a in node_addrs(node):
        v = m.verdict(a, login)
        if v.checked:
            return "check"
        if v.allowed:
            best = "accept"
    return best


def _ssh_delta(
    u: Universe, node: Node, old: dict[str, Any], new: dict[str, Any], into: Delta
) -> None:
    rules = [*(old.get("rules") or ()), *(new.get("rules") or ())]
    logins = {"root", OTHER_LOGIN}
    src_bits: set[int] = set()
    for rule in rules:
        logins.update(k for k in (rule.get("sshUsers") or {}) if k != "*")
        for p in rule.get("principals") or ():
            if p.get("any"):
                src_bits.update(range(len(u.sources)))
            elif (ip := p.get("nodeIP")) and (iv := addrs.parse_interval(str(ip))):
                i = u.by_addr.get((iv[0], iv[1]))
                if i is not None:
                    src_bits.add(i)
    before = SshMatcher(old.get("rules") or [])
    after = SshMatcher(new.get("rules") or [])
    for i in sorted(src_bits):
        src = u.sources[i]
        for login in sorted(logins):
            a, b = _action(before, src, login), _action(after, src, login)
            if a != b:
                into.ssh[(src.name, node.name, login)] = (a, b)


def access_delta(u: Universe, old: Side, new: Side, *, only: frozenset[str] | None = None) -> Delta:
    """Compare what devices admit under ``old`` and ``new`` (see the module docstring).

    ``only`` limits the comparison to these devices (the others are known to be equal).
    """
    out = Delta()
    parser = FilterParser(u)
    for node in u.nodes:
        if only is not None and node.name not in only:
            continue
        same_routes = old.resolver.approved_routes(node) == new.resolver.approved_routes(node)
        if old.packet_filter(node) != new.packet_filter(node) or not same_routes:
            DeviceDelta(parser, node, old, new).delta(out)
        a, b = old.ssh_policy(node), new.ssh_policy(node)
        if a != b:
            _ssh_delta(u, node, a, b, out)
    return out
