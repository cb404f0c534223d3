"""ssh-to-age conversions, proven with the real age, age-keygen and sops binaries."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from fakes.sshkeys import ssh_key

from tailcfg.age import (
    AgeKeyError,
    age_identity_to_recipient,
    bech32_decode,
    bech32_encode,
    is_age_recipient,
    ssh_private_key_to_age,
    ssh_pubkey_to_age,
)
from tailcfg.sops import Sops, find_sops

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
SSH_KEYGEN = shutil.which("ssh-keygen")
needs_age = pytest.mark.skipif(not (AGE and AGE_KEYGEN), reason="age / age-keygen not installed")

# Recipients of examples/homelab/.sops.yaml, converted from the committed demo host keys.
HOMELAB = {
    "laptop": "age1jwnwxaqmexzp4508sq234m2rxr7kw6e9t29qs5znaxske82mf3hqy780yc",
    "dao": "age10jh5yjh9rnjqv0jmqvzfzlgmyfazhjt0y2trw662hxtg0k32syfsmav0nh",
    "monitor": "age1ypjsp6eefz8j237vj8cfy7k3wph3l27putqedu8p3h9twvw93g7s0q3na6",
}


def test_fixed_key_conversion() -> None:
    key = ssh_key(1)
    assert key.public_line == (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c root@host"
    )
    assert ssh_pubkey_to_age(key.public_line) == (
        "age1rvd43h2sag2tvrdp0duse5p82nvhpjd6hpjwhv7q7vqklega8atsjue2se"
    )
    identity = ssh_private_key_to_age(key.private_pem)
    assert identity == (
        "AGE-SECRET-KEY-1TN5XA7M4LF8ZCSG0GMSKM60K4JHP59CR22R9RD5MC9MVPZ9770HQQTNGYF"
    )
    # ssh-to-age's private key is sha512(seed)[:32] without clamping
    assert bech32_decode(identity)[1] == hashlib.sha512(key.seed).digest()[:32]


@pytest.mark.parametrize("host", sorted(HOMELAB))
def test_homelab_demo_keys(repo_root: Path, host: str) -> None:
    keys = repo_root / "examples" / "homelab" / "demo-keys" / "hosts"
    pub = (keys / f"ssh_host_ed25519_key.{host}.pub").read_text()
    private = (keys / f"ssh_host_ed25519_key.{host}").read_text()
    assert ssh_pubkey_to_age(pub) == HOMELAB[host]
    assert age_identity_to_recipient(ssh_private_key_to_age(private)) == HOMELAB[host]


def test_bech32_round_trip_and_errors() -> None:
    data = bytes(range(32))
    text = bech32_encode("age", data)
    assert bech32_decode(text) == ("age", data)
    assert bech32_decode(text.upper()) == ("age", data)
    assert is_age_recipient(text)
    assert not is_age_recipient(text.upper())
    broken = text[:-1] + ("q" if text[-1] != "q" else "p")
    for bad, message in [
        (broken, "bech32: bad checksum"),
        (text[:5] + text[5].upper() + text[6:], "bech32: mixed case"),
        ("age1", "bech32: separator misplaced"),
        ("age1bbbbbbb", "bech32: invalid character"),
    ]:
        with pytest.raises(ValueError) as info:
            bech32_decode(bad)
        assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ssh-rsa AAAA",
            "SSH public key: not an ssh-ed25519 public key (expected 'ssh-ed25519 AAAA...')",
        ),
        ("ssh-ed25519 !!!", "SSH public key: the ssh-ed25519 key is not valid base64"),
    ],
)
def test_bad_public_keys(text: str, message: str) -> None:
    with pytest.raises(AgeKeyError) as info:
        ssh_pubkey_to_age(text)
    assert str(info.value) == message


def test_bad_private_key_message_has_no_key_material() -> None:
    pem = ssh_key(9).private_pem
    with pytest.raises(AgeKeyError) as info:
        ssh_private_key_to_age(pem.replace("BEGIN OPENSSH", "BEGIN RSA"))
    assert (
        str(info.value) == "SSH private key: not an OpenSSH private key (BEGIN OPENSSH PRIVATE KEY)"
    )


@pytest.mark.skipif(not SSH_KEYGEN, reason="ssh-keygen not installed")
def test_our_writer_is_read_by_ssh_keygen(tmp_path: Path) -> None:
    key = ssh_key(5, "me@here")
    path = tmp_path / "id"
    path.write_text(key.private_pem)
    path.chmod(0o600)
    out = subprocess.run([SSH_KEYGEN, "-y", "-f", str(path)], capture_output=True, check=True)
    assert out.stdout.decode().strip() == key.public_line


@pytest.mark.skipif(not SSH_KEYGEN, reason="ssh-keygen not installed")
def test_ssh_keygen_key(tmp_path: Path) -> None:
    path = tmp_path / "host"
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "x", "-f", str(path)], check=True
    )
    recipient = ssh_pubkey_to_age(path.with_suffix(".pub").read_text())
    assert age_identity_to_recipient(ssh_private_key_to_age(path.read_text())) == recipient


@needs_age
def test_age_keygen_and_age_round_trip(tmp_path: Path) -> None:
    key = ssh_key(3)
    recipient = ssh_pubkey_to_age(key.public_line)
    identity = tmp_path / "identity.txt"
    identity.write_text(ssh_private_key_to_age(key.private_pem) + "\n")
    derived = subprocess.run(
        [str(AGE_KEYGEN), "-y", str(identity)], capture_output=True, check=True
    )
    assert derived.stdout.decode().strip() == recipient
    sealed = subprocess.run(
        [str(AGE), "-r", recipient], input=b"hello host", capture_output=True, check=True
    ).stdout
    opened = subprocess.run(
        [str(AGE), "-d", "-i", str(identity)], input=sealed, capture_output=True, check=True
    )
    assert opened.stdout == b"hello host"


def test_sops_round_trip(tmp_path: Path) -> None:
    key = ssh_key(4)
    recipient = ssh_pubkey_to_age(key.public_line)
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: secrets/h/[^/]+\\.yaml$\n    age: {recipient}\n"
    )
    identity = tmp_path / "identity.txt"
    identity.write_text(ssh_private_key_to_age(key.private_pem) + "\n")
    sops = Sops(find_sops(search_path=None), tmp_path, tmp_path / ".sops.yaml", {})
    target = tmp_path / "secrets" / "h" / "x.yaml"
    sealed = sops.encrypt(b"secret: value\n", filename=target)
    target.parent.mkdir(parents=True)
    target.write_bytes(sealed)
    assert b"value" not in sealed
    opened = sops.with_env(SOPS_AGE_KEY_FILE=str(identity)).decrypt(target)
    assert opened == b"secret: value\n"
