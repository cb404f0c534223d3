"""``tailcfg init``: a tailnet repository a person can commit at once.

:func:`plan_init` computes every file (``tailcfg.yaml``, ``policy.hujson``, ``.sops.yaml``,
``secrets/``, ``.pre-commit-config.yaml``, ``flake.nix``, ``.gitignore``, the rendered
``nix/`` and, from a live tailnet, ``devices.json``) and compares it with what is on disk:
a file that exists with other content is a conflict and nothing is written
(:func:`apply_init` refuses); a file with the same content is left alone, so running init
twice changes nothing. Texts are deterministic (no dates), hence idempotent.

The live part (:class:`Snapshot`) comes from :mod:`tailcfg.scaffold_remote`; the host
entries of ``tailcfg.yaml`` from :mod:`tailcfg.scaffold_hosts`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tailcfg import __version__, nix
from tailcfg.age import AgeKeyError, age_identity_to_recipient, is_age_recipient
from tailcfg.atomicfile import atomic_write_text
from tailcfg.devices import Device, devices_json_text
from tailcfg.errors import InventoryError, TailcfgError
from tailcfg.inventory import DEFAULT_URLS, Backend, load_inventory
from tailcfg.scaffold_hosts import hosts_yaml, scalar
from tailcfg.scaffold_texts import FLAKE, GITIGNORE, PRECOMMIT, STARTER_POLICY, sops_yaml

DEVICES_FILE = "devices.json"


class FileState(StrEnum):
    CREATE = "create"
    SAME = "unchanged"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class PlannedFile:
    rel: str  # relative to the repository, POSIX
    text: str
    state: FileState
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class Admin:
    name: str
    age: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the live tailnet holds: the policy text as stored, and its devices."""

    remote: str  # names the server (and tailnet)
    policy_text: str  # "" when the server holds none (Headscale before a policy is set)
    etag: str
    devices: tuple[Device, ...]


@dataclass(frozen=True, slots=True)
class InitOptions:
    directory: Path
    backend: Backend = "tailscale"
    url: str | None = None
    tailnet: str = "-"
    admins: tuple[Admin, ...] = ()
    snapshot: Snapshot | None = None
    admin_source: str = ""  # where the admin recipient came from (for the plan's notes)


