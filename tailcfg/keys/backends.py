"""Control servers that mint auth keys: Tailscale API v2, Headscale v1, the embedded plane.

* Tailscale v2: ``POST /api/v2/tailnet/{tailnet}/keys`` with
  ``capabilities.devices.create{reusable, ephemeral, preauthorized, tags}``, ``expirySeconds``
  and ``description``; ``DELETE /api/v2/tailnet/{tailnet}/keys/{id}``; ``GET .../keys``.
  Authenticated by an API key, or by an OAuth client (``POST /api/v2/oauth/token``,
  client-credentials grant, scope ``auth_keys``).
  ``description``: at most 50 characters, letters, digits, hyphens and spaces only
  (:func:`key_description` makes one of ``tailcfg <host>`` for any host name).
* Headscale v1 (checked against a real Headscale 0.29.2): ``POST /api/v1/preauthkey``
  (``user``: the owner's numeric **id** (Headscale >= 0.26.1; a name is a 400 "invalid value
  for uint64 field user"), resolved from a name or email by ``GET /api/v1/user?name=`` /
  ``?email=``; a tagged key may have no user), ``reusable``, ``ephemeral``, ``expiration``,
  ``aclTags``) answering ``{"preAuthKey": {"user": {User} | null, "id": "N", "key", ...}}``;
  ``POST /api/v1/preauthkey/expire`` with ``{"id"}`` (Headscale >= 0.28.0; it answers ``{}``
  even for an unknown id). Older servers expired by ``{"user", "key"}`` with the secret,
  which tailcfg does not keep: their 400 becomes an error saying so.
  ``GET /api/v1/preauthkey`` lists every key (secrets shown as ``hskey-auth-<prefix>-***``).
* embedded: tailcfg's own control plane speaks the v2 API, so it is a TailscaleV2 at its URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Unpack
from urllib.parse import quote

from tailcfg.apiclient import Credentials, HeadscaleApi, Injected, TailscaleApi, open_api
from tailcfg.errors import BackendError
from tailcfg.inventory import ControlConfig

TIMEOUT = 15.0  # seconds a key call may take (connecting: at most 5)
DESCRIPTION_MAX = 50  # Tailscale's limit on a key's description
_NOT_IN_DESCRIPTION = re.compile(r"[^A-Za-z0-9 -]+")


def key_description(text: str) -> str:
    """``text`` as Tailscale accepts a key description: letters, digits, hyphens and spaces
    (anything else becomes a hyphen), at most 50 characters."""
    return _NOT_IN_DESCRIPTION.sub("-", text)[:DESCRIPTION_MAX].strip()


@dataclass(frozen=True, slots=True)
class KeyRequest:
    tags: tuple[str, ...] = ()
    reusable: bool = False
    ephemeral: bool = False
    preauthorized: bool = True
    expiry_seconds: int = 90 * 86400
    description: str = ""
    user: str | None = None  # Headscale: the owner of an untagged key


@dataclass(frozen=True, slots=True)
class MintedKey:
    id: str
    secret: str = field(repr=False)
    expires: datetime
    tags: tuple[str, ...] = ()
    reusable: bool = False
    ephemeral: bool = False


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    expires: datetime | None = None
    tags: tuple[str, ...] = ()
    revoked: bool = False


class KeyBackend(Protocol):
    name: str

    def create_key(self, request: KeyRequest) -> MintedKey: ...

    def delete_key(self, key_id: str) -> None: ...

    def list_keys(self) -> list[KeyInfo]: ...

    def close(self) -> None: ...


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (``Z`` or offset, fractional seconds of any length) -> aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Go writes nanoseconds; fromisoformat takes at most microseconds
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TailscaleV2(TailscaleApi):
    """Tailscale's API v2 (and the embedded control plane, which speaks it)."""

    resource = "keys"
    scope = "auth_keys"
    timeout = TIMEOUT

    def create_key(self, request: KeyRequest) -> MintedKey:
        create = {
            "reusable": request.reusable,
            "ephemeral": request.ephemeral,
            "preauthorized": request.preauthorized,
            "tags": list(request.tags),
        }
        body = {
            "capabilities": {"devices": {"create": create}},
            "expirySeconds": request.expiry_seconds,
            "description": key_description(request.description),
        }
        answer = self._http.request("POST", self._path, json_body=body)
        if not isinstance(answer, dict) or not answer.get("id") or not answer.get("key"):
            raise BackendError("key creation answered without id/key")
        self._http.add_secret(str(answer["key"]))
        got = answer.get("capabilities", {}).get("devices", {}).get("create", {})
        expires = parse_time(answer.get("expires")) or datetime.now(UTC) + timedelta(
            seconds=request.expiry_seconds
        )
        return MintedKey(
            id=str(answer["id"]),
            secret=str(answer["key"]),
            expires=expires,
            tags=tuple(got.get("tags", request.tags)),
            reusable=bool(got.get("reusable", request.reusable)),
            ephemeral=bool(got.get("ephemeral", request.ephemeral)),
        )

    def delete_key(self, key_id: str) -> None:
        path = f"{self._path}/{quote(key_id, safe='')}"
        self._http.request("DELETE", path, ok_statuses=(404,))

    def list_keys(self) -> list[KeyInfo]:
        answer = self._http.request("GET", self._path)
        keys = answer.get("keys", []) if isinstance(answer, dict) else []
        return [_tailscale_info(k) for k in keys if isinstance(k, dict) and k.get("id")]


