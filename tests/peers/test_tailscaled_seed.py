"""The seed's flow with real software: `keys mint` against a real Headscale, sealed by the
real sops, decrypted as the host with its SSH host key, joined by a real tailscaled.

One Headscale on a bridge (TEST-NET address) for the module; each tailscaled runs in its
own network namespace (TUN mode) and joins with ``tailscale up --auth-key file:PATH``.
Checked against the documented behaviour of auth keys: a single-use key registers one
device and is then consumed; a reusable key registers several; a revoked (expired) key is
refused while the devices it registered stay; an expired key is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.homelab import ODIN, admin_key_file, copy_homelab
from tailscaled_helpers import Binaries, binaries, lan_headscale, tailscaled

from tailcfg.cli.main import main
from tailcfg.errors import PeerError
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.peers.headscale import HeadscaleServer
from tailcfg.peers.netns import Lan
from tailcfg.sops import Sops, find_sops
from tailcfg.verify.bootstrap import decrypt_as_host

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peers() -> Binaries:
    return binaries()


@pytest.fixture(scope="module")
def net(
    peers: Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Lan, HeadscaleServer]]:
    with lan_headscale(tmp_path_factory.mktemp("seed"), peers) as pair:
        pair[1].create_user("odin@example.com")
        yield pair


@pytest.fixture(scope="module")
def repo(net: tuple[Lan, HeadscaleServer], tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = copy_homelab(
        ROOT, tmp_path_factory.mktemp("repo") / "homelab", net[1].url, backend="headscale"
    )
    text = path.read_text().replace(  # the laptop's key: valid for two seconds
        "key: {reusable: false, ephemeral: false, preauthorized: true, expiry: 90d}\n  dao:",
        "key: {reusable: false, ephemeral: false, preauthorized: true, expiry: 2s}\n  dao:",
    )
    path.write_text(text)
    return load_inventory(path)


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, net: tuple[Lan, HeadscaleServer], repo: Inventory
) -> Inventory:
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.setenv("HEADSCALE_API_KEY", net[1].api_key)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(admin_key_file(repo)))
    return repo


def mint(repo: Inventory, host: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["keys", "mint", "--host", host, "-i", str(repo.path)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), out


def key_file_as_host(repo: Inventory, host: str, tmp: Path) -> tuple[Path, str]:
    """Decrypt secrets/<host>/tailscale.yaml with the host's own SSH host key."""
    path = repo.secrets_file(host)
    sealed = path.read_text()
    assert "tailscale_authkey: ENC[" in sealed and "hskey-auth-" not in sealed
    assert ODIN in sealed  # the admin is a recipient too
    sops = Sops(find_sops(search_path=None), repo.root_dir, repo.sops_config, {})
    private = repo.root_dir / "demo-keys" / "hosts" / f"ssh_host_ed25519_key.{host}"
    secret = decrypt_as_host(repo.hosts[host], sops, path, path.relative_to(repo.root_dir), private)
    assert secret.startswith("hskey-auth-")
    target = tmp / f"{host}.authkey"
    target.touch(mode=0o600)
    target.write_text(secret + "\n")
    return target, secret


def stored_key(hs: HeadscaleServer, secret: str) -> dict[str, Any]:
    """Headscale's record of the key (it lists secrets as hskey-auth-<prefix>-***)."""
    prefix = secret.split("-")[2]
    keys = [k for k in hs.cli("preauthkeys", "list") if k["key"].split("-")[2] == prefix]
    assert len(keys) == 1, keys
    return dict(keys[0])


def hs_node(hs: HeadscaleServer, name: str) -> dict[str, Any]:
    nodes = [n for n in hs.cli("nodes", "list") or () if n.get("given_name") == name]
    assert len(nodes) == 1, nodes
    return dict(nodes[0])


def join(node: Any, hs: HeadscaleServer, key: Path, hostname: str) -> None:
    node.up(login_server=hs.url, auth_key_file=key, hostname=hostname, timeout=20)


def test_single_use_key_joins_once_with_its_tags(
    env: Inventory,
    net: tuple[Lan, HeadscaleServer],
    peers: Binaries,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lan, hs = net
    mint(env, "dao", capsys)
    key, secret = key_file_as_host(env, "dao", tmp_path)
    with tailscaled(lan, "dao", tmp_path, peers) as node:
        join(node, hs, key, "dao")
        status = node.status()
        record = hs_node(hs, "dao")
        assert status["BackendState"] == "Running"
        assert status["Self"]["Tags"] == ["tag:server"]
        assert list(node.addresses) == record["ip_addresses"]
        v4, v6 = node.addresses
        assert v4.startswith("100.64.") and v6.startswith("fd7a:115c:a1e0::")
        assert (record["tags"], record["online"]) == (["tag:server"], True)
        stored = stored_key(hs, secret)
        assert (stored["used"], stored.get("reusable", False)) == (True, False)
        assert stored["acl_tags"] == ["tag:server"]
        # consumed: a second device with the same key is refused, the first stays
        with tailscaled(lan, "dao-again", tmp_path, peers) as second:
            with pytest.raises(PeerError) as refused:
                join(second, hs, key, "dao-again")
            assert "authkey already used" in str(refused.value)
            assert "\n" not in str(refused.value)
        assert hs_node(hs, "dao")["online"] is True
        assert [n["given_name"] for n in hs.cli("nodes", "list")].count("dao-again") == 0


def test_reusable_key_joins_twice_and_revoking_keeps_the_devices(
    env: Inventory,
    net: tuple[Lan, HeadscaleServer],
    peers: Binaries,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lan, hs = net
    mint(env, "ci-runner", capsys)  # reusable, ephemeral, tag:ci
    key, secret = key_file_as_host(env, "ci-runner", tmp_path)
    with (
        tailscaled(lan, "ci-1", tmp_path, peers) as first,
        tailscaled(lan, "ci-2", tmp_path, peers) as second,
    ):
        join(first, hs, key, "ci-1")
        join(second, hs, key, "ci-2")
        for name in ("ci-1", "ci-2"):
            assert hs_node(hs, name)["tags"] == ["tag:ci"]
        stored = stored_key(hs, secret)
        assert (stored["reusable"], stored["ephemeral"]) == (True, True)
        # revoke: Headscale expires the key; the devices it registered stay online
        code = main(["keys", "revoke", "--host", "ci-runner", "-i", str(env.path)])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), out
        expiry = stored_key(hs, secret)["expiration"]["seconds"]
        assert expiry <= time.time() + 1
        with tailscaled(lan, "ci-3", tmp_path, peers) as third:
            with pytest.raises(PeerError) as refused:
                join(third, hs, key, "ci-3")
            assert "authkey expired" in str(refused.value)
        assert hs_node(hs, "ci-1")["online"] is True
        assert first.status()["BackendState"] == "Running"


def test_expired_key_is_refused(
    env: Inventory,
    net: tuple[Lan, HeadscaleServer],
    peers: Binaries,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lan, hs = net
    mint(env, "laptop", capsys)  # odin's, valid for two seconds
    key, secret = key_file_as_host(env, "laptop", tmp_path)
    stored = stored_key(hs, secret)
    assert stored["user"]["name"] == "odin@example.com"
    time.sleep(max(0.0, stored["expiration"]["seconds"] - time.time() + 0.5))
    with tailscaled(lan, "laptop", tmp_path, peers) as node:
        with pytest.raises(PeerError) as refused:
            join(node, hs, key, "laptop")
        assert "authkey expired" in str(refused.value)
        assert node.status()["BackendState"] == "NeedsLogin"
