"""The engine: load a policy as the server does, and compile it for a set of devices.

Takes: policy text (load_policy parses, validates, checks) and devices.
Gives: each device's packet filter, SSH policy and peers in Tailscale's wire shape.
"""

from tailcfg.policy.compile.compiled import CompiledNode, CompiledPolicy
from tailcfg.policy.compile.engine import compile_file, compile_policy, load_policy, resolver
from tailcfg.policy.compile.resolve import Resolver

__all__ = [
    "CompiledNode",
    "CompiledPolicy",
    "Resolver",
    "compile_file",
    "compile_policy",
    "load_policy",
    "resolver",
]
