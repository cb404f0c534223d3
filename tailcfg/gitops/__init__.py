"""GitOps for the policy file: push / pull / drift against Tailscale, Headscale, embedded.

Public API::

    open_policy_client(control, *, tailnet, credentials, transport=None) -> PolicyClient
        .get() -> RemotePolicy(text, etag)      .put(text, *, if_match) -> RemotePolicy
        .validate(text) -> bool (False: the backend cannot validate; raises ServerTestsFailed)
    GitopsState(path)                       the last-pushed ETag per remote (JSON, atomic)
    default_state_path(inventory_dir)       .tailcfg/gitops-state.json
    plan_push(policy_path, *, client, state, nodes=None) -> PushPlan
    apply_push(plan, *, client, state, force=False) -> PushResult
    pull_policy(dest, *, client, state=None) -> PullResult
    check_drift(policy_path, *, client, state=None, nodes=None) -> DriftReport
    compare_policies(old_text, new_text, ...) -> PolicyChange
    predict_etag(text, path) -> str        sha256 of the canonical HuJSON formatting

Errors: PolicyError / LocalTestsFailed (local checks; nothing is fetched), DriftError
(a ConflictError: edited outside the repository), ConflictError (lost the If-Match
race), ServerTestsFailed (a BackendError with the server's message and data verbatim).
"""

from tailcfg.gitops.client import (
    HeadscalePolicy,
    PolicyClient,
    RemotePolicy,
    ServerTestsFailed,
    TailscalePolicy,
    open_policy_client,
)
from tailcfg.gitops.compare import PolicyChange, compare_policies
from tailcfg.gitops.drift import DriftReport, check_drift
from tailcfg.gitops.local import LocalPolicy, LocalTestsFailed, predict_etag
from tailcfg.gitops.pull import PullResult, pull_policy
from tailcfg.gitops.push import Action, DriftError, PushPlan, PushResult, apply_push, plan_push
from tailcfg.gitops.state import GitopsState, Recorded, default_state_path

__all__ = [
    "Action",
    "DriftError",
    "DriftReport",
    "GitopsState",
    "HeadscalePolicy",
    "LocalPolicy",
    "LocalTestsFailed",
    "PolicyChange",
    "PolicyClient",
    "PullResult",
    "PushPlan",
    "PushResult",
    "Recorded",
    "RemotePolicy",
    "ServerTestsFailed",
    "TailscalePolicy",
    "apply_push",
    "check_drift",
    "compare_policies",
    "default_state_path",
    "open_policy_client",
    "plan_push",
    "predict_etag",
    "pull_policy",
]
