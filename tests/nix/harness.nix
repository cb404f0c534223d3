# Evaluates nix/modules/tailcfg.nix and the rendered nix/hosts/<host>.nix files for every
# host of a rendered inventory, with stand-ins for what NixOS and sops-nix would provide.
#
#   nix-instantiate --eval --strict --json tests/nix/harness.nix \
#     --argstr root DIR --argstr out DIR/nix [--argstr settings '{"acceptRoutes": true}']
#
# `root` is the repository holding tailcfg.yaml (paths in the result are relative to it),
# `out` the directory `tailcfg nix render` wrote. The result maps each host to the option
# values the module set ("module") and the ones its rendered file set ("file", or null
# when that file was not rendered). Option values are type-checked against stand-in
# declarations of services.tailscale (nixpkgs) and sops.secrets (sops-nix).
{
  root,
  out,
  settings ? "{}",
  lib ? (
    if builtins.any (entry: entry.prefix == "nixpkgs") builtins.nixPath then
      import <nixpkgs/lib>
    else
      import ./lib.nix
  ),
}:

let
  inherit (lib) types;

  module = import ../../nix/modules/tailcfg.nix;
  inventoryFile = /. + "${out}/inventory.json";
  inventory = builtins.fromJSON (builtins.readFile inventoryFile);
  extraSettings = builtins.fromJSON settings;

  absent = {
    _tailcfgHarnessAbsent = true;
  };
  isAbsent = v: builtins.isAttrs v && v ? _tailcfgHarnessAbsent;

  # Strip mkIf / mkMerge / mkOverride from a module's `config`, as the module system would.
  resolve =
    v:
    if builtins.isAttrs v && v ? _type then
      if v._type == "if" then
        (if v.condition then resolve v.content else absent)
      else if v._type == "merge" then
        builtins.foldl' (acc: c: acc // c) { } (
          builtins.filter (c: !(isAbsent c)) (map resolve v.contents)
        )
      else if v._type == "override" then
        resolve v.content
      else
        throw "harness: unexpected _type ${v._type}"
    else if builtins.isAttrs v then
      builtins.mapAttrs (_: resolve) v
    else
      v;

  # Drop the entries a false mkIf removed; done where values are read, to stay lazy.
  present = attrs: removeAttrs attrs (builtins.filter (n: isAbsent attrs.${n}) (builtins.attrNames attrs));

  isOption = v: builtins.isAttrs v && (v._type or null) == "option";

  defaultsOf =
    decls:
    builtins.mapAttrs (
      name: decl:
      if isOption decl then
        decl.default or (throw "harness: option ${name} has no default and was not set")
      else
        defaultsOf decl
    ) decls;

  # Fail loudly when a value does not have the declared type.
  checked =
    path: decls: values:
    builtins.mapAttrs (
      name: value:
      let
        decl = decls.${name} or (throw "harness: ${path}.${name} is not a declared option");
      in
      if isOption decl then
        (
          if decl.type.check value then
            value
          else
            throw "harness: ${path}.${name} = ${builtins.toJSON value} is not a ${decl.type.name}"
        )
      else
        checked "${path}.${name}" decl value
    ) values;

  # What nixpkgs' tailscale module and sops-nix declare (the parts the module sets).
  tailscaleDecls = {
    enable = lib.mkOption { type = types.bool; };
    authKeyFile = lib.mkOption { type = types.nullOr types.path; };
    extraUpFlags = lib.mkOption { type = types.listOf types.str; };
    useRoutingFeatures = lib.mkOption {
      type = types.enum [
        "none"
        "client"
        "server"
        "both"
      ];
    };
    openFirewall = lib.mkOption { type = types.bool; };
  };
  secretDecls = {
    sopsFile = lib.mkOption { type = types.path; };
    key = lib.mkOption { type = types.str; };
    restartUnits = lib.mkOption { type = types.listOf types.str; };
  };

  relative =
    p:
    let
      s = toString p;
      prefix = "${root}/";
      n = builtins.stringLength prefix;
    in
    if builtins.substring 0 n s == prefix then
      builtins.substring n (builtins.stringLength s - n) s
    else
      throw "harness: ${s} is outside ${root}";

  # Evaluate one NixOS-module function against a stand-in `config` (a fixpoint).
  evalWith =
    name: fn: tailcfgSettings:
    let
      result = fn {
        inherit config lib;
        pkgs = { };
      };
      decls = result.options or { };
      set = resolve (result.config or (removeAttrs result [ "options" ]));
      tailcfgDecls = decls.services.tailcfg or { };
      config = {
        networking.hostName = name;
        services.tailcfg = checked "services.tailcfg" tailcfgDecls (
          defaultsOf tailcfgDecls // tailcfgSettings
        );
        services.tailscale = checked "services.tailscale" tailscaleDecls (
          present (set.services.tailscale or { })
        );
        sops.secrets = builtins.mapAttrs (
          secret: value: checked "sops.secrets.${secret}" secretDecls (present value) // { path = "/run/secrets/${secret}"; }
        ) (present (set.sops.secrets or { }));
      };
      unexpected = builtins.filter (n: n != "services" && n != "sops") (builtins.attrNames (present set));
    in
    if unexpected != [ ] then
      throw "harness: ${name} sets ${builtins.toJSON unexpected}"
    else if (set.sops or { }) ? age then
      throw "harness: ${name} sets sops.age (it must rely on sops-nix's default)"
    else
      {
        services.tailscale = config.services.tailscale;
        sops.secrets = builtins.mapAttrs (
          _: s: s // { sopsFile = relative s.sopsFile; }
        ) config.sops.secrets;
      };

  hostFile = name: /. + "${out}/hosts/${name}.nix";
in
builtins.mapAttrs (name: _: {
  module = evalWith name module (
    {
      enable = true;
      inventory = inventoryFile;
    }
    // extraSettings
  );
  file = if builtins.pathExists (hostFile name) then evalWith name (import (hostFile name)) { } else null;
}) inventory.hosts
