"""`tailcfg init` without --from: a starter repository that lints, tests and renders clean;
the admin recipient from the user's sops age identity; hosts add works on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes.sshkeys import ssh_key

from tailcfg.cli.main import main
from tailcfg.inventory import load_inventory
from tailcfg.sopsconfig import load_rules

IDENTITY = "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33"
RECIPIENT = "age1t7rxyev2z3rw82stdlrrepyc39nvn86l5078zqkf5uasdy86jp6svpy7pa"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text(f"# created: 2026-01-01\n# public key: {RECIPIENT}\n{IDENTITY}\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(path))
    return path


def test_starter_repository(
    tmp_path: Path,
    identity: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = tmp_path / "net"
    assert main(["init", str(repo)]) == 0
    out = capsys.readouterr()
    assert IDENTITY not in out.out + out.err
    assert f"note: admin recipient from {identity}" in out.err
    inventory = load_inventory(repo / "tailcfg.yaml")
    assert [(a.name, a.age) for a in inventory.admins] == [("admin", RECIPIENT)]
    assert inventory.control.backend == "tailscale" and not inventory.hosts
    (rule,) = load_rules(repo / ".sops.yaml")
    assert rule.recipients == (RECIPIENT,)
    monkeypatch.chdir(repo)
    assert main(["policy", "lint", "policy.hujson"]) == 0
    assert main(["policy", "fmt", "--check", "policy.hujson"]) == 0
    assert main(["policy", "test", "policy.hujson"]) == 0
    assert main(["nix", "render", "--check"]) == 0
    assert main(["keys", "status"]) == 0
    key = tmp_path / "dao.pub"
    key.write_text(ssh_key(3).public_line + "\n")
    assert main(["hosts", "add", "dao", "--ssh-host-key", str(key), "--tag", "tag:server"]) == 0
    rules = load_rules(repo / ".sops.yaml")
    by_regex = {r.path_regex: r.recipients for r in rules}
    assert by_regex[r"secrets/[^/]+\.yaml$"] == (RECIPIENT,)
    dao = by_regex[r"secrets/dao/[^/]+\.yaml$"]
    assert RECIPIENT in dao and len(dao) == 2


def test_dry_run_writes_nothing(
    tmp_path: Path, identity: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "net"
    assert main(["init", str(repo), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert not repo.exists()
    assert out.out.splitlines()[:3] == [
        "create    tailcfg.yaml",
        "create    policy.hujson",
        "create    .sops.yaml",
    ]
    assert out.err.splitlines()[-1] == "dry run: would write 8 files"  # 7 + nix/inventory.json


def test_without_any_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "absent.txt"))
    repo = tmp_path / "net"
    assert main(["init", str(repo)]) == 0
    assert "no admin age recipient" in capsys.readouterr().err
    assert load_inventory(repo / "tailcfg.yaml").admins == ()
    assert "# TODO: admins:" in (repo / "tailcfg.yaml").read_text()
    assert load_rules(repo / ".sops.yaml") == ()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--admin-age", "nope"], 1, "--admin-age 'nope': not an age recipient (age1...)"),
        (
            ["--from", "gitlab"],
            2,
            "Invalid value for --from: expected one of tailscale, headscale, embedded",
        ),
        (["--from", "headscale"], 2, "Invalid value for --url: required with --from headscale"),
        (["--url", "ftp://x"], 2, "Invalid value for --url: expected http(s)://HOST[:PORT]"),
    ],
)
def test_bad_options(
    tmp_path: Path,
    identity: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    assert main(["init", str(tmp_path / "net"), *args]) == code
    assert message in capsys.readouterr().err
    assert not (tmp_path / "net").exists()


def test_a_server_without_policy_gets_the_starter(tmp_path: Path) -> None:
    from tailcfg.devices import Device
    from tailcfg.scaffold import InitOptions, Snapshot, plan_init
    from tailcfg.scaffold_texts import STARTER_POLICY

    device = Device("nas", "nas", "ops", (), "100.64.0.9", "", (), (), "", "9")
    snapshot = Snapshot("headscale http://hs", "", "", (device,))
    plan = plan_init(
        InitOptions(tmp_path / "net", backend="headscale", url="http://hs", snapshot=snapshot)
    )
    files = {f.rel: f.text for f in plan.files}
    assert files["policy.hujson"] == STARTER_POLICY
    assert '"nodes"' in files["devices.json"] and "nix/hosts/nas.nix" in files
    assert "headscale http://hs holds no policy: policy.hujson is the starter" in plan.notes


def test_hosts_add_replaces_the_todo_and_nothing_else(tmp_path: Path) -> None:
    from tailcfg.devices import Device
    from tailcfg.hosts import add_host
    from tailcfg.scaffold import Admin, InitOptions, Snapshot, apply_init, plan_init

    devices = (
        Device("gw", "gw", None, ("tag:router",), "100.64.0.1", "", ("10.0.0.0/8",), (), "", "1"),
        Device("nas", "nas", "odin@example.com", (), "100.64.0.2", "", (), (), "", "2"),
    )
    snapshot = Snapshot("tailscale http://x -", "{}\n", "e", devices)
    admin = Admin("admin", RECIPIENT)
    repo = tmp_path / "net"
    apply_init(plan_init(InitOptions(repo, admins=(admin,), snapshot=snapshot)))
    before = (repo / "tailcfg.yaml").read_text().splitlines()
    key = tmp_path / "gw.pub"
    key.write_text(ssh_key(4).public_line + "\n")
    add_host(repo / "tailcfg.yaml", "gw", ssh_host_key=str(key))
    after = (repo / "tailcfg.yaml").read_text().splitlines()
    todo = next(i for i, line in enumerate(before) if "TODO: ssh_host_key" in line)
    assert before[todo - 1] == "  gw:"
    assert after[todo] == f"    ssh_host_key: {ssh_key(4).public_line}"
    assert after[:todo] + after[todo + 1 :] == before[:todo] + before[todo + 1 :]
    assert "    # TODO: advertised, not approved yet: [10.0.0.0/8]" in after


def test_generated_flake_and_hooks(tmp_path: Path, identity: Path) -> None:
    import shutil
    import subprocess

    from ruamel.yaml import YAML

    repo = tmp_path / "net"
    assert main(["init", str(repo)]) == 0
    hooks = YAML(typ="safe").load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    config = YAML(typ="safe").load((repo / ".pre-commit-config.yaml").read_text())
    (entry,) = config["repos"]
    assert [h["id"] for h in entry["hooks"]] == [h["id"] for h in hooks]
    assert entry["rev"] == "v0.1.0"
    flake = (repo / "flake.nix").read_text()
    assert "tailcfg.nixosModules.default" in flake and "./nix/inventory.json" in flake
    nix = shutil.which("nix-instantiate")
    if nix is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nix-instantiate is not installed")
        pytest.skip("nix-instantiate is not installed")
    parsed = subprocess.run(
        [nix, "--parse", str(repo / "flake.nix")], capture_output=True, text=True, check=False
    )
    assert parsed.returncode == 0, parsed.stderr
