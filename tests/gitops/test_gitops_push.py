"""policy push against the embedded control plane, in its v2 and Headscale dialects."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitops_helpers import (
    DIALECTS,
    Control,
    compact,
    console_edit,
    failing_tests,
    make_checkout,
    stranger_test,
    widened,
)

from tailcfg import hujson
from tailcfg.errors import PolicyError
from tailcfg.gitops import (
    Action,
    DriftError,
    LocalTestsFailed,
    PushResult,
    RemotePolicy,
    ServerTestsFailed,
    apply_push,
    plan_push,
    predict_etag,
)
from tailcfg.gitops.state import Recorded


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("shape", ["canonical", "compact"])
def test_push_then_no_op(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str, shape: str
) -> None:
    text = homelab_policy if shape == "canonical" else compact(homelab_policy)
    canonical = hujson.format_text(text)
    repo = make_checkout(tmp_path / "repo", control, dialect, text)
    with repo.client() as client:
        before = client.get()
        plan = plan_push(repo.policy, client=client, state=repo.state())
        assert (plan.action(), plan.recorded, plan.change.same_access) == (
            Action.APPLY,
            None,
            False,
        )
        assert plan.change.engine == "semantic"
        assert plan.remote == before
        assert plan.server_validated  # v2: .../acl/validate; Headscale: /api/v1/policy/check
        result = apply_push(plan, client=client, state=repo.state())
        assert result == PushResult(Action.APPLY, predict_etag(text), predicted=True)
        assert client.get() == RemotePolicy(canonical, result.etag)
        stored = control.stored_policy()
        assert stored[:2] == (canonical, result.etag)

        again = plan_push(repo.policy, client=client, state=repo.state())
        assert again.action() is Action.NO_CHANGE
        assert again.change.same_text
        assert apply_push(again, client=client, state=repo.state()) == PushResult(
            Action.NO_CHANGE, result.etag
        )
    assert control.stored_policy() == stored  # not written again (same update time)
    recorded = repo.state().recorded(client.remote)
    assert recorded is not None and (recorded.etag, recorded.by) == (result.etag, "push")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_drifted_remote_is_refused_then_forced(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    console = make_checkout(tmp_path / "console", control, dialect)  # an edit outside git
    with repo.client() as client:
        first = apply_push(
            plan_push(repo.policy, client=client, state=repo.state()),
            client=client,
            state=repo.state(),
        )
        with console.client() as other:
            edited = other.put(console_edit(homelab_policy), if_match=other.get().etag)
        repo.write(widened(homelab_policy))
        plan = plan_push(repo.policy, client=client, state=repo.state())
        assert plan.drifted
        assert plan.recorded is not None and plan.recorded.etag == first.etag
        assert plan.action() is Action.REFUSE_DRIFT
        assert plan.action(force=True) is Action.APPLY
        with pytest.raises(DriftError) as refused:
            apply_push(plan, client=client, state=repo.state())
        assert refused.value.status == 412
        assert str(refused.value) == (
            "refusing to push: the remote policy was edited outside this repository since"
            " the last push\n"
            f"  remote ETag:   {edited.etag}\n"
            f"  recorded ETag: {first.etag} (push at {plan.recorded.recorded})\n"
            f"  local ETag:    {predict_etag(widened(homelab_policy))} (predicted)\n"
            "Review the diff; take the remote's edits in with `tailcfg policy pull`, or"
            " overwrite them with `tailcfg policy push --force`."
        )
        assert client.get() == edited  # untouched

        forced = apply_push(plan, client=client, state=repo.state(), force=True)
        assert forced == PushResult(Action.APPLY, predict_etag(widened(homelab_policy)))
        assert client.get().text == widened(homelab_policy)
    recorded = repo.state().recorded(client.remote)
    assert recorded is not None and recorded.etag == forced.etag


@pytest.mark.parametrize("dialect", DIALECTS)
def test_local_failures_push_nothing(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    repo = make_checkout(tmp_path / "repo", control, dialect, failing_tests(homelab_policy))
    before = control.stored_policy()
    with repo.client() as client:
        with pytest.raises(LocalTestsFailed) as failed:
            plan_push(repo.policy, client=client, state=repo.state())
        assert str(failed.value).splitlines()[0] == (
            f"{repo.policy}: the policy's tests fail locally; nothing was pushed"
        )
        assert "FAIL" in str(failed.value)
        repo.write('{"acls": [{"action": "allow", "src": ["*"], "dst": ["*:*"]}]}')
        with pytest.raises(PolicyError) as rejected:
            plan_push(repo.policy, client=client, state=repo.state())
        assert [d.code for d in rejected.value.diagnostics] == ["action"]
    assert control.stored_policy() == before
    assert not repo.state().path.exists()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_server_test_failures_are_reported_verbatim(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    """Tests the server runs differently (it knows the tailnet's users): its words, verbatim."""
    repo = make_checkout(tmp_path / "repo", control, dialect, stranger_test(homelab_policy))
    with repo.client() as client:
        before = client.get()
        plan = plan_push(repo.policy, client=client, state=repo.state())
        with pytest.raises(ServerTestsFailed) as refused:
            apply_push(plan, client=client, state=repo.state())
        assert client.get() == before
    body = (
        "test(s) failed\n"
        "For user mallory@example.com:\n"
        "- invalid test: src 'mallory@example.com' is not a user of this tailnet"
    )
    exc = refused.value
    assert (exc.server_message, exc.server_text) == ("test(s) failed", body)
    assert exc.data == [
        {
            "user": "mallory@example.com",
            "errors": ["invalid test: src 'mallory@example.com' is not a user of this tailnet"],
        }
    ]
    assert plan.action() is Action.REFUSE_SERVER  # validated before writing: the plan knew
    if dialect == "embedded":
        acl = f"{control.url}/api/v2/tailnet/example.com/acl"
        assert (exc.status, str(exc)) == (None, f"POST {acl}/validate: {body}")
        with repo.client() as client, pytest.raises(ServerTestsFailed) as posted:
            client.put(plan.local.canonical, if_match=before.etag)
        assert (posted.value.status, str(posted.value)) == (400, f"POST {acl}: 400 {body}")
    else:  # Headscale's check answers 400, its write 500, both "test(s) failed:" + lines
        policy = f"{control.url}/api/v1/policy"
        assert (exc.status, str(exc)) == (400, f"POST {policy}/check: 400 {body}")
        with repo.client() as client, pytest.raises(ServerTestsFailed) as put:
            client.put(plan.local.canonical, if_match=before.etag)
        assert (put.value.status, str(put.value)) == (
            500,
            f"PUT {policy}: 500 setting policy: {body}",
        )
        assert put.value.data == exc.data
    assert control.stored_policy()[0] == before.text
    assert repo.state().recorded(client.remote) is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_first_push_without_record_takes_remote_as_base(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    """Nothing recorded (a fresh clone): push proceeds, as gitops-pusher does."""
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    with repo.client() as client:
        plan = plan_push(repo.policy, client=client, state=repo.state())
        assert (plan.recorded, plan.drifted) == (None, False)
        repo.state().record(client.remote, "0" * 64, by="push")
        plan = plan_push(repo.policy, client=client, state=repo.state())
    assert plan.drifted
    assert plan.recorded == Recorded("0" * 64, plan.recorded.recorded, "push")  # type: ignore[union-attr]
