"""The Headscale v1 API subset, as a real Headscale 0.29.2 answers it (tests/peers checks the
same assertions against both): users, pre-auth keys and the policy.

* ``GET /api/v1/user`` (``?name=`` / ``?email=`` / ``?id=``) -> ``{"users": [User]}``;
  ``POST /api/v1/user`` (``name``, ``email``, ``displayName``) -> ``{"user": User}``. A
  User is ``{"id": "N", "name", "email", "displayName", "createdAt", ...}``; here its
  login is the email when given, else the name.
* ``POST /api/v1/preauthkey``: ``user`` is the owner's numeric id (a name is a 400, as the
  real server's protobuf decoding answers); a tagged key may have no user (``"user":
  null``); ``{"preAuthKey": {...}}`` with the User object. ``GET`` lists every key.
* ``POST /api/v1/preauthkey/expire`` with ``{"id"}`` (Headscale >= 0.28) -> ``{}``, also for
  an unknown id, as Headscale does. Not in Headscale 0.29: the older ``{"user", "key"}``
  body with the secret is still accepted.
* ``GET /api/v1/policy`` -> ``{"policy", "updatedAt"}``; none stored: ``500`` "loading ACL
  from database: acl policy not found". ``PUT`` -> the same shape; a policy whose tests
  fail: ``500`` "setting policy: test(s) failed:" with a ``<src>: <why>`` line each.
  ``POST /api/v1/policy/check`` -> ``{}``, or ``400`` with that message.

Errors are gRPC-gateway's ``{"code", "message", "details"}``. Secrets are returned once,
at creation; lists show ``tskey-auth-<id>-***``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tailcfg.control import auth
from tailcfg.control.http import Handler, api_user, bool_field, plane, read_object, tags_field
from tailcfg.control.model import AuthKey, ControlRequestError, User, iso, utcnow
from tailcfg.control.service import TestsFailed

log = logging.getLogger(__name__)


# gRPC status codes of gRPC-gateway's error bodies, by the HTTP status they map to
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 413: 8, 500: 2}
NO_USER = "headscale:no-user"  # the description of a tagged key made without a user


def _error(status: int, message: str) -> JSONResponse:
    body = {"code": _GRPC_CODES.get(status, 2), "message": message, "details": []}
    return JSONResponse(body, status_code=status)


def headscale(handler: Handler) -> Handler:
    """Errors as gRPC-gateway writes them; failed policy tests as Headscale words them."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except TestsFailed as exc:
            return _error(exc.status, tests_failed_message(exc.data))
        except ControlRequestError as exc:
            return _error(exc.status, str(exc))
        except Exception:
            log.exception("internal error on %s %s", request.method, request.url.path)
            return _error(500, "internal server error")

    run.__name__ = handler.__name__
    return run


def tests_failed_message(data: list[dict[str, Any]]) -> str:
    """Tailscale's per-user failure list in Headscale's words: one ``<src>: <why>`` a line."""
    lines = ["test(s) failed:"]
    for entry in data:
        lines.extend(f"{entry.get('user', '')}: {error}" for error in entry.get("errors", []))
    return "\n".join(lines)


