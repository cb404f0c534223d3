"""``tailcfg control init``: the state directory, the control key pair and the admin API key.

The admin key is written once to ``STATE/admin.key`` (mode 0600) and never shown again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tailcfg.atomicfile import atomic_write_text
from tailcfg.control import auth, keys
from tailcfg.control.model import utcnow
from tailcfg.control.store import Store
from tailcfg.errors import ControlError

ADMIN_KEY_FILE = "admin.key"
DB_FILE = "control.db"


@dataclass(frozen=True, slots=True)
class InitResult:
    state_dir: Path
    admin_key_path: Path
    control_public_key: str
    admin_login: str
    domain: str


def init_state(
    state_dir: str | Path,
    *,
    admin_login: str = "admin@example.com",
    domain: str = "tailnet.internal",
) -> InitResult:
    """Create the state of a new control server; refuses a directory that has one."""
    state = Path(state_dir)
    admin_path = state / ADMIN_KEY_FILE
    if admin_path.exists():
        raise ControlError(f"{state}: already initialised (the admin key is not shown again)")
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    control_key = keys.create_control_key(state)
    now = utcnow()
    # It holds key hashes and node keys: 0600 from the start (SQLite gives its -wal and
    # -shm files the database file's mode).
    os.close(os.open(state / DB_FILE, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(state / DB_FILE, 0o600)
    with Store(state / DB_FILE) as store:
        store.set_setting("domain", domain)
        admin = store.ensure_user(admin_login, now=now, is_admin=True)
        key_id, secret, full = auth.new_key(auth.API_PREFIX)
        store.add_api_key(key_id, auth.hash_secret(secret), user_id=admin.id, now=now)
    atomic_write_text(admin_path, full + "\n", mode=0o600)
    return InitResult(
        state_dir=state,
        admin_key_path=admin_path,
        control_public_key=keys.public_text(control_key.public_key, keys.CONTROL_PREFIX),
        admin_login=admin_login,
        domain=domain,
    )


def is_initialised(state_dir: str | Path) -> bool:
    state = Path(state_dir)
    return (state / ADMIN_KEY_FILE).exists() and (state / keys.CONTROL_KEY_FILE).exists()


def read_admin_key(state_dir: str | Path) -> str:
    path = Path(state_dir) / ADMIN_KEY_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ControlError(f"{path}: missing; run `tailcfg control init` first") from None
