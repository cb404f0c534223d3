"""Offline parts: the ETag state file, the ETag prediction, failure rendering, comparison."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tailcfg.errors import TailcfgError
from tailcfg.gitops import GitopsState, Recorded, compare_policies, predict_etag
from tailcfg.gitops.client import render_failure, unquote_etag
from tailcfg.gitops.state import default_state_path

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_state_round_trip(tmp_path: Path) -> None:
    path = default_state_path(tmp_path)
    assert path == tmp_path / ".tailcfg" / "gitops-state.json"
    state = GitopsState(path)
    assert state.recorded("tailscale https://api.tailscale.com example.com") is None
    state.record("tailscale https://api.tailscale.com example.com", "a" * 64, by="push", now=WHEN)
    state.record("headscale https://hs.example.com", "b" * 64, by="pull", now=WHEN)
    assert json.loads(path.read_text()) == {
        "version": 1,
        "remotes": {
            "headscale https://hs.example.com": {
                "etag": "b" * 64,
                "recorded": "2026-01-02T03:04:05Z",
                "by": "pull",
            },
            "tailscale https://api.tailscale.com example.com": {
                "etag": "a" * 64,
                "recorded": "2026-01-02T03:04:05Z",
                "by": "push",
            },
        },
    }
    again = GitopsState(path)
    assert again.recorded("headscale https://hs.example.com") == Recorded(
        "b" * 64, "2026-01-02T03:04:05Z", "pull"
    )
    assert [p.name for p in path.parent.iterdir()] == ["gitops-state.json"]  # no temp files


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "the gitops state is not JSON (Expecting property name enclosed in double quotes)"),
        ("[]", "the gitops state has no 'remotes' object"),
        ('{"version": 1}', "the gitops state has no 'remotes' object"),
    ],
)
def test_state_rejects_a_broken_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(TailcfgError) as raised:
        GitopsState(path)
    assert str(raised.value) == f"{path}: {message}"


def test_predicted_etag_is_sha256_of_the_canonical_formatting() -> None:
    text = '{"acls":[{"action":"accept","src":["*"],"dst":["*:*"]}]}'
    canonical = '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}\n'
    assert predict_etag(text) == hashlib.sha256(canonical.encode()).hexdigest()
    assert predict_etag(canonical) == predict_etag(text)


@pytest.mark.parametrize(
    ("header", "etag"),
    [('"abc"', "abc"), ('W/"abc"', "abc"), ("abc", "abc"), (None, ""), ("", "")],
)
def test_unquote_etag(header: str | None, etag: str) -> None:
    assert unquote_etag(header) == etag


def test_render_failure_as_gitops_pusher_prints_it() -> None:
    data = [
        {"user": "odin@example.com", "errors": ["a", "b"]},
        {"user": "tag:ci", "errors": ["c"]},
        "odd",
    ]
    assert render_failure("test(s) failed", data) == (
        'test(s) failed\nFor user odin@example.com:\n- a\n- b\nFor user tag:ci:\n- c\n"odd"'
    )


def test_compare_falls_back_to_structural_for_a_broken_remote() -> None:
    change = compare_policies("{", '{"acls": []}', old_path="remote", new_path="policy.hujson")
    assert (change.engine, change.same_access, change.summary) == (
        "structural",
        False,
        "differs in access",
    )
    assert change.note.startswith("remote is not HuJSON: remote:1:2: error[syntax]")
    assert change.text == (
        '--- remote\n+++ policy.hujson\n@@ -0,0 +1,3 @@\n+{\n+  "acls": []\n+}\n'
    )


def test_compare_falls_back_to_structural_for_a_remote_the_engine_rejects() -> None:
    change = compare_policies(
        '{"acls": [], "bogus": 1}', '{"acls": []}', old_path="remote", new_path="policy.hujson"
    )
    assert (change.engine, change.summary, change.note) == (
        "structural",
        "differs in access",
        'semantic diff unavailable: remote:1:14: error[unknown-field]: unknown field "bogus"',
    )
    assert change.text == (
        "--- remote\n+++ policy.hujson\n@@ -1,4 +1,3 @@\n {\n"
        '-  "acls": [],\n-  "bogus": 1\n+  "acls": []\n }\n'
    )
