"""`tailcfg nix render [--host NAME] [--check] [--inventory FILE] [--out DIR]`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nixcases import CASES, GOLDEN, ROOT

from tailcfg.cli.main import main

HOSTS = ["ci-runner", "dao", "exit", "gateway", "laptop", "monitor"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/homelab as the working directory, nothing rendered yet."""
    root = tmp_path / "homelab"
    shutil.copytree(CASES["homelab"], root, ignore=shutil.ignore_patterns("nix", "secrets"))
    monkeypatch.chdir(root)
    return root


def test_render_writes_inventory_and_every_host(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nix", "render"]) == 0
    written = [f"wrote nix/hosts/{h}.nix" for h in HOSTS] + ["wrote nix/inventory.json"]
    out, err = capsys.readouterr()
    assert out.splitlines() == written
    assert err.splitlines() == [
        f"note: no sealed key for {h} yet (tailcfg keys mint --host {h})" for h in HOSTS
    ]
    for path in ["inventory.json", *(f"hosts/{h}.nix" for h in HOSTS)]:
        golden = (GOLDEN / "homelab" / path).read_text(encoding="utf-8")
        assert (repo / "nix" / path).read_text(encoding="utf-8") == golden

    for host in HOSTS:
        (repo / "secrets" / host).mkdir(parents=True)
        (repo / "secrets" / host / "tailscale.yaml").write_text("tailscale_authkey: ENC[...]\n")
    assert main(["nix", "render"]) == 0
    assert capsys.readouterr() == ("nix: up to date\n", "")


def test_check_names_stale_files_and_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nix", "render", "--check"]) == 1
    hint = "(run `tailcfg nix render`)"
    stale = [f"stale: nix/hosts/{h}.nix {hint}" for h in HOSTS]
    stale.append(f"stale: nix/inventory.json {hint}")
    assert capsys.readouterr().err.splitlines() == stale
    assert not (repo / "nix").exists()

    assert main(["nix", "render"]) == 0
    capsys.readouterr()
    assert main(["nix", "render", "--check"]) == 0
    assert capsys.readouterr() == ("", "")

    dao = repo / "nix" / "hosts" / "dao.nix"
    dao.write_text(dao.read_text(encoding="utf-8").replace("--ssh", "--ssh=false"))
    assert main(["nix", "render", "--check"]) == 1
    assert capsys.readouterr().err == f"stale: nix/hosts/dao.nix {hint}\n"


def test_host_option_renders_only_that_host(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nix", "render", "--host", "dao", "--host", "exit"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "wrote nix/hosts/dao.nix",
        "wrote nix/hosts/exit.nix",
        "wrote nix/inventory.json",
    ]
    assert sorted(p.name for p in (repo / "nix" / "hosts").iterdir()) == ["dao.nix", "exit.nix"]


def test_unknown_host_is_an_input_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nix", "render", "--host", "nope"]) == 1
    assert capsys.readouterr().err == (
        f"{Path('tailcfg.yaml')}: host 'nope' is not in the inventory "
        "(hosts: ci-runner, dao, exit, gateway, laptop, monitor)\n"
    )
    assert not (repo / "nix").exists()


def test_hosts_removed_from_the_inventory_are_removed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nix", "render"]) == 0
    hosts = repo / "nix" / "hosts"
    (hosts / "old.nix").write_text((hosts / "dao.nix").read_text(encoding="utf-8"))
    (hosts / "mine.nix").write_text("{ }\n")  # not generated: left alone
    capsys.readouterr()
    assert main(["nix", "render", "--check"]) == 1
    assert capsys.readouterr().err == "stale: nix/hosts/old.nix (run `tailcfg nix render`)\n"
    assert main(["nix", "render"]) == 0
    assert capsys.readouterr().out == "removed nix/hosts/old.nix\n"
    assert sorted(p.name for p in hosts.iterdir()) == [f"{h}.nix" for h in sorted([*HOSTS, "mine"])]


def test_inventory_and_out_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = CASES["tailscale"] / "tailcfg.yaml"
    out = tmp_path / "rendered"
    assert main(["nix", "render", "--inventory", str(inventory), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out}/hosts/relay.nix",
        f"wrote {out}/hosts/web.nix",
        f"wrote {out}/inventory.json",
    ]


def test_missing_inventory_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "tailcfg.yaml"
    assert main(["nix", "render", "-i", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"{missing}: cannot read inventory: No such file or directory\n"
    )


def test_committed_example_rendering_is_up_to_date(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """nix/ at the repository root is examples/homelab rendered (the flake's `render` check)."""
    monkeypatch.chdir(ROOT)
    args = ["nix", "render", "--check", "-i", "examples/homelab/tailcfg.yaml", "--out", "nix"]
    assert main(args) == 0, capsys.readouterr().err
