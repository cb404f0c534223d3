"""``policy drift``: does the remote grant different access than the file says?

Differences in formatting and comments alone are not drift; a different parsed value
that grants the same access is not drift either (when the semantic diff is available).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tailcfg.gitops.client import PolicyClient, RemotePolicy
from tailcfg.gitops.compare import PolicyChange, compare_policies
from tailcfg.gitops.local import LocalPolicy, read_policy
from tailcfg.gitops.state import GitopsState, Recorded
from tailcfg.policy.model.nodes import Node


@dataclass(frozen=True, slots=True)
class DriftReport:
    local: LocalPolicy
    remote: RemotePolicy
    change: PolicyChange
    recorded: Recorded | None

    @property
    def drifted(self) -> bool:
        """The remote differs from the file in meaning: access, or groups/tagOwners/..."""
        return not self.change.same_meaning

    @property
    def edited_outside(self) -> bool | None:
        """The remote's ETag is not the recorded one (None when nothing is recorded)."""
        if self.recorded is None:
            return None
        return self.recorded.etag != self.remote.etag and self.remote.etag != self.local.etag


def check_drift(
    policy_path: Path,
    *,
    client: PolicyClient,
    state: GitopsState | None = None,
    nodes: Sequence[Node] | None = None,
) -> DriftReport:
    """Fetch the remote and compare it with the file (remote -> local)."""
    local = read_policy(policy_path)
    remote = client.get()
    change = compare_policies(remote.text, local.text, new_path=str(policy_path), nodes=nodes)
    recorded = state.recorded(client.remote) if state is not None else None
    return DriftReport(local, remote, change, recorded)
