"""The Tailscale API v2 subset: keys, devices, the policy file (ACL) with ETag/If-Match.

Shapes follow Tailscale's public API documentation and its OpenAPI description: a key's
``description`` is at most 50 letters, digits, hyphens and spaces; ``GET`` of a revoked key
answers it (``"invalid": true``, ``revoked``); devices carry ``isEphemeral``; ``GET .../acl``
answers HuJSON unless the client asks for ``application/json`` only. The tailnet in the
path is not checked: the embedded server has one tailnet, reachable as ``-`` or by any name.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tailcfg.control.http import (
    api_user,
    bool_field,
    guarded,
    plane,
    read_body,
    read_object,
    tags_field,
)
from tailcfg.control.model import AuthKey, ControlRequestError, Device, iso, utcnow
from tailcfg.control.netmap import ZERO_TIME
from tailcfg.control.policy import LoadedPolicy
from tailcfg.control.service import TestsFailed

HUJSON = "application/hujson"
DESCRIPTION = re.compile(r"[A-Za-z0-9 -]{0,50}")


def key_json(key: AuthKey, *, secret: str | None = None) -> dict[str, Any]:
    now = utcnow()
    out: dict[str, Any] = {"id": key.id, "keyType": "auth"}
    if secret is not None:
        out["key"] = secret
    out.update(
        {
            "description": key.description,
            "created": iso(key.created),
            "expires": iso(key.expires),
            "invalid": key.refusal(now) is not None,
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": key.reusable,
                        "ephemeral": key.ephemeral,
                        "preauthorized": key.preauthorized,
                        "tags": list(key.tags),
                    }
                }
            },
            "userId": str(key.user_id),
        }
    )
    if key.revoked is not None:
        out["revoked"] = iso(key.revoked)
    return out


async def create_key(request: Request) -> Response:
    user = api_user(request)
    data = await read_object(request)
    caps = data.get("capabilities", {})
    create = caps.get("devices", {}).get("create", {}) if isinstance(caps, dict) else None
    if not isinstance(create, dict):
        raise ControlRequestError("capabilities.devices.create must be an object")
    expiry = data.get("expirySeconds")
    if expiry is not None and (not isinstance(expiry, int) or isinstance(expiry, bool)):
        raise ControlRequestError("expirySeconds must be an integer")
    description = data.get("description", "")
    if not isinstance(description, str) or not DESCRIPTION.fullmatch(description):
        raise ControlRequestError(
            "description must be at most 50 letters, digits, hyphens and spaces"
        )
    key, secret = plane(request).mint_auth_key(
        user,
        reusable=bool_field(create, "reusable"),
        ephemeral=bool_field(create, "ephemeral"),
        preauthorized=bool_field(create, "preauthorized"),
        tags=tags_field(create, "tags"),
        expiry_seconds=expiry,
        description=description,
    )
    return JSONResponse(key_json(key, secret=secret))


async def list_keys(request: Request) -> Response:
    api_user(request)
    keys = plane(request).store.auth_keys()
    return JSONResponse({"keys": [key_json(k) for k in keys]})


def _key(request: Request) -> AuthKey:
    found = plane(request).store.auth_key(str(request.path_params["key_id"]))
    if found is None:
        raise ControlRequestError("key not found", status=404)
    return found[0]


async def get_key(request: Request) -> Response:
    api_user(request)
    return JSONResponse(key_json(_key(request)))


async def delete_key(request: Request) -> Response:
    api_user(request)
    key = _key(request)
    plane(request).store.revoke_auth_key(key.id, now=utcnow())
    return Response(status_code=200)


def device_json(request: Request, device: Device) -> dict[str, Any]:
    control = plane(request)
    owner = control.store.user(device.user_id)
    now = utcnow()
    return {
        "addresses": [device.ipv4, device.ipv6],
        "id": str(device.id),
        "nodeId": device.stable_id,
        "user": owner.login if owner else "",
        "name": f"{device.given_name}.{control.settings.domain}",
        "hostname": device.hostname,
        "clientVersion": "",
        "updateAvailable": False,
        "os": "linux",
        "created": iso(device.created),
        "lastSeen": iso(device.last_seen),
        "connectedToControl": control.hub.online(device.id),
        "keyExpiryDisabled": device.key_expiry is None,
        "expires": iso(device.key_expiry) or ZERO_TIME,
        "expired": device.expired(now),
        "authorized": device.authorized,
        "isExternal": False,
        "isEphemeral": device.ephemeral,
        "machineKey": device.machine_key,
        "nodeKey": device.node_key,
        "blocksIncomingConnections": False,
        "enabledRoutes": list(device.approved_routes),
        "advertisedRoutes": list(device.routable_ips),
        "tags": list(device.tags),
    }


async def list_devices(request: Request) -> Response:
    api_user(request)
    devices = plane(request).store.devices()
    return JSONResponse({"devices": [device_json(request, d) for d in devices]})


async def get_device(request: Request) -> Response:
    api_user(request)
    device = plane(request).require_device(request.path_params["device_id"])
    return JSONResponse(device_json(request, device))


async def delete_device(request: Request) -> Response:
    api_user(request)
    plane(request).delete_device(request.path_params["device_id"])
    return Response(status_code=200)


async def authorize_device(request: Request) -> Response:
    api_user(request)
    data = await read_object(request)
    authorized = bool_field(data, "authorized", True)
    control = plane(request)
    device = control.require_device(request.path_params["device_id"])
    control.update(device, authorized=authorized)
    return Response(status_code=200)


async def tag_device(request: Request) -> Response:
    user = api_user(request)
    data = await read_object(request)
    if "tags" not in data:
        raise ControlRequestError("tags is required")
    plane(request).set_tags(request.path_params["device_id"], tags_field(data, "tags"), user)
    return Response(status_code=200)


async def get_routes(request: Request) -> Response:
    api_user(request)
    device = plane(request).require_device(request.path_params["device_id"])
    return JSONResponse(
        {
            "advertisedRoutes": list(device.routable_ips),
            "enabledRoutes": list(device.approved_routes),
        }
    )


async def set_routes(request: Request) -> Response:
    """Approve routes (Tailscale: ``POST /device/{id}/routes`` with ``{"routes": [...]}``)."""
    api_user(request)
    data = await read_object(request)
    routes = data.get("routes")
    if not isinstance(routes, list) or not all(isinstance(r, str) for r in routes):
        raise ControlRequestError("routes must be a list of strings")
    device = plane(request).set_routes(request.path_params["device_id"], tuple(routes))
    return JSONResponse(
        {
            "advertisedRoutes": list(device.routable_ips),
            "enabledRoutes": list(device.approved_routes),
        }
    )


async def expire_device(request: Request) -> Response:
    api_user(request)
    plane(request).expire(request.path_params["device_id"])
    return Response(status_code=200)


def _acl_response(request: Request, policy: LoadedPolicy) -> Response:
    """The policy as stored (HuJSON), or as plain JSON when the client asks for JSON only."""
    headers = {"ETag": f'"{policy.etag}"'}
    accept = request.headers.get("accept", "")
    if "application/json" in accept and HUJSON not in accept:
        return JSONResponse(dict(policy.value), headers=headers)
    return Response(policy.text, media_type=HUJSON, headers=headers)


async def get_acl(request: Request) -> Response:
    api_user(request)
    return _acl_response(request, plane(request).policy)


async def _policy_text(request: Request) -> str:
    body = await read_body(request, limit=plane(request).settings.max_policy_body)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ControlRequestError("policy is not UTF-8 text") from None


async def set_acl(request: Request) -> Response:
    api_user(request)
    text = await _policy_text(request)
    if_match = request.headers.get("if-match")
    if if_match is not None:
        if_match = if_match.strip().strip('"')
    loaded = plane(request).put_policy(text, if_match=if_match)
    return _acl_response(request, loaded)


async def validate_acl(request: Request) -> Response:
    api_user(request)
    text = await _policy_text(request)
    try:
        plane(request).validate_policy(text)
    except TestsFailed as exc:
        return JSONResponse({"message": str(exc), "data": exc.data})
    except ControlRequestError as exc:
        return JSONResponse({"message": str(exc), "data": []})
    return JSONResponse({})


_T = "/api/v2/tailnet/{tailnet}"
_D = "/api/v2/device/{device_id}"
ROUTES = [
    Route(f"{_T}/keys", guarded(list_keys), methods=["GET"]),
    Route(f"{_T}/keys", guarded(create_key), methods=["POST"]),
    Route(f"{_T}/keys/{{key_id}}", guarded(get_key), methods=["GET"]),
    Route(f"{_T}/keys/{{key_id}}", guarded(delete_key), methods=["DELETE"]),
    Route(f"{_T}/devices", guarded(list_devices), methods=["GET"]),
    Route(f"{_T}/acl", guarded(get_acl), methods=["GET"]),
    Route(f"{_T}/acl", guarded(set_acl), methods=["POST"]),
    Route(f"{_T}/acl/validate", guarded(validate_acl), methods=["POST"]),
    Route(_D, guarded(get_device), methods=["GET"]),
    Route(_D, guarded(delete_device), methods=["DELETE"]),
    Route(f"{_D}/authorized", guarded(authorize_device), methods=["POST"]),
    Route(f"{_D}/tags", guarded(tag_device), methods=["POST"]),
    Route(f"{_D}/expire", guarded(expire_device), methods=["POST"]),
    Route(f"{_D}/routes", guarded(get_routes), methods=["GET"]),
    Route(f"{_D}/routes", guarded(set_routes), methods=["POST"]),
]
