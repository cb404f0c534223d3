{
  description = "tailcfg: declarative, provable Tailscale/Headscale tailnets";

  # Only nixpkgs. Users bring sops-nix themselves (see docs/nix.md).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems =
        f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      example = ./examples/homelab;

      # The module and nix/hosts/*.nix evaluated against nixpkgs' lib by tests/nix's
      # harness (secret paths relative to the example).
      moduleEval = import ./tests/nix/harness.nix {
        inherit (nixpkgs) lib;
        root = toString example;
        out = toString ./nix;
      };
      expectedEval = builtins.fromJSON (builtins.readFile ./tests/golden/nix/eval/homelab.json);

      # A whole NixOS configuration per example host, with nixpkgs' real tailscale module
      # (and a stand-in for sops-nix's options): the option names and the unit must exist.
      nixosEval =
        system: host:
        let
          config =
            (nixpkgs.lib.nixosSystem {
              modules = [
                self.nixosModules.default
                ./tests/nix/sops-stub.nix
                {
                  nixpkgs.hostPlatform = system;
                  networking.hostName = host;
                  services.tailcfg = {
                    enable = true;
                    inventory = ./nix/inventory.json;
                  };
                  boot.isContainer = true;
                  system.stateVersion = "25.05";
                }
              ];
            }).config;
          secret = config.sops.secrets.tailscale_authkey;
          prefix = toString example + "/";
        in
        assert config.systemd.services ? tailscaled-autoconnect;
        {
          services.tailscale = {
            inherit (config.services.tailscale)
              enable
              extraUpFlags
              useRoutingFeatures
              openFirewall
              ;
            authKeyFile = toString config.services.tailscale.authKeyFile;
          };
          sops.secrets.tailscale_authkey = {
            inherit (secret) key restartUnits path;
            sopsFile = nixpkgs.lib.removePrefix prefix (toString secret.sopsFile);
          };
        };
    in
    {
      nixosModules.default = import ./nix/modules/tailcfg.nix;
      nixosModules.tailcfg = self.nixosModules.default;

      packages = forAllSystems (
        system: pkgs: {
          tailcfg = pkgs.callPackage ./nix/package.nix { };
          default = self.packages.${system}.tailcfg;
        }
      );

      apps = forAllSystems (
        system: _: {
          default = {
            type = "app";
            program = nixpkgs.lib.getExe self.packages.${system}.default;
          };
        }
      );

      devShells = forAllSystems (
        _: pkgs: {
          default = pkgs.mkShell {
            packages = [
              (pkgs.python3.withPackages (
                ps: with ps; [
                  typer
                  rich
                  jsonschema
                  pynacl
                  ruamel-yaml
                  httpx
                  starlette
                  uvicorn
                  jinja2
                  hatchling
                  pytest
                  pytest-timeout
                  hypothesis
                  mypy
                ]
              ))
              pkgs.ruff
              pkgs.pre-commit
              pkgs.sops
              pkgs.age
              pkgs.ssh-to-age
              pkgs.nixfmt
            ];
          };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        let
          tailcfg = self.packages.${system}.default;
          run =
            name: script:
            pkgs.runCommand "tailcfg-${name}" { nativeBuildInputs = [ tailcfg ]; } ''
              ${script}
              touch $out
            '';
        in
        {
          package = tailcfg;

          policy = run "policy-homelab" ''
            tailcfg policy lint ${example}/policy.hujson
            tailcfg policy test ${example}/policy.hujson --nodes ${example}/nodes.json
          '';

          # nix/ holds the example rendered; it must match tailcfg.yaml.
          render = run "render-up-to-date" ''
            cp -r ${self} src
            chmod -R u+w src
            cd src
            tailcfg nix render --check --inventory examples/homelab/tailcfg.yaml --out nix
          '';

          module =
            if moduleEval == expectedEval then
              run "module-eval" "echo the module evaluates as tests/golden/nix/eval/homelab.json"
            else
              throw "nix/modules/tailcfg.nix: evaluation differs from tests/golden/nix/eval/homelab.json";
        }
        // nixpkgs.lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          nixos =
            let
              got = builtins.mapAttrs (host: _: nixosEval system host) expectedEval;
              want = builtins.mapAttrs (_: value: value.module) expectedEval;
            in
            if got == want then
              run "nixos-eval" "echo every example host evaluates as a NixOS configuration"
            else
              throw "NixOS evaluation of the example hosts: ${builtins.toJSON got}";
        }
      );

      formatter = forAllSystems (_: pkgs: pkgs.nixfmt);
    };
}
