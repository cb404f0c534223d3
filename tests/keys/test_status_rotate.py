"""keys status (offline), rotate (mint, verify, revoke the old key) and revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fakes.homelab import API_KEY, admin_sops, host_identity
from fakes.tailscale_api import RunningServer

from tailcfg.atomicfile import atomic_write_bytes
from tailcfg.errors import SopsError, TailcfgError
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.backends import MintedKey, TailscaleV2
from tailcfg.keys.credentials import Credentials
from tailcfg.keys.mint import mint_host
from tailcfg.keys.rotate import due_hosts, revoke_host, rotate_all, rotate_host
from tailcfg.keys.sealed import UNENCRYPTED_REGEX, plaintext, read_key
from tailcfg.keys.status import HostStatus, State, key_status

CREDS = Credentials(tailscale_api_key=API_KEY)
WITHIN = timedelta(days=14)
LAPTOP = "age1jwnwxaqmexzp4508sq234m2rxr7kw6e9t29qs5znaxske82mf3hqy780yc"


def backend(url: str) -> TailscaleV2:
    return TailscaleV2(url, tailnet="example.com", credentials=CREDS)


def seal_fake(inventory: Inventory, host: str, key: MintedKey) -> None:
    """A sealed file for a key the server never saw (to set any expiry)."""
    path = inventory.secrets_file(host)
    sealed = admin_sops(inventory).encrypt(
        plaintext(key), filename=path, unencrypted_regex=UNENCRYPTED_REGEX
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, sealed)


def test_status_states(homelab: Inventory, fake_api: RunningServer) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with backend(fake_api.url) as b:
        ok = mint_host(homelab, "dao", backend=b, sops=admin_sops(homelab))
    seal_fake(homelab, "gateway", MintedKey("kG", "s1", now + timedelta(days=3), ("tag:router",)))
    seal_fake(homelab, "exit", MintedKey("kE", "s2", now - timedelta(hours=1), ("tag:exit",)))
    seal_fake(homelab, "monitor", MintedKey("kM", "s3", now + timedelta(days=60)))
    # monitor's SSH host key changes: the sealed file is no longer for the host
    text = homelab.path.read_text().replace(
        "ssh_host_ed25519_key.monitor.pub", "ssh_host_ed25519_key.laptop.pub"
    )
    homelab.path.write_text(text)
    homelab = load_inventory(homelab.path)
    (homelab.secrets_dir / "ci-runner").mkdir()
    homelab.secrets_file("ci-runner").write_text("tailscale_authkey: plain\n")
    rows = key_status(homelab, now=now, within=WITHIN)
    assert ok.expires is not None
    assert rows == [
        HostStatus(
            "ci-runner",
            State.INVALID,
            detail=f"{homelab.secrets_file('ci-runner')}: not sops-encrypted (no 'sops' metadata)",
        ),
        HostStatus("dao", State.OK, str(ok.key_id), ("tag:server",), ok.expires, ok.expires - now),
        HostStatus(
            "exit",
            State.EXPIRED,
            "kE",
            ("tag:exit",),
            now - timedelta(hours=1),
            timedelta(hours=-1),
        ),
        HostStatus(
            "gateway",
            State.EXPIRING,
            "kG",
            ("tag:router",),
            now + timedelta(days=3),
            timedelta(days=3),
        ),
        HostStatus("laptop", State.MISSING, detail="tailscale.yaml not found"),
        HostStatus(
            "monitor",
            State.NOT_DECRYPTABLE,
            "kM",
            (),
            now + timedelta(days=60),
            timedelta(days=60),
            detail=f"not encrypted to {LAPTOP}",
        ),
    ]
    due = [s.host for s in due_hosts(homelab, now=now, within=WITHIN)]
    assert due == ["ci-runner", "exit", "gateway", "laptop", "monitor"]
    assert fake_api.state.requests == [("POST", "/api/v2/tailnet/example.com/keys")]


def test_rotate_verifies_then_revokes_old(homelab: Inventory, fake_api: RunningServer) -> None:
    sops = admin_sops(homelab)
    with backend(fake_api.url) as b:
        first = mint_host(homelab, "dao", backend=b, sops=sops)
        result = rotate_host(
            homelab, "dao", backend=b, sops=sops, host_identity=host_identity(homelab, "dao")
        )
    assert result.old_id == first.key_id
    assert result.verified == "decrypted"
    assert result.revoked_old
    keys = fake_api.state.keys
    assert keys[str(first.key_id)]["revoked"]
    assert not keys[result.new_id]["revoked"]
    assert read_key(homelab.secrets_file("dao")).key_id == result.new_id  # type: ignore[union-attr]
    assert fake_api.state.requests[-1] == (
        "DELETE",
        f"/api/v2/tailnet/example.com/keys/{first.key_id}",
    )


def test_rotate_with_the_wrong_host_identity_fails_before_revoking(
    homelab: Inventory, fake_api: RunningServer
) -> None:
    sops = admin_sops(homelab)
    with backend(fake_api.url) as b:
        first = mint_host(homelab, "dao", backend=b, sops=sops)
        with pytest.raises(SopsError):
            rotate_host(
                homelab, "dao", backend=b, sops=sops, host_identity=host_identity(homelab, "exit")
            )
    assert not fake_api.state.keys[str(first.key_id)]["revoked"]


def test_rotate_all_reports_progress(homelab: Inventory, fake_api: RunningServer) -> None:
    seen: list[str] = []
    with backend(fake_api.url) as b:
        results = rotate_all(
            homelab, ["dao", "gateway"], backend=b, sops=admin_sops(homelab), progress=seen.append
        )
    assert seen == ["dao", "gateway"]
    assert [(r.host, r.old_id, r.verified, r.revoked_old) for r in results] == [
        ("dao", "", "recipient", False),
        ("gateway", "", "recipient", False),
    ]


def test_revoke_removes_file(homelab: Inventory, fake_api: RunningServer) -> None:
    with backend(fake_api.url) as b:
        minted = mint_host(homelab, "dao", backend=b, sops=admin_sops(homelab))
        result = revoke_host(homelab, "dao", backend=b)
        assert result.key_id == minted.key_id
        assert not homelab.secrets_file("dao").exists()
        assert fake_api.state.keys[str(minted.key_id)]["revoked"]
        with pytest.raises(TailcfgError) as info:
            revoke_host(homelab, "dao", backend=b)
    assert str(info.value) == (
        f"host dao: no sealed key to revoke ({homelab.secrets_file('dao')} not found)"
    )
