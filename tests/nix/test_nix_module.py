"""nix/modules/tailcfg.nix and the rendered host files, evaluated by the real nix-instantiate.

tests/nix/harness.nix evaluates both for every host of a rendered case against stand-ins
for NixOS and sops-nix, type-checking what they set. The stand-in `config` has no
`sops.age`, so reading `sops.age.sshKeyPaths` would fail the evaluation: the module must
rely on sops-nix's default (the host's ed25519 SSH host key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from nixcases import GOLDEN, HARNESS, Case, evaluate_harness, run_nix

from tailcfg import nix
from tailcfg.inventory import load_inventory

UNIT = ["tailscaled-autoconnect.service"]


def expected(
    sops_file: str, flags: list[str], features: str, *, open_firewall: bool = True
) -> dict[str, Any]:
    return {
        "services": {
            "tailscale": {
                "enable": True,
                "authKeyFile": "/run/secrets/tailscale_authkey",
                "extraUpFlags": flags,
                "useRoutingFeatures": features,
                "openFirewall": open_firewall,
            }
        },
        "sops": {
            "secrets": {
                "tailscale_authkey": {
                    "sopsFile": sops_file,
                    "key": "tailscale_authkey",
                    "restartUnits": UNIT,
                    "path": "/run/secrets/tailscale_authkey",
                }
            }
        },
    }


EXPECTED = {
    "headscale": {
        "router": expected(
            "sealed secrets/router/tailscale.yaml",
            [
                "--advertise-tags=tag:router,tag:exit",
                "--advertise-routes=192.168.1.0/24,fd00:1::/64",
                "--advertise-exit-node",
                "--ssh",
                "--hostname=router",
                "--login-server=https://hs.example.com",
            ],
            "server",
        ),
        "phone": expected(
            "sealed secrets/phone/tailscale.yaml",
            ["--hostname=phone", "--login-server=https://hs.example.com"],
            "none",
        ),
    },
    "tailscale": {
        "web": expected(
            "secrets/web/tailscale.yaml",
            ["--advertise-tags=tag:web,tag:prod", "--ssh", "--hostname=web"],
            "none",
        ),
        "relay": expected(
            "secrets/relay/tailscale.yaml",
            ["--advertise-tags=tag:relay", "--advertise-routes=10.0.0.0/8", "--hostname=relay"],
            "server",
        ),
    },
}


@pytest.fixture(scope="module")
def evaluated(cases: dict[str, Case]) -> dict[str, Any]:
    """One harness evaluation per case (about 50 ms each)."""
    return {name: evaluate_harness(case) for name, case in cases.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_module_sets_exactly_the_expected_options(evaluated: dict[str, Any], name: str) -> None:
    result = evaluated[name]
    assert {host: value["module"] for host, value in result.items()} == EXPECTED[name]


@pytest.mark.parametrize("name", ["homelab", "headscale", "tailscale"])
def test_rendered_host_files_set_what_the_module_sets(
    evaluated: dict[str, Any], cases: dict[str, Case], name: str
) -> None:
    """The per-host files (Python's flags) and the module (Nix's flags) agree, host by host."""
    result = evaluated[name]
    inventory = load_inventory(cases[name].root / "tailcfg.yaml")
    assert sorted(result) == sorted(inventory.hosts)
    for host_name, value in result.items():
        assert value["file"] == value["module"], host_name
        host = inventory.host(host_name)
        tailscale = value["module"]["services"]["tailscale"]
        server = nix.login_server(inventory.control)
        assert tailscale["extraUpFlags"] == nix.up_flags(host, login_server=server)
        assert tailscale["useRoutingFeatures"] == nix.routing_features(host)


def test_homelab_golden(evaluated: dict[str, Any]) -> None:
    """The example's evaluated options, reviewed in tests/golden/nix/eval/homelab.json."""
    golden = GOLDEN / "eval" / "homelab.json"
    text = json.dumps(evaluated["homelab"], indent=2, sort_keys=True) + "\n"
    if os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert json.loads(text) == json.loads(golden.read_text(encoding="utf-8"))


def test_module_options_override_the_inventory(cases: dict[str, Case]) -> None:
    """loginServer, acceptRoutes, openFirewall and secretsDir are the module's own options."""
    case = cases["tailscale"]
    settings = {
        "loginServer": "https://login.example.net",
        "acceptRoutes": True,
        "openFirewall": False,
        "secretsDir": f"{case.root}/vault",
    }
    result = evaluate_harness(case, settings)
    assert {host: value["module"] for host, value in result.items()} == {
        "web": expected(
            "vault/web/tailscale.yaml",
            [
                "--advertise-tags=tag:web,tag:prod",
                "--ssh",
                "--accept-routes",
                "--hostname=web",
                "--login-server=https://login.example.net",
            ],
            "client",
            open_firewall=False,
        ),
        "relay": expected(
            "vault/relay/tailscale.yaml",
            [
                "--advertise-tags=tag:relay",
                "--advertise-routes=10.0.0.0/8",
                "--accept-routes",
                "--hostname=relay",
                "--login-server=https://login.example.net",
            ],
            "both",
            open_firewall=False,
        ),
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"hostName": "nope"},
            "services.tailcfg.hostName: host 'nope' is not in",
        ),
        (
            {"openFirewall": "yes"},
            'harness: services.tailcfg.openFirewall = "yes" is not a bool',
        ),
    ],
)
def test_module_rejects_bad_settings(
    cases: dict[str, Case], settings: dict[str, Any], message: str
) -> None:
    case = cases["headscale"]
    result = run_nix(
        [
            "--eval",
            "--strict",
            "--json",
            str(HARNESS),
            "--argstr",
            "root",
            str(case.root),
            "--argstr",
            "out",
            str(case.out),
            "--argstr",
            "settings",
            json.dumps(settings),
        ]
    )
    assert result.returncode == 1
    assert message in result.stderr
    if "hostName" in settings:
        assert "(hosts: phone, router)" in result.stderr


def test_module_rejects_an_inventory_of_another_format(
    cases: dict[str, Case], tmp_path: Path
) -> None:
    out = tmp_path / "nix"
    out.mkdir()
    data = json.loads((cases["tailscale"].out / "inventory.json").read_text(encoding="utf-8"))
    (out / "inventory.json").write_text(json.dumps({**data, "version": 2}), encoding="utf-8")
    args = ["--eval", "--strict", "--json", str(HARNESS), "--argstr", "root", str(tmp_path)]
    result = run_nix([*args, "--argstr", "out", str(out)])
    assert result.returncode == 1
    assert (
        f"services.tailcfg.inventory: {out}/inventory.json is not format 1; "
        "re-run `tailcfg nix render`"
    ) in result.stderr
