"""The host behind a device: answers admitted packets as an OS would, and builds probes.

* TCP SYN → SYN-ACK (every port "listens": a probe responder stands in for services);
* ICMP / ICMPv6 echo request → echo reply with the same id, sequence and data;
* UDP datagram → the same payload back from the destination port.

Probes are matched to their answers by a :data:`ProbeKey`: the flow as seen from the
prober, so that an answer (or an ICMP error quoting the probe) resolves the right waiter.
"""

from __future__ import annotations

import ipaddress
import secrets
import struct
from dataclasses import dataclass

from tailcfg.node import packets
from tailcfg.node.packets import (
    ACK,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    RST,
    SYN,
    IPAddress,
    Packet,
)

PROBE_PAYLOAD = b"tailcfg-probe"
ProbeKey = tuple[str, IPAddress, int, IPAddress, int]
PROTOCOLS = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "icmp": PROTO_ICMP}


@dataclass(frozen=True)
class ProbeResult:
    """``ok`` when the destination answered as an open service; ``reason`` says what came."""

    ok: bool
    rtt: float | None
    reason: str


def reply_to(pkt: Packet) -> bytes | None:
    """The host's answer to an admitted packet addressed to it, or None (no answer)."""
    if pkt.is_tcp_syn:
        return packets.tcp(
            pkt.dst, pkt.src, pkt.dport, pkt.sport, SYN | ACK,
            seq=secrets.randbits(32), ack=(pkt.seq + 1) & 0xFFFFFFFF,
        )  # fmt: skip
    if pkt.is_echo_request:
        return packets.icmp_echo(pkt.dst, pkt.src, pkt.ident, pkt.sequence, pkt.payload, reply=True)
    if pkt.proto == PROTO_UDP:
        return packets.udp(pkt.dst, pkt.src, pkt.dport, pkt.sport, pkt.payload)
    return None


def build_probe(src: IPAddress, dst: IPAddress, proto: str, port: int) -> tuple[bytes, ProbeKey]:
    """A probe packet and the key its answer will carry."""
    if proto == "tcp":
        sport = 32768 + secrets.randbelow(28232)
        pkt = packets.tcp(src, dst, sport, port, SYN, seq=secrets.randbits(32))
        return pkt, ("tcp", dst, port, src, sport)
    if proto == "udp":
        sport = 32768 + secrets.randbelow(28232)
        return packets.udp(src, dst, sport, port, PROBE_PAYLOAD), ("udp", dst, port, src, sport)
    if proto == "icmp":
        ident = secrets.randbits(16)
        return packets.icmp_echo(src, dst, ident, 1, PROBE_PAYLOAD), ("icmp", dst, ident, src, 1)
    raise ValueError(f"unknown probe protocol {proto!r} (tcp, udp or icmp)")


def answer_key(pkt: Packet) -> tuple[ProbeKey, str] | None:
    """If ``pkt`` answers a probe: that probe's key and the outcome's name."""
    if pkt.proto == PROTO_TCP and pkt.flags & RST:
        return ("tcp", pkt.src, pkt.sport, pkt.dst, pkt.dport), "rst"
    if pkt.proto == PROTO_TCP and pkt.flags & (SYN | ACK) == SYN | ACK:
        return ("tcp", pkt.src, pkt.sport, pkt.dst, pkt.dport), "syn-ack"
    if pkt.proto == PROTO_UDP:
        return ("udp", pkt.src, pkt.sport, pkt.dst, pkt.dport), "udp-reply"
    if pkt.is_echo_reply:
        return ("icmp", pkt.src, pkt.ident, pkt.dst, pkt.sequence), "echo-reply"
    if pkt.is_icmp_error:
        quoted = quoted_flow(pkt.payload)
        return (quoted, "unreachable") if quoted is not None else None
    return None


def quoted_flow(quote: bytes) -> ProbeKey | None:
    """The probe key of the packet an ICMP error quotes (its IP header + 8 bytes)."""
    if len(quote) >= 28 and quote[0] >> 4 == 4:
        ihl = (quote[0] & 0x0F) * 4
        proto, src, dst = quote[9], quote[12:16], quote[16:20]
        head = quote[ihl : ihl + 8]
        addr: type[IPAddress] = ipaddress.IPv4Address
    elif len(quote) >= 48 and quote[0] >> 4 == 6:
        proto, src, dst, head = quote[6], quote[8:24], quote[24:40], quote[40:48]
        addr = ipaddress.IPv6Address
    else:
        return None
    if len(head) < 8:
        return None
    name = {PROTO_TCP: "tcp", PROTO_UDP: "udp"}.get(proto)
    if name is not None:
        sport, dport = struct.unpack_from("!HH", head)
        return (name, addr(dst), dport, addr(src), sport)
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        ident, seq = struct.unpack_from("!HH", head, 4)
        return ("icmp", addr(dst), ident, addr(src), seq)
    return None


def reset_for(pkt: Packet) -> bytes:
    """The RST a prober sends after a SYN-ACK, so no half-open connection is left behind."""
    return packets.tcp(pkt.dst, pkt.src, pkt.dport, pkt.sport, RST, seq=pkt.ack)
