"""policy pull (round trip, comments kept) and policy drift (access, not formatting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitops_helpers import (
    DIALECTS,
    Control,
    compact,
    console_edit,
    make_checkout,
    recommented,
    reordered,
    widened,
)

from tailcfg.errors import ConflictError
from tailcfg.gitops import (
    Action,
    PullResult,
    PushResult,
    apply_push,
    check_drift,
    plan_push,
    predict_etag,
    pull_policy,
)
from tailcfg.policy.model.nodes import load_nodes


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pull_round_trip(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    origin = make_checkout(tmp_path / "origin", control, dialect, homelab_policy)
    clone = make_checkout(tmp_path / "clone", control, dialect)  # no policy file yet
    with origin.client() as client:
        pushed = apply_push(
            plan_push(origin.policy, client=client, state=origin.state()),
            client=client,
            state=origin.state(),
        )
    with clone.client() as client:
        pulled = pull_policy(clone.policy, client=client, state=clone.state())
        assert pulled == PullResult(clone.policy, pushed.etag, written=True, recorded=True)
        assert clone.policy.read_text(encoding="utf-8") == homelab_policy  # comments kept
        again = pull_policy(clone.policy, client=client, state=clone.state())
        assert (again.written, again.etag) == (False, pushed.etag)
        recorded = clone.state().recorded(client.remote)
        assert recorded is not None and (recorded.etag, recorded.by) == (pushed.etag, "pull")

        side = tmp_path / "inspect.hujson"
        elsewhere = pull_policy(side, client=client)
        assert elsewhere == PullResult(side, pushed.etag, written=True, recorded=False)
        assert side.read_text(encoding="utf-8") == homelab_policy

        plan = plan_push(clone.policy, client=client, state=clone.state())
        assert (plan.action(), plan.change.same_text) == (Action.NO_CHANGE, True)
        report = check_drift(clone.policy, client=client, state=clone.state())
        assert (report.drifted, report.edited_outside, report.change.summary) == (
            False,
            False,
            "identical",
        )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pull_resolves_drift(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    """Refused because of a console edit; pull it in, then push on top of it."""
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    console = make_checkout(tmp_path / "console", control, dialect)
    with repo.client() as client:
        apply_push(
            plan_push(repo.policy, client=client, state=repo.state()),
            client=client,
            state=repo.state(),
        )
        with console.client() as other:
            other.put(console_edit(homelab_policy), if_match=other.get().etag)
        repo.write(widened(homelab_policy))
        with pytest.raises(ConflictError):
            apply_push(
                plan_push(repo.policy, client=client, state=repo.state()),
                client=client,
                state=repo.state(),
            )
        pull_policy(repo.policy, client=client, state=repo.state())
        assert repo.policy.read_text(encoding="utf-8") == console_edit(homelab_policy)
        merged = console_edit(homelab_policy).replace('"tcp:8080"]', '"tcp:8080", "tcp:8443"]')
        repo.write(merged)
        plan = plan_push(repo.policy, client=client, state=repo.state())
        assert (plan.drifted, plan.action()) == (False, Action.APPLY)
        result = apply_push(plan, client=client, state=repo.state())
    assert result == PushResult(Action.APPLY, predict_etag(merged))
    assert control.stored_policy()[0] == merged


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("remote_of", "summary"),
    [
        (recommented, "differs only in formatting or comments"),
        (compact, "differs only in formatting or comments"),
        (reordered, "differs in text, not in meaning"),
    ],
    ids=["comments", "layout", "reordered"],
)
def test_no_drift_when_meaning_is_the_same(
    tmp_path: Path,
    control: Control,
    homelab_policy: str,
    dialect: str,
    remote_of: object,
    summary: str,
) -> None:
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    remote_text = remote_of(homelab_policy)  # type: ignore[operator]
    assert remote_text != homelab_policy
    with repo.client() as client:
        client.put(remote_text, if_match=client.get().etag)
        report = check_drift(repo.policy, client=client, state=repo.state())
    assert (report.drifted, report.change.summary, report.change.text) == (False, summary, "")
    assert report.edited_outside is None  # nothing recorded in this clone


@pytest.mark.parametrize("dialect", DIALECTS)
def test_drift_in_access(
    tmp_path: Path, control: Control, homelab_policy: str, dialect: str
) -> None:
    repo = make_checkout(tmp_path / "repo", control, dialect, homelab_policy)
    with repo.client() as client:
        pushed = apply_push(
            plan_push(repo.policy, client=client, state=repo.state()),
            client=client,
            state=repo.state(),
        )
        edited = client.put(console_edit(homelab_policy), if_match=pushed.etag)
        report = check_drift(repo.policy, client=client, state=repo.state())
    assert (report.drifted, report.edited_outside, report.remote.etag) == (True, True, edited.etag)
    change = report.change
    assert (change.summary, change.engine, change.same_access) == (
        "differs in access",
        "semantic",
        False,
    )
    assert change.data["access"] == {
        "gained": [],
        "lost": [
            {
                "src": ["odin@example.com"],
                "dst": ["tag:server"],
                "ports": [
                    {
                        "protocols": ["tcp"],
                        "ranges": [{"first": 8080, "last": 8080}],
                        "text": "tcp:8080",
                    }
                ],
            }
        ],
    }
    assert "8080" in change.text


def test_drift_on_a_topology(
    tmp_path: Path, control: Control, homelab_policy: str, repo_root: Path
) -> None:
    """With --nodes the diff names the real devices (dao is the tag:server device)."""
    nodes = load_nodes(repo_root / "examples" / "homelab" / "nodes.json")
    repo = make_checkout(tmp_path / "repo", control, "embedded", homelab_policy)
    with repo.client() as client:
        client.put(console_edit(homelab_policy), if_match=client.get().etag)
        report = check_drift(repo.policy, client=client, nodes=nodes)
    assert (report.drifted, report.change.data["mode"]) == (True, "topology")
    assert report.change.data["access"]["lost"] == [
        {
            "src": ["odin@example.com"],
            "dst": ["dao"],
            "ports": [
                {
                    "protocols": ["tcp"],
                    "ranges": [{"first": 8080, "last": 8080}],
                    "text": "tcp:8080",
                }
            ],
        }
    ]
