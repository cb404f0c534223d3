"""Records of the embedded control plane: users, keys, devices, the stored policy.

Plain frozen dataclasses; ``store.py`` reads and writes them, everything else passes them on.
Times are timezone-aware UTC datetimes; ``None`` means "never" (no expiry, never seen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tailcfg.errors import ControlError


class ControlRequestError(ControlError):
    """A request to the control plane is refused; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime | None) -> str | None:
    """RFC 3339 with a ``Z``, second precision, as Tailscale's API writes times."""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    display_name: str
    is_admin: bool
    created: datetime


@dataclass(frozen=True, slots=True)
class AuthKey:
    """A pre-authentication key; only the hash of its secret is stored."""

    id: str
    user_id: int
    description: str
    tags: tuple[str, ...]
    reusable: bool
    ephemeral: bool
    preauthorized: bool
    created: datetime
    expires: datetime | None
    used: bool
    revoked: datetime | None

    def refusal(self, now: datetime) -> str | None:
        """Why this key cannot register a device now, or None when it can."""
        if self.revoked is not None:
            return "auth key has been revoked"
        if self.expires is not None and self.expires <= now:
            return "auth key expired"
        if self.used and not self.reusable:
            return "auth key already used"
        return None


@dataclass(frozen=True, slots=True)
class Device:
    """A registered machine. Tagged devices belong to their tags (``user_id`` is the creator)."""

    id: int
    machine_key: str
    node_key: str
    key_expiry: datetime | None
    hostname: str
    given_name: str
    ipv4: str
    ipv6: str
    tags: tuple[str, ...]
    user_id: int
    auth_key_id: str | None
    authorized: bool
    routable_ips: tuple[str, ...]
    approved_routes: tuple[str, ...]
    endpoints: tuple[str, ...]
    last_seen: datetime | None
    ephemeral: bool
    created: datetime
    version: int = field(default=0, compare=False)

    def expired(self, now: datetime) -> bool:
        return self.key_expiry is not None and self.key_expiry <= now

    @property
    def stable_id(self) -> str:
        return f"n{self.id:06d}CNTRL"


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    text: str
    etag: str
    updated: datetime
