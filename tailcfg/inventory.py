"""The inventory, ``tailcfg.yaml``: hosts, their tags and key options, admins, control server.

``load_inventory(path)`` reads the file with ruamel.yaml's round-trip loader (so every node
knows its line and column), validates it against ``schemas/inventory.schema.json`` and
returns an immutable :class:`Inventory`. Every error is positioned ``file:line:col``.
Credentials are never part of the inventory; see :mod:`tailcfg.keys.credentials`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NoReturn

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from tailcfg.errors import InventoryError
from tailcfg.resources import schema_path
from tailcfg.source import Diagnostic, Span
from tailcfg.textfile import read_text

Backend = Literal["tailscale", "headscale", "embedded"]

DEFAULT_URLS: Mapping[str, str] = {"tailscale": "https://api.tailscale.com"}
DEFAULT_EXPIRY = 90 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """Options of the auth key minted for a host (Tailscale's defaults: single-use, 90 days)."""

    reusable: bool = False
    ephemeral: bool = False
    preauthorized: bool = True
    expiry: int = DEFAULT_EXPIRY  # seconds


@dataclass(frozen=True, slots=True)
class Host:
    """One machine of the tailnet. ``ssh_host_key`` is the key text (``ssh-ed25519 AAAA...``);
    None for a host declared without one yet (nothing can be sealed for it)."""

    name: str
    ssh_host_key: str | None
    tags: tuple[str, ...] = ()
    key: KeyOptions = field(default_factory=KeyOptions)
    routes: tuple[str, ...] = ()
    exit_node: bool = False
    ssh: bool = False
    user: str | None = None
    ssh_host_key_file: Path | None = None  # where the key was read from, when given as a path


@dataclass(frozen=True, slots=True)
class Admin:
    name: str
    age: str


@dataclass(frozen=True, slots=True)
class ControlConfig:
    backend: Backend = "tailscale"
    url: str = DEFAULT_URLS["tailscale"]
    oauth_tags: tuple[str, ...] = ()  # the tags an OAuth client owns (keys must be owned by them)
    user: str | None = None  # Headscale: owner of tagged hosts' keys (older Headscale needs one)


@dataclass(frozen=True, slots=True)
class Inventory:
    path: Path
    root_dir: Path
    tailnet: str
    control: ControlConfig
    policy: Path
    secrets_dir: Path
    admins: tuple[Admin, ...]
    hosts: Mapping[str, Host]

    @property
    def sops_config(self) -> Path:
        """The repository's ``.sops.yaml`` (beside ``tailcfg.yaml``)."""
        return self.root_dir / ".sops.yaml"

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise InventoryError(
                f"{self.path}: host {name!r} is not in the inventory (hosts: {known})"
            ) from None

    def secrets_file(self, host: str) -> Path:
        """``secrets/<host>/tailscale.yaml``: where the host's auth key is sealed."""
        return self.secrets_dir / host / "tailscale.yaml"

    def host_key(self, name: str) -> str:
        """The host's SSH host key text; InventoryError when it has none yet."""
        key = self.host(name).ssh_host_key
        if key is None:
            raise InventoryError(
                f"{self.path}: host {name!r} has no ssh_host_key yet: add it with"
                f" `tailcfg hosts add {name} --ssh-host-key KEY` (its ed25519 SSH host key)"
            )
        return key


def parse_duration(value: int | str) -> int:
    """``90d`` / ``12h`` / ``30m`` / ``45s`` or an int of seconds -> seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"duration must be positive: {value}")
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"not a duration (use e.g. 90d, 12h, 30m, 45s): {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The largest exact unit: 7776000 -> ``90d``, 5400 -> ``90m``."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0 and seconds >= _UNITS[unit]:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def ed25519_key_blob(text: str) -> bytes:
    """The wire blob of an ``ssh-ed25519`` public key line; ValueError if it is not one."""
    parts = text.split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise ValueError("not an ssh-ed25519 public key (expected 'ssh-ed25519 AAAA...')")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the ssh-ed25519 key is not valid base64") from None
    if (
        len(blob) != 51
        or blob[:15] != b"\x00\x00\x00\x0bssh-ed25519"
        or blob[15:19] != (b"\x00\x00\x00\x20")
    ):
        raise ValueError("the ssh-ed25519 key blob is malformed")
    return blob


def load_inventory(path: str | Path) -> Inventory:
    """Read, validate and model ``tailcfg.yaml``; InventoryError (positioned) if it is wrong."""
    inv_path = Path(path)
    text = read_text(inv_path, "inventory", error=InventoryError)
    data = _parse_yaml(text, str(inv_path))
    plain = _plain(data)
    diagnostics = [
        Diagnostic(_span(inv_path, data, err), _message(err), "inventory-schema")
        for err in _validator().iter_errors(plain)
    ]
    if diagnostics:
        _raise(sorted(diagnostics, key=lambda d: (d.span.line, d.span.col)))
    return _build(inv_path, data, plain)


class _Located:
    """Positions of the round-trip tree, for errors found after validation."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path, self.data = path, data

    def span(self, *keys: str | int) -> Span:
        line, col = _position(self.data, keys)
        return Span(str(self.path), line, col, line, col)


def _build(path: Path, data: Any, plain: dict[str, Any]) -> Inventory:
    root = path.resolve().parent
    loc = _Located(path, data)
    control_raw = plain.get("control") or {"backend": "tailscale"}
    backend = control_raw["backend"]
    url = control_raw.get("url") or DEFAULT_URLS.get(backend)
    if not url:
        _raise([Diagnostic(loc.span("control"), f"control.url is required for {backend}")])
    problems: list[Diagnostic] = []
    hosts: dict[str, Host] = {}
    for name, raw in (plain.get("hosts") or {}).items():
        try:
            hosts[name] = _host(name, raw, root)
        except _HostProblem as exc:
            problems.append(Diagnostic(loc.span("hosts", name, *exc.keys), str(exc), exc.code))
    if problems:
        _raise(problems)
    return Inventory(
        path=path,
        root_dir=root,
        tailnet=plain.get("tailnet", "-"),
        control=ControlConfig(
            backend,
            url.rstrip("/"),
            tuple(control_raw.get("oauth_tags", ())),
            control_raw.get("user"),
        ),
        policy=root / plain.get("policy", "policy.hujson"),
        secrets_dir=root / plain.get("secrets_dir", "secrets"),
        admins=tuple(Admin(a["name"], a["age"]) for a in plain.get("admins") or ()),
        hosts=MappingProxyType(hosts),
    )


class _HostProblem(ValueError):
    def __init__(self, message: str, keys: tuple[str, ...], code: str) -> None:
        super().__init__(message)
        self.keys, self.code = keys, code


def _host(name: str, raw: Mapping[str, Any], root: Path) -> Host:
    raw_key = raw.get("ssh_host_key")
    key_text, key_file = _read_host_key(raw_key, root) if raw_key is not None else (None, None)
    opts = raw.get("key") or {}
    tags = tuple(raw.get("tags") or ())
    user = raw.get("user")
    if tags and user:
        raise _HostProblem(
            "a tagged host belongs to its tags; drop 'user' or 'tags'", ("user",), "tagged-user"
        )
    return Host(
        name=name,
        ssh_host_key=key_text,
        tags=tags,
        key=KeyOptions(
            reusable=bool(opts.get("reusable", False)),
            ephemeral=bool(opts.get("ephemeral", False)),
            preauthorized=bool(opts.get("preauthorized", True)),
            expiry=parse_duration(opts.get("expiry", DEFAULT_EXPIRY)),
        ),
        routes=tuple(raw.get("routes") or ()),
        exit_node=bool(raw.get("exit_node", False)),
        ssh=bool(raw.get("ssh", False)),
        user=user,
        ssh_host_key_file=key_file,
    )


def _read_host_key(value: str, root: Path) -> tuple[str, Path | None]:
    key_file: Path | None = None
    text = value.strip()
    if not text.startswith("ssh-"):
        key_file = (root / text).resolve()
        try:
            text = key_file.read_bytes().decode("utf-8").strip()
        except OSError as exc:
            raise _HostProblem(
                f"cannot read SSH host key file {value!r}: {exc.strerror}",
                ("ssh_host_key",),
                "ssh-host-key",
            ) from None
        except UnicodeDecodeError:
            raise _HostProblem(
                f"SSH host key file {value!r} is not UTF-8 text", ("ssh_host_key",), "ssh-host-key"
            ) from None
    try:
        ed25519_key_blob(text)
    except ValueError as exc:
        raise _HostProblem(str(exc), ("ssh_host_key",), "ssh-host-key") from None
    return text, key_file


def _raise(diagnostics: Sequence[Diagnostic]) -> NoReturn:
    err = InventoryError("\n".join(d.render() for d in diagnostics))
    err.diagnostics = tuple(diagnostics)  # type: ignore[attr-defined]
    raise err


def _parse_yaml(text: str, path: str) -> Any:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        _raise([Diagnostic(Span(path, line, col, line, col), f"YAML: {problem}", "yaml")])
    if data is None:
        data = CommentedMap()
    return data


def _plain(node: Any) -> Any:
    """The round-trip tree as plain dict/list/str/int/bool (what the schema validates)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return bool(node) if type(node).__name__ == "ScalarBoolean" else int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path("inventory.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _position(data: Any, keys: Sequence[str | int]) -> tuple[int, int]:
    """1-based (line, col) of the node at ``keys`` (or of the deepest existing ancestor)."""
    line, col = _own(data)
    node = data
    for key in keys:
        if isinstance(node, CommentedMap) and key in node:
            line, col = (v + 1 for v in node.lc.value(key))
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            line, col = (v + 1 for v in node.lc.item(key))
            node = node[key]
        else:
            break
    return line, col


def _own(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return 1, 1
    return lc.line + 1, lc.col + 1


def _span(path: Path, data: Any, err: jsonschema.ValidationError) -> Span:
    keys = list(err.absolute_path)
    line, col = _position(data, keys)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        node = _walk(data, keys)
        extra = sorted(set(err.instance) - set(_schema(err).get("properties", {})))
        if extra and isinstance(node, CommentedMap) and extra[0] in node:
            line, col = (v + 1 for v in node.lc.key(extra[0]))
    elif err.validator == "propertyNames" and isinstance(err.instance, str):
        node = _walk(data, keys)
        if isinstance(node, CommentedMap) and err.instance in node:
            line, col = (v + 1 for v in node.lc.key(err.instance))
    return Span(str(path), line, col, line, col)


def _schema(err: jsonschema.ValidationError) -> Mapping[str, Any]:
    return err.schema if isinstance(err.schema, Mapping) else {}


def _walk(data: Any, keys: Sequence[str | int]) -> Any:
    node = data
    for key in keys:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _message(err: jsonschema.ValidationError) -> str:
    where = ".".join(str(k) for k in err.absolute_path)
    prefix = f"{where}: " if where else ""
    if err.validator == "oneOf" and _schema(err).get("description", "").startswith("Seconds"):
        return f"{prefix}{err.instance!r} is not a duration (use e.g. 90d, 12h, or seconds)"
    if err.validator == "pattern" and "tag:" in str(_schema(err).get("pattern", "")):
        return f"{prefix}{err.instance!r} is not a tag (tag:NAME, letters, digits, '-')"
    if err.validator == "pattern" and "age1" in str(_schema(err).get("pattern", "")):
        return f"{prefix}{err.instance!r} is not an age recipient (age1... bech32)"
    return f"{prefix}{err.message}"


def iter_hosts(inventory: Inventory, names: Sequence[str] = ()) -> Iterator[Host]:
    """The named hosts (all, sorted, when ``names`` is empty); InventoryError if one is unknown."""
    for name in names or sorted(inventory.hosts):
        yield inventory.host(name)
