"""The policy as data: the typed model, its builder, devices, ports and addresses.

Takes: a parsed HuJSON policy document; the --nodes devices file.
Gives: the typed Policy (every rule keeps its span), Node devices, port/address parsers.
"""

from tailcfg.policy.model.nodes import Node, load_nodes, nodes_from_list
from tailcfg.policy.model.parse import build_policy
from tailcfg.policy.model.policy import Policy, Ref

__all__ = ["Node", "Policy", "Ref", "build_policy", "load_nodes", "nodes_from_list"]
