"""The control plane's state in SQLite (``STATE/control.db``): the only module with SQL.

WAL journal, foreign keys on, an explicit list of migrations recorded in ``schema_version``,
every write in one ``BEGIN IMMEDIATE`` transaction. One connection serialised by a lock; the
single-use auth key is claimed with a conditional UPDATE, so exactly one registration wins.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailcfg.closing import Closing
from tailcfg.control.model import AuthKey, ControlRequestError, Device, StoredPolicy, User

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        login TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL DEFAULT '',
        is_admin INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created TEXT NOT NULL,
        expires TEXT,
        revoked TEXT
    );
    CREATE TABLE auth_keys (
        id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        description TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '[]',
        reusable INTEGER NOT NULL,
        ephemeral INTEGER NOT NULL,
        preauthorized INTEGER NOT NULL,
        created TEXT NOT NULL,
        expires TEXT,
        used INTEGER NOT NULL DEFAULT 0,
        revoked TEXT
    );
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        machine_key TEXT NOT NULL UNIQUE,
        node_key TEXT NOT NULL UNIQUE,
        key_expiry TEXT,
        hostname TEXT NOT NULL,
        given_name TEXT NOT NULL UNIQUE,
        ipv4 TEXT NOT NULL UNIQUE,
        ipv6 TEXT NOT NULL UNIQUE,
        tags TEXT NOT NULL DEFAULT '[]',
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        auth_key_id TEXT REFERENCES auth_keys(id) ON DELETE SET NULL,
        authorized INTEGER NOT NULL,
        routable_ips TEXT NOT NULL DEFAULT '[]',
        approved_routes TEXT NOT NULL DEFAULT '[]',
        endpoints TEXT NOT NULL DEFAULT '[]',
        last_seen TEXT,
        ephemeral INTEGER NOT NULL,
        created TEXT NOT NULL
    );
    CREATE TABLE policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        text TEXT NOT NULL,
        etag TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    """,
)

_DEVICE_COLUMNS = (
    "id, machine_key, node_key, key_expiry, hostname, given_name, ipv4, ipv6, tags, user_id, "
    "auth_key_id, authorized, routable_ips, approved_routes, endpoints, last_seen, ephemeral, "
    "created"
)
_AUTH_KEY_COLUMNS = (
    "id, user_id, description, tags, reusable, ephemeral, preauthorized, created, expires, used, "
    "revoked"
)
# Device fields a caller may change with ``update_device`` (JSON-encoded when tuples).
_UPDATABLE = frozenset(
    {
        "node_key",
        "key_expiry",
        "hostname",
        "tags",
        "user_id",
        "authorized",
        "routable_ips",
        "approved_routes",
        "endpoints",
        "last_seen",
        "ephemeral",
    }
)


@dataclass(frozen=True, slots=True)
class Registration:
    """What a registration writes; addresses and the name are allocated inside the transaction."""

    machine_key: str
    node_key: str
    key_expiry: datetime | None
    hostname: str
    tags: tuple[str, ...]
    user_id: int
    auth_key_id: str | None
    authorized: bool
    routable_ips: tuple[str, ...]
    endpoints: tuple[str, ...]
    ephemeral: bool


