# tailcfg NixOS module: joins this host to the tailnet declared in tailcfg.yaml.
#
# It reads the inventory rendered by `tailcfg nix render` (nix/inventory.json) and, for
# `services.tailcfg.hostName`, wires the host's sealed auth key (sops-nix) into
# `services.tailscale`:
#
#   sops.secrets.tailscale_authkey   <- <secretsDir>/<host>/tailscale.yaml
#   services.tailscale.authKeyFile   =  config.sops.secrets.tailscale_authkey.path
#   services.tailscale.extraUpFlags  =  --advertise-tags/-routes/-exit-node, --ssh, ...
#
# sops-nix must be imported next to this module. Nothing here sets or reads
# `sops.age.sshKeyPaths`: sops-nix decrypts with the host's ed25519 SSH host key by
# default, which is the age recipient `tailcfg keys mint` sealed the secret for.
{ config, lib, ... }:

let
  inherit (lib)
    literalExpression
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  cfg = config.services.tailcfg;

  rendered = builtins.fromJSON (builtins.readFile cfg.inventory);
  inventory =
    if (rendered.version or null) == 1 then
      rendered
    else
      throw "services.tailcfg.inventory: ${toString cfg.inventory} is not format 1; re-run `tailcfg nix render`";

  host =
    inventory.hosts.${cfg.hostName} or (throw (
      "services.tailcfg.hostName: host '${cfg.hostName}' is not in ${toString cfg.inventory}"
      + " (hosts: ${builtins.concatStringsSep ", " (builtins.attrNames inventory.hosts)})"
    ));

  # Headscale and the embedded control plane need --login-server; Tailscale's hosted
  # control plane is the client's default.
  loginServer =
    if cfg.loginServer != null then
      cfg.loginServer
    else if inventory.control.backend != "tailscale" then
      inventory.control.url
    else
      null;

  joinComma = builtins.concatStringsSep ",";

  optionals = cond: list: if cond then list else [ ];

  upFlags =
    optionals (host.tags != [ ]) [ "--advertise-tags=${joinComma host.tags}" ]
    ++ optionals (host.routes != [ ]) [ "--advertise-routes=${joinComma host.routes}" ]
    ++ optionals host.exit_node [ "--advertise-exit-node" ]
    ++ optionals host.ssh [ "--ssh" ]
    ++ optionals cfg.acceptRoutes [ "--accept-routes" ]
    ++ [ "--hostname=${cfg.hostName}" ]
    ++ optionals (loginServer != null) [ "--login-server=${loginServer}" ];

  serves = host.routes != [ ] || host.exit_node;

  routingFeatures =
    if serves && cfg.acceptRoutes then
      "both"
    else if serves then
      "server"
    else if cfg.acceptRoutes then
      "client"
    else
      "none";
in
{
  options.services.tailcfg = {
    enable = mkEnableOption "joining the tailnet declared in tailcfg.yaml";

    hostName = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = literalExpression "config.networking.hostName";
      description = "This host's name in tailcfg.yaml (`hosts.<name>`).";
    };

    inventory = mkOption {
      type = types.path;
      example = literalExpression "./nix/inventory.json";
      description = "The inventory rendered by `tailcfg nix render` (nix/inventory.json).";
    };

    secretsDir = mkOption {
      type = types.path;
      default = dirOf cfg.inventory + "/${inventory.secrets_dir}";
      defaultText = literalExpression ''dirOf inventory + "/''${secrets_dir}"'';
      example = literalExpression "./secrets";
      description = "Directory holding `<host>/tailscale.yaml`, sealed by `tailcfg keys mint`.";
    };

    loginServer = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://headscale.example.com";
      description = ''
        Control server URL passed as `--login-server`. The default (null) takes the
        inventory's `control.url` for the headscale and embedded backends, and passes no
        flag for Tailscale's hosted control plane.
      '';
    };

    acceptRoutes = mkOption {
      type = types.bool;
      default = false;
      description = "Pass `--accept-routes` (and enable client-side routing features).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = "Open tailscaled's UDP port (services.tailscale.openFirewall).";
    };
  };

  config = mkIf cfg.enable {
    sops.secrets.tailscale_authkey = {
      sopsFile = cfg.secretsDir + "/${cfg.hostName}/tailscale.yaml";
      key = "tailscale_authkey";
      # nixpkgs runs `tailscale up --auth-key file:...` in this unit.
      restartUnits = [ "tailscaled-autoconnect.service" ];
    };

    services.tailscale = {
      enable = true;
      authKeyFile = config.sops.secrets.tailscale_authkey.path;
      extraUpFlags = upFlags;
      useRoutingFeatures = routingFeatures;
      openFirewall = cfg.openFirewall;
    };
  };
}
