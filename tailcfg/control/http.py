"""HTTP plumbing shared by the node protocol and the admin APIs: bodies, errors, auth."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tailcfg.control import auth
from tailcfg.control.model import ControlRequestError, User
from tailcfg.control.service import ControlPlane, TestsFailed

log = logging.getLogger("tailcfg.control")
Handler = Callable[[Request], Awaitable[Response]]


def plane(request: Request) -> ControlPlane:
    control: ControlPlane = request.app.state.control
    return control


async def read_body(request: Request, *, limit: int | None = None) -> bytes:
    """The request body, refused with 413 when larger than ``limit`` (default: max_body)."""
    limit = plane(request).settings.max_body if limit is None else limit
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise ControlRequestError("request body too large", status=413)
        except ValueError:
            raise ControlRequestError("invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ControlRequestError("request body too large", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    body = await read_body(request, limit=plane(request).settings.max_policy_body)
    try:
        return json.loads(body) if body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlRequestError(f"request body is not JSON: {exc}") from None


async def read_object(request: Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ControlRequestError("request body must be a JSON object")
    return data


def error_response(exc: ControlRequestError) -> JSONResponse:
    body: dict[str, Any] = {"message": str(exc)}
    if isinstance(exc, TestsFailed):
        body["data"] = exc.data
    return JSONResponse(body, status_code=exc.status)


def guarded(handler: Handler) -> Handler:
    """Turn refusals into 4xx JSON and anything unexpected into a bare 500."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ControlRequestError as exc:
            return error_response(exc)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.url.path)
            return JSONResponse({"message": "internal server error"}, status_code=500)

    run.__name__ = handler.__name__
    return run


def api_user(request: Request) -> User:
    """The user of the request's API key (``Authorization: Bearer`` or basic auth user)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = ""
    if scheme.lower() == "bearer":
        token = value.strip()
    elif scheme.lower() == "basic":
        try:
            token = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            token = ""
    if not token:
        raise ControlRequestError("API token required", status=401)
    control = plane(request)
    try:
        key_id, secret = auth.split_key(token, auth.API_PREFIX)
    except ControlRequestError:
        raise ControlRequestError("API token invalid", status=401) from None
    found = control.store.api_key(key_id)
    if found is None or not found[2] or not auth.secret_matches(secret, found[0]):
        raise ControlRequestError("API token invalid", status=401)
    user = control.store.user(found[1])
    if user is None:
        raise ControlRequestError("API token invalid", status=401)
    return user


def bool_field(data: dict[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise ControlRequestError(f"{name} must be a boolean")
    return value


def tags_field(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name) or []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ControlRequestError(f"{name} must be a list of strings")
    for tag in value:
        if not tag.startswith("tag:") or len(tag) < 5:
            raise ControlRequestError(f"tag {tag!r} must start with 'tag:'")
    return tuple(value)
