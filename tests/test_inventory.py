"""tailcfg.yaml loading: the model, defaults, and positioned errors."""

from __future__ import annotations

import base64
from pathlib import Path

import nacl.signing
import pytest

from tailcfg.errors import InventoryError
from tailcfg.inventory import (
    Admin,
    ControlConfig,
    Host,
    KeyOptions,
    format_duration,
    load_inventory,
    parse_duration,
)

ADMIN = "age1dmpgxjdt7g6r4rc9606ktrzmzzdktf9p8exhed0xzcdcr5su3y5st5vff5"


def ssh_pub(seed: int) -> str:
    pk = nacl.signing.SigningKey(bytes([seed]) * 32).verify_key.encode()
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + pk
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tailcfg.yaml"
    path.write_text(text)
    return path


def test_full_inventory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "nas.pub").write_text(ssh_pub(2) + " root@nas\n")
    path = write(
        tmp_path,
        f"""\
tailnet: example.com  # comment
control:
  backend: headscale
  url: http://127.0.0.1:8080/
admins:
  - {{name: sshine, age: {ADMIN}}}
hosts:
  dao:
    ssh_host_key: "{ssh_pub(1)} root@dao"
    tags: [tag:server]
    key: {{reusable: true, expiry: 12h}}
    routes: [192.168.1.0/24]
    exit_node: true
    ssh: true
  nas:
    ssh_host_key: keys/nas.pub
    user: odin@example.com
""",
    )
    inv = load_inventory(path)
    assert inv.path == path
    assert inv.root_dir == tmp_path.resolve()
    assert inv.tailnet == "example.com"
    assert inv.control == ControlConfig("headscale", "http://127.0.0.1:8080")
    assert inv.policy == tmp_path.resolve() / "policy.hujson"
    assert inv.secrets_dir == tmp_path.resolve() / "secrets"
    assert inv.sops_config == tmp_path.resolve() / ".sops.yaml"
    assert inv.admins == (Admin("sshine", ADMIN),)
    assert dict(inv.hosts) == {
        "dao": Host(
            name="dao",
            ssh_host_key=f"{ssh_pub(1)} root@dao",
            tags=("tag:server",),
            key=KeyOptions(reusable=True, ephemeral=False, preauthorized=True, expiry=43200),
            routes=("192.168.1.0/24",),
            exit_node=True,
            ssh=True,
        ),
        "nas": Host(
            name="nas",
            ssh_host_key=f"{ssh_pub(2)} root@nas",
            user="odin@example.com",
            ssh_host_key_file=(tmp_path / "keys" / "nas.pub").resolve(),
        ),
    }
    assert inv.secrets_file("dao") == tmp_path.resolve() / "secrets" / "dao" / "tailscale.yaml"


def test_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, f"hosts:\n  a:\n    ssh_host_key: {ssh_pub(3)}\n"))
    assert inv.tailnet == "-"
    assert inv.control == ControlConfig("tailscale", "https://api.tailscale.com")
    assert inv.admins == ()
    assert inv.hosts["a"].key == KeyOptions(False, False, True, 90 * 86400)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hosts:\n  dao:\n    ssh_host_key: {k}\n    tags: [server]\n",
            "{p}:4:12: error[inventory-schema]: hosts.dao.tags.0: 'server' is not a tag"
            " (tag:NAME, letters, digits, '-')",
        ),
        (
            "hosts:\n  dao:\n    ssh_host_key: {k}\n    colour: red\n",
            "{p}:4:5: error[inventory-schema]: hosts.dao: Additional properties are not"
            " allowed ('colour' was unexpected)",
        ),
        (
            "hosts:\n  dao:\n    ssh_host_key: {k}\n    key: {{expiry: 90days}}\n",
            "{p}:4:19: error[inventory-schema]: hosts.dao.key.expiry: '90days' is not a"
            " duration (use e.g. 90d, 12h, or seconds)",
        ),
        (
            "admins:\n  - name: me\n    age: age1nope\nhosts: {{}}\n",
            "{p}:3:10: error[inventory-schema]: admins.0.age: 'age1nope' is not an age"
            " recipient (age1... bech32)",
        ),
        (
            "hosts:\n  Dao_1:\n    ssh_host_key: {k}\n",
            "{p}:2:3: error[inventory-schema]: hosts: 'Dao_1' does not match"
            " '^[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?$'",
        ),
        (
            "hosts:\n  dao:\n    ssh_host_key: ssh-rsa AAAAB3Nza\n",
            "{p}:3:19: error[ssh-host-key]: not an ssh-ed25519 public key"
            " (expected 'ssh-ed25519 AAAA...')",
        ),
        (
            "hosts:\n  dao:\n    ssh_host_key: missing.pub\n",
            "{p}:3:19: error[ssh-host-key]: cannot read SSH host key file 'missing.pub':"
            " No such file or directory",
        ),
        (
            "hosts:\n  dao:\n    ssh_host_key: {k}\n    tags: [tag:a]\n    user: me@x\n",
            "{p}:5:11: error[tagged-user]: a tagged host belongs to its tags;"
            " drop 'user' or 'tags'",
        ),
        (
            "hosts:\n  dao: 1\n  dao: 2\n",
            '{p}:3:3: error[yaml]: YAML: found duplicate key "dao" with value "2"'
            ' (original value: "1")',
        ),
        (
            "control: {{backend: embedded}}\nhosts: {{}}\n",
            "{p}:1:10: error[error]: control.url is required for embedded",
        ),
    ],
)
def test_positioned_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text.format(k=ssh_pub(1)))
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value) == expected.format(p=path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "nope.yaml")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.yaml'}: cannot read inventory: No such file or directory"
    )


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("90d", 7776000, "90d"),
        ("12h", 43200, "12h"),
        ("90m", 5400, "90m"),
        ("45s", 45, "45s"),
        (3600, 3600, "1h"),
    ],
)
def test_durations(text: str | int, seconds: int, canonical: str) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == canonical


def test_unknown_host(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, f"hosts:\n  a:\n    ssh_host_key: {ssh_pub(3)}\n"))
    with pytest.raises(InventoryError) as info:
        inv.host("b")
    assert (
        str(info.value)
        == f"{tmp_path / 'tailcfg.yaml'}: host 'b' is not in the inventory (hosts: a)"
    )
