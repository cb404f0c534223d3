"""The loopback Tailscale API with a tailnet behind it: the keys fake of
:mod:`fakes.tailscale_api` plus the documented device list and policy file.

* ``GET /api/v2/tailnet/{tailnet}/devices[?fields=all]`` -> ``{"devices": [...]}``: each
  device with ``addresses``, ``id``, ``nodeId``, ``user``, ``name`` (the MagicDNS FQDN),
  ``hostname``, ``clientVersion``, ``os``, ``created``, ``lastSeen``, ``expires``,
  ``keyExpiryDisabled``, ``authorized``, ``isExternal``, ``isEphemeral``, ``machineKey``,
  ``nodeKey``, ``tags``, ...; ``advertisedRoutes`` / ``enabledRoutes`` only with
  ``fields=all`` (as the API does).
* ``GET /api/v2/tailnet/{tailnet}/acl``: the stored HuJSON with ``Accept:
  application/hujson`` (else JSON), ``ETag: "<sha256>"``.
* ``health``: ``"ok"``, ``500`` (every call answers 500) or ``"garbage"`` (200, not JSON).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.loopback import bearer_token, serve_app
from fakes.tailscale_api import FakeState, build_app
from tailcfg import hujson

POLICY = """// The example tailnet's policy, as its admins wrote it.
{
\t"groups": {"group:admins": ["odin@example.com"]},
\t"tagOwners": {"tag:server": ["group:admins"], "tag:router": ["group:admins"]},
\t"autoApprovers": {"routes": {"192.168.7.0/24": ["tag:router"]}},
\t"acls": [
\t\t// Admins reach everything; servers reach nothing.
\t\t{"action": "accept", "src": ["group:admins"], "dst": ["*:*"]},
\t],
\t"tests": [
\t\t{"src": "odin@example.com", "accept": ["tag:server:22"]},
\t\t{"src": "tag:server", "deny": ["tag:router:22"]},
\t],
}
"""


def _device(
    n: int, name: str, user: str, tags: list[str], routes: list[str], approved: list[str]
) -> dict[str, Any]:
    return {
        "addresses": [f"100.64.0.{n}", f"fd7a:115c:a1e0::{n}"],
        "id": f"{9000 + n}",
        "nodeId": f"n{n}CNTRL",
        "user": user,
        "name": f"{name}.tail0e1f.ts.net",
        "hostname": name,
        "clientVersion": "1.102.5-t0000000-g0000000",
        "updateAvailable": False,
        "os": "linux",
        "created": f"2026-11-0{n}T10:00:00Z",
        "lastSeen": "2026-12-01T10:00:00Z",
        "keyExpiryDisabled": bool(tags),
        "expires": "0001-01-01T00:00:00Z" if tags else "2027-05-01T10:00:00Z",
        "authorized": True,
        "isExternal": False,
        "isEphemeral": False,
        "machineKey": f"mkey:{n:064x}",
        "nodeKey": f"nodekey:{n:064x}",
        "blocksIncomingConnections": False,
        "tags": tags,
        "tailnetLockError": "",
        "tailnetLockKey": f"nlpub:{n:064x}",
        "_routes": (routes, approved),
    }


DEVICES = [
    _device(1, "odin-laptop", "odin@example.com", [], [], []),
    _device(2, "web", "odin@example.com", ["tag:server"], [], []),
    _device(3, "gw", "odin@example.com", ["tag:router"], ["192.168.7.0/24"], ["192.168.7.0/24"]),
]


@dataclass
class TailnetState(FakeState):
    policy: str = POLICY
    devices: list[dict[str, Any]] = field(default_factory=lambda: list(DEVICES))
    health: str = "ok"  # ok | 500 | garbage


def _public(device: dict[str, Any], fields: str) -> dict[str, Any]:
    shown = {k: v for k, v in device.items() if k != "_routes"}
    if fields == "all":
        advertised, approved = device["_routes"]
        shown["advertisedRoutes"] = advertised
        shown["enabledRoutes"] = approved
    return shown


def build_tailnet_app(state: TailnetState) -> Starlette:
    keys_app = build_app(state)

    def refused(request: Request) -> Response | None:
        state.requests.append((request.method, request.url.path))
        if state.health == "500":
            return JSONResponse({"message": "internal error"}, status_code=500)
        if state.health == "garbage":
            return Response("<html>gateway</html>", media_type="text/html")
        if bearer_token(request) not in state.api_keys | state.tokens:
            return JSONResponse({"message": "API token invalid"}, status_code=401)
        return None

    async def devices(request: Request) -> Response:
        if (failed := refused(request)) is not None:
            return failed
        fields = request.query_params.get("fields", "default")
        return JSONResponse({"devices": [_public(d, fields) for d in state.devices]})

    async def acl(request: Request) -> Response:
        if (failed := refused(request)) is not None:
            return failed
        etag = hashlib.sha256(state.policy.encode()).hexdigest()
        if "application/hujson" in request.headers.get("accept", ""):
            return Response(
                state.policy, media_type="application/hujson", headers={"ETag": f'"{etag}"'}
            )
        value = hujson.parse(state.policy).value  # JSON: the same policy, comments dropped
        return JSONResponse(value, headers={"ETag": f'"{etag}"'})

    routes = [
        Route("/api/v2/tailnet/{tailnet}/devices", devices, methods=["GET"]),
        Route("/api/v2/tailnet/{tailnet}/acl", acl, methods=["GET"]),
        *keys_app.routes,
    ]
    return Starlette(routes=routes)


@dataclass
class RunningTailnet:
    url: str
    state: TailnetState


@contextmanager
def serve_tailnet(state: TailnetState | None = None) -> Iterator[RunningTailnet]:
    state = state or TailnetState()
    with serve_app(build_tailnet_app(state), name="fake-tailnet-api") as url:
        yield RunningTailnet(url, state)
