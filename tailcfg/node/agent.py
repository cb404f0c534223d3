"""The node agent: ``tailcfg node up`` as a library, an async context manager.

    async with NodeAgent(url, auth_key_file=path, state_dir=state, hostname="dao") as agent:
        await agent.wait_for(lambda a: len(a.peers) == 3)
        result = await agent.probe("100.86.11.46", 22)          # through the WireGuard tunnel

What it does, in order: load or create the machine key and the node key (``STATE/machine.key``,
``STATE/node.key``, ``privkey:<hex>``, mode 0600); bind the UDP device; register (a known
machine re-registers without the auth key; a new one reads the key from ``auth_key_file``
as tailscaled reads ``authKeyFile``: never from argv, never logged); follow the map stream
and feed the device on every message (peers, endpoints, AllowedIPs, packet filter); report
its UDP endpoint; rotate the node key before it expires (and register again with the auth
key once it has expired); stop when the control plane deletes the device.

A subnet router's or exit node's host answers for the addresses of its approved routes
(``PrimaryRoutes``), standing in for the machines behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from nacl.public import PrivateKey

from tailcfg.atomicfile import atomic_write_text
from tailcfg.control import keys as ckeys
from tailcfg.control.client import ControlClient
from tailcfg.control.model import ControlRequestError
from tailcfg.errors import ControlError
from tailcfg.node.crypto import generate_private_key, public_key
from tailcfg.node.device import Device, PeerConfig, ProbeResult
from tailcfg.node.packets import IPAddress
from tailcfg.node.routing import Network, parse_networks
from tailcfg.textfile import read_text

__all__ = ["AgentPeer", "NodeAgent", "read_auth_key"]

log = logging.getLogger("tailcfg.node")
MACHINE_KEY_FILE = "machine.key"
NODE_KEY_FILE = "node.key"


def read_auth_key(path: Path) -> str:
    """The auth key in ``path`` (first non-empty line), as tailscaled reads ``authKeyFile``."""
    text = read_text(path, "the auth key file", error=ControlError)
    key = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not key:
        raise ControlError(f"{path}: the auth key file is empty")
    return key


def _load_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    if path.exists():
        text = read_text(path, "the key file", error=ControlError)
        try:
            return ckeys.parse_private(text).encode()
        except ControlError as exc:
            raise ControlError(f"{path}: {exc}") from None
    raw = make()
    atomic_write_text(path, ckeys.PRIVATE_PREFIX + raw.hex() + "\n", mode=0o600)
    return raw


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class _HostAddresses(tuple[IPAddress, ...]):
    """The device's own addresses; ``in`` also holds for addresses of the served routes."""

    networks: tuple[Network, ...]

    def __new__(cls, addresses: Sequence[IPAddress], networks: Sequence[Network]) -> Self:
        obj = super().__new__(cls, addresses)
        obj.networks = tuple(networks)
        return obj

    def __contains__(self, item: object) -> bool:
        if tuple.__contains__(self, item):
            return True
        if not isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return any(item.version == n.version and item in n for n in self.networks)


@dataclass(frozen=True, slots=True)
class AgentPeer:
    """A peer from the netmap (``tailcfg.Node``)."""

    id: int
    name: str  # the short MagicDNS name (the device's given name)
    key: str
    addresses: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    endpoints: tuple[str, ...]
    tags: tuple[str, ...]

    @classmethod
    def from_wire(cls, node: Mapping[str, Any]) -> AgentPeer:
        return cls(
            id=int(node["ID"]),
            name=str(node.get("Name", "")).split(".")[0],
            key=str(node["Key"]),
            addresses=tuple(str(a).split("/")[0] for a in node.get("Addresses") or ()),
            allowed_ips=tuple(str(a) for a in node.get("AllowedIPs") or ()),
            endpoints=tuple(str(e) for e in node.get("Endpoints") or ()),
            tags=tuple(str(t) for t in node.get("Tags") or ()),
        )

    def config(self) -> PeerConfig:
        return PeerConfig.make(
            self.key, self.endpoints[0] if self.endpoints else None, self.allowed_ips
        )


