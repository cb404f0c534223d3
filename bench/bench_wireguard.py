"""Benchmark the Python WireGuard data plane: handshake time and probes per second.

Figures, all between two Python devices on 127.0.0.1 (real UDP sockets):

* engine handshake: initiation → response → first transport message, in process (crypto only);
* first probe: a TCP SYN to a fresh peer, so handshake + probe round trip over UDP;
* TCP-SYN probes per second through an established tunnel, one at a time and 64 in flight;
* the packet filter's lookups per second on a 500-rule filter.

Run: ``.venv/bin/python bench/bench_wireguard.py [--handshakes 50] [--probes 2000]``.
Figures only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import time

from tailcfg.node import Device, PacketFilter, PeerConfig, WireGuard, generate_private_key, packets

A4, B4 = "100.64.0.1", "100.64.0.2"
ALLOW = [{"SrcIPs": ["*"], "DstPorts": [{"IP": "*", "Ports": {"First": 0, "Last": 65535}}]}]


def engine_handshake_ms(n: int) -> list[float]:
    ping = packets.icmp_echo(A4, B4, 1, 1, b"x")
    out = []
    for _ in range(n):
        a, b = WireGuard(generate_private_key()), WireGuard(generate_private_key())
        a.add_peer(b.public_key)
        b.add_peer(a.public_key)
        start = time.perf_counter()
        (init,) = a.send(b.public_key, ping)
        (response,) = b.receive(init, ("127.0.0.1", 1)).replies
        (data,) = a.receive(response, ("127.0.0.1", 2)).replies
        assert b.receive(data, ("127.0.0.1", 1)).packet == ping
        out.append((time.perf_counter() - start) * 1000)
    return out


def _peer(device: Device, ip: str) -> PeerConfig:
    host, port = device.endpoint
    return PeerConfig.make(device.public_key, f"{host}:{port}", [ip])


async def device_figures(handshakes: int, probes: int) -> dict[str, float]:
    async with (
        Device(generate_private_key(), [A4], packet_filter=ALLOW) as a,
        Device(generate_private_key(), [B4], packet_filter=ALLOW) as b,
    ):
        b.set_peers([_peer(a, A4)])
        first = []
        for _ in range(handshakes):
            a.set_peers([])  # forget the session: the next probe needs a new handshake
            a.set_peers([_peer(b, B4)])
            await asyncio.sleep(0.021)  # wireguard's initiation flood limit is 50/s per peer
            start = time.perf_counter()
            result = await a.probe(B4, 22)
            assert result.ok, result
            first.append((time.perf_counter() - start) * 1000)
        steady = []
        start = time.perf_counter()
        for _ in range(probes):
            t0 = time.perf_counter()
            assert (await a.probe(B4, 22)).ok
            steady.append((time.perf_counter() - t0) * 1000)
        sequential = probes / (time.perf_counter() - start)
        start = time.perf_counter()
        done = 0
        while done < probes:
            batch = await asyncio.gather(*(a.probe(B4, 22, timeout=5) for _ in range(64)))
            assert all(r.ok for r in batch)
            done += len(batch)
        concurrent = done / (time.perf_counter() - start)
        return {
            "first_probe_ms": statistics.median(first),
            "probe_rtt_ms": statistics.median(steady),
            "sequential_pps": sequential,
            "concurrent_pps": concurrent,
            "handshakes": float(a.counters.handshakes),
        }


def filter_lookups_per_second(rules: int = 500, lookups: int = 100_000) -> float:
    table = [
        {
            "SrcIPs": [f"100.64.{i // 250}.{i % 250}", f"10.{i % 250}.0.0/16"],
            "DstPorts": [{"IP": f"100.65.{i // 250}.{i % 250}", "Ports": {"First": i, "Last": i}}],
        }
        for i in range(rules)
    ]
    pf = PacketFilter(table)
    src, dst = ipaddress.ip_address("100.64.9.9"), ipaddress.ip_address("100.65.1.2")
    start = time.perf_counter()
    for _ in range(lookups):
        pf.match(src, dst, 6, 22)  # a miss: every rule is consulted
    return lookups / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handshakes", type=int, default=50)
    parser.add_argument("--probes", type=int, default=2000)
    args = parser.parse_args()
    engine = engine_handshake_ms(args.handshakes)
    figures = asyncio.run(device_figures(args.handshakes, args.probes))
    lookups = filter_lookups_per_second()
    print(f"engine handshake (in process)   median {statistics.median(engine):7.3f} ms"
          f"   p90 {statistics.quantiles(engine, n=10)[-1]:7.3f} ms   n={len(engine)}")  # fmt: skip
    print(f"first probe (handshake + SYN)   median {figures['first_probe_ms']:7.3f} ms"
          f"   handshakes={figures['handshakes']:.0f}")  # fmt: skip
    print(f"TCP-SYN probe round trip        median {figures['probe_rtt_ms']:7.3f} ms")
    print(f"TCP-SYN probes/s, sequential    {figures['sequential_pps']:9.0f}")
    print(f"TCP-SYN probes/s, 64 in flight  {figures['concurrent_pps']:9.0f}")
    print(f"filter misses/s, 500 rules      {lookups:9.0f}")
    handshake_cost = figures["first_probe_ms"] / figures["probe_rtt_ms"]
    print(f"ratio first probe / steady probe {handshake_cost:6.1f}x")


if __name__ == "__main__":
    main()
