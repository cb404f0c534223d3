# Evaluates the pure parts of flake.nix offline: a stand-in for the nixpkgs input supplies
# lib (tests/nix/lib.nix plus the few helpers the flake uses) and stub package sets.
# The `module` check really runs: nix/modules/tailcfg.nix against the golden evaluation.
let
  flake = import ../../flake.nix;
  standIn = import ./lib.nix;
  lib = standIn // {
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    optionalAttrs = cond: attrs: if cond then attrs else { };
    getExe = drv: "${drv.name}/bin/tailcfg";
  };
  stubPkgs = {
    runCommand = name: env: script: {
      type = "stub";
      inherit name script;
    };
    callPackage = path: args: {
      type = "stub";
      name = "package";
      path = baseNameOf path;
    };
    stdenv.hostPlatform.isLinux = false;
    nixfmt = "nixfmt";
  };
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs [
      "x86_64-linux"
      "aarch64-linux"
      "x86_64-darwin"
      "aarch64-darwin"
    ] (_: stubPkgs);
  };
  self = outputs // {
    outPath = "/source";
  };
  outputs = flake.outputs { inherit self nixpkgs; };
  checks = outputs.checks.x86_64-linux;
in
{
  inherit (flake) description;
  inputs = builtins.mapAttrs (_: input: input.url) flake.inputs;
  outputs = builtins.attrNames outputs;
  systems = builtins.attrNames outputs.packages;
  module = builtins.isFunction outputs.nixosModules.default;
  package = outputs.packages.x86_64-linux.default.path;
  app = outputs.apps.x86_64-linux.default.program;
  checks = builtins.mapAttrs (_: check: check.name) checks;
  render = checks.render.script;
  formatter = outputs.formatter.x86_64-linux;
}