def _ts(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _dt_req(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return json.dumps(list(value))
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, bool):
        return int(value)
    return value


class Store(Closing):
    """SQLite state; a context manager that owns its connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for number, script in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    @property
    def schema_version(self) -> int:
        return int(self._read("SELECT max(version) FROM schema_version")[0][0])

    # settings -------------------------------------------------------------------------
    def setting(self, name: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    def set_setting(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # users ----------------------------------------------------------------------------
    def ensure_user(self, login: str, *, now: datetime, is_admin: bool = False) -> User:
        with self._write() as db:
            db.execute(
                "INSERT INTO users (login, display_name, is_admin, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(login) DO NOTHING",
                (login, login.split("@")[0], int(is_admin), _ts(now)),
            )
            if is_admin:
                db.execute("UPDATE users SET is_admin = 1 WHERE login = ?", (login,))
        user = self.user_by_login(login)
        assert user is not None
        return user

    def user_by_login(self, login: str) -> User | None:
        rows = self._read("SELECT * FROM users WHERE login = ?", (login,))
        return _user(rows[0]) if rows else None

    def user(self, user_id: int) -> User | None:
        rows = self._read("SELECT * FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def users(self) -> list[User]:
        return [_user(r) for r in self._read("SELECT * FROM users ORDER BY id")]

    # API keys -------------------------------------------------------------------------
    def add_api_key(self, key_id: str, secret_hash: str, *, user_id: int, now: datetime) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO api_keys (id, secret_hash, user_id, created) VALUES (?, ?, ?, ?)",
                (key_id, secret_hash, user_id, _ts(now)),
            )

    def api_key(self, key_id: str) -> tuple[str, int, bool] | None:
        """``(secret_hash, user_id, usable)`` of an API key."""
        rows = self._read("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            return None
        row = rows[0]
        return str(row["secret_hash"]), int(row["user_id"]), row["revoked"] is None

    # auth keys ------------------------------------------------------------------------
    def add_auth_key(self, key: AuthKey, secret_hash: str) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO auth_keys ({_AUTH_KEY_COLUMNS}, secret_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.user_id,
                    key.description,
                    json.dumps(list(key.tags)),
                    int(key.reusable),
                    int(key.ephemeral),
                    int(key.preauthorized),
                    _ts(key.created),
                    _ts(key.expires),
                    int(key.used),
                    _ts(key.revoked),
                    secret_hash,
                ),
            )

    def auth_key(self, key_id: str) -> tuple[AuthKey, str] | None:
        rows = self._read(
            f"SELECT {_AUTH_KEY_COLUMNS}, secret_hash FROM auth_keys WHERE id = ?", (key_id,)
        )
        return (_auth_key(rows[0]), str(rows[0]["secret_hash"])) if rows else None

    def auth_keys(self, *, user_id: int | None = None) -> list[AuthKey]:
        sql = f"SELECT {_AUTH_KEY_COLUMNS} FROM auth_keys"
        params: tuple[Any, ...] = ()
        if user_id is not None:
            sql += " WHERE user_id = ?"
            params = (user_id,)
        return [_auth_key(r) for r in self._read(sql + " ORDER BY created, id", params)]

    def revoke_auth_key(self, key_id: str, *, now: datetime) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE auth_keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (_ts(now), key_id),
            )
            return cur.rowcount == 1

    def expire_auth_key(self, key_id: str, *, now: datetime) -> bool:
        with self._write() as db:
            cur = db.execute(
                "UPDATE auth_keys SET expires = ? "
                "WHERE id = ? AND (expires IS NULL OR expires > ?)",
                (_ts(now), key_id, _ts(now)),
            )
            return cur.rowcount == 1

    # devices --------------------------------------------------------------------------
    def register(
        self,
        reg: Registration,
        *,
        now: datetime,
        addresses: Callable[[], Iterable[tuple[str, str]]],
        names: Callable[[], Iterable[str]],
    ) -> Device:
        """Claim the auth key (if any) and create or re-register the machine, atomically.

        ``addresses`` yields candidate (ipv4, ipv6) pairs and ``names`` candidate given names,
        in order of preference; the first free one is taken. A known machine keeps its own.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT id, node_key, auth_key_id FROM devices WHERE machine_key = ?",
                (reg.machine_key,),
            ).fetchone()
            repeated = row is not None and (row[1], row[2]) == (reg.node_key, reg.auth_key_id)
            if reg.auth_key_id is not None and not repeated:
                # a repeat of the registration that used this key (its answer was lost) is
                # answered again without claiming the key twice
                self._claim(db, reg.auth_key_id, now)
            clash = db.execute(
                "SELECT id FROM devices WHERE node_key = ? AND machine_key != ?",
                (reg.node_key, reg.machine_key),
            ).fetchone()
            if clash is not None:
                raise ControlRequestError("node key is in use by another machine", status=409)
            values = {
                "node_key": reg.node_key,
                "key_expiry": _ts(reg.key_expiry),
                "hostname": reg.hostname,
                "tags": json.dumps(list(reg.tags)),
                "user_id": reg.user_id,
                "authorized": int(reg.authorized),
                "routable_ips": json.dumps(list(reg.routable_ips)),
                "endpoints": json.dumps(list(reg.endpoints)),
                "ephemeral": int(reg.ephemeral),
                "last_seen": _ts(now),
            }
            if reg.auth_key_id is not None:
                values["auth_key_id"] = reg.auth_key_id
            if row is not None:
                sets = ", ".join(f"{k} = ?" for k in values)
                db.execute(f"UPDATE devices SET {sets} WHERE id = ?", (*values.values(), row[0]))
                device_id = int(row[0])
            else:
                values["machine_key"] = reg.machine_key
                values["created"] = _ts(now)
                values["given_name"] = _first_free(db, "given_name", ((n,) for n in names()))[0]
                values["ipv4"], values["ipv6"] = _first_free(db, "ipv4", addresses())
                cols = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                cur = db.execute(
                    f"INSERT INTO devices ({cols}) VALUES ({marks})", tuple(values.values())
                )
                device_id = int(cur.lastrowid or 0)
            out = db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,)
            ).fetchone()
            return _device(out)

    def _claim(self, db: sqlite3.Connection, key_id: str, now: datetime) -> None:
        cur = db.execute(
            "UPDATE auth_keys SET used = 1 WHERE id = ? AND revoked IS NULL "
            "AND (expires IS NULL OR expires > ?) AND (reusable = 1 OR used = 0)",
            (key_id, _ts(now)),
        )
        if cur.rowcount == 1:
            return
        row = db.execute(
            f"SELECT {_AUTH_KEY_COLUMNS} FROM auth_keys WHERE id = ?", (key_id,)
        ).fetchone()
        reason = "invalid auth key" if row is None else _auth_key(row).refusal(now)
        raise ControlRequestError(reason or "auth key refused", status=401)

    def device(self, device_id: int) -> Device | None:
        rows = self._read(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,))
        return _device(rows[0]) if rows else None

    def device_by_machine_key(self, machine_key: str) -> Device | None:
        rows = self._read(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE machine_key = ?", (machine_key,)
        )
        return _device(rows[0]) if rows else None

    def devices(self) -> list[Device]:
        return [
            _device(r) for r in self._read(f"SELECT {_DEVICE_COLUMNS} FROM devices ORDER BY id")
        ]

    def update_device(self, device_id: int, **fields: Any) -> Device | None:
        """Change some fields of a device; returns the new record, None if it is gone."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        with self._write() as db:
            if fields:
                sets = ", ".join(f"{k} = ?" for k in fields)
                params = tuple(_encode(v) for v in fields.values())
                db.execute(f"UPDATE devices SET {sets} WHERE id = ?", (*params, device_id))
            row = db.execute(
                f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,)
            ).fetchone()
            return None if row is None else _device(row)

    def delete_device(self, device_id: int) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM devices WHERE id = ?", (device_id,)).rowcount == 1

    # policy ---------------------------------------------------------------------------
    def policy(self) -> StoredPolicy | None:
        rows = self._read("SELECT text, etag, updated FROM policy WHERE id = 1")
        if not rows:
            return None
        row = rows[0]
        return StoredPolicy(str(row["text"]), str(row["etag"]), _dt_req(row["updated"]))

    def put_policy(
        self, text: str, etag: str, *, now: datetime, if_match: str | None = None
    ) -> StoredPolicy:
        """Store the policy; with ``if_match``, only when the stored ETag still equals it."""
        with self._write() as db:
            if if_match is not None:
                row = db.execute("SELECT etag FROM policy WHERE id = 1").fetchone()
                current = None if row is None else str(row[0])
                if current != if_match:
                    raise ControlRequestError("precondition failed, invalid old hash", status=412)
            db.execute(
                "INSERT INTO policy (id, text, etag, updated) VALUES (1, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET text = excluded.text, etag = excluded.etag, "
                "updated = excluded.updated",
                (text, etag, _ts(now)),
            )
        return StoredPolicy(text, etag, now)


def _first_free(
    db: sqlite3.Connection, column: str, candidates: Iterable[tuple[str, ...]]
) -> tuple[str, ...]:
    for candidate in candidates:
        hit = db.execute(f"SELECT 1 FROM devices WHERE {column} = ?", (candidate[0],)).fetchone()
        if hit is None:
            return candidate
    raise ControlRequestError(f"no free {column} left", status=507)


def _user(row: sqlite3.Row) -> User:
    return User(
        id=int(row["id"]),
        login=str(row["login"]),
        display_name=str(row["display_name"]),
        is_admin=bool(row["is_admin"]),
        created=_dt_req(row["created"]),
    )


def _auth_key(row: sqlite3.Row) -> AuthKey:
    return AuthKey(
        id=str(row["id"]),
        user_id=int(row["user_id"]),
        description=str(row["description"]),
        tags=tuple(json.loads(row["tags"])),
        reusable=bool(row["reusable"]),
        ephemeral=bool(row["ephemeral"]),
        preauthorized=bool(row["preauthorized"]),
        created=_dt_req(row["created"]),
        expires=_dt(row["expires"]),
        used=bool(row["used"]),
        revoked=_dt(row["revoked"]),
    )


def _device(row: sqlite3.Row) -> Device:
    return Device(
        id=int(row["id"]),
        machine_key=str(row["machine_key"]),
        node_key=str(row["node_key"]),
        key_expiry=_dt(row["key_expiry"]),
        hostname=str(row["hostname"]),
        given_name=str(row["given_name"]),
        ipv4=str(row["ipv4"]),
        ipv6=str(row["ipv6"]),
        tags=tuple(json.loads(row["tags"])),
        user_id=int(row["user_id"]),
        auth_key_id=None if row["auth_key_id"] is None else str(row["auth_key_id"]),
        authorized=bool(row["authorized"]),
        routable_ips=tuple(json.loads(row["routable_ips"])),
        approved_routes=tuple(json.loads(row["approved_routes"])),
        endpoints=tuple(json.loads(row["endpoints"])),
        last_seen=_dt(row["last_seen"]),
        ephemeral=bool(row["ephemeral"]),
        created=_dt_req(row["created"]),
    )
