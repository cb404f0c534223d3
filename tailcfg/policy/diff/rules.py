"""Name the policy rules behind a diff row: which rule grants the gained access (in the
new policy), which rule granted the lost access (in the old one).

One sample fact of each row is looked up with :class:`tailcfg.policy.evaluate.provenance.Provenance`
(the same rule matching ``policy test`` and ``policy explain`` use): a source address,
a destination address (the device's own, or an address its route serves), a protocol
and a port; for SSH rows, the login.
"""

from __future__ import annotations

from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.diff.access import DstKey, SrcKey
from tailcfg.policy.evaluate.filter_match import Addr
from tailcfg.policy.evaluate.provenance import Provenance
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.evaluate.world import node_addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy


class RuleFinder:
    """Rules of one policy (over the universe's devices) behind a fact; built lazily."""

    def __init__(self, policy: Policy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.nodes = {n.name: n for n in resolver.nodes}
        self._prov: Provenance | None = None

    @property
    def prov(self) -> Provenance:
        if self._prov is None:
            self._prov = Provenance(self.policy, self.resolver)
        return self._prov

    def _addr(self, node: Node, family: int | None) -> Addr | None:
        addrs = node_addrs(node)
        for a in addrs:
            if family is None or a[0] == family:
                return a
        return None

    def access(self, src: SrcKey, dst: DstKey, proto: int, port: int) -> tuple[RuleRef, ...]:
        """Rules admitting one sample connection of a fact (empty when none matches)."""
        dst_node = self.nodes.get(dst[1])
        if dst_node is None:
            return ()
        src_node = self.nodes.get(src[1]) if src[0] == "dev" else None
        if dst[0] == "dev":
            if src_node is None:
                family = src[1]
            else:
                both_v4 = self._addr(src_node, 4) and self._addr(dst_node, 4)
                family = 4 if both_v4 else 6
            dst_addr = self._addr(dst_node, family)
        else:
            dst_addr = (dst[2], dst[3])
        if dst_addr is None:
            return ()
        if src_node is not None:
            src_addr = self._addr(src_node, dst_addr[0])
        else:
            src_addr = (src[1], src[2]) if src[1] == dst_addr[0] else None
        if src_addr is None:
            return ()
        own = dst[0] == "dev"
        found = self.prov.granting(
            src_addr,
            dst_addr,
            port,
            frozenset({proto}),
            src_node=src_node,
            dst_node=dst_node if own else None,
        )
        return tuple(found)

    def ssh(self, src: str, dst: str, login: str) -> tuple[RuleRef, ...]:
        """SSH rules letting device ``src`` log in to ``dst`` as ``login``."""
        src_node, dst_node = self.nodes.get(src), self.nodes.get(dst)
        if src_node is None or dst_node is None:
            return ()
        addr = self._addr(src_node, None)
        if addr is None:
            return ()
        return tuple(ref for ref, _ in self.prov.ssh_granting(addr, src_node, dst_node, login))
