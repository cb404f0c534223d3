"""sops check [--fix] on a copy of examples/homelab, with the real sops binary."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.homelab import DAO, ODIN, admin_sops, copy_homelab
from ruamel.yaml import YAML

from tailcfg.inventory import Inventory, load_inventory
from tailcfg.sops import read_sealed
from tailcfg.sopscheck import Finding, check_secrets, secret_files

EXTRA = "age1wh38phef2tzhh2pk0w5xrrqh37072rdj0xwnqnn5ayvdnptgv9rqcus9mn"


@pytest.fixture
def lab(repo_root: Path, tmp_path: Path) -> Inventory:
    return load_inventory(copy_homelab(repo_root, tmp_path / "lab", "http://127.0.0.1:9"))


def seal(inv: Inventory, rel: str, text: str, config: Path | None = None) -> Path:
    sops = admin_sops(inv)
    if config is not None:
        sops = type(sops)(sops.binary, sops.root, config, sops.env)
    path = inv.root_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sops.encrypt(text.encode(), filename=path))
    return path


def check(inv: Inventory, fix: bool = False) -> tuple[list[Finding], tuple[str, ...]]:
    sops = admin_sops(inv) if fix else None
    report = check_secrets(inv.secrets_dir, inv.sops_config, sops=sops, fix=fix)
    return list(report.findings), report.fixed


def test_clean_tree(lab: Inventory) -> None:
    seal(lab, "secrets/dao/tailscale.yaml", "tailscale_authkey: x\n")
    seal(lab, "secrets/shared.yaml", "token: y\n")
    (lab.secrets_dir / "dao" / ".tailscale.yaml.lock").write_text("")
    assert secret_files(lab.secrets_dir) == [
        lab.secrets_dir / "shared.yaml",
        lab.secrets_dir / "dao" / "tailscale.yaml",
    ]
    assert check(lab) == ([], ())


def test_findings(lab: Inventory) -> None:
    plain = lab.secrets_dir / "gateway" / "tailscale.yaml"
    plain.parent.mkdir(parents=True)
    plain.write_text("tailscale_authkey: tskey-auth-plain\n")
    tampered = seal(lab, "secrets/dao/tailscale.yaml", "tailscale_authkey: x\nnote: n\n")
    tampered.write_text(
        "\n".join(
            "note: in the clear" if line.startswith("note:") else line
            for line in tampered.read_text().splitlines()
        )
        + "\n"
    )
    wide = lab.root_dir / "wide.sops.yaml"
    wide.write_text(f"creation_rules:\n  - path_regex: secrets/exit/\n    age: {ODIN},{EXTRA}\n")
    seal(lab, "secrets/exit/tailscale.yaml", "tailscale_authkey: x\n", config=wide)
    anything = lab.root_dir / "any.sops.yaml"
    anything.write_text(f"creation_rules:\n  - age: {ODIN}\n")
    seal(lab, "secrets/other/x.yaml", "a: b\n", config=anything)
    findings, _ = check(lab)
    rel = {f.path.relative_to(lab.root_dir).as_posix(): f.path for f in findings}
    assert [(f.code, f.message) for f in findings] == [
        ("plaintext-value", "secrets/dao/tailscale.yaml: note is not encrypted"),
        (
            "missing-recipient",
            "secrets/exit/tailscale.yaml: not encrypted to"
            " age1uxct5f7vcc7vujzrgts5ghk8xcm4nue97sh2ll89fetj8lssh4zq0244pv",
        ),
        (
            "extra-recipient",
            f"secrets/exit/tailscale.yaml: encrypted to {EXTRA}, which .sops.yaml does not list",
        ),
        ("not-encrypted", "secrets/gateway/tailscale.yaml: not sops-encrypted"),
        ("no-rule", "secrets/other/x.yaml: no .sops.yaml creation rule matches"),
    ]
    assert sorted(rel) == [
        "secrets/dao/tailscale.yaml",
        "secrets/exit/tailscale.yaml",
        "secrets/gateway/tailscale.yaml",
        "secrets/other/x.yaml",
    ]


def test_fix_updatekeys_and_rotate(lab: Inventory) -> None:
    plain = lab.secrets_dir / "dao" / "tailscale.yaml"
    plain.parent.mkdir(parents=True)
    plain.write_text("tailscale_authkey: tskey-auth-plain\n")
    wide = lab.root_dir / "wide.sops.yaml"
    wide.write_text(f"creation_rules:\n  - path_regex: secrets/exit/\n    age: {ODIN},{EXTRA}\n")
    exit_file = seal(lab, "secrets/exit/tailscale.yaml", "tailscale_authkey: e\n", config=wide)
    data_key_before = read_sealed(exit_file).data["tailscale_authkey"]
    findings, fixed = check(lab, fix=True)
    assert findings == []
    assert fixed == (
        "secrets/dao/tailscale.yaml: encrypted",
        "secrets/exit/tailscale.yaml: sops updatekeys",
        "secrets/exit/tailscale.yaml: sops rotate (new data key)",
    )
    assert sorted(read_sealed(plain).recipients) == sorted([ODIN, DAO])
    assert "tskey-auth-plain" not in plain.read_text()
    sops = admin_sops(lab)
    assert YAML(typ="safe").load(sops.decrypt(plain)) == {"tailscale_authkey": "tskey-auth-plain"}
    assert YAML(typ="safe").load(sops.decrypt(exit_file)) == {"tailscale_authkey": "e"}
    assert EXTRA not in read_sealed(exit_file).recipients
    assert read_sealed(exit_file).data["tailscale_authkey"] != data_key_before
