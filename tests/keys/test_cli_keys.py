"""The CLI end to end on a copy of examples/homelab: hosts add, keys *, sops check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.homelab import API_KEY, DAO, HEADSCALE_KEY, ODIN, admin_key_file, copy_homelab
from fakes.sshkeys import ssh_key
from fakes.tailscale_api import RunningServer

from tailcfg.age import ssh_pubkey_to_age
from tailcfg.cli.main import main
from tailcfg.inventory import Inventory, load_inventory

NAS = ssh_key(21, "root@nas")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, homelab: Inventory) -> Inventory:
    for name in ("TAILSCALE_OAUTH_CLIENT_ID", "TAILSCALE_OAUTH_CLIENT_SECRET", "SOPS_AGE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TAILSCALE_API_KEY", API_KEY)
    monkeypatch.setenv("HEADSCALE_API_KEY", HEADSCALE_KEY)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(admin_key_file(homelab)))
    return homelab


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_recipient(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pub = tmp_path / "nas.pub"
    pub.write_text(NAS.public_line + "\n")
    expected = ssh_pubkey_to_age(NAS.public_line)
    assert run(capsys, "keys", "recipient", NAS.public_line) == (0, expected + "\n", "")
    assert run(capsys, "keys", "recipient", str(pub)) == (0, expected + "\n", "")
    code, out, err = run(capsys, "keys", "recipient", "ssh-rsa AAAA")
    assert (code, out) == (1, "")
    assert err == (
        "SSH public key: not an ssh-ed25519 public key (expected 'ssh-ed25519 AAAA...')\n"
    )


def test_session(
    env: Inventory, fake_api: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = ["-i", str(env.path)]
    nas = ssh_pubkey_to_age(NAS.public_line)
    add = ["hosts", "add", "nas", "--ssh-host-key", NAS.public_line, "--tag", "tag:server", *inv]
    assert run(capsys, *add) == (
        0,
        f"{env.path}: host nas added/updated\n.sops.yaml: rule added/updated (recipient {nas})\n",
        "",
    )
    assert run(capsys, *add)[1] == (
        f"{env.path}: host nas unchanged\n.sops.yaml: unchanged (recipient {nas})\n"
    )
    assert run(capsys, "keys", "mint", "--host", "dao", "--dry-run", *inv) == (
        0,
        "would mint for dao: tags=tag:server reusable=False ephemeral=False preauthorized=True"
        " expiry=90d\n"
        f"would seal secrets/dao/tailscale.yaml for {ODIN}, {DAO}\n",
        "",
    )
    assert fake_api.state.requests == []
    code, out, _ = run(capsys, "keys", "mint", "--host", "dao", *inv)
    [record] = fake_api.state.keys.values()
    assert (code, out) == (
        0,
        f"minted {record['id']} for dao (expires {record['expires']})\n"
        f"sealed secrets/dao/tailscale.yaml for {ODIN}, {DAO}\n",
    )
    code, out, _ = run(capsys, "keys", "status", "--format", "json", *inv)
    rows = json.loads(out)
    assert code == 1  # hosts without keys
    assert [(r["host"], r["state"], r["key_id"]) for r in rows] == [
        ("ci-runner", "missing", None),
        ("dao", "ok", record["id"]),
        ("exit", "missing", None),
        ("gateway", "missing", None),
        ("laptop", "missing", None),
        ("monitor", "missing", None),
        ("nas", "missing", None),
    ]
    assert 90 * 86400 - 120 < rows[1]["expires_in_seconds"] <= 90 * 86400
    code, out, _ = run(capsys, "keys", "rotate", "--format", "json", *inv)
    assert code == 0
    assert [(r["host"], r["old_key_id"], r["verified"]) for r in json.loads(out)] == [
        (name, None, "recipient")
        for name in ("ci-runner", "exit", "gateway", "laptop", "monitor", "nas")
    ]
    hosts_dir = str(env.root_dir / "demo-keys" / "hosts")
    code, out, _ = run(capsys, "keys", "rotate", "--host", "dao", "--host-keys", hosts_dir, *inv)
    new = [
        k for k in fake_api.state.keys.values() if not k["revoked"] and "dao" in k["description"]
    ]
    assert (code, out) == (
        0,
        f"dao: {new[0]['id']} (expires {new[0]['expires']}, decrypted); revoked {record['id']}\n",
    )
    assert run(capsys, "keys", "rotate", *inv)[1] == "nothing to rotate\n"
    code, out, _ = run(capsys, "keys", "status", *inv)
    assert code == 0
    assert out.splitlines()[0].split() == ["host", "key", "id", "tags", "expires", "in", "state"]
    assert [line.split()[-1] for line in out.splitlines()[1:]] == ["ok"] * 7
    assert run(capsys, "sops", "check", *inv) == (0, "7 secret file(s) checked: ok\n", "")
    code, out, _ = run(capsys, "keys", "revoke", "--host", "nas", *inv)
    assert code == 0 and out.startswith("revoked k")
    assert run(capsys, "sops", "check", *inv)[1] == "6 secret file(s) checked: ok\n"


def test_headscale_backend(
    repo_root: Path,
    tmp_path: Path,
    fake_api: RunningServer,
    env: Inventory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = copy_homelab(repo_root, tmp_path / "hs", fake_api.url, backend="headscale")
    code, out, err = run(capsys, "keys", "mint", "--host", "laptop", "-i", str(path))
    assert (code, err) == (0, "")
    record = fake_api.state.preauth["1"]
    assert out.startswith("minted 1 for laptop (expires ")
    assert (record["user"]["email"], record["user"]["id"], record["aclTags"]) == (
        "odin@example.com",
        "1",
        [],
    )
    assert fake_api.state.bodies[0][2]["user"] == "1"  # resolved by email, sent as the id
    assert load_inventory(path).secrets_file("laptop").exists()


def test_missing_credentials(
    env: Inventory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TAILSCALE_API_KEY")
    assert run(capsys, "keys", "mint", "--host", "dao", "-i", str(env.path)) == (
        1,
        "",
        "no Tailscale credentials: set TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID and"
        " TAILSCALE_OAUTH_CLIENT_SECRET\n",
    )


def test_oauth_client(
    env: Inventory,
    fake_api: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TAILSCALE_API_KEY")
    monkeypatch.setenv("TAILSCALE_OAUTH_CLIENT_ID", "oc-id")
    monkeypatch.setenv("TAILSCALE_OAUTH_CLIENT_SECRET", "tskey-client-x")
    text = env.path.read_text().replace("control:\n", "control:\n  oauth_tags: [tag:ci]\n")
    env.path.write_text(text)
    inv = ["-i", str(env.path)]
    code, out, err = run(capsys, "keys", "mint", "--host", "ci-runner", *inv)
    assert (code, err) == (0, "")
    assert fake_api.state.requests == [
        ("POST", "/api/v2/oauth/token"),
        ("POST", "/api/v2/tailnet/example.com/keys"),
    ]
    code, out, err = run(capsys, "keys", "mint", "--host", "dao", *inv)
    assert (code, out) == (1, "")
    assert err == (
        f'{env.policy}:11:2: error[undefined-tag]: host dao: tag "tag:server" is not owned'
        " by the OAuth client's tags (tag:ci)\n"
    )