@dataclass(frozen=True, slots=True)
class InitPlan:
    directory: Path
    files: tuple[PlannedFile, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def conflicts(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.state is FileState.CONFLICT)

    @property
    def to_write(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.state is FileState.CREATE)


# --- admins ----------------------------------------------------------------------------------


def parse_admin(value: str, index: int) -> Admin:
    """``age1...`` or ``NAME=age1...`` (``--admin-age``)."""
    name, sep, age = value.partition("=")
    if not sep:
        name, age = ("admin" if index == 0 else f"admin{index + 1}"), value
    name, age = name.strip(), age.strip()
    if not is_age_recipient(age):
        raise TailcfgError(f"--admin-age {value!r}: not an age recipient (age1...)")
    if not name or not all(c.isalnum() or c in "_.-" for c in name):
        raise TailcfgError(f"--admin-age {value!r}: the name may hold letters, digits, _ . -")
    return Admin(name, age)


def sops_identity_file(environ: Mapping[str, str], home: Path) -> Path:
    """Where sops looks for the user's age identities."""
    if environ.get("SOPS_AGE_KEY_FILE"):
        return Path(environ["SOPS_AGE_KEY_FILE"])
    config = (
        Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else home / ".config"
    )
    return config / "sops" / "age" / "keys.txt"


def admin_from_identity(environ: Mapping[str, str], home: Path) -> tuple[Admin, str] | None:
    """The public key of the user's first sops age identity, and the file it came from."""
    path = sops_identity_file(environ, home)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if line.strip().startswith("AGE-SECRET-KEY-1"):
            try:
                return Admin("admin", age_identity_to_recipient(line.strip())), str(path)
            except AgeKeyError:
                raise TailcfgError(f"{path}: holds an age identity that is not valid") from None
    return None


# --- the plan -------------------------------------------------------------------------------


def inventory_yaml(options: InitOptions) -> str:
    snapshot = options.snapshot
    url = options.url or DEFAULT_URLS.get(options.backend, "")
    lines = [
        "# The tailnet, declared: hosts, their tags and auth-key options, the admins, the",
        "# control server. Checked by the schema in tailcfg's schemas/inventory.schema.json.",
    ]
    if snapshot is not None:
        lines.append(f"# Hosts pulled from the live tailnet ({snapshot.remote}): see TODOs.")
    lines += [
        f"tailnet: {scalar(options.tailnet)}",
        "control:",
        f"  backend: {options.backend}",
        f"  url: {scalar(url)}" if url else "  # TODO: url: the control server's API URL",
        "  # Credentials only from the environment: TAILSCALE_API_KEY, or",
        "  # TAILSCALE_OAUTH_CLIENT_ID + TAILSCALE_OAUTH_CLIENT_SECRET; HEADSCALE_API_KEY.",
        "policy: policy.hujson",
        "secrets_dir: secrets",
    ]
    if options.admins:
        lines.append("admins:  # age recipients that can decrypt every secret")
        lines += [f"  - {{name: {a.name}, age: {a.age}}}" for a in options.admins]
    else:
        lines += [
            "# TODO: admins: the age recipients that can decrypt every secret, e.g.",
            "#   admins: [{name: me, age: age1...}]   (`age-keygen -y keys.txt` prints yours)",
            "admins: []",
        ]
    lines += hosts_yaml(snapshot.devices if snapshot is not None else ())
    return "\n".join(lines) + "\n"


def _contents(options: InitOptions) -> list[tuple[str, str, int]]:
    snapshot = options.snapshot
    inventory = inventory_yaml(options)
    files = [
        ("tailcfg.yaml", inventory, 0o644),
        ("policy.hujson", (snapshot and snapshot.policy_text) or STARTER_POLICY, 0o644),
        (".sops.yaml", sops_yaml(options.admins), 0o644),
        ("secrets/.gitkeep", "", 0o644),
        (".pre-commit-config.yaml", PRECOMMIT.format(version=__version__), 0o644),
        ("flake.nix", FLAKE, 0o644),
        (".gitignore", GITIGNORE, 0o644),
    ]
    if snapshot is not None:
        files.append((DEVICES_FILE, devices_json_text(snapshot.devices), 0o644))
    files += [(rel, text, 0o644) for rel, text in _rendered_nix(inventory)]
    return files


def _rendered_nix(inventory_text: str) -> list[tuple[str, str]]:
    """``nix render`` of the new inventory, done in a scratch copy (paths are relative)."""
    with tempfile.TemporaryDirectory(prefix="tailcfg-init-") as tmp:
        root = Path(tmp).resolve()
        path = root / "tailcfg.yaml"
        path.write_text(inventory_text, encoding="utf-8")
        try:
            rendering = nix.render(load_inventory(path))
        except InventoryError as exc:  # our own text: a bug, not the user's input
            raise AssertionError(f"init wrote an invalid tailcfg.yaml: {exc}") from None
        return [(f.path.relative_to(root).as_posix(), f.text) for f in rendering.files]


def plan_init(options: InitOptions) -> InitPlan:
    directory = options.directory
    if directory.exists() and not directory.is_dir():
        raise TailcfgError(f"{directory}: exists and is not a directory")
    planned = []
    for rel, text, mode in _contents(options):
        planned.append(PlannedFile(rel, text, _state(directory / rel, text), mode))
    notes = []
    if options.admin_source:
        notes.append(f"admin recipient from {options.admin_source}")
    if not options.admins:
        notes.append("no admin age recipient (--admin-age, or a sops age identity): see TODO")
    if options.snapshot is not None and not options.snapshot.policy_text:
        notes.append(f"{options.snapshot.remote} holds no policy: policy.hujson is the starter")
    if options.snapshot is not None:
        missing = sum(not d.external for d in options.snapshot.devices)
        if missing:
            notes.append(
                f"{missing} hosts need their SSH host key: `tailcfg hosts add NAME"
                " --ssh-host-key KEY` (TODO comments in tailcfg.yaml)"
            )
    return InitPlan(directory, tuple(planned), tuple(notes))


def _state(path: Path, text: str) -> FileState:
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        return FileState.CREATE
    except IsADirectoryError:
        return FileState.CONFLICT
    except OSError as exc:
        raise TailcfgError(f"{path}: cannot read: {exc.strerror}") from None
    return FileState.SAME if current == text.encode("utf-8") else FileState.CONFLICT


def apply_init(plan: InitPlan) -> list[PlannedFile]:
    """Write the files to create; TailcfgError (writing nothing) when any would overwrite."""
    if plan.conflicts:
        listed = ", ".join(f.rel for f in plan.conflicts)
        raise TailcfgError(
            f"{plan.directory}: refusing to overwrite {listed} (they exist with other content);"
            " move them away or init another directory"
        )
    written = []
    for planned in plan.to_write:
        path = plan.directory / planned.rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, planned.text, mode=planned.mode)
        except OSError as exc:
            raise TailcfgError(f"{path}: cannot write: {exc.strerror}") from None
        written.append(planned)
    return written


def describe(files: Sequence[PlannedFile]) -> list[str]:
    return [f"{f.state.value:9} {f.rel}" for f in files]
