"""mint and rotate against tailcfg's embedded control plane (both of its API dialects)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.homelab import admin_sops, copy_homelab, host_identity

from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.backends import HeadscaleV1, TailscaleV2, make_backend
from tailcfg.keys.credentials import Credentials
from tailcfg.keys.mint import mint_host
from tailcfg.keys.rotate import rotate_host
from tailcfg.keys.sealed import read_key

control_server = pytest.importorskip("tailcfg.control.server")

TAGS = ["tag:server", "tag:router", "tag:exit", "tag:ci", "tag:monitoring"]


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    base = tmp_path_factory.mktemp("control")
    policy = base / "policy.hujson"
    policy.write_text(
        json.dumps(
            {
                "tagOwners": {tag: ["admin@example.com"] for tag in TAGS},
                "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
            }
        )
    )
    with control_server.running_control(base / "state", policy_path=policy) as running:
        yield running


def lab(repo_root: Path, tmp_path: Path, url: str, backend: str) -> Inventory:
    path = copy_homelab(repo_root, tmp_path / backend, url, backend=backend)
    if backend == "headscale":
        text = path.read_text().replace("control:\n", "control:\n  user: admin@example.com\n")
        path.write_text(text)
    return load_inventory(path)


@pytest.mark.parametrize("dialect", ["embedded", "headscale"])
def test_mint_and_rotate(repo_root: Path, tmp_path: Path, control: object, dialect: str) -> None:
    url, admin_key = control.url, control.admin_key  # type: ignore[attr-defined]
    inventory = lab(repo_root, tmp_path, url, dialect)
    creds = Credentials(tailscale_api_key=admin_key, headscale_api_key=admin_key)
    sops = admin_sops(inventory)
    with make_backend(inventory.control, tailnet="-", credentials=creds) as backend:
        assert isinstance(backend, HeadscaleV1 if dialect == "headscale" else TailscaleV2)
        first = mint_host(inventory, "dao", backend=backend, sops=sops)
        result = rotate_host(
            inventory,
            "dao",
            backend=backend,
            sops=sops,
            host_identity=host_identity(inventory, "dao"),
        )
        keys = {k.id: k for k in backend.list_keys()}
    assert (result.old_id, result.verified, result.revoked_old) == (
        first.key_id,
        "decrypted",
        True,
    )
    assert keys[str(first.key_id)].revoked
    assert not keys[result.new_id].revoked
    assert keys[result.new_id].tags == ("tag:server",)
    assert read_key(inventory.secrets_file("dao")).key_id == result.new_id  # type: ignore[union-attr]
