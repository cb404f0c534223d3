"""Two clones push at the same moment: exactly one wins the If-Match race."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from gitops_helpers import DIALECTS, Checkout, Control, console_edit, make_checkout, widened

from tailcfg.errors import ConflictError
from tailcfg.gitops import (
    Action,
    DriftError,
    PushResult,
    apply_push,
    plan_push,
    predict_etag,
    pull_policy,
)


def _push(repo: Checkout) -> PushResult:
    with repo.client() as client:
        plan = plan_push(repo.policy, client=client, state=repo.state())
        return apply_push(plan, client=client, state=repo.state())


@pytest.mark.parametrize("dialect", DIALECTS)
def test_concurrent_push_one_wins(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    alice = make_checkout(tmp_path / "alice", control, dialect, homelab_policy)
    bob = make_checkout(tmp_path / "bob", control, dialect)
    base = _push(alice)
    with bob.client() as client:
        pull_policy(bob.policy, client=client, state=bob.state())
    alice.write(widened(homelab_policy))
    bob.write(console_edit(homelab_policy))

    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[str, PushResult | Exception] = {}

    def push(name: str, repo: Checkout) -> None:
        try:
            with repo.client() as client:
                plan = plan_push(repo.policy, client=client, state=repo.state())
                assert plan.remote.etag == base.etag  # both start from the same version
                barrier.wait()
                outcomes[name] = apply_push(plan, client=client, state=repo.state())
        except Exception as exc:  # the thread's result, inspected below
            outcomes[name] = exc

    threads = [
        threading.Thread(target=push, args=("alice", alice)),
        threading.Thread(target=push, args=("bob", bob)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = {n: o for n, o in outcomes.items() if isinstance(o, PushResult)}
    losers = {n: o for n, o in outcomes.items() if not isinstance(o, PushResult)}
    assert (len(winners), len(losers)) == (1, 1), outcomes
    (winner, result), (loser, error) = *winners.items(), *losers.items()
    repos = {"alice": alice, "bob": bob}
    texts = {"alice": widened(homelab_policy), "bob": console_edit(homelab_policy)}
    assert result == PushResult(Action.APPLY, predict_etag(texts[winner]))
    assert type(error) is ConflictError
    assert error.status == 412
    assert str(error) in _conflict_messages(control.url, dialect)
    assert control.stored_policy()[:2] == (texts[winner], result.etag)

    # The loser's state still holds the base: pushing again is refused as drift, not a
    # silent overwrite of the winner's change.
    loser_state = repos[loser].state()
    with repos[loser].client() as client:
        recorded = loser_state.recorded(client.remote)
        assert recorded is not None and recorded.etag == base.etag
        with pytest.raises(DriftError):
            apply_push(
                plan_push(repos[loser].policy, client=client, state=loser_state),
                client=client,
                state=loser_state,
            )
    assert control.stored_policy()[0] == texts[winner]


def _conflict_messages(url: str, dialect: str) -> set[str]:
    if dialect == "embedded":
        return {
            f"POST {url}/api/v2/tailnet/example.com/acl: 412 precondition failed, invalid old"
            " hash: the remote policy changed since it was fetched (another push won the"
            " If-Match race); fetch again and retry"
        }
    return {
        # the server's If-Match check, or the client's check just before the PUT
        f"PUT {url}/api/v1/policy: 412 precondition failed, invalid old hash: the remote"
        " policy changed since it was fetched (another push won the If-Match race); fetch"
        " again and retry",
        f"PUT {url}/api/v1/policy: the remote policy changed since it was fetched (another"
        " push won); fetch again and retry",
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_losing_the_race_to_the_same_file_is_a_success(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    """Two CI runs of one commit: the second's If-Match fails, but the file is there."""
    first = make_checkout(tmp_path / "first", control, dialect, homelab_policy)
    second = make_checkout(tmp_path / "second", control, dialect, homelab_policy)
    with first.client() as one, second.client() as two:
        plan_one = plan_push(first.policy, client=one, state=first.state())
        plan_two = plan_push(second.policy, client=two, state=second.state())
        assert plan_one.remote == plan_two.remote
        done = apply_push(plan_one, client=one, state=first.state())
        late = apply_push(plan_two, client=two, state=second.state())
    assert done == late == PushResult(Action.APPLY, predict_etag(homelab_policy))
    recorded = second.state().recorded(two.remote)
    assert recorded is not None and recorded.etag == done.etag