def _tailscale_info(raw: dict[str, Any]) -> KeyInfo:
    create = raw.get("capabilities", {}).get("devices", {}).get("create", {})
    return KeyInfo(
        id=str(raw["id"]),
        expires=parse_time(raw.get("expires")),
        tags=tuple(create.get("tags", ())),
        revoked=bool(raw.get("revoked") or raw.get("invalid")),
    )


class HeadscaleV1(HeadscaleApi):
    """Headscale's REST API v1: pre-auth keys."""

    timeout = TIMEOUT

    def create_key(self, request: KeyRequest) -> MintedKey:
        expires = datetime.now(UTC).replace(microsecond=0) + timedelta(
            seconds=request.expiry_seconds
        )
        body: dict[str, Any] = {
            "reusable": request.reusable,
            "ephemeral": request.ephemeral,
            "expiration": format_time(expires),
            "aclTags": list(request.tags),
        }
        if request.user:
            body["user"] = self.user_id(request.user)
        answer = self._http.request("POST", "/api/v1/preauthkey", json_body=body)
        key = answer.get("preAuthKey") if isinstance(answer, dict) else None
        if not isinstance(key, dict) or not key.get("key") or key.get("id") in (None, ""):
            raise BackendError("preauthkey creation answered without preAuthKey.id/key")
        self._http.add_secret(str(key["key"]))
        return MintedKey(
            id=str(key["id"]),
            secret=str(key["key"]),
            expires=parse_time(key.get("expiration")) or expires,
            tags=tuple(key.get("aclTags", request.tags)),
            reusable=bool(key.get("reusable", request.reusable)),
            ephemeral=bool(key.get("ephemeral", request.ephemeral)),
        )

    def user_id(self, user: str) -> str:
        """The numeric id of ``user``: an id as is, else the one user whose name or email it
        is (a trailing ``@``, as policies write bare names, is dropped)."""
        if user.isdigit():
            return user
        wanted = user.removesuffix("@")
        found: dict[str, str] = {}
        for field_name in ("name", "email"):
            answer = self._http.request("GET", "/api/v1/user", params={field_name: wanted})
            users = answer.get("users", []) if isinstance(answer, dict) else []
            for raw in users:
                if isinstance(raw, dict) and str(raw.get("id", "")).isdigit():
                    found[str(raw["id"])] = str(raw.get("name", ""))
        if len(found) != 1:
            what = "no user" if not found else f"{len(found)} users"
            raise BackendError(
                f"{self.remote}: {what} named {wanted!r} (by name or email); create it with"
                f" `headscale users create`, or give the user's numeric id"
            )
        return next(iter(found))

    def delete_key(self, key_id: str) -> None:
        """Expire by id (Headscale >= 0.28.0, which answers ``{}`` for an unknown id too)."""
        path = "/api/v1/preauthkey/expire"
        try:
            self._http.request("POST", path, json_body={"id": key_id})
        except BackendError as exc:
            if exc.status != 400:
                raise
            raise BackendError(
                f"{exc}: Headscale before 0.28.0 expires a key only by its secret; expire"
                f" key {key_id} with `headscale preauthkeys expire`, or upgrade Headscale",
                status=exc.status,
            ) from None

    def list_keys(self) -> list[KeyInfo]:
        answer = self._http.request("GET", "/api/v1/preauthkey")
        keys = answer.get("preAuthKeys", []) if isinstance(answer, dict) else []
        now = datetime.now(UTC)
        infos = []
        for raw in keys:
            if not isinstance(raw, dict) or raw.get("id") in (None, ""):
                continue
            expires = parse_time(raw.get("expiration"))
            if expires is not None and expires.year == 1:
                expires = None  # Go's zero time: created without an expiration
            infos.append(
                KeyInfo(
                    id=str(raw["id"]),
                    expires=expires,
                    tags=tuple(raw.get("aclTags", ())),
                    revoked=expires is not None and expires <= now,
                )
            )
        return infos


def make_backend(
    control: ControlConfig, *, tailnet: str, credentials: Credentials, **injected: Unpack[Injected]
) -> TailscaleV2 | HeadscaleV1:
    """The backend for the inventory's ``control`` section (a context manager)."""
    return open_api(
        control, TailscaleV2, HeadscaleV1, tailnet=tailnet, credentials=credentials, **injected
    )
