"""Semantic diff of two policies: who gains and who loses access, not a text diff.

Takes: two loaded policies (files or REV:path) and, optionally, the devices.
Gives: a PolicyDiff (access, SSH, capabilities, declarations, the rules behind each row).
"""

from tailcfg.policy.diff.compare import PolicyDiff, diff_policies, diff_sources

__all__ = ["PolicyDiff", "diff_policies", "diff_sources"]
