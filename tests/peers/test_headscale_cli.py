"""tailcfg keys and policy commands against a real Headscale 0.29.2 (backend: headscale).

The homelab example, its control section pointed at a real ``headscale serve``: keys are
minted (user-owned, tagged, reusable+ephemeral), sealed by the real sops, listed, rotated
and revoked; the policy is pushed, pulled and checked for drift through tailcfg's GitOps
path, with Headscale's own answers where it differs from Tailscale (no ETag; its policy
tests run against live nodes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakes.homelab import admin_key_file, admin_sops, copy_homelab
from realpeers import peer_binary

from tailcfg.cli.main import main
from tailcfg.gitops import predict_etag
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.backends import parse_time
from tailcfg.keys.sealed import SECRET_KEY, read_key
from tailcfg.peers.headscale import HeadscaleServer

POLICY = """// The homelab's tags, without tests (Headscale runs them against live nodes).
{
  "groups": {"group:admins": ["odin@example.com"]},
  "tagOwners": {
    "tag:server": ["group:admins"],
    "tag:router": ["group:admins"],
    "tag:exit": ["group:admins"],
    "tag:ci": ["group:admins"],
    "tag:monitoring": ["group:admins"],
  },
  "acls": [{"action": "accept", "src": ["group:admins"], "dst": ["tag:server:22"]}],
}
"""


@pytest.fixture
def hs(tmp_path: Path) -> Iterator[HeadscaleServer]:
    with HeadscaleServer.start(tmp_path / "hs", binary=peer_binary("headscale")) as server:
        server.create_user("odin", email="odin@example.com")
        yield server


@pytest.fixture
def lab(
    hs: HeadscaleServer, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Inventory:
    path = copy_homelab(repo_root, tmp_path / "homelab", hs.url, backend="headscale")
    inventory = load_inventory(path)
    inventory.policy.write_text(POLICY)
    for name in ("TAILSCALE_API_KEY", "TAILSCALE_OAUTH_CLIENT_ID", "SOPS_AGE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HEADSCALE_API_KEY", hs.api_key)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(admin_key_file(inventory)))
    monkeypatch.chdir(inventory.root_dir)
    return inventory


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def api(hs: HeadscaleServer, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {hs.api_key}"}
    answer = httpx.request(method, f"{hs.url}{path}", headers=headers, timeout=10, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def server_keys(hs: HeadscaleServer) -> dict[str, dict[str, Any]]:
    return {k["id"]: k for k in api(hs, "GET", "/api/v1/preauthkey")["preAuthKeys"]}


def test_keys_mint_status_rotate_revoke(
    hs: HeadscaleServer, lab: Inventory, capsys: pytest.CaptureFixture[str]
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    for host in ("laptop", "dao", "ci-runner"):
        code, out, err = run(capsys, "keys", "mint", "--host", host)
        assert (code, err) == (0, ""), out
    keys = server_keys(hs)
    by_host = {host: read_key(lab.secrets_file(host)) for host in ("laptop", "dao", "ci-runner")}
    laptop, dao, ci = (keys[by_host[h].key_id] for h in ("laptop", "dao", "ci-runner"))
    # user-owned: the owner resolved from odin@example.com to its id; tagged: no user
    assert (laptop["user"]["email"], laptop["aclTags"], laptop["reusable"]) == (
        "odin@example.com",
        [],
        False,
    )
    assert (dao["user"], dao["aclTags"], dao["reusable"], dao["ephemeral"]) == (
        None,
        ["tag:server"],
        False,
        False,
    )
    assert (ci["user"], ci["aclTags"], ci["reusable"], ci["ephemeral"]) == (
        None,
        ["tag:ci"],
        True,
        True,
    )
    for key, days in ((laptop, 90), (dao, 90), (ci, 30)):
        expires = parse_time(key["expiration"])
        assert expires is not None
        assert start + timedelta(days=days) <= expires <= start + timedelta(days=days, minutes=2)
        assert key["used"] is False
    # the sealed secret is the one Headscale minted (its list shows only the prefix)
    sops = admin_sops(lab)
    for host, key in (("laptop", laptop), ("dao", dao), ("ci-runner", ci)):
        clear = yaml.safe_load(sops.decrypt(lab.secrets_file(host)))
        assert key["key"].endswith("-***") and key["key"].startswith("hskey-auth-")
        assert clear[SECRET_KEY].startswith(key["key"][:-3])
        assert len(clear[SECRET_KEY]) > len(key["key"]) + 32

    code, out, _ = run(capsys, "keys", "status", "--format", "json")
    rows = {r["host"]: r for r in json.loads(out)}
    assert code == 1  # the other hosts have no key yet
    assert {h: (rows[h]["state"], rows[h]["key_id"]) for h in by_host} == {
        h: ("ok", by_host[h].key_id) for h in by_host
    }
    assert 90 * 86400 - 180 < rows["dao"]["expires_in_seconds"] <= 90 * 86400

    hosts_dir = str(lab.root_dir / "demo-keys" / "hosts")
    old = by_host["dao"].key_id
    code, out, err = run(capsys, "keys", "rotate", "--host", "dao", "--host-keys", hosts_dir)
    new = read_key(lab.secrets_file("dao")).key_id
    assert (code, err) == (0, "")
    assert out.startswith(f"dao: {new} (expires ") and out.endswith(f"revoked {old}\n")
    assert new != old
    keys = server_keys(hs)
    expired = parse_time(keys[old]["expiration"])
    assert expired is not None and expired <= datetime.now(UTC)  # Headscale expires, keeps it
    assert keys[new]["aclTags"] == ["tag:server"]

    code, out, err = run(capsys, "keys", "revoke", "--host", "laptop")
    assert (code, err) == (0, "")
    assert out.startswith(f"revoked {by_host['laptop'].key_id}")
    assert not lab.secrets_file("laptop").exists()
    gone = parse_time(server_keys(hs)[by_host["laptop"].key_id]["expiration"])
    assert gone is not None and gone <= datetime.now(UTC)


def test_mint_for_an_unknown_user_says_so(
    hs: HeadscaleServer, lab: Inventory, capsys: pytest.CaptureFixture[str]
) -> None:
    text = lab.path.read_text().replace("user: odin@example.com", "user: mallory@example.com")
    lab.path.write_text(text)
    code, out, err = run(capsys, "keys", "mint", "--host", "laptop")
    assert (code, out) == (1, "")
    assert err == (
        f"headscale {hs.url}: no user named 'mallory@example.com' (by name or email);"
        " create it with `headscale users create`, or give the user's numeric id\n"
    )
    assert server_keys(hs) == {}


def test_policy_push_pull_drift(
    hs: HeadscaleServer, lab: Inventory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # a fresh Headscale holds no policy: GET answers 500 "acl policy not found"
    code, out, err = run(capsys, "policy", "pull", "-o", str(tmp_path / "side.hujson"))
    assert (code, err) == (1, f"headscale {hs.url}: the server holds no policy to pull\n")
    local = predict_etag(POLICY)
    assert run(capsys, "policy", "push")[::2] == (0, f"pushed policy.hujson: ETag {local}\n")
    stored = api(hs, "GET", "/api/v1/policy")["policy"]
    assert predict_etag(stored) == local  # tailcfg's ETag of Headscale: sha256 of its text
    code, out, err = run(capsys, "policy", "push")
    assert (code, err) == (0, "no change: the remote already holds policy.hujson\n")
    assert out.splitlines()[0] == f"remote    headscale {hs.url}  ETag {local[:16]}"
    assert run(capsys, "policy", "drift")[0] == 0

    # edited outside the repository (Headscale's own API): drift, a refused push, --force
    edited = stored.replace('"tag:server:22"', '"tag:server:22,443"')
    api(hs, "PUT", "/api/v1/policy", json={"policy": edited})
    code, out, _ = run(capsys, "policy", "drift")
    assert code == 1
    assert out.splitlines()[-1] == (
        "the remote was edited outside this repository since the last push"
    )
    lab.policy.write_text(POLICY.replace("tag:server:22", "tag:server:80"))
    code, _, err = run(capsys, "policy", "push")
    assert code == 1 and err.startswith("refusing to push: the remote policy was edited")
    code, _, err = run(capsys, "policy", "push", "--force")
    assert code == 0 and err.startswith("pushed policy.hujson")
    assert api(hs, "GET", "/api/v1/policy")["policy"].count("tag:server:80") == 1

    side = tmp_path / "remote.hujson"
    code, out, err = run(capsys, "policy", "pull", "-o", str(side))
    assert code == 0 and side.read_text() == api(hs, "GET", "/api/v1/policy")["policy"]


def test_policy_tests_run_against_live_nodes(
    hs: HeadscaleServer, lab: Inventory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A test that passes offline fails on a Headscale without nodes: its words, exit 1."""
    with_tests = POLICY.replace(
        '"acls"', '"tests": [{"src": "odin@example.com", "accept": ["tag:server:22"]}],\n  "acls"'
    )
    lab.policy.write_text(with_tests)
    assert run(capsys, "policy", "test", str(lab.policy))[0] == 0  # offline: it passes
    code, _, err = run(capsys, "policy", "push")
    assert code == 1
    assert err == (
        f"POST {hs.url}/api/v1/policy/check: 400 test(s) failed\n"
        "For user odin@example.com:\n"
        '- source "odin@example.com" resolved to no IP addresses\n'
    )
    no_policy = httpx.get(
        f"{hs.url}/api/v1/policy", headers={"Authorization": f"Bearer {hs.api_key}"}
    )
    assert no_policy.status_code == 500  # nothing was written
