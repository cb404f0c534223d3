"""Two Python devices over real UDP on 127.0.0.1: probes, filter, routing, replay, updates."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tailcfg.node import (
    Counters,
    Device,
    DeviceError,
    PeerConfig,
    ProbeResult,
    generate_private_key,
)
from tailcfg.node.crypto import key_to_base64
from tailcfg.node.session import REKEY_AFTER_TIME

A4, A6, B4, B6 = "100.64.0.1", "fd7a:115c:a1e0::1", "100.64.0.2", "fd7a:115c:a1e0::2"
B4X, B6X = "100.64.0.3", "fd7a:115c:a1e0::3"  # more addresses of b (a subnet router's, say)
QUIET = 0.3  # how long a filtered probe waits for the silence to be final


def rule(src: list[str], dst: str, first: int, last: int, protos: list[int] | None = None) -> Any:
    out: dict[str, Any] = {
        "SrcIPs": src,
        "DstPorts": [{"IP": dst, "Ports": {"First": first, "Last": last}}],
    }
    if protos is not None:
        out["IPProto"] = protos
    return out


ALLOW_ALL = [rule(["*"], "*", 0, 65535)]


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def two_devices(
    b_filter: Any = ALLOW_ALL,
    *,
    a_allowed_on_b: list[str] | None = None,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[tuple[Device, Device]]:
    tick = clock or time.monotonic
    a = Device(generate_private_key(), [A4, A6], packet_filter=ALLOW_ALL, clock=tick)
    b = Device(generate_private_key(), [B4, B6, B4X, B6X], packet_filter=b_filter, clock=tick)
    async with a, b:
        b_ips = [f"{B4}/32", f"{B6}/128", B4X, B6X]
        a.set_peers([PeerConfig.make(b.public_key_base64, _ep(b), b_ips)])
        b.set_peers(
            [PeerConfig.make(a.public_key.hex(), _ep(a), a_allowed_on_b or [A4, f"{A6}/128"])]
        )
        yield a, b


def _ep(device: Device) -> str:
    host, port = device.endpoint
    return f"{host}:{port}"


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


def test_handshake_and_probes_both_families() -> None:
    async def body() -> None:
        async with two_devices() as (a, b):
            results = [
                await a.probe(B4, 22, "tcp"),
                await a.probe(B6, 22, "tcp"),
                await a.probe(B4, 53, "udp"),
                await a.probe(B6, 53, "udp"),
                await a.probe(B4, proto="icmp"),
                await a.probe(B6, proto="icmp"),
                await b.probe(A4, 80, "tcp"),
            ]
            assert [(r.ok, r.reason) for r in results] == [
                (True, "syn-ack"), (True, "syn-ack"), (True, "udp-reply"), (True, "udp-reply"),
                (True, "echo-reply"), (True, "echo-reply"), (True, "syn-ack"),
            ]  # fmt: skip
            assert all(r.rtt is not None and r.rtt >= 0 for r in results)
            assert (a.counters.handshakes, b.counters.handshakes) == (1, 1)
            await asyncio.sleep(0.05)  # the last RST is on its way
            # a: 6 probes + 2 RSTs closing SYN-ACKs + 1 SYN-ACK, got 6 answers + b's SYN + RST
            assert a.counters == Counters(sent=9, received=8, handshakes=1)
            assert b.counters == Counters(sent=8, received=9, handshakes=1)

    run(body)


FILTER_B = [
    rule([A4, A6], B4, 22, 22, [6]),  # ssh over v4 only
    rule([A4], B4, 53, 53, [17]),  # dns over udp
    rule([A6], B6, 443, 443, [6, 17]),  # web over v6, tcp and udp (quic)
]

FILTER_CASES = [
    (B4, 22, "tcp", True),
    (B6, 22, "tcp", False),
    (B4, 23, "tcp", False),
    (B4, 53, "udp", True),
    (B4, 54, "udp", False),
    (B6, 53, "udp", False),
    (B6, 443, "tcp", True),
    (B6, 443, "udp", True),
    (B4, 443, "tcp", False),
    # ICMP: like tailscaled, any open port on an address lets pings to it in
    (B4, 0, "icmp", True),
    (B6, 0, "icmp", True),
    (B4X, 0, "icmp", False),
    (B6X, 0, "icmp", False),
    (B4X, 22, "tcp", False),
]


def test_filter_allows_and_denies_tcp_udp_icmp_v4_v6() -> None:
    async def body() -> None:
        async with two_devices(FILTER_B) as (a, b):
            await a.probe(B4, 22, "tcp")  # handshake first, so the probes race nothing
            results = await asyncio.gather(
                *(a.probe(dst, port, proto, timeout=QUIET) for dst, port, proto, _ in FILTER_CASES)
            )
            observed = [(dst, port, proto, r.ok) for (dst, port, proto, _), r in zip(
                FILTER_CASES, results, strict=True
            )]  # fmt: skip
            assert observed == FILTER_CASES
            denied = [r for r in results if not r.ok]
            assert {r.reason for r in denied} == {"timeout"}  # filtered = silence
            assert b.counters.dropped_by_filter == len(denied)
            assert {d.split(": ")[1] for d in b.drops} == {"no rule matched"}
            assert f"filter: no rule matched: icmp {A4} → {B4X} type 8" in "\n".join(b.drops)

    run(body)


def test_source_outside_the_peers_allowed_ips_is_dropped() -> None:
    async def body() -> None:
        async with two_devices(a_allowed_on_b=["100.64.0.99/32"]) as (a, b):
            result = await a.probe(B4, 22, "tcp", timeout=QUIET)
            assert result == ProbeResult(False, None, "timeout")
            assert (b.counters.received, b.counters.dropped_by_routing) == (1, 1)
            assert b.counters.sent == 0
            (drop,) = b.drops
            assert drop.startswith(
                "routing: source not in the peer's AllowedIPs: tcp 100.64.0.1:"
            ) and drop.endswith(" → 100.64.0.2:22")

    run(body)


def test_no_route_and_no_source_address() -> None:
    async def body() -> None:
        async with two_devices() as (a, _b):
            assert await a.probe("100.64.0.77", 22) == ProbeResult(False, None, "no-route")
            async with Device(generate_private_key(), [A4]) as v4_only:
                no_source = ProbeResult(False, None, "no-source-address")
                assert await v4_only.probe(B6, 22) == no_source

    run(body)


class Relay(asyncio.DatagramProtocol):
    """A UDP hop between a and b that records what a sends."""

    def __init__(self, a: tuple[str, int], b: tuple[str, int]) -> None:
        self.a, self.b = a, b
        self.from_a: list[bytes] = []
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        assert self.transport is not None
        if tuple(addr[:2]) == self.b:
            self.transport.sendto(data, self.a)
        else:
            self.from_a.append(data)
            self.transport.sendto(data, self.b)


def test_a_replayed_data_packet_is_counted_and_dropped() -> None:
    async def body() -> None:
        async with two_devices() as (a, b):
            loop = asyncio.get_running_loop()
            transport, relay = await loop.create_datagram_endpoint(
                lambda: Relay(a.endpoint, b.endpoint), local_addr=("127.0.0.1", 0)
            )
            try:
                host, port = transport.get_extra_info("sockname")[:2]
                a.update_peer(PeerConfig.make(b.public_key, f"{host}:{port}", [B4]))
                assert (await a.probe(B4, 22)).ok
                await asyncio.sleep(0.05)  # a's RST after the SYN-ACK
                data = [d for d in relay.from_a if d[0] == 4 and len(d) > 32]
                received = b.counters.received
                transport.sendto(data[0], b.endpoint)
                await asyncio.sleep(0.1)
                assert (b.counters.replayed, b.counters.received) == (1, received)
            finally:
                transport.close()

    run(body)


def test_netmap_updates_change_filter_endpoint_and_peers_at_runtime() -> None:
    async def body() -> None:
        async with two_devices([]) as (a, b):
            assert (await a.probe(B4, 22, timeout=QUIET)).reason == "timeout"
            b.set_filter(ALLOW_ALL)
            assert (await a.probe(B4, 22)).reason == "syn-ack"
            b.set_filter([])
            assert (await a.probe(B4, 22, timeout=QUIET)).reason == "timeout"
            b.set_filter(ALLOW_ALL)
            # b moves to a new port (same key); the netmap tells a the new endpoint
            key = generate_private_key()
            async with Device(key, [B4], packet_filter=ALLOW_ALL) as moved:
                moved.set_peers([PeerConfig.make(a.public_key, _ep(a), [A4])])
                a.update_peer(PeerConfig.make(moved.public_key, _ep(moved), [f"{B4}/32"]))
                a.remove_peer(key_to_base64(b.public_key))
                assert (await a.probe(B4, 22)).reason == "syn-ack"
            a.set_peers([])
            assert (await a.probe(B4, 22)).reason == "no-route"

    run(body)


def test_rekey_after_time_with_an_injected_clock() -> None:
    clock = Clock(100.0)

    async def body() -> None:
        async with two_devices(clock=clock) as (a, b):
            assert (await a.probe(B4, 22)).ok
            clock.now += REKEY_AFTER_TIME
            assert (await a.probe(B4, 22)).ok  # sent on the old key, and a new handshake
            await asyncio.sleep(0.05)
            assert (a.counters.handshakes, b.counters.handshakes) == (2, 2)

    run(body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:41641", ("127.0.0.1", 41641)),
        ("[::1]:41641", ("::1", 41641)),
        (("127.0.0.1", 41641), ("127.0.0.1", 41641)),
    ],
)
def test_peer_config_accepts_netmap_forms(value: Any, expected: tuple[str, int]) -> None:
    peer = PeerConfig.make("nodekey:" + bytes(range(32)).hex(), value, ["100.64.0.1"])
    assert (peer.public_key, peer.endpoint, [str(n) for n in peer.allowed_ips]) == (
        bytes(range(32)), expected, ["100.64.0.1/32"],
    )  # fmt: skip


def test_a_subnet_router_answers_for_its_served_routes() -> None:
    async def body() -> None:
        async with two_devices() as (a, b):
            b.set_addresses([B4, B6], served_routes=["192.168.1.0/24"])
            a.update_peer(PeerConfig.make(b.public_key, _ep(b), [B4, "192.168.1.0/24"]))
            assert (await a.probe("192.168.1.5", 22)).reason == "syn-ack"
            assert (await a.probe(B4, proto="icmp")).reason == "echo-reply"
            b.set_addresses([B4])
            assert (await a.probe("192.168.1.5", 22, timeout=QUIET)).reason == "timeout"
            assert b.counters.dropped_by_routing == 1  # not an address of b any more
        await a.aclose()  # closing twice is harmless

    run(body)


@pytest.mark.parametrize(
    ("endpoint", "allowed", "message"),
    [
        ("127.0.0.1", ["100.64.0.1"], "endpoint '127.0.0.1' is not host:port"),
        (":41641", ["100.64.0.1"], "endpoint ':41641' is not host:port"),
        ("127.0.0.1:99999", ["100.64.0.1"], "is not host:port"),
        ("127.0.0.1:1", ["100.64.0.300"], "AllowedIPs: "),
    ],
)
def test_bad_peer_configs_raise_device_error(
    endpoint: str, allowed: list[str], message: str
) -> None:
    with pytest.raises(DeviceError, match=message):
        PeerConfig.make(bytes(32), endpoint, allowed)


def test_unknown_probe_protocol_raises() -> None:
    async def body() -> None:
        async with two_devices() as (a, _b):
            with pytest.raises(DeviceError, match="'sctp' is not one of tcp, udp, icmp"):
                await a.probe(B4, 1, "sctp")

    run(body)


def test_probe_needs_a_started_device_and_close_ends_pending_probes() -> None:
    async def body() -> None:
        idle = Device(generate_private_key(), [A4])
        with pytest.raises(DeviceError, match="the device is not started"):
            await idle.probe(B4, 22)
        async with two_devices([]) as (a, _b):
            pending = asyncio.ensure_future(a.probe(B4, 22, timeout=5))
            await asyncio.sleep(0.05)
            a.close()
            result = await pending
            assert (result.ok, result.reason) == (False, "closed")

    run(body)


def test_ipv6_loopback_endpoints() -> None:
    async def body() -> None:
        async with (
            Device(generate_private_key(), [A4], host="::1", packet_filter=ALLOW_ALL) as a,
            Device(generate_private_key(), [B4], host="::1", packet_filter=ALLOW_ALL) as b,
        ):
            a.set_peers([PeerConfig.make(b.public_key, f"[::1]:{b.endpoint[1]}", [B4])])
            b.set_peers([PeerConfig.make(a.public_key, f"[::1]:{a.endpoint[1]}", [A4])])
            assert (await a.probe(B4, 22)).reason == "syn-ack"
            assert b.peer_endpoint(a.public_key) == ("::1", a.endpoint[1])

    run(body)
