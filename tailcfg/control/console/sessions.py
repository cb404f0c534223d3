"""Console sessions: random ids held server-side, the admin key checked once at login.

A session id is 256 random bits (``secrets.token_urlsafe``); the cookie carries only the
id, the table maps it to the login and an expiry. Nothing is persisted: a restart of the
server logs everyone out. The table is bounded; the oldest sessions go first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tailcfg.control import auth
from tailcfg.control.model import ControlRequestError, User
from tailcfg.control.store import Store

COOKIE = "tailcfg_console"
LIFETIME = timedelta(hours=12)
MAX_SESSIONS = 1024


@dataclass(frozen=True, slots=True)
class Session:
    login: str
    expires: datetime


class Sessions:
    """The server-side session table of one console (one app)."""

    def __init__(self, *, lifetime: timedelta = LIFETIME, limit: int = MAX_SESSIONS) -> None:
        self._table: dict[str, Session] = {}
        self._lifetime = lifetime
        self._limit = limit

    def __len__(self) -> int:
        return len(self._table)

    def create(self, login: str, *, now: datetime) -> str:
        self._prune(now)
        while len(self._table) >= self._limit:
            oldest = min(self._table, key=lambda k: self._table[k].expires)
            del self._table[oldest]
        sid = secrets.token_urlsafe(32)
        self._table[sid] = Session(login, now + self._lifetime)
        return sid

    def get(self, sid: str | None, *, now: datetime) -> Session | None:
        if not sid:
            return None
        session = self._table.get(sid)
        if session is None:
            return None
        if session.expires <= now:
            del self._table[sid]
            return None
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._table.pop(sid, None)

    def _prune(self, now: datetime) -> None:
        for sid in [k for k, s in self._table.items() if s.expires <= now]:
            del self._table[sid]


def admin_for_key(store: Store, key_text: str) -> User:
    """The admin user of an API key; ``ControlRequestError(401)`` for anything else."""
    refused = ControlRequestError("invalid admin key", status=401)
    try:
        key_id, secret = auth.split_key(key_text, auth.API_PREFIX)
    except ControlRequestError:
        raise refused from None
    found = store.api_key(key_id)
    if found is None or not found[2] or not auth.secret_matches(secret, found[0]):
        raise refused
    user = store.user(found[1])
    if user is None or not user.is_admin:
        raise refused
    return user