def _user_id(value: Any) -> int:
    """A uint64 field as protobuf's JSON decoding takes it: a number or a decimal string."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ControlRequestError(
        f"proto: invalid value for uint64 field user: {json.dumps(value)}", status=400
    )


def _user(request: Request, value: Any) -> User:
    user = plane(request).store.user(_user_id(value))
    if user is None:
        raise ControlRequestError("user not found", status=500)
    return user


def _user_json(user: User) -> dict[str, Any]:
    name, at, _domain = user.login.partition("@")
    return {
        "id": str(user.id),
        "name": name,
        "createdAt": iso(user.created),
        "displayName": user.display_name,
        "email": user.login if at else "",
        "providerId": "",
        "provider": "",
        "profilePicUrl": "",
    }


async def list_users(request: Request) -> Response:
    api_user(request)
    query = request.query_params
    users = plane(request).store.users()
    if query.get("name"):
        users = [u for u in users if _user_json(u)["name"] == query["name"]]
    elif query.get("email"):
        users = [u for u in users if u.login == query["email"]]
    elif query.get("id", "0") not in ("", "0"):
        users = [u for u in users if str(u.id) == query["id"]]
    return JSONResponse({"users": [_user_json(u) for u in sorted(users, key=lambda u: u.id)]})


async def create_user(request: Request) -> Response:
    api_user(request)
    data = await read_object(request)
    name, email = data.get("name"), data.get("email") or ""
    if not isinstance(name, str) or not name or not isinstance(email, str):
        raise ControlRequestError("name is required", status=400)
    control = plane(request)
    login = email or name
    if control.store.user_by_login(login) is not None:
        raise ControlRequestError("creating user: user already exists", status=500)
    user = control.store.ensure_user(login, now=utcnow())
    control.user_changed()
    return JSONResponse({"user": _user_json(user)})


def _key_json(key: AuthKey, user: User | None, *, secret: str | None = None) -> dict[str, Any]:
    return {
        "user": _user_json(user) if user and key.description != NO_USER else None,
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
    tags = tags_field(data, "aclTags")
    given = data.get("user") not in (None, "", 0, "0")
    if not given and not tags:
        raise ControlRequestError("auth-key must be either tagged or owned by user", status=500)
    # a tagged key without a user belongs to its tags; stored under the caller, shown userless
    user = _user(request, data["user"]) if given else admin
    key, secret = plane(request).mint_auth_key(
        user,
        reusable=bool_field(data, "reusable"),
        ephemeral=bool_field(data, "ephemeral"),
        preauthorized=True,
        tags=tags,
        expires_at=_expires_at(data.get("expiration")),
        description="" if given else NO_USER,
        tags_owned=given,  # a key without a user: made by the admin, for any defined tag
    )
    return JSONResponse({"preAuthKey": _key_json(key, user, secret=secret)})


async def list_preauthkeys(request: Request) -> Response:
    api_user(request)
    store = plane(request).store
    users = {u.id: u for u in store.users()}
    keys = sorted(store.auth_keys(), key=lambda k: int(k.id) if k.id.isdigit() else 0)
    return JSONResponse({"preAuthKeys": [_key_json(k, users.get(k.user_id)) for k in keys]})


async def expire_preauthkey(request: Request) -> Response:
    api_user(request)
    data = await read_object(request)
    text = data.get("id") or data.get("key")
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text:
        return JSONResponse({})  # Headscale: id 0 expires nothing, and says so with {}
    key_id = auth.split_key(text, auth.AUTH_PREFIX)[0] if text.startswith("tskey-") else text
    store = plane(request).store
    found = store.auth_key(key_id)
    if found is None:
        return JSONResponse({})  # an unknown id: Headscale answers {} as well
    if "user" in data and data["user"] not in (None, ""):  # the pre-0.28 body
        owner = store.user(found[0].user_id)
        names = (owner.login, owner.login.split("@")[0], str(owner.id)) if owner else ()
        if str(data["user"]) not in names:
            raise ControlRequestError("AuthKey not found", status=404)
    store.expire_auth_key(key_id, now=utcnow())
    return JSONResponse({})


async def get_policy(request: Request) -> Response:
    api_user(request)
    stored = plane(request).store.policy()
    if stored is None:
        raise ControlRequestError("loading ACL from database: acl policy not found", status=500)
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
    try:
        control.put_policy(text, if_match=if_match.strip().strip('"') if if_match else None)
    except TestsFailed as exc:
        raise ControlRequestError(
            "setting policy: " + tests_failed_message(exc.data), status=500
        ) from None
    except ControlRequestError as exc:
        if exc.status != 400:
            raise
        raise ControlRequestError(f"setting policy: {exc}", status=500) from None
    stored = control.store.policy()
    assert stored is not None
    return JSONResponse({"policy": stored.text, "updatedAt": iso(stored.updated)})


async def check_policy(request: Request) -> Response:
    api_user(request)
    data = await read_object(request)
    text = data.get("policy")
    if not isinstance(text, str):
        raise ControlRequestError("policy must be a string")
    plane(request).validate_policy(text)  # TestsFailed: 400 with Headscale's words
    return JSONResponse({})


ROUTES = [
    Route("/api/v1/user", headscale(list_users), methods=["GET"]),
    Route("/api/v1/user", headscale(create_user), methods=["POST"]),
    Route("/api/v1/preauthkey", headscale(create_preauthkey), methods=["POST"]),
    Route("/api/v1/preauthkey", headscale(list_preauthkeys), methods=["GET"]),
    Route("/api/v1/preauthkey/expire", headscale(expire_preauthkey), methods=["POST"]),
    Route("/api/v1/policy", headscale(get_policy), methods=["GET"]),
    Route("/api/v1/policy", headscale(put_policy), methods=["PUT"]),
    Route("/api/v1/policy/check", headscale(check_policy), methods=["POST"]),
]
