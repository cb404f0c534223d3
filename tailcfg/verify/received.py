"""What each real node received (``tailscale debug netmap``) against ``policy compile``.

For every node: its ``PacketFilterRules`` and ``SSHPolicy`` compared with the engine's
packet filter and SSH policy for the same policy and Headscale's node list
(:mod:`tailcfg.verify.differential`). A difference is recorded, not a failure: Headscale
is not the ground truth, the SaaS captures are (docs/conformance.md, "Headscale").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tailcfg.peers.tailscaled import Tailscaled
from tailcfg.policy.compile.engine import Policy, compile_policy
from tailcfg.policy.model.nodes import Node
from tailcfg.verify.differential import compare_filters, compare_ssh
from tailcfg.verify.model import Received


def compare_node(
    name: str,
    netmap: Mapping[str, Any],
    engine_filter: Sequence[Mapping[str, Any]],
    engine_ssh: Mapping[str, Any] | None,
    topology: Sequence[Node],
    logins: Sequence[str],
) -> Received:
    addresses = [a for d in topology for a in (d.ipv4, d.ipv6) if a]
    sources = {d.name: tuple(a for a in (d.ipv4, d.ipv6) if a) for d in topology}
    peer_filter = list(netmap.get("PacketFilterRules") or ())
    peer_ssh = netmap.get("SSHPolicy")
    me = next((d for d in topology if d.name == name), None)
    own = None
    if me is not None:
        own = [a for a in (me.ipv4, me.ipv6) if a] + list(me.approved_routes)
    f = compare_filters(engine_filter, peer_filter, addresses, own)
    s = compare_ssh(
        engine_ssh, peer_ssh if isinstance(peer_ssh, Mapping) else None, sources, logins
    )
    details = []
    if not f.equivalent:
        if f.only_engine:
            details.append("only the engine allows " + "; ".join(f.only_engine))
        if f.only_peer:
            details.append("only headscale allows " + "; ".join(f.only_peer))
    if not f.caps_equal:
        details.append("capability grants differ")
    if not s.equivalent:
        details.append("ssh: " + "; ".join(s.differences))
    filter_kind = (
        "equal" if f.equal else "equivalent" if f.equivalent and f.caps_equal else "differs"
    )
    if not f.equal:
        details.append(f"filter: {f.first_difference}")
    if not s.equal:
        details.append(f"ssh: {s.first_difference}")
    ssh_kind = "equal" if s.equal else "equivalent" if s.equivalent else "differs"
    return Received(name, filter_kind, ssh_kind, "; ".join(details))


def check_received(
    nodes: Mapping[str, Tailscaled],
    policy: Policy,
    topology: Sequence[Node],
    logins: Sequence[str],
) -> tuple[Received, ...]:
    compiled = compile_policy(policy, topology).nodes
    out = []
    for name, node in nodes.items():
        mine = compiled.get(name)
        engine_filter = mine.packet_filter if mine is not None else []
        engine_ssh = mine.ssh_policy if mine is not None else None
        out.append(compare_node(name, node.netmap(), engine_filter, engine_ssh, topology, logins))
    return tuple(out)
