"""flake.nix, evaluated offline with a stand-in for its only input (tests/nix/flake-offline.nix).

Its `module` check really runs there: the module and the committed nix/hosts/*.nix are
evaluated against tests/golden/nix/eval/homelab.json.
"""

from __future__ import annotations

import json

from nixcases import HERE, ROOT, run_nix


def test_flake_outputs_offline() -> None:
    result = run_nix(["--eval", "--strict", "--json", str(HERE / "flake-offline.nix")])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "description": "tailcfg: declarative, provable Tailscale/Headscale tailnets",
        "inputs": {"nixpkgs": "github:NixOS/nixpkgs/nixos-unstable"},
        "outputs": ["apps", "checks", "devShells", "formatter", "nixosModules", "packages"],
        "systems": ["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"],
        "module": True,
        "package": "package.nix",
        "app": "package/bin/tailcfg",
        "checks": {
            "module": "tailcfg-module-eval",
            "package": "package",
            "policy": "tailcfg-policy-homelab",
            "render": "tailcfg-render-up-to-date",
        },
        "render": (
            "cp -r /source src\nchmod -R u+w src\ncd src\n"
            "tailcfg nix render --check --inventory examples/homelab/tailcfg.yaml --out nix\n"
            "\ntouch $out\n"
        ),
        "formatter": "nixfmt",
    }


def test_no_lock_file_with_network_inputs() -> None:
    """flake.lock is the user's to create (`nix flake lock`); none is committed here."""
    assert not (ROOT / "flake.lock").exists()


def test_docs_show_the_rendered_module_as_committed() -> None:
    """docs/nix.md quotes nix/hosts/dao.nix; it must not drift from the rendering."""
    docs = (ROOT / "docs" / "nix.md").read_text(encoding="utf-8")
    dao = (ROOT / "nix" / "hosts" / "dao.nix").read_text(encoding="utf-8")
    assert f"```nix\n{dao}```\n" in docs
