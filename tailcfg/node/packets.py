"""Real IPv4/IPv6 packets with TCP, UDP, ICMP and ICMPv6 headers and correct checksums.

Builders return the whole IP packet as bytes; :func:`parse` reads one back into a
:class:`Packet` (addresses, protocol, ports, TCP flags, ICMP type/code/id/seq, payload).
Checksums are RFC 1071 ones'-complement sums; TCP, UDP and ICMPv6 include the
pseudo-header of their IP version. IPv4 options are skipped; IPv6 extension headers are
not followed (tailnet traffic does not use them).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from tailcfg.errors import TailcfgError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO_REQUEST = 0, 3, 8
ICMP_TIME_EXCEEDED = 11
ICMPV6_UNREACHABLE, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 1, 128, 129


class PacketError(TailcfgError):
    """Bytes that are not a well-formed IP packet."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _addr(value: str | IPAddress) -> IPAddress:
    return value if not isinstance(value, str) else ipaddress.ip_address(value)


def _pseudo(src: IPAddress, dst: IPAddress, proto: int, length: int) -> bytes:
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, proto, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, proto)


def _with_checksum(segment: bytes, offset: int, value: int) -> bytes:
    return segment[:offset] + struct.pack("!H", value) + segment[offset + 2 :]


def ip_packet(
    src: str | IPAddress,
    dst: str | IPAddress,
    proto: int,
    segment: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
) -> bytes:
    """Wrap a transport segment (its checksum already set) in an IPv4 or IPv6 header."""
    s, d = _addr(src), _addr(dst)
    if s.version != d.version:
        raise PacketError(f"source {s} and destination {d} are different IP versions")
    if s.version == 4:
        header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), ident, 0x4000, ttl, proto, 0,
            s.packed, d.packed,
        )  # fmt: skip
        return _with_checksum(header, 10, checksum(header)) + segment
    header = struct.pack("!IHBB16s16s", 6 << 28, len(segment), proto, ttl, s.packed, d.packed)
    return header + segment


def _transport(
    src: str | IPAddress, dst: str | IPAddress, proto: int, segment: bytes, offset: int
) -> bytes:
    s, d = _addr(src), _addr(dst)
    pseudo = b"" if proto == PROTO_ICMP else _pseudo(s, d, proto, len(segment))
    value = checksum(pseudo + segment)
    if proto == PROTO_UDP and value == 0:
        value = 0xFFFF
    return ip_packet(s, d, proto, _with_checksum(segment, offset, value))


