"""The Tailscale v2 policy client on the wire: OAuth, headers, quoted ETags, retries, scrubbing."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from acl_api import API_KEY, CLIENT_ID, CLIENT_SECRET, TOKEN, RunningAcl, serve_acl

from tailcfg import hujson
from tailcfg.errors import BackendError
from tailcfg.gitops import (
    Action,
    GitopsState,
    HeadscalePolicy,
    PushResult,
    RemotePolicy,
    TailscalePolicy,
    apply_push,
    plan_push,
    pull_policy,
)
from tailcfg.keys.credentials import Credentials

ACL = "/api/v2/tailnet/example.com/acl"
POLICY = '{"acls": [{"action": "accept", "src": ["odin@example.com"], "dst": ["*:22", "*:443"]}]}\n'


@pytest.fixture
def acl() -> Iterator[RunningAcl]:
    with serve_acl() as running:
        yield running


def _client(url: str, credentials: Credentials, sleeps: list[float]) -> TailscalePolicy:
    return TailscalePolicy(url, tailnet="example.com", credentials=credentials, sleep=sleeps.append)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_oauth_push_on_the_wire(tmp_path: Path, acl: RunningAcl) -> None:
    path = tmp_path / "policy.hujson"
    path.write_text(POLICY)
    state = GitopsState(tmp_path / "state.json")
    old_etag = acl.state.etag
    creds = Credentials(oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET)
    with _client(acl.url, creds, []) as client:
        plan = plan_push(path, client=client, state=state)
        result = apply_push(plan, client=client, state=state)
    canonical = hujson.format_text(POLICY)
    assert canonical != POLICY  # push sends the canonical formatting
    assert result == PushResult(Action.APPLY, _sha(canonical))
    assert acl.state.text == canonical
    assert acl.state.scopes == ["policy_file"]  # one token, scoped to the policy file
    calls = [(method, path) for method, path, _ in acl.state.requests]
    assert calls == [("GET", ACL), ("POST", f"{ACL}/validate"), ("POST", ACL)]
    get, validate, post = (headers for _, _, headers in acl.state.requests)
    assert (get["authorization"], get["accept"]) == (f"Bearer {TOKEN}", "application/hujson")
    assert validate["content-type"] == "application/hujson"
    assert (post["if-match"], post["content-type"], post["accept"]) == (
        f'"{old_etag}"',
        "application/hujson",
        "application/hujson",
    )


def test_retries_busy_answers(acl: RunningAcl) -> None:
    acl.state.fail_next = [503, 429]
    sleeps: list[float] = []
    with _client(acl.url, Credentials(tailscale_api_key=API_KEY), sleeps) as client:
        assert client.get() == RemotePolicy(acl.state.text, acl.state.etag)
    assert sleeps == [0.0, 0.0]  # Retry-After: 0


def test_gives_up_after_the_last_attempt(acl: RunningAcl) -> None:
    acl.state.fail_next = [500] * 4
    sleeps: list[float] = []
    with (
        _client(acl.url, Credentials(tailscale_api_key=API_KEY), sleeps) as client,
        pytest.raises(BackendError) as failed,
    ):
        client.get()
    assert (str(failed.value), failed.value.status) == (f"GET {acl.url}{ACL}: 500 busy", 500)
    assert len(sleeps) == 3


def test_credentials_are_scrubbed_from_errors(acl: RunningAcl) -> None:
    acl.state.leak_token = True
    with (
        _client(acl.url, Credentials(tailscale_api_key=API_KEY), []) as client,
        pytest.raises(BackendError) as refused,
    ):
        client.get()
    assert str(refused.value) == f"GET {acl.url}{ACL}: 403 token *** lacks policy_file"


def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    sleeps: list[float] = []
    with (
        _client(url, Credentials(tailscale_api_key=API_KEY), sleeps) as client,
        pytest.raises(BackendError) as failed,
    ):
        client.get()
    assert str(failed.value) == f"GET {url}{ACL}: cannot reach the server (ConnectError)"
    assert sleeps == [0.25, 0.5, 1.0]


def test_a_server_etag_that_is_not_the_prediction(tmp_path: Path, acl: RunningAcl) -> None:
    """The write still succeeds and its ETag is recorded; the result says it was unexpected."""
    acl.state.salt = "reformatted:"
    path = tmp_path / "policy.hujson"
    path.write_text(POLICY)
    state = GitopsState(tmp_path / "state.json")
    with _client(acl.url, Credentials(tailscale_api_key=API_KEY), []) as client:
        result = apply_push(plan_push(path, client=client, state=state), client=client, state=state)
        again = plan_push(path, client=client, state=state)
    etag = _sha("reformatted:" + hujson.format_text(POLICY))
    assert result == PushResult(Action.APPLY, etag, predicted=False)
    assert (again.drifted, again.action()) == (False, Action.APPLY)
    recorded = state.recorded(client.remote)
    assert recorded is not None and recorded.etag == result.etag


def test_no_credentials() -> None:
    with pytest.raises(BackendError) as missing:
        TailscalePolicy("http://127.0.0.1:1", tailnet="-", credentials=Credentials())
    assert str(missing.value) == (
        "no Tailscale credentials: set TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID"
        " and TAILSCALE_OAUTH_CLIENT_SECRET"
    )


def test_headscale_without_a_policy(tmp_path: Path, acl: RunningAcl) -> None:
    """A Headscale that holds no policy yet: the diff is from nothing, the PUT unconditional."""
    acl.state.text = ""
    path = tmp_path / "policy.hujson"
    path.write_text(POLICY)
    state = GitopsState(tmp_path / "state.json")
    creds = Credentials(headscale_api_key=API_KEY)
    with HeadscalePolicy(acl.url, credentials=creds) as client:
        with pytest.raises(BackendError) as empty:
            pull_policy(tmp_path / "pulled.hujson", client=client)
        assert str(empty.value) == f"headscale {acl.url}: the server holds no policy to pull"
        plan = plan_push(path, client=client, state=state)
        assert (plan.remote, plan.action(), plan.change.summary) == (
            RemotePolicy("", ""),
            Action.APPLY,
            "differs in access",
        )
        result = apply_push(plan, client=client, state=state)
    canonical = hujson.format_text(POLICY)
    assert result == PushResult(Action.APPLY, _sha(canonical))
    assert acl.state.text == canonical
    puts = [headers for method, _, headers in acl.state.requests if method == "PUT"]
    assert len(puts) == 1 and "if-match" not in puts[0]
    assert not (tmp_path / "pulled.hujson").exists()
