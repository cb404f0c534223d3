"""Headscale's REST API v1 as tailcfg uses it: one set of assertions per endpoint, run
against a real Headscale 0.29.2, the loopback fake and the embedded control plane's
Headscale dialect, so the fake and the embedded plane cannot drift from the real server.

The fake of pre-auth keys is tests/fakes/tailscale_api.py, the fake of the policy
tests/gitops/acl_api.py. The embedded plane always holds a policy (its default), so the
"no policy stored" answer is compared between the real server and the fake only.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.tailscale_api import serve
from gitops.acl_api import API_KEY, serve_acl
from realpeers import peer_binary

from tailcfg.control.server import running_control
from tailcfg.keys.backends import parse_time
from tailcfg.peers.headscale import HeadscaleServer

TARGETS = ["headscale", "fake", "embedded"]
USER_FIELDS = {
    "id",
    "name",
    "createdAt",
    "displayName",
    "email",
    "providerId",
    "provider",
    "profilePicUrl",
}
KEY_FIELDS = {
    "user",
    "id",
    "key",
    "reusable",
    "ephemeral",
    "used",
    "expiration",
    "createdAt",
    "aclTags",
}
POLICY = """{
  // who may tag what
  "tagOwners": {"tag:server": ["odin@example.com"]},
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
}
"""


@dataclass
class Target:
    kind: str
    client: httpx.Client
    url: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def user(self, name: str, email: str) -> dict[str, Any]:
        """The user ``name`` (created unless the fake has it already)."""
        found = self.call("GET", "/api/v1/user", params={"name": name}).json()["users"]
        if found:
            return dict(found[0])
        made = self.call("POST", "/api/v1/user", json={"name": name, "email": email})
        assert made.status_code == 200, made.text
        return dict(made.json()["user"])


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    kind = str(request.param)
    with contextlib.ExitStack() as stack:
        if kind == "headscale":
            binary = peer_binary("headscale")
            hs = stack.enter_context(HeadscaleServer.start(tmp_path / "hs", binary=binary))
            url, key = hs.url, hs.api_key
        elif kind == "fake":
            fake = stack.enter_context(serve())
            url, key = fake.url, "hs-api-key-0000"
        else:
            policy = tmp_path / "policy.hujson"
            policy.write_text(POLICY)
            ctl = stack.enter_context(
                running_control(tmp_path / "state", policy, admin_login="admin@example.com")
            )
            url, key = ctl.url, ctl.admin_key
        headers = {"Authorization": f"Bearer {key}"}
        client = stack.enter_context(httpx.Client(base_url=url, headers=headers, timeout=10))
        if kind == "headscale":  # the tag owner the embedded plane's policy also names
            answer = client.put("/api/v1/policy", json={"policy": POLICY})
            assert answer.status_code == 200, answer.text
        yield Target(kind, client, url)


def _grpc_error(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert (body["code"], body["details"]) == (code, [])
    return str(body["message"])


def test_user_lookup_and_create(target: Target) -> None:
    odin = target.user("odin", "odin@example.com")
    assert set(odin) == USER_FIELDS
    assert odin["id"].isdigit() and (odin["name"], odin["email"]) == ("odin", "odin@example.com")
    by_email = target.call("GET", "/api/v1/user", params={"email": "odin@example.com"})
    assert by_email.json() == {"users": [odin]}
    nobody = target.call("GET", "/api/v1/user", params={"name": "nobody"})
    assert (nobody.status_code, nobody.json()) == (200, {"users": []})


def test_preauthkey_user_is_the_numeric_id(target: Target) -> None:
    odin = target.user("odin", "odin@example.com")
    by_name = target.call("POST", "/api/v1/preauthkey", json={"user": "odin", "reusable": True})
    message = _grpc_error(by_name, 400, 3)
    assert "invalid value for uint64 field user" in message
    unknown = target.call("POST", "/api/v1/preauthkey", json={"user": "99"})
    assert _grpc_error(unknown, 500, 2) == "user not found"
    neither = target.call("POST", "/api/v1/preauthkey", json={"reusable": True})
    assert _grpc_error(neither, 500, 2) == "auth-key must be either tagged or owned by user"
    body = {
        "user": odin["id"],
        "reusable": True,
        "ephemeral": True,
        "expiration": "2099-01-02T03:04:05Z",
        "aclTags": [],
    }
    made = target.call("POST", "/api/v1/preauthkey", json=body)
    assert made.status_code == 200, made.text
    key = made.json()["preAuthKey"]
    assert set(key) == KEY_FIELDS
    assert key["user"] == odin
    assert key["id"].isdigit() or target.kind == "embedded"
    assert (key["reusable"], key["ephemeral"], key["used"], key["aclTags"]) == (
        True,
        True,
        False,
        [],
    )
    assert key["expiration"] == "2099-01-02T03:04:05Z"
    assert parse_time(key["createdAt"]) is not None


def test_tagged_key_without_user(target: Target) -> None:
    target.user("odin", "odin@example.com")
    body = {"aclTags": ["tag:server"], "expiration": "2099-01-02T03:04:05Z"}
    made = target.call("POST", "/api/v1/preauthkey", json=body)
    assert made.status_code == 200, made.text
    key = made.json()["preAuthKey"]
    assert (key["user"], key["aclTags"], key["reusable"]) == (None, ["tag:server"], False)
    bad_tag = target.call("POST", "/api/v1/preauthkey", json={"aclTags": ["server"]})
    assert bad_tag.status_code == 400


def test_list_masks_secrets_and_expire_by_id(target: Target) -> None:
    odin = target.user("odin", "odin@example.com")
    body = {"user": odin["id"], "expiration": "2099-01-02T03:04:05Z"}
    key = target.call("POST", "/api/v1/preauthkey", json=body).json()["preAuthKey"]
    listed = target.call("GET", "/api/v1/preauthkey").json()
    assert set(listed) == {"preAuthKeys"}
    shown = {k["id"]: k for k in listed["preAuthKeys"]}[key["id"]]
    assert set(shown) == KEY_FIELDS
    assert shown["key"].endswith("-***") and key["key"].startswith(shown["key"][:-3])
    assert re.sub(r"-\*\*\*$", "", shown["key"]) != key["key"]
    before = datetime.now(UTC)
    expired = target.call("POST", "/api/v1/preauthkey/expire", json={"id": key["id"]})
    assert (expired.status_code, expired.json()) == (200, {})
    listed = target.call("GET", "/api/v1/preauthkey").json()["preAuthKeys"]
    when = parse_time({k["id"]: k for k in listed}[key["id"]]["expiration"])
    assert when is not None and before.replace(microsecond=0) <= when <= datetime.now(UTC)
    unknown = target.call("POST", "/api/v1/preauthkey/expire", json={"id": "987654"})
    assert (unknown.status_code, unknown.json()) == (200, {})  # no error for an unknown id


def test_policy_put_get_check(target: Target) -> None:
    if target.kind == "fake":  # the policy's fake is tests/gitops/acl_api.py
        with serve_acl() as acl, httpx.Client(base_url=acl.url, timeout=10) as client:
            client.headers["Authorization"] = f"Bearer {API_KEY}"
            _policy_put_get_check(Target("fake", client, acl.url))
        return
    target.user("odin", "odin@example.com")
    _policy_put_get_check(target)


def _policy_put_get_check(target: Target) -> None:
    text = POLICY.replace("who may tag what", "changed")
    put = target.call("PUT", "/api/v1/policy", json={"policy": text}, headers={"If-Match": '"x"'})
    if target.kind == "embedded":  # tailcfg's own extension: If-Match is enforced
        assert put.status_code == 412
        put = target.call("PUT", "/api/v1/policy", json={"policy": text})
    assert put.status_code == 200, put.text  # Headscale ignores If-Match
    assert set(put.json()) == {"policy", "updatedAt"} and put.json()["policy"] == text
    assert "etag" not in put.headers
    got = target.call("GET", "/api/v1/policy")
    assert (got.json()["policy"], got.json()["updatedAt"]) == (text, put.json()["updatedAt"])
    if target.kind == "fake":
        return  # the fake neither runs tests nor parses: the refusals are the real server's
    check = target.call("POST", "/api/v1/policy/check", json={"policy": text})
    assert (check.status_code, check.json()) == (200, {})
    failing = text.replace(
        '"acls"',
        '"tests": [{"src": "mallory@example.com", "accept": ["tag:server:22"]}],\n  "acls"',
    )
    refused = target.call("POST", "/api/v1/policy/check", json={"policy": failing})
    assert _grpc_error(refused, 400, 3).startswith("test(s) failed:\nmallory@example.com: ")
    refused = target.call("PUT", "/api/v1/policy", json={"policy": failing})
    message = _grpc_error(refused, 500, 2)
    assert message.startswith("setting policy: test(s) failed:\nmallory@example.com: ")
    broken = target.call("PUT", "/api/v1/policy", json={"policy": '{"acls": [,'})
    assert _grpc_error(broken, 500, 2).startswith("setting policy: ")
    assert target.call("GET", "/api/v1/policy").json()["policy"] == text


@pytest.mark.parametrize("kind", ["headscale", "fake"])
def test_no_policy_stored(kind: str, tmp_path: Path) -> None:
    if kind == "headscale":
        with HeadscaleServer.start(tmp_path / "hs", binary=peer_binary("headscale")) as hs:
            headers = {"Authorization": f"Bearer {hs.api_key}"}
            answer = httpx.get(f"{hs.url}/api/v1/policy", headers=headers)
    else:
        with serve_acl() as acl:
            acl.state.text = ""
            headers = {"Authorization": f"Bearer {API_KEY}"}
            answer = httpx.get(f"{acl.url}/api/v1/policy", headers=headers)
    assert _grpc_error(answer, 500, 2) == "loading ACL from database: acl policy not found"


def test_unauthorized(target: Target) -> None:
    answer = httpx.get(f"{target.url}/api/v1/preauthkey", timeout=10)
    assert answer.status_code == 401
