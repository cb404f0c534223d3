"""tailcfg/nix.py: the pure renderers, and golden files for every case (tests/golden/nix/)."""

from __future__ import annotations

import os
import shutil

import pytest
from nixcases import GOLDEN, Case

from tailcfg import nix
from tailcfg.inventory import ControlConfig, Host, load_inventory


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("${builtins.currentTime}", '"\\${builtins.currentTime}"'),
        ("$HOME and $", '"$HOME and $"'),
        ("two\nlines\ttab\r", '"two\\nlines\\ttab\\r"'),
    ],
)
def test_nix_string(value: str, literal: str) -> None:
    assert nix.nix_string(value) == literal


@pytest.mark.parametrize(
    ("relative", "expression"),
    [
        ("../../secrets/dao/tailscale.yaml", "../../secrets/dao/tailscale.yaml"),
        ("secrets/dao/tailscale.yaml", "./secrets/dao/tailscale.yaml"),
        ("./x.yaml", "./x.yaml"),
        ("..", ".."),
        ("../sealed secrets/a.yaml", './. + "/../sealed secrets/a.yaml"'),
        ("../${x}/a.yaml", './. + "/../\\${x}/a.yaml"'),
        ("../a~b/c.yaml", './. + "/../a~b/c.yaml"'),
    ],
)
def test_nix_path(relative: str, expression: str) -> None:
    assert nix.nix_path(relative) == expression


@pytest.mark.parametrize(
    ("items", "text"),
    [
        ([], "[ ]"),
        (["--ssh"], '[ "--ssh" ]'),
        (["--ssh", "--hostname=a"], '[\n    "--ssh"\n    "--hostname=a"\n  ]'),
    ],
)
def test_nix_list(items: list[str], text: str) -> None:
    assert nix.nix_list(items, "  ") == text


@pytest.mark.parametrize(
    ("control", "server"),
    [
        (ControlConfig("tailscale", "https://api.tailscale.com"), None),
        (ControlConfig("headscale", "https://hs.example.com"), "https://hs.example.com"),
        (ControlConfig("embedded", "http://127.0.0.1:8080"), "http://127.0.0.1:8080"),
    ],
)
def test_login_server(control: ControlConfig, server: str | None) -> None:
    assert nix.login_server(control) == server


KEY = "ssh-ed25519 AAAA"


@pytest.mark.parametrize(
    ("host", "server", "flags", "features"),
    [
        (Host("laptop", KEY, user="a@b"), None, ["--hostname=laptop"], "none"),
        (
            Host("dao", KEY, tags=("tag:server",), ssh=True),
            "https://hs.example.com",
            [
                "--advertise-tags=tag:server",
                "--ssh",
                "--hostname=dao",
                "--login-server=https://hs.example.com",
            ],
            "none",
        ),
        (
            Host("gw", KEY, tags=("tag:a", "tag:b"), routes=("10.0.0.0/8", "fd00::/64")),
            None,
            [
                "--advertise-tags=tag:a,tag:b",
                "--advertise-routes=10.0.0.0/8,fd00::/64",
                "--hostname=gw",
            ],
            "server",
        ),
        (
            Host("exit", KEY, tags=("tag:exit",), exit_node=True),
            None,
            ["--advertise-tags=tag:exit", "--advertise-exit-node", "--hostname=exit"],
            "server",
        ),
    ],
)
def test_up_flags_and_routing_features(
    host: Host, server: str | None, flags: list[str], features: str
) -> None:
    assert nix.up_flags(host, login_server=server) == flags
    assert nix.routing_features(host) == features


def test_rendering_is_deterministic(cases: dict[str, Case]) -> None:
    """Rendering again, from another working directory, gives the same bytes and writes nothing."""
    for case in cases.values():
        cwd = os.getcwd()
        try:
            os.chdir(case.out)
            again = nix.render(load_inventory(case.root / "tailcfg.yaml"))
        finally:
            os.chdir(cwd)
        assert again == case.rendering
        assert nix.stale(again) == []


@pytest.mark.parametrize("name", ["homelab", "headscale", "tailscale"])
def test_golden(cases: dict[str, Case], name: str) -> None:
    """tests/golden/nix/<case>/ holds nix/ as rendered; TAILCFG_UPDATE_GOLDEN=1 rewrites it."""
    rendered = cases[name].rendered()
    golden_dir = GOLDEN / name
    if os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden_dir, ignore_errors=True)
        for relative, text in rendered.items():
            (golden_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / relative).write_text(text, encoding="utf-8")
    golden = {
        p.relative_to(golden_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(golden_dir.rglob("*"))
        if p.is_file()
    }
    assert rendered == golden


def test_header_comment_stays_one_line(cases: dict[str, Case]) -> None:
    """A user name with a newline cannot end the comment and inject Nix code."""
    inventory = load_inventory(cases["headscale"].root / "tailcfg.yaml")
    phone = inventory.host("phone")
    sneaky = Host(phone.name, phone.ssh_host_key, user="a@b\n}; x = import /etc/passwd; {")
    text = nix.host_nix_text(inventory, sneaky, out_dir=cases["headscale"].out)
    assert text.splitlines()[1] == (
        "# Host phone (a@b }; x = import /etc/passwd; {); control: headscale https://hs.example.com"
    )
