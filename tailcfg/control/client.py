"""The node side of the control protocol (async, httpx): register, stream maps, report endpoints.

    async with ControlClient(url, machine_key) as control:
        identity = await control.register(node_key, auth_key=key, hostname="dao")
        async for message in control.stream_map(node_key):
            ...  # first a full map, then incremental updates and keep-alives

``machine_key`` is a ``nacl.public.PrivateKey`` (or its ``privkey:<hex>`` text); node keys are
``nodekey:<hex>`` strings (the WireGuard public key). Refusals raise ``ControlRequestError``
(a ``ControlError``) with the server's message and HTTP status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, Self

import httpx
from nacl.public import Box, PrivateKey, PublicKey

from tailcfg.control import keys
from tailcfg.control.model import ControlRequestError

MAX_FRAME = 64 << 20
# What a pooled keep-alive connection that the server just closed looks like: retried once.
STALE_CONNECTION = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


class ControlClient:
    def __init__(
        self,
        url: str,
        machine_key: PrivateKey | str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.machine_key = (
            keys.parse_private(machine_key) if isinstance(machine_key, str) else machine_key
        )
        self.machine_public = keys.public_text(self.machine_key.public_key, keys.MACHINE_PREFIX)
        # Plain http needs no TLS context (building one costs ~0.2 s of CPU per client).
        tls = self.url.startswith("https://")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            transport=transport,
            timeout=httpx.Timeout(timeout, read=None),
            verify=tls,
        )
        self._box: Box | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def control_public_key(self) -> str:
        response = await self._http.get("/key")
        _raise_for(response, where=f"{self.url}/key")
        try:
            text = response.json()["PublicKey"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise ControlRequestError(
                f"{self.url}/key: the answer is not a tailcfg control server's key", status=502
            ) from None
        return str(text)

    async def _get_box(self) -> Box:
        if self._box is None:
            raw = keys.parse_public(await self.control_public_key(), keys.CONTROL_PREFIX)
            self._box = Box(self.machine_key, PublicKey(raw))
        return self._box

    async def _call(self, verb: str, message: dict[str, Any]) -> Any:
        box = await self._get_box()
        for attempt in range(2):
            try:
                response = await self._http.post(
                    f"/machine/{self.machine_public}/{verb}",
                    content=keys.seal(box, message),
                    headers={"content-type": "application/octet-stream"},
                )
                break
            except STALE_CONNECTION:  # safe to repeat: every verb is idempotent
                if attempt:
                    raise
        _raise_for(response)
        return keys.unseal(box, response.content)

    async def register(
        self,
        node_key: str,
        *,
        auth_key: str | None = None,
        hostname: str = "device",
        tags: Sequence[str] = (),
        routable_ips: Sequence[str] = (),
        endpoints: Sequence[str] = (),
        old_node_key: str | None = None,
    ) -> dict[str, Any]:
        """Register (with an auth key) or re-register (known machine); returns the identity."""
        message: dict[str, Any] = {
            "NodeKey": node_key,
            "Hostname": hostname,
            "RequestTags": list(tags),
            "RoutableIPs": list(routable_ips),
            "Endpoints": list(endpoints),
        }
        if auth_key is not None:
            message["AuthKey"] = auth_key
        if old_node_key is not None:
            message["OldNodeKey"] = old_node_key
        result: dict[str, Any] = await self._call("register", message)
        return result

    async def rotate_node_key(
        self, old_node_key: str, new_node_key: str, *, hostname: str = "device", **kw: Any
    ) -> dict[str, Any]:
        """Replace the node key under the same machine key (no auth key needed)."""
        return await self.register(new_node_key, hostname=hostname, old_node_key=old_node_key, **kw)

    async def update_endpoints(self, node_key: str, endpoints: Sequence[str]) -> None:
        await self._call("endpoints", {"NodeKey": node_key, "Endpoints": list(endpoints)})

    async def stream_map(
        self,
        node_key: str,
        *,
        endpoints: Sequence[str] | None = None,
        stream: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """The map messages: a full map first, then updates and ``{"KeepAlive": true}``."""
        box = await self._get_box()
        message: dict[str, Any] = {"NodeKey": node_key, "Stream": stream}
        if endpoints is not None:
            message["Endpoints"] = list(endpoints)
        received = False
        for attempt in range(2):
            try:
                async with self._http.stream(
                    "POST",
                    f"/machine/{self.machine_public}/map",
                    content=keys.seal(box, message),
                    headers={"content-type": "application/octet-stream"},
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        _raise_for(response)
                    async for item in _frames(response, box):
                        received = True
                        yield item
                return
            except STALE_CONNECTION:
                if received or attempt:
                    raise


async def _frames(response: httpx.Response, box: Box) -> AsyncIterator[dict[str, Any]]:
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer.extend(chunk)
        while len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big")
            if size > MAX_FRAME:
                raise ControlRequestError("map frame too large", status=502)
            if len(buffer) < 4 + size:
                break
            data = bytes(buffer[4 : 4 + size])
            del buffer[: 4 + size]
            yield keys.unseal(box, data)


def _raise_for(response: httpx.Response, *, where: str = "") -> None:
    """ControlRequestError with the server's message (after ``where``: status, when given)."""
    if response.status_code < 400:
        return
    try:
        message = str(response.json().get("message", response.text))
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        message = response.text or response.reason_phrase
    if where:
        message = f"{where}: {response.status_code} {message}"
    raise ControlRequestError(message, status=response.status_code)
