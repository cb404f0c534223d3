"""The Headscale v1 API subset: pre-auth keys and the policy.

``user`` in requests may be a user ID (number or numeric string), a login, or a login's
name part; an unknown login is created (the embedded server has no user admin API); a key
created without one belongs to the API key's user.
Secrets are returned once, at creation; lists show ``tskey-auth-<id>-***``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tailcfg.control import auth
from tailcfg.control.http import api_user, bool_field, guarded, plane, read_object, tags_field
from tailcfg.control.model import AuthKey, ControlRequestError, User, iso, utcnow


def _user(request: Request, value: Any) -> User:
    control = plane(request)
    store = control.store
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        user = store.user(int(value))
        if user is None:
            raise ControlRequestError(f"user {value} not found", status=404)
        return user
    if not isinstance(value, str) or not value:
        raise ControlRequestError("user is required")
    for user in store.users():
        if value in (user.login, user.login.split("@")[0]):
            return user
    user = store.ensure_user(value, now=utcnow())
    control.user_changed()
    return user


def _user_json(user: User) -> dict[str, Any]:
    return {"id": str(user.id), "name": user.login.split("@")[0], "email": user.login}


def _key_json(key: AuthKey, user: User | None, *, secret: str | None = None) -> dict[str, Any]:
    return {
        "user": _user_json(user) if user else None,
        "id": key.id,
        "key": secret or f"{auth.AUTH_PREFIX}{key.id}-***",
        "reusable": key.reusable,
        "ephemeral": key.ephemeral,
        "used": key.used,
        "expiration": iso(key.expires),
        "createdAt": iso(key.created),
        "aclTags": list(key.tags),
    }


def _expires_at(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ControlRequestError("expiration must be an RFC 3339 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ControlRequestError("expiration must be an RFC 3339 time") from None
    if when.tzinfo is None:
        raise ControlRequestError("expiration must carry a time zone")
    if when <= utcnow():
        raise ControlRequestError("expiration must be in the future")
    return when


async def create_preauthkey(request: Request) -> Response:
    admin = api_user(request)
    data = await read_object(request)
    # Headscale 0.27 allows tag-only keys without a user: they belong to the caller here
    user = _user(request, data["user"]) if data.get("user") not in (None, "") else admin
    key, secret = plane(request).mint_auth_key(
        user,
        reusable=bool_field(data, "reusable"),
        ephemeral=bool_field(data, "ephemeral"),
        preauthorized=True,
        tags=tags_field(data, "aclTags"),
        expires_at=_expires_at(data.get("expiration")),
    )
    return JSONResponse({"preAuthKey": _key_json(key, user, secret=secret)})


async def list_preauthkeys(request: Request) -> Response:
    api_user(request)
    store = plane(request).store
    wanted = request.query_params.get("user")
    user_id = _user(request, wanted).id if wanted else None
    users = {u.id: u for u in store.users()}
    keys = store.auth_keys(user_id=user_id)
    return JSONResponse({"preAuthKeys": [_key_json(k, users.get(k.user_id)) for k in keys]})


async def expire_preauthkey(request: Request) -> Response:
    api_user(request)
    data = await read_object(request)
    text = data.get("key") or data.get("id")  # Headscale 0.27+ expires by id
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text:
        raise ControlRequestError("key or id is required")
    key_id = auth.split_key(text, auth.AUTH_PREFIX)[0] if text.startswith("tskey-") else text
    store = plane(request).store
    found = store.auth_key(key_id)
    if found is None:
        raise ControlRequestError("pre-auth key not found", status=404)
    if "user" in data and data["user"] not in (None, ""):
        owner = _user(request, data["user"])
        if owner.id != found[0].user_id:
            raise ControlRequestError("pre-auth key not found for this user", status=404)
    store.expire_auth_key(key_id, now=utcnow())
    return JSONResponse({})


async def get_policy(request: Request) -> Response:
    api_user(request)
    stored = plane(request).store.policy()
    if stored is None:
        raise ControlRequestError("no policy", status=404)
    return JSONResponse({"policy": stored.text, "updatedAt": iso(stored.updated)})


async def put_policy(request: Request) -> Response:
    api_user(request)
    data = await read_object(request)
    text = data.get("policy")
    if not isinstance(text, str):
        raise ControlRequestError("policy must be a string")
    control = plane(request)
    # Not in Headscale: an optional If-Match (the ETag is sha256 of the stored text), so
    # `tailcfg policy push` is race-safe against the embedded plane in this dialect too.
    if_match = request.headers.get("if-match")
    control.put_policy(text, if_match=if_match.strip().strip('"') if if_match else None)
    stored = control.store.policy()
    assert stored is not None
    return JSONResponse({"policy": stored.text, "updatedAt": iso(stored.updated)})


ROUTES = [
    Route("/api/v1/preauthkey", guarded(create_preauthkey), methods=["POST"]),
    Route("/api/v1/preauthkey", guarded(list_preauthkeys), methods=["GET"]),
    Route("/api/v1/preauthkey/expire", guarded(expire_preauthkey), methods=["POST"]),
    Route("/api/v1/policy", guarded(get_policy), methods=["GET"]),
    Route("/api/v1/policy", guarded(put_policy), methods=["PUT"]),
]
