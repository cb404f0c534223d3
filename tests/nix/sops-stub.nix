# The slice of sops-nix's option interface that nix/modules/tailcfg.nix sets, for evaluating
# a whole NixOS configuration without fetching sops-nix (the flake's `nixos` check).
# Like sops-nix, `path` defaults to /run/secrets/<name>.
{ lib, ... }:
{
  options.sops.secrets = lib.mkOption {
    default = { };
    type = lib.types.attrsOf (
      lib.types.submodule (
        { name, ... }:
        {
          options = {
            sopsFile = lib.mkOption { type = lib.types.path; };
            key = lib.mkOption {
              type = lib.types.str;
              default = name;
            };
            restartUnits = lib.mkOption {
              type = lib.types.listOf lib.types.str;
              default = [ ];
            };
            path = lib.mkOption {
              type = lib.types.str;
              default = "/run/secrets/${name}";
            };
          };
        }
      )
    );
  };
}
