"""keys mint: offline checks, minting over HTTP, sealing with the real sops."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fakes.homelab import API_KEY, DAO, ODIN, admin_sops, host_identity
from fakes.tailscale_api import RunningServer
from ruamel.yaml import YAML

from tailcfg.errors import BackendError, PolicyError, SopsError, TailcfgError
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.backends import KeyRequest, TailscaleV2
from tailcfg.keys.credentials import Credentials
from tailcfg.keys.mint import mint_host, plan_mint
from tailcfg.keys.sealed import read_key
from tailcfg.sops import Sops, find_sops, read_sealed

CREDS = Credentials(tailscale_api_key=API_KEY)


def backend(url: str) -> TailscaleV2:
    return TailscaleV2(url, tailnet="example.com", credentials=CREDS)


def test_dry_run_contacts_nothing(homelab: Inventory, fake_api: RunningServer) -> None:
    result = mint_host(homelab, "dao", backend=None, sops=admin_sops(homelab), dry_run=True)
    assert result.dry_run and result.key_id is None and result.previous is None
    assert result.plan.rel_path == "secrets/dao/tailscale.yaml"
    assert result.plan.recipients == (ODIN, DAO)
    assert result.plan.request == KeyRequest(
        tags=("tag:server",),
        reusable=False,
        ephemeral=False,
        preauthorized=True,
        expiry_seconds=90 * 86400,
        description="tailcfg dao",
        user=None,
    )
    assert fake_api.state.requests == []
    assert not (homelab.secrets_dir / "dao").exists()


def test_mint_seals_for_host_and_admin(homelab: Inventory, fake_api: RunningServer) -> None:
    sops = admin_sops(homelab)
    with backend(fake_api.url) as b:
        result = mint_host(homelab, "dao", backend=b, sops=sops)
    record = fake_api.state.keys[str(result.key_id)]
    path = homelab.secrets_file("dao")
    sealed = read_sealed(path)
    assert sorted(sealed.recipients) == sorted([ODIN, DAO])
    assert sealed.has_mac
    assert sealed.data["tailscale_authkey"].startswith("ENC[AES256_GCM,")
    assert sealed.data["tailscale_authkey_id"] == result.key_id
    assert sealed.data["tailscale_authkey_tags"] == ["tag:server"]
    assert record["key"] not in path.read_text()
    expected = {
        "tailscale_authkey": record["key"],
        "tailscale_authkey_id": result.key_id,
        "tailscale_authkey_expires": record["expires"],
        "tailscale_authkey_tags": ["tag:server"],
    }
    for opener in (sops, sops.with_identity(host_identity(homelab, "dao"))):
        opened = YAML(typ="safe").load(opener.decrypt(path))
        assert {k: str(v) if k.endswith("expires") else v for k, v in opened.items()} == expected
    with pytest.raises(SopsError):  # another host's identity cannot open it
        sops.with_identity(host_identity(homelab, "monitor")).decrypt(path)
    assert read_key(path) is not None
    assert path.stat().st_mode & 0o777 == 0o644


def test_undefined_tag_is_rejected_offline(
    homelab: Inventory, fake_api: RunningServer, tmp_path: Path
) -> None:
    text = homelab.path.read_text().replace("tags: [tag:server]", "tags: [tag:web]")
    homelab.path.write_text(text)
    inventory = load_inventory(homelab.path)
    with pytest.raises(PolicyError) as info:
        plan_mint(inventory, "dao", oauth_tags=None)
    assert str(info.value) == (
        f'{inventory.policy}:11:2: error[undefined-tag]: host dao: tag "tag:web" not found'
        " in tagOwners"
    )
    assert fake_api.state.requests == []


def test_oauth_tags_must_own_the_host_tags(homelab: Inventory) -> None:
    plan_mint(homelab, "dao", oauth_tags=("tag:server",))
    with pytest.raises(PolicyError) as info:
        plan_mint(homelab, "dao", oauth_tags=("tag:ci",))
    assert info.value.diagnostic.message == (
        'host dao: tag "tag:server" is not owned by the OAuth client\'s tags (tag:ci)'
    )
    with pytest.raises(PolicyError) as info:
        plan_mint(homelab, "laptop", oauth_tags=("tag:ci",))
    assert info.value.diagnostic.message == (
        "host laptop: keys minted with an OAuth client must be tagged"
    )


def test_missing_sops_rule(homelab: Inventory) -> None:
    config = homelab.sops_config
    config.write_text(config.read_text().replace("secrets/dao/", "secrets/dao-old/"))
    with pytest.raises(SopsError) as info:
        plan_mint(homelab, "dao", oauth_tags=None)
    assert str(info.value) == (
        f"{config}: no creation rule for secrets/dao/tailscale.yaml that includes host dao's"
        f" recipient {DAO}; run `tailcfg hosts add dao --ssh-host-key ...`"
    )


def test_key_is_revoked_when_sealing_fails(homelab: Inventory, fake_api: RunningServer) -> None:
    broken = Sops(Path("/nonexistent/sops"), homelab.root_dir, homelab.sops_config, {})
    with backend(fake_api.url) as b, pytest.raises(SopsError) as info:
        mint_host(homelab, "dao", backend=b, sops=broken)
    assert str(info.value) == "sops binary not found: /nonexistent/sops"
    [record] = fake_api.state.keys.values()
    assert record["revoked"]
    assert not homelab.secrets_file("dao").exists()


def test_backend_error_leaves_old_file(homelab: Inventory, fake_api: RunningServer) -> None:
    sops = admin_sops(homelab)
    with backend(fake_api.url) as b:
        first = mint_host(homelab, "dao", backend=b, sops=sops)
        before = homelab.secrets_file("dao").read_bytes()
        fake_api.state.fail_next = [403]
        with pytest.raises(BackendError):
            mint_host(homelab, "dao", backend=b, sops=sops)
    assert homelab.secrets_file("dao").read_bytes() == before
    assert read_key(homelab.secrets_file("dao")).key_id == first.key_id  # type: ignore[union-attr]


def test_concurrent_mints_of_one_host_are_serialised(
    homelab: Inventory, fake_api: RunningServer
) -> None:
    sops = Sops(find_sops(search_path=None), homelab.root_dir, homelab.sops_config, {})
    results = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with backend(fake_api.url) as b:
                results.append(mint_host(homelab, "dao", backend=b, sops=sops))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # each mint saw the previous one's file: the previous ids chain through all four
    previous = sorted(str(r.previous.key_id) if r.previous else "" for r in results)
    final = read_key(homelab.secrets_file("dao"))
    assert final is not None
    assert sorted([*previous, final.key_id]) == sorted(["", *(str(r.key_id) for r in results)])
    assert len(set(previous)) == 4


def test_expiry_over_90_days_is_refused_for_tailscale(homelab: Inventory) -> None:
    text = homelab.path.read_text().replace("expiry: 30d", "expiry: 91d")
    homelab.path.write_text(text)
    with pytest.raises(TailcfgError) as info:
        plan_mint(load_inventory(homelab.path), "ci-runner", oauth_tags=None)
    assert str(info.value) == (
        "host ci-runner: key expiry 91d exceeds the 90d that the Tailscale API allows"
    )
