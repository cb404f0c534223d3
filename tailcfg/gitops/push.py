"""``policy push`` as two steps: ``plan_push`` (check, fetch, diff, decide) and ``apply_push``.

The plan is everything a dry run shows: the local checks passed, the remote policy and
its ETag, the semantic diff remote -> local, the recorded ETag of the last push, the
server's own validation. ``apply_push`` then either says "no change" (the predicted ETag
equals the remote's: nothing is written), refuses a drifted remote (edited outside the
repository since the last push) unless forced, or writes with ``If-Match`` and records
the new ETag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tailcfg.errors import ConflictError
from tailcfg.gitops.client import PolicyClient, RemotePolicy, ServerTestsFailed
from tailcfg.gitops.compare import PolicyChange, compare_policies
from tailcfg.gitops.local import LocalPolicy, check_policy_file
from tailcfg.gitops.state import GitopsState, Recorded
from tailcfg.policy.model.nodes import Node


class Action(StrEnum):
    NO_CHANGE = "no-change"  # the remote already holds this file (same ETag)
    APPLY = "apply"  # push would write
    REFUSE_DRIFT = "refuse-drift"  # edited outside the repository; needs --force
    REFUSE_SERVER = "refuse-server"  # the server's validation (its tests) refused it


class DriftError(ConflictError):
    """The remote was edited outside the repository since the last push."""


@dataclass(frozen=True, slots=True)
class PushPlan:
    remote_name: str
    local: LocalPolicy
    remote: RemotePolicy
    change: PolicyChange
    recorded: Recorded | None
    server_refusal: ServerTestsFailed | None = None
    server_validated: bool = False

    @property
    def no_change(self) -> bool:
        return self.remote.etag == self.local.etag

    @property
    def drifted(self) -> bool:
        """The remote's ETag is not the one recorded at the last push (or pull)."""
        return (
            not self.no_change
            and self.recorded is not None
            and (self.recorded.etag != self.remote.etag)
        )

    def action(self, *, force: bool = False) -> Action:
        if self.no_change:
            return Action.NO_CHANGE
        if self.drifted and not force:
            return Action.REFUSE_DRIFT
        if self.server_refusal is not None:
            return Action.REFUSE_SERVER
        return Action.APPLY

    def drift_message(self) -> str:
        recorded = self.recorded
        assert recorded is not None
        return (
            "refusing to push: the remote policy was edited outside this repository since"
            f" the last {recorded.by or 'push'}\n"
            f"  remote ETag:   {self.remote.etag}\n"
            f"  recorded ETag: {recorded.etag} ({recorded.by} at {recorded.recorded})\n"
            f"  local ETag:    {self.local.etag} (predicted)\n"
            "Review the diff; take the remote's edits in with `tailcfg policy pull`, or"
            " overwrite them with `tailcfg policy push --force`."
        )


@dataclass(frozen=True, slots=True)
class PushResult:
    action: Action  # NO_CHANGE or APPLY
    etag: str  # the remote's ETag now
    predicted: bool = True  # the server's new ETag equals the offline prediction


def plan_push(
    policy_path: Path,
    *,
    client: PolicyClient,
    state: GitopsState,
    nodes: Sequence[Node] | None = None,
) -> PushPlan:
    """Lint and test locally (PolicyError / LocalTestsFailed), fetch, diff, validate remotely."""
    local = check_policy_file(policy_path, nodes=nodes)
    remote = client.get()
    change = compare_policies(remote.text, local.canonical, new_path=str(policy_path), nodes=nodes)
    recorded = state.recorded(client.remote)
    refusal: ServerTestsFailed | None = None
    validated = False
    if remote.etag != local.etag:
        try:
            validated = client.validate(local.canonical)
        except ServerTestsFailed as exc:
            refusal = exc
    return PushPlan(client.remote, local, remote, change, recorded, refusal, validated)


def apply_push(
    plan: PushPlan, *, client: PolicyClient, state: GitopsState, force: bool = False
) -> PushResult:
    """Write the plan's policy with If-Match on the fetched ETag; record the new ETag.

    Raises DriftError (drifted, not forced), ServerTestsFailed (the server's tests, its
    words), ConflictError (another push won the If-Match race).
    """
    action = plan.action(force=force)
    if action is Action.NO_CHANGE:
        state.record(client.remote, plan.remote.etag, by="push")
        return PushResult(Action.NO_CHANGE, plan.remote.etag)
    if action is Action.REFUSE_DRIFT:
        raise DriftError(plan.drift_message(), status=412)
    if plan.server_refusal is not None:
        raise plan.server_refusal
    try:
        stored = client.put(plan.local.canonical, if_match=plan.remote.etag)
    except ConflictError:
        now = client.get()
        if now.etag != plan.local.etag:
            raise
        stored = now  # the same file arrived by another push: nothing is lost
    state.record(client.remote, stored.etag, by="push")
    return PushResult(Action.APPLY, stored.etag, predicted=stored.etag == plan.local.etag)
