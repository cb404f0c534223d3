"""`tailcfg init --from embedded` on a running `tailcfg control serve`: the repository it
writes passes lint, test (on the pulled devices), keys status, nix render --check and
verify; a second run changes nothing; nothing is overwritten."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from init_tailnets import DEVICES, ODIN, Live, cli_env, control_serve

from tailcfg.inventory import ControlConfig, load_inventory

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ADMIN_AGE = "age1fdwhcg84ns28vlm0zana7gpwhhvan0dvw0rf78zf2wz0pkexcpds36q7ge"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with control_serve(tmp_path_factory.mktemp("live")) as running:
        yield running


def tailcfg(
    args: list[str], live: Live, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(TAILSCALE_API_KEY=live.admin_key)
    return subprocess.run(
        ["tailcfg", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def repo(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("init") / "tailnet"
    done = tailcfg(
        ["init", str(target), "--from", "embedded", "--url", live.url, "--admin-age", ADMIN_AGE],
        live,
    )
    assert done.returncode == 0, done.stderr
    return target


def test_files_written(repo: Path) -> None:
    found = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    assert found == sorted(
        [
            ".gitignore",
            ".pre-commit-config.yaml",
            ".sops.yaml",
            ".tailcfg/gitops-state.json",
            "devices.json",
            "flake.nix",
            "policy.hujson",
            "secrets/.gitkeep",
            "tailcfg.yaml",
            "nix/inventory.json",
            *(f"nix/hosts/{name}.nix" for name, _, _ in DEVICES),
        ]
    )


def test_policy_pulled_byte_for_byte(repo: Path, live: Live) -> None:
    assert (repo / "policy.hujson").read_text(encoding="utf-8") == live.policy_text
    assert "// " in live.policy_text  # comments survived


def test_hosts_declared_from_devices(repo: Path) -> None:
    inventory = load_inventory(repo / "tailcfg.yaml")
    assert inventory.control == ControlConfig("embedded", inventory.control.url)
    assert [(a.name, a.age) for a in inventory.admins] == [("admin", ADMIN_AGE)]
    declared = {
        h.name: (h.tags, h.user, h.routes, h.exit_node, h.ssh_host_key)
        for h in inventory.hosts.values()
    }
    assert declared == {
        "laptop": ((), ODIN, (), False, None),
        "dao": (("tag:server",), None, (), False, None),
        "gateway": (("tag:router",), None, ("192.168.1.0/24",), False, None),
        "exit": (("tag:exit",), None, (), True, None),
        "ci-runner": (("tag:ci",), None, (), False, None),
        "monitor": (("tag:monitoring",), None, (), False, None),
    }
    text = (repo / "tailcfg.yaml").read_text(encoding="utf-8")
    assert text.count("# TODO: ssh_host_key:") == len(DEVICES)


def test_devices_file(repo: Path) -> None:
    nodes = json.loads((repo / "devices.json").read_text())["nodes"]
    by_name = {n["name"]: n for n in nodes}
    assert sorted(by_name) == sorted(name for name, _, _ in DEVICES)
    assert by_name["laptop"]["user"] == ODIN and by_name["laptop"]["tags"] == []
    assert by_name["dao"]["user"] is None and by_name["dao"]["tags"] == ["tag:server"]
    assert by_name["gateway"]["approved_routes"] == ["192.168.1.0/24"]
    assert by_name["exit"]["routable_ips"] == ["0.0.0.0/0", "::/0"]
    assert all(n["ipv4"].startswith("100.") and n["ipv6"].startswith("fd7a:") for n in nodes)
    assert all(n["created"].endswith("Z") for n in nodes)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["policy", "lint", "policy.hujson"], "1 file checked: 0 errors, 0 warnings"),
        (
            ["policy", "test", "policy.hujson", "--nodes", "devices.json"],
            "23 passed, 0 failed: passed",
        ),
        (["policy", "fmt", "--check", "policy.hujson"], ""),
        (["keys", "status"], "no-ssh-host-key"),
        (["nix", "render", "--check"], ""),
    ],
)
def test_commands_pass_on_the_new_repo(
    repo: Path, live: Live, args: list[str], expected: str
) -> None:
    done = tailcfg(args, live, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert expected in done.stdout
    assert "Traceback" not in done.stderr


def test_verify_passes_on_the_new_repo(repo: Path, live: Live) -> None:
    done = tailcfg(["verify", ".", "--format", "json"], live, cwd=repo)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["passed"] is True
    assert len(report["rows"]) == 23
    assert all(r["status"] == "ok" for r in report["rows"])
    assert report["drill"]["passed"] is True
    assert len(report["notes"]) == len(DEVICES)  # keys handed over unsealed, and said so


def test_second_init_changes_nothing(repo: Path, live: Live) -> None:
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    done = tailcfg(
        ["init", str(repo), "--from", "embedded", "--url", live.url, "--admin-age", ADMIN_AGE],
        live,
    )
    assert done.returncode == 0, done.stderr
    assert "already initialised, nothing to change" in done.stderr
    assert all(line.startswith("unchanged ") for line in done.stdout.splitlines())
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before


def test_refuses_to_overwrite(repo: Path, live: Live, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "policy.hujson").write_text("{}\n")
    args = ["init", str(other), "--from", "embedded", "--url", live.url, "--admin-age", ADMIN_AGE]
    dry = tailcfg([*args, "--dry-run"], live)
    assert dry.returncode == 1
    assert "conflict  policy.hujson" in dry.stdout
    assert "create    tailcfg.yaml" in dry.stdout
    assert dry.stderr.splitlines()[-1] == "dry run: would refuse"
    done = tailcfg(args, live)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"{other}: refusing to overwrite policy.hujson (they exist with other content);"
        " move them away or init another directory"
    )
    assert sorted(p.name for p in other.iterdir()) == ["policy.hujson"]  # nothing written


def test_devices_pull_matches_init(repo: Path, live: Live, tmp_path: Path) -> None:
    out = tmp_path / "pulled.json"
    done = tailcfg(["devices", "pull", "-o", str(out)], live, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"wrote {out}: {len(DEVICES)} devices\n"
    assert out.read_text() == (repo / "devices.json").read_text()
    compiled = tailcfg(["policy", "compile", "policy.hujson", "--nodes", str(out)], live, cwd=repo)
    assert compiled.returncode == 0, compiled.stderr
    compiled_nodes = json.loads(compiled.stdout)["nodes"]
    assert sorted(compiled_nodes) == sorted(name for name, _, _ in DEVICES)
    explained = tailcfg(
        ["policy", "explain", "policy.hujson", ODIN, "dao:22", "--nodes", str(out)], live, cwd=repo
    )
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith(f"{ODIN} -> dao:22: ACCEPT")
    diffed = tailcfg(
        ["policy", "diff", "policy.hujson", "policy.hujson", "--nodes", str(out)], live, cwd=repo
    )
    assert diffed.returncode == 0, diffed.stderr