class NodeAgent:
    """One node: keys, registration, the map stream, and the WireGuard device it feeds."""

    def __init__(
        self,
        control_url: str,
        *,
        auth_key_file: Path,
        state_dir: Path,
        hostname: str = "device",
        advertise_routes: Sequence[str] = (),
        listen_host: str = "127.0.0.1",
        transport: httpx.AsyncBaseTransport | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.control_url = control_url
        self.auth_key_file = Path(auth_key_file)
        self.state_dir = Path(state_dir)
        self.hostname = hostname
        self.advertise_routes = tuple(advertise_routes)
        self._listen_host = listen_host
        self._transport = transport
        self._start_timeout = start_timeout
        self.identity: dict[str, Any] = {}
        self.self_node: dict[str, Any] = {}
        self.peers: dict[int, AgentPeer] = {}
        self.packet_filter: list[dict[str, Any]] = []
        self.ssh_policy: dict[str, Any] = {"rules": []}
        self.state = "new"  # new -> running -> (deleted | stopped)
        self.reason = ""
        self.netmaps = 0
        self.device: Device | None = None
        self._client: ControlClient | None = None
        self._node_private = b""
        self._follow: asyncio.Task[None] | None = None
        self._rotator: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._registered_at = datetime.now(UTC)

    # --- properties ---------------------------------------------------------------------

    @property
    def node_key(self) -> str:
        return ckeys.public_text(public_key(self._node_private), ckeys.NODE_PREFIX)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(str(a).split("/")[0] for a in self.identity.get("Addresses") or ())

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.self_node.get("Tags") or self.identity.get("Tags") or ())

    @property
    def name(self) -> str:
        return str(self.identity.get("Name", self.hostname)).split(".")[0]

    @property
    def endpoint(self) -> str:
        if self.device is None:
            raise ControlError("node is not running")
        host, port = self.device.endpoint
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def peer_named(self, name: str) -> AgentPeer | None:
        return next((p for p in self.peers.values() if p.name == name), None)

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        known = (self.state_dir / MACHINE_KEY_FILE).exists()
        machine = _load_or_create(
            self.state_dir / MACHINE_KEY_FILE, lambda: bytes(PrivateKey.generate())
        )
        self._node_private = _load_or_create(self.state_dir / NODE_KEY_FILE, generate_private_key)
        self._client = ControlClient(
            self.control_url, PrivateKey(machine), transport=self._transport
        )
        self.device = await Device(self._node_private, (), host=self._listen_host).start()
        try:
            await self._register(known=known)
        except httpx.HTTPError as exc:
            raise ControlError(
                f"cannot reach the control plane at {self.control_url}: {exc}"
            ) from None
        self.state = "running"
        self._follow = asyncio.create_task(self._follow_map(), name=f"map-{self.hostname}")
        self._rotator = asyncio.create_task(self._rotate_before_expiry())
        got = await self.wait_for(
            lambda a: a.netmaps > 0 or a.state != "running", self._start_timeout
        )
        if self.state != "running":
            raise ControlError(f"{self.hostname}: {self.reason}")
        if not got:
            raise ControlError(f"{self.hostname}: no netmap within {self._start_timeout:.0f} s")

    async def close(self) -> None:
        if self.state == "running":
            self.state = "stopped"
        for task in (self._rotator, self._follow):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._rotator = self._follow = None
        if self.device is not None:
            await self.device.__aexit__(None, None, None)
            self.device = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self._notify()

    async def run_until(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set or the device is deleted (for ``tailcfg node up``)."""
        stopped = asyncio.create_task(stop.wait())
        gone = asyncio.create_task(self.wait_for(lambda a: a.state != "running", None))
        try:
            await asyncio.wait({stopped, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stopped, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- registration -------------------------------------------------------------------

    def _endpoints(self) -> list[str]:
        return [self.endpoint]

    async def _register(self, *, known: bool) -> None:
        """Register: a ``known`` machine first with its keys alone, else with the auth key."""
        assert self._client is not None
        if known:
            try:
                self.identity = await self._client.register(self.node_key, **self._hostinfo())
                self._registered_at = datetime.now(UTC)
                return
            except ControlRequestError as exc:
                if exc.status != 401:
                    raise
                if "expired" in str(exc):
                    await self._reauthenticate()
                    return
        auth_key = read_auth_key(self.auth_key_file)
        try:
            self.identity = await self._client.register(
                self.node_key, auth_key=auth_key, **self._hostinfo()
            )
        except ControlRequestError as exc:
            raise ControlRequestError(
                f"{self.auth_key_file}: the control plane refused the auth key: {exc}",
                status=exc.status,
            ) from None
        self._registered_at = datetime.now(UTC)
        log.info("%s registered as %s", self.hostname, self.name)

    async def _reauthenticate(self) -> None:
        """The node key expired: a fresh node key, registered with the auth key."""
        await self._use_node_key(generate_private_key())
        await self._register(known=False)

    def _hostinfo(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "routable_ips": self.advertise_routes,
            "endpoints": self._endpoints(),
        }

    async def _use_node_key(self, private: bytes) -> None:
        """Switch to ``private``: persist it and rebuild the device on the same port."""
        atomic_write_text(
            self.state_dir / NODE_KEY_FILE, ckeys.PRIVATE_PREFIX + private.hex() + "\n", mode=0o600
        )
        self._node_private = private
        old = self.device
        port = old.endpoint[1] if old is not None else 0
        if old is not None:
            await old.__aexit__(None, None, None)
        self.device = await Device(private, (), host=self._listen_host, port=port).start()
        self._sync_device()

    async def rotate_node_key(self) -> None:
        """Replace the node key under the same machine key; once expired, with the auth key.

        The control plane accepts the new key before the node uses it, so a refused rotation
        leaves the node on its old key; the map stream restarts either way.
        """
        assert self._client is not None
        private = generate_private_key()
        new_key = ckeys.public_text(public_key(private), ckeys.NODE_PREFIX)
        follow, self._follow = self._follow, None
        if follow is not None:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
        try:
            try:
                identity = await self._client.rotate_node_key(
                    self.node_key, new_key, **self._hostinfo()
                )
            except ControlRequestError as exc:
                if exc.status != 401 or "expired" not in str(exc):
                    raise
                await self._reauthenticate()
            else:
                await self._use_node_key(private)
                self.identity = identity
            self._registered_at = datetime.now(UTC)
            log.info("%s rotated its node key", self.name)
        finally:
            if self.state == "running":
                self._follow = asyncio.create_task(self._follow_map())

    async def _rotate_before_expiry(self) -> None:
        while True:
            expiry = _parse_time(self.identity.get("KeyExpiry"))
            if expiry is None:
                await self.wait_for(
                    lambda a: _parse_time(a.identity.get("KeyExpiry")) is not None, None
                )
                continue
            margin = min(86400.0, max(0.0, (expiry - self._registered_at).total_seconds() / 3))
            delay = (expiry - datetime.now(UTC)).total_seconds() - margin
            await asyncio.sleep(max(delay, 0.0))
            if _parse_time(self.identity.get("KeyExpiry")) != expiry:
                continue
            try:
                await self.rotate_node_key()
            except (ControlError, httpx.HTTPError) as exc:
                log.warning("%s: node key rotation failed: %s", self.name, exc)
                await asyncio.sleep(1.0)

    # --- the map stream -----------------------------------------------------------------

    async def _follow_map(self) -> None:
        assert self._client is not None
        backoff = 0.05
        while self.state == "running":
            try:
                async for message in self._client.stream_map(
                    self.node_key, endpoints=self._endpoints()
                ):
                    await self.apply(message)
                    backoff = 0.05
            except ControlRequestError as exc:
                if exc.status == 401 and "expired" in str(exc):
                    await self._reauthenticate()
                    continue
                if exc.status in (401, 403, 404):
                    await self._gone(str(exc))
                    return
                log.warning("%s: map request refused: %s", self.hostname, exc)
            except httpx.HTTPError as exc:
                log.debug("%s: map stream interrupted: %s", self.hostname, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _gone(self, reason: str) -> None:
        self.state, self.reason = "deleted", reason
        self.peers.clear()
        self._sync_device()
        log.info("%s: removed from the tailnet: %s", self.hostname, reason)
        await self._notify()

    async def apply(self, message: Mapping[str, Any]) -> None:
        """Apply one map message (full or incremental) and feed the device."""
        if message.get("KeepAlive") and len(message) == 1:
            return
        if "Node" in message:
            self.self_node = dict(message["Node"])
            if "KeyExpiry" in self.self_node:
                self.identity["KeyExpiry"] = self.self_node["KeyExpiry"]
        if "Peers" in message:
            self.peers = {p.id: p for p in map(AgentPeer.from_wire, message["Peers"] or ())}
        for node in message.get("PeersChanged") or ():
            peer = AgentPeer.from_wire(node)
            self.peers[peer.id] = peer
        for gone in message.get("PeersRemoved") or ():
            self.peers.pop(int(gone), None)
        if "PacketFilter" in message:
            self.packet_filter = list(message["PacketFilter"] or [])
            if self.device is not None:
                self.device.set_filter(self.packet_filter)
        if "SSHPolicy" in message:
            self.ssh_policy = dict(message["SSHPolicy"] or {"rules": []})
        self._sync_device()
        self.netmaps += 1
        await self._notify()

    def _sync_device(self) -> None:
        device = self.device
        if device is None:
            return
        own = tuple(ipaddress.ip_address(a) for a in self.addresses)
        routes = parse_networks(self.self_node.get("PrimaryRoutes") or ())
        device.addresses = _HostAddresses(own, routes)
        device.set_filter(self.packet_filter)
        device.set_peers(p.config() for p in self.peers.values())

    # --- waiting and probing ------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[NodeAgent], bool], timeout: float | None) -> bool:
        """Wait until ``predicate(agent)`` holds after a netmap change; False on timeout."""

        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            return False
        return True

    async def probe(
        self, dst: str, port: int = 0, proto: str = "tcp", timeout: float = 1.0
    ) -> ProbeResult:
        """One TCP SYN / UDP datagram / ICMP echo to ``dst`` through the tunnels."""
        if self.device is None or self.state != "running":
            return ProbeResult(False, None, f"node {self.state}")
        return await self.device.probe(dst, port, proto=proto, timeout=timeout)
