"""A WireGuard device on an asyncio UDP socket, with a host responder standing in for the OS.

    async with Device(private_key, ["100.64.0.1", "fd7a:115c:a1e0::1"],
                      packet_filter=rules) as dev:
        dev.set_peers([PeerConfig.make(peer_key, "127.0.0.1:41641", ["100.64.0.2/32"])])
        result = await dev.probe("100.64.0.2", 22, proto="tcp")   # ProbeResult(ok, rtt, reason)

Outgoing packets go to the peer whose AllowedIPs hold the destination. Incoming, a
decrypted packet is dropped when its source is outside the sending peer's AllowedIPs or
its destination is not this device (``dropped_by_routing``), or when the packet filter
does not admit it (``dropped_by_filter``: silence, as tailscaled does); an admitted
packet either answers a pending probe or is answered by the host responder.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from tailcfg.errors import TailcfgError
from tailcfg.node import packets, responder
from tailcfg.node.crypto import key_to_base64, parse_key
from tailcfg.node.filter import PacketFilter
from tailcfg.node.packets import IPAddress, Packet, PacketError
from tailcfg.node.responder import ProbeKey, ProbeResult
from tailcfg.node.routing import Network, RouteTable, parse_networks
from tailcfg.node.wireguard import Address, WireGuard

__all__ = ["Counters", "Device", "DeviceError", "PeerConfig", "ProbeResult", "parse_endpoint"]


class DeviceError(TailcfgError):
    """A peer's configuration (endpoint, AllowedIPs) or a probe's arguments are wrong."""


def parse_endpoint(value: str | Address) -> Address:
    """``"127.0.0.1:41641"`` or ``"[::1]:41641"`` → (host, port)."""
    if not isinstance(value, str):
        return (value[0], int(value[1]))
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise DeviceError(f"endpoint {value!r} is not host:port")
    return (host.strip("[]"), int(port))


@dataclass(frozen=True)
class PeerConfig:
    public_key: bytes
    endpoint: Address | None
    allowed_ips: tuple[Network, ...]

    @classmethod
    def make(
        cls,
        public_key: str | bytes,
        endpoint: str | Address | None,
        allowed_ips: Iterable[str | Network],
    ) -> PeerConfig:
        """Accepts keys as base64, hex or ``nodekey:`` hex, and ``"host:port"`` endpoints."""
        ep = parse_endpoint(endpoint) if endpoint else None
        try:
            networks = parse_networks(allowed_ips)
        except ValueError as exc:
            raise DeviceError(f"AllowedIPs: {exc}") from exc
        return cls(parse_key(public_key), ep, networks)


@dataclass
class Counters:
    sent: int = 0
    received: int = 0
    dropped_by_filter: int = 0
    dropped_by_routing: int = 0
    replayed: int = 0
    handshakes: int = 0
    invalid: int = 0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, device: Device) -> None:
        self.device = device

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.device._on_datagram(data, (str(addr[0]), int(addr[1])))


class Device:
    """One node's data plane: a WireGuard engine, its peers, its filter, its host."""

    def __init__(
        self,
        private_key: str | bytes,
        addresses: Iterable[str | IPAddress],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        packet_filter: Sequence[Mapping[str, Any]] = (),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        tick_interval: float = 0.1,
    ) -> None:
        self.engine = WireGuard(private_key, clock=clock, wall_clock=wall_clock)
        self.addresses = tuple(
            a if not isinstance(a, str) else ipaddress.ip_address(a) for a in addresses
        )
        self.served_routes: tuple[Network, ...] = ()
        self.filter = PacketFilter(packet_filter)
        self.counters = Counters()
        self.drops: deque[str] = deque(maxlen=64)  # the latest drops, explained
        self.on_packet: Callable[[Packet], None] | None = None
        self._bind = (host, port)
        self._clock = clock
        self._tick_interval = tick_interval
        self._routes = RouteTable()
        self._endpoints: dict[bytes, Address] = {}
        self._waiters: dict[ProbeKey, asyncio.Future[str]] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._ticker: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> Device:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=self._bind
        )
        self._transport = transport
        self._ticker = loop.create_task(self._tick_forever())
        return self

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_result("closed")
        self._waiters.clear()

    async def __aenter__(self) -> Device:
        return await self.start()

    async def aclose(self) -> None:
        """Close, and wait for the timer task to finish."""
        await self.__aexit__(None, None, None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if self._ticker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    @property
    def public_key(self) -> bytes:
        return self.engine.public_key

    @property
    def public_key_base64(self) -> str:
        return key_to_base64(self.engine.public_key)

    @property
    def endpoint(self) -> Address:
        if self._transport is None:
            raise RuntimeError("device not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return (str(host), int(port))

    # --- configuration (fed from the netmap) ------------------------------------------

    def set_peers(self, peers: Iterable[PeerConfig]) -> None:
        """Replace the peer table; sessions of peers that stay are kept."""
        wanted = {p.public_key: p for p in peers}
        for key in list(self._endpoints.keys() | set(self.engine.peers())):
            if key not in wanted:
                self.remove_peer(key)
        for peer in wanted.values():
            self.update_peer(peer)

    def update_peer(self, peer: PeerConfig) -> None:
        self.engine.add_peer(peer.public_key)
        self._routes.set(peer.public_key, peer.allowed_ips)
        if peer.endpoint is not None:
            self._endpoints[peer.public_key] = peer.endpoint
        else:
            self._endpoints.pop(peer.public_key, None)

    def remove_peer(self, public_key: str | bytes) -> None:
        key = parse_key(public_key)
        self.engine.remove_peer(key)
        self._routes.remove(key)
        self._endpoints.pop(key, None)

    def set_addresses(
        self, addresses: Iterable[str | IPAddress], *, served_routes: Iterable[str | Network] = ()
    ) -> None:
        """This node's tunnel addresses, and the subnet routes it answers for (a router)."""
        self.addresses = tuple(
            a if not isinstance(a, str) else ipaddress.ip_address(a) for a in addresses
        )
        self.served_routes = parse_networks(served_routes)

    def is_local(self, address: IPAddress) -> bool:
        """Whether the host responder answers for ``address``."""
        return address in self.addresses or any(
            address.version == net.version and address in net for net in self.served_routes
        )

    def set_filter(self, rules: Sequence[Mapping[str, Any]]) -> None:
        new = PacketFilter(rules)
        new.copy_flows_from(self.filter)
        self.filter = new

    def peer_endpoint(self, public_key: bytes) -> Address | None:
        return self._endpoints.get(public_key)

    # --- data path --------------------------------------------------------------------

    def send_packet(self, packet: bytes) -> str:
        """Route and send one IP packet: "sent", "no-route" or "no-endpoint"."""
        pkt = packets.parse(packet)
        peer = self._routes.lookup(pkt.dst)
        if peer is None:
            return "no-route"
        endpoint = self._endpoints.get(peer)
        if endpoint is None:
            return "no-endpoint"
        self.filter.note_out(pkt)
        self.counters.sent += 1
        for datagram in self.engine.send(peer, packet):
            self._sendto(datagram, endpoint)
        return "sent"

    def _sendto(self, datagram: bytes, endpoint: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(datagram, endpoint)

    def _on_datagram(self, data: bytes, source: Address) -> None:
        result = self.engine.receive(data, source)
        self.counters.handshakes = self.engine.handshakes
        if result.reason == "replay":
            self.counters.replayed += 1
        elif result.event == "dropped" and result.peer is None:
            self.counters.invalid += 1
        if result.peer is not None and result.event != "dropped":
            self._endpoints[result.peer] = source
        for reply in result.replies:
            self._sendto(reply, source)
        if result.event == "data" and result.peer is not None and result.packet is not None:
            self.counters.received += 1
            self._deliver(result.peer, result.packet)

    def _deliver(self, peer: bytes, raw: bytes) -> None:
        try:
            pkt = packets.parse(raw)
        except PacketError as exc:
            self.counters.invalid += 1
            self._note_drop(f"invalid: {exc}")
            return
        if not self._routes.allows(peer, pkt.src):
            self.counters.dropped_by_routing += 1
            self._note_drop(f"routing: source not in the peer's AllowedIPs: {_flow(pkt)}")
            return
        if not self.is_local(pkt.dst):
            self.counters.dropped_by_routing += 1
            self._note_drop(f"routing: destination is not this node: {_flow(pkt)}")
            return
        if not pkt.checksum_ok:
            self.counters.invalid += 1
            self._note_drop(f"invalid: bad checksum: {_flow(pkt)}")
            return
        verdict = self.filter.check_in(pkt)
        if not verdict.allowed:
            self.counters.dropped_by_filter += 1
            self._note_drop(f"filter: {verdict.reason}: {_flow(pkt)}")
            return
        if self._answer_probe(pkt):
            return
        if self.on_packet is not None:
            self.on_packet(pkt)
        reply = responder.reply_to(pkt)
        if reply is not None:
            self.send_packet(reply)

    def _note_drop(self, message: str) -> None:
        self.drops.append(message)

    def _answer_probe(self, pkt: Packet) -> bool:
        answer = responder.answer_key(pkt)
        if answer is None:
            return False
        key, outcome = answer
        waiter = self._waiters.pop(key, None)
        if waiter is None:
            return False
        if not waiter.done():
            waiter.set_result(outcome)
        if outcome == "syn-ack":
            self.send_packet(responder.reset_for(pkt))
        return True

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            self.tick()

    def tick(self) -> None:
        """Run the protocol timers once (the device also does it every tick_interval)."""
        for peer, datagram in self.engine.tick():
            endpoint = self._endpoints.get(peer)
            if endpoint is not None:
                self._sendto(datagram, endpoint)

    # --- probes -----------------------------------------------------------------------

    async def probe(
        self, dst_ip: str | IPAddress, port: int = 0, proto: str = "tcp", timeout: float = 2.0
    ) -> ProbeResult:
        """Send one TCP SYN / UDP datagram / ICMP echo through the tunnel and wait."""
        if self._transport is None:
            raise DeviceError("the device is not started (use `async with Device(...)`)")
        if proto not in responder.PROTOCOLS:
            raise DeviceError(f"probe protocol {proto!r} is not one of tcp, udp, icmp")
        dst = ipaddress.ip_address(dst_ip) if isinstance(dst_ip, str) else dst_ip
        src = next((a for a in self.addresses if a.version == dst.version), None)
        if src is None:
            return ProbeResult(False, None, "no-source-address")
        packet, key = responder.build_probe(src, dst, proto, port)
        while key in self._waiters:  # concurrent probes: never share a source port / ident
            packet, key = responder.build_probe(src, dst, proto, port)
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters[key] = waiter
        started = self._clock()
        status = self.send_packet(packet)
        if status != "sent":
            self._waiters.pop(key, None)
            return ProbeResult(False, None, status)
        try:
            async with asyncio.timeout(timeout):
                outcome = await waiter
        except TimeoutError:
            return ProbeResult(False, None, "timeout")
        finally:
            self._waiters.pop(key, None)
        ok = outcome in ("syn-ack", "echo-reply", "udp-reply")
        return ProbeResult(ok, self._clock() - started, outcome)


def _flow(pkt: Packet) -> str:
    """``tcp 100.64.0.1:40000 → 100.64.0.2:22`` (ICMP: type and id)."""
    name = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}.get(pkt.proto, f"proto {pkt.proto}")
    if pkt.icmp_type >= 0:
        return f"{name} {pkt.src} → {pkt.dst} type {pkt.icmp_type} id {pkt.ident}"
    return f"{name} {_hostport(pkt.src, pkt.sport)} → {_hostport(pkt.dst, pkt.dport)}"


def _hostport(address: IPAddress, port: int) -> str:
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
