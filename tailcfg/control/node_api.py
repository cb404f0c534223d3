"""The node protocol over HTTP (see docs/control-protocol.md).

``GET /key`` gives the control public key. ``POST /machine/{mkey}/{register,map,endpoints}``
take a body sealed with Box(machine private, control public) and answer sealed with
Box(control private, machine public). A map answer is a stream of frames: a 4-byte
big-endian length, then one sealed JSON message. Refusals are plain JSON ``{"message"}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from nacl.public import Box
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tailcfg.control import keys
from tailcfg.control.http import guarded, plane, read_body
from tailcfg.control.hub import FULL_MAP, Subscription
from tailcfg.control.model import ControlRequestError, utcnow
from tailcfg.control.netmap import KEEPALIVE
from tailcfg.control.service import ControlPlane

log = logging.getLogger("tailcfg.control")
SEALED = "application/octet-stream"


async def control_key(request: Request) -> Response:
    public = plane(request).control_key.public_key
    return JSONResponse({"PublicKey": keys.public_text(public, keys.CONTROL_PREFIX)})


async def _open(request: Request) -> tuple[ControlPlane, str, Box, Any]:
    control = plane(request)
    machine_key = str(request.path_params["mkey"])
    raw = keys.parse_public(machine_key, keys.MACHINE_PREFIX)
    box = keys.box_for(control.control_key, raw)
    body = await read_body(request)
    return control, machine_key, box, keys.unseal(box, body)


def _sealed(box: Box, message: Any) -> Response:
    return Response(keys.seal(box, message), media_type=SEALED)


async def register(request: Request) -> Response:
    control, machine_key, box, message = await _open(request)
    return _sealed(box, control.register(machine_key, message))


async def endpoints(request: Request) -> Response:
    control, machine_key, box, message = await _open(request)
    if not isinstance(message, dict):
        raise ControlRequestError("endpoint update must be a JSON object")
    device = control.node_device(machine_key, message.get("NodeKey"))
    control.update_endpoints(device, message.get("Endpoints"))
    return _sealed(box, {})


async def map_stream(request: Request) -> Response:
    control, machine_key, box, message = await _open(request)
    if not isinstance(message, dict):
        raise ControlRequestError("map request must be a JSON object")
    device = control.node_device(machine_key, message.get("NodeKey"))
    if "Endpoints" in message:
        control.update_endpoints(device, message.get("Endpoints"))
    stream = message.get("Stream", True)
    sub = await control.hub.subscribe(device.id)
    control.store.update_device(device.id, last_seen=utcnow())
    frames = _frames(control, sub, box, stream=bool(stream))
    return StreamingResponse(frames, media_type=SEALED)


def frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


async def _frames(
    control: ControlPlane, sub: Subscription, box: Box, *, stream: bool
) -> AsyncIterator[bytes]:
    keepalive = control.settings.keepalive
    try:
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), keepalive)
            except TimeoutError:
                message = KEEPALIVE
            if message is None:
                return
            if message is FULL_MAP:
                # Few full maps at a time: each can be megabytes, and after a restart every
                # node asks at once. The gate is held until the bytes went to the socket.
                async with control.hub.full_map_gate:
                    data = control.hub.full_map(sub)
                    if data is None:
                        return
                    nonce, sealed = keys.seal_parts(box, data)
                    del data
                    yield (len(nonce) + len(sealed)).to_bytes(4, "big") + nonce
                    yield sealed
                    del sealed
                    yield b""  # the server waits here until the socket buffer drained
            else:
                yield frame(keys.seal(box, message))
            if not stream:
                return
    finally:
        control.hub.unsubscribe(sub)
        if control.hub.device(sub.device_id) is not None:
            try:
                control.store.update_device(sub.device_id, last_seen=utcnow())
            except Exception:  # the store may be closing with the server
                log.debug("could not record last_seen for %s", sub.device_id)


ROUTES = [
    Route("/key", guarded(control_key), methods=["GET"]),
    Route("/machine/{mkey}/register", guarded(register), methods=["POST"]),
    Route("/machine/{mkey}/map", guarded(map_stream), methods=["POST"]),
    Route("/machine/{mkey}/endpoints", guarded(endpoints), methods=["POST"]),
]