def tcp(
    src: str | IPAddress,
    dst: str | IPAddress,
    sport: int,
    dport: int,
    flags: int,
    *,
    seq: int = 0,
    ack: int = 0,
    window: int = 65535,
    payload: bytes = b"",
) -> bytes:
    """A TCP segment (20-byte header, no options) in an IP packet."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)
    return _transport(src, dst, PROTO_TCP, header + payload, 16)


def udp(
    src: str | IPAddress, dst: str | IPAddress, sport: int, dport: int, payload: bytes
) -> bytes:
    header = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return _transport(src, dst, PROTO_UDP, header + payload, 6)


def icmp_echo(
    src: str | IPAddress,
    dst: str | IPAddress,
    ident: int,
    sequence: int,
    payload: bytes = b"",
    *,
    reply: bool = False,
) -> bytes:
    """An ICMP (IPv4) or ICMPv6 (IPv6) echo request, or reply."""
    s = _addr(src)
    if s.version == 4:
        proto, kind = PROTO_ICMP, ICMP_ECHO_REPLY if reply else ICMP_ECHO_REQUEST
    else:
        proto, kind = PROTO_ICMPV6, ICMPV6_ECHO_REPLY if reply else ICMPV6_ECHO_REQUEST
    segment = struct.pack("!BBHHH", kind, 0, 0, ident, sequence) + payload
    return _transport(s, dst, proto, segment, 2)


@dataclass(frozen=True)
class Packet:
    """The fields of a parsed IP packet that routing, filtering and probing look at."""

    version: int
    src: IPAddress
    dst: IPAddress
    proto: int
    ttl: int
    sport: int = 0
    dport: int = 0
    flags: int = 0
    seq: int = 0
    ack: int = 0
    icmp_type: int = -1
    icmp_code: int = 0
    ident: int = 0
    sequence: int = 0
    payload: bytes = b""
    checksum_ok: bool = True

    @property
    def is_tcp_syn(self) -> bool:
        """A connection opener: SYN without ACK (what a packet filter gates)."""
        return self.proto == PROTO_TCP and self.flags & (SYN | ACK) == SYN

    @property
    def is_echo_request(self) -> bool:
        return (self.proto, self.icmp_type) in {
            (PROTO_ICMP, ICMP_ECHO_REQUEST),
            (PROTO_ICMPV6, ICMPV6_ECHO_REQUEST),
        }

    @property
    def is_echo_reply(self) -> bool:
        return (self.proto, self.icmp_type) in {
            (PROTO_ICMP, ICMP_ECHO_REPLY),
            (PROTO_ICMPV6, ICMPV6_ECHO_REPLY),
        }

    @property
    def is_icmp_error(self) -> bool:
        return (self.proto == PROTO_ICMP and self.icmp_type in (3, 4, 5, 11, 12)) or (
            self.proto == PROTO_ICMPV6 and 0 < self.icmp_type < 128
        )


def _split(data: bytes) -> tuple[int, IPAddress, IPAddress, int, int, bytes, bytes]:
    """(version, src, dst, proto, ttl, transport segment, pseudo-header)."""
    if not data:
        raise PacketError("empty packet")
    version = data[0] >> 4
    if version == 4 and len(data) >= 20:
        ihl = (data[0] & 0x0F) * 4
        total = int.from_bytes(data[2:4], "big")
        if ihl < 20 or total < ihl or total > len(data):
            raise PacketError("bad IPv4 header length")
        if checksum(data[:ihl]) != 0:
            raise PacketError("bad IPv4 header checksum")
        src4, dst4 = ipaddress.IPv4Address(data[12:16]), ipaddress.IPv4Address(data[16:20])
        segment = data[ihl:total]
        return 4, src4, dst4, data[9], data[8], segment, _pseudo(src4, dst4, data[9], len(segment))
    if version == 6 and len(data) >= 40:
        total = 40 + int.from_bytes(data[4:6], "big")
        if total > len(data):
            raise PacketError("bad IPv6 payload length")
        src6, dst6 = ipaddress.IPv6Address(data[8:24]), ipaddress.IPv6Address(data[24:40])
        segment = data[40:total]
        return 6, src6, dst6, data[6], data[7], segment, _pseudo(src6, dst6, data[6], len(segment))
    raise PacketError("not an IPv4 or IPv6 packet")


def parse(data: bytes) -> Packet:
    """Parse an IP packet; raises PacketError when the IP header is malformed."""
    version, src, dst, proto, ttl, seg, pseudo = _split(data)
    if proto == PROTO_TCP and len(seg) >= 20:
        sport, dport, seq, ack, off, flags = struct.unpack_from("!HHIIBB", seg)
        return Packet(
            version, src, dst, proto, ttl, sport=sport, dport=dport, flags=flags, seq=seq,
            ack=ack, payload=seg[(off >> 4) * 4 :], checksum_ok=checksum(pseudo + seg) == 0,
        )  # fmt: skip
    if proto == PROTO_UDP and len(seg) >= 8:
        sport, dport, _length, value = struct.unpack_from("!HHHH", seg)
        ok = value == 0 or checksum(pseudo + seg) == 0
        return Packet(
            version, src, dst, proto, ttl, sport=sport, dport=dport, payload=seg[8:],
            checksum_ok=ok,
        )  # fmt: skip
    if proto in (PROTO_ICMP, PROTO_ICMPV6) and len(seg) >= 8:
        kind, code, _value, ident, sequence = struct.unpack_from("!BBHHH", seg)
        covered = seg if proto == PROTO_ICMP else pseudo + seg
        return Packet(
            version, src, dst, proto, ttl, icmp_type=kind, icmp_code=code, ident=ident,
            sequence=sequence, payload=seg[8:], checksum_ok=checksum(covered) == 0,
        )  # fmt: skip
    return Packet(version, src, dst, proto, ttl, payload=seg)
