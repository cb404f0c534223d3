"""The fixed texts ``tailcfg init`` writes (starter policy, .sops.yaml, hooks, flake, ignores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

STARTER_POLICY = """\
// The tailnet's access policy (HuJSON: JSON with comments and trailing commas).
// `tailcfg policy lint` and `tailcfg policy test` check it offline; `tailcfg policy push`
// writes it to the control server.
{
\t// Who may apply each tag, e.g. "tag:server": ["group:admins"].
\t"tagOwners": {},

\t// Every member reaches their own devices; add rules as the tailnet grows.
\t"acls": [
\t\t{
\t\t\t"action": "accept",
\t\t\t"src":    ["autogroup:member"],
\t\t\t"dst":    ["autogroup:self:*"],
\t\t},
\t],

\t// Assertions `tailcfg policy test` (and the control server) check on every change,
\t// e.g. {"src": "you@example.com", "accept": ["tag:server:22"]}.
\t"tests": [],
}
"""


class _Admin(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def age(self) -> str: ...


def sops_yaml(admins: Sequence[_Admin]) -> str:
    head = [
        "# Who can decrypt what (sops). `tailcfg hosts add NAME --ssh-host-key KEY` adds a rule",
        "# per host (secrets/NAME/: the admins and the host's own key, converted from its SSH",
        "# host key); `tailcfg sops check` proves every secret follows these rules.",
    ]
    if not admins:
        return "\n".join(
            [
                *head,
                "# TODO: add the admins' age recipients (as in tailcfg.yaml), then a catch-all:",
                "#   keys: [&admin age1...]",
                "#   creation_rules:",
                "#     - path_regex: secrets/[^/]+\\.yaml$",
                "#       key_groups: [{age: [*admin]}]",
                "keys: []",
                "creation_rules: []",
                "",
            ]
        )
    keys = [f"  - &{a.name} {a.age}" for a in admins]
    refs = ", ".join(f"*{a.name}" for a in admins)
    return "\n".join(
        [
            *head,
            "keys:",
            *keys,
            "creation_rules:",
            "  # Catch-all: everything else only for the admins.",
            "  - path_regex: secrets/[^/]+\\.yaml$",
            "    key_groups:",
            f"      - age: [{refs}]",
            "",
        ]
    )


PRECOMMIT = """\
# pre-commit hooks from tailcfg's .pre-commit-hooks.yaml (`pre-commit install` to use them):
# format, lint and test the policy; every secret sealed right; nix/ up to date.
repos:
  - repo: https://github.com/OWNER/tailcfg  # TODO: where you get tailcfg from
    rev: v{version}
    hooks:
      - id: tailcfg-policy-fmt
      - id: tailcfg-policy-lint
      - id: tailcfg-policy-test
      - id: tailcfg-sops-check
      - id: tailcfg-nix-render
"""

FLAKE = """\
{
  description = "The tailnet's NixOS hosts, wired by tailcfg";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    sops-nix.url = "github:Mic92/sops-nix";
    sops-nix.inputs.nixpkgs.follows = "nixpkgs";
    tailcfg.url = "github:OWNER/tailcfg"; # TODO: where you get tailcfg from
    tailcfg.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    {
      nixpkgs,
      sops-nix,
      tailcfg,
      ...
    }:
    let
      # Every host of tailcfg.yaml, as rendered by `tailcfg nix render`.
      inventory = builtins.fromJSON (builtins.readFile ./nix/inventory.json);
      host =
        name:
        nixpkgs.lib.nixosSystem {
          modules = [
            sops-nix.nixosModules.sops
            tailcfg.nixosModules.default
            {
              nixpkgs.hostPlatform = "x86_64-linux"; # TODO: each host's platform
              networking.hostName = name;
              services.tailcfg = {
                enable = true;
                inventory = ./nix/inventory.json;
              };
            }
            # TODO: the host's own configuration, e.g. ./hosts/${name}/configuration.nix
          ];
        };
    in
    {
      nixosConfigurations = nixpkgs.lib.genAttrs (builtins.attrNames inventory.hosts) host;
    };
}
"""

GITIGNORE = """\
# Never commit private keys or plaintext secrets (secrets/ holds only sops-encrypted files).
*.agekey
keys.txt
ssh_host_*_key
*.dec
*.dec.yaml
# Local state: the embedded control plane, Nix builds.
control-state/
result
result-*
.direnv/
"""
