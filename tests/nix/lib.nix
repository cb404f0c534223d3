# A minimal stand-in for nixpkgs' `lib`, providing what nix/modules/tailcfg.nix uses.
# Values have the shapes nixpkgs' lib gives them (`_type` = "option" / "if" / "merge" /
# "override"), so tests/nix/harness.nix can evaluate the module with either one.
let
  isPathLike = v: builtins.isPath v || (builtins.isString v && builtins.substring 0 1 v == "/");

  mkType = name: check: {
    _type = "option-type";
    inherit name check;
    description = name;
  };
in
rec {
  mkOption = attrs: attrs // { _type = "option"; };

  mkEnableOption = name: mkOption {
    type = types.bool;
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
  };

  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };

  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };

  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };

  mkDefault = mkOverride 1000;

  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };

  mkForce = mkOverride 50;

  types = rec {
    bool = mkType "bool" builtins.isBool;
    str = mkType "str" builtins.isString;
    path = mkType "path" isPathLike;
    port = mkType "port" (v: builtins.isInt v && v >= 0 && v <= 65535);
    nullOr = t: mkType "null or ${t.name}" (v: v == null || t.check v);
    listOf = t: mkType "list of ${t.name}" (v: builtins.isList v && builtins.all t.check v);
    attrsOf = t: mkType "attrs of ${t.name}" (
      v: builtins.isAttrs v && builtins.all t.check (builtins.attrValues v)
    );
    enum = values: mkType "one of ${builtins.toJSON values}" (v: builtins.elem v values);
    either = a: b: mkType "${a.name} or ${b.name}" (v: a.check v || b.check v);
  };
}
