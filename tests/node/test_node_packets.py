"""IP packets: checksums against known vectors, and byte-exact agreement with Linux.

The ``KERNEL_*`` vectors were captured with an AF_PACKET socket on ``lo`` from packets the
Linux kernel wrote itself (a TCP RST to a closed port, ICMP/ICMPv6 echo replies, ICMP errors),
so their checksums are the kernel's, not ours.
"""

from __future__ import annotations

import ipaddress

import pytest

from tailcfg.node import packets
from tailcfg.node.packets import ACK, RST, SYN, PacketError

# 127.0.0.1:40006 → 127.0.0.1:40005, RST|ACK, seq 0, ack 0xcc5788bd, window 0 (no listener).
KERNEL_RST = bytes.fromhex(
    "450000280000400040063cce7f0000017f0000019c469c4500000000cc5788bd50140000242d0000"
)
# Echo reply to id 0x1234 seq 1 "tailcfg!" (IPv4 ident 0x2055, no DF).
KERNEL_ECHO_REPLY = bytes.fromhex(
    "450000242055000040015c827f0000017f00000100004575123400017461696c63666721"
)
# ICMPv6 echo request and reply, ::1 → ::1, id 0x1234 seq 1 "tailcfg!" (flow labels set).
KERNEL_ECHO6_REQUEST = bytes.fromhex(
    "600105e700103a40" + "00" * 15 + "01" + "00" * 15 + "018000c528123400017461696c63666721"
)
KERNEL_ECHO6_REPLY = bytes.fromhex(
    "6009b0f800103a40" + "00" * 15 + "01" + "00" * 15 + "018100c428123400017461696c63666721"
)
# ICMP port unreachable quoting a UDP datagram 40001 → 40002 "tailcfg".
KERNEL_PORT_UNREACHABLE = bytes.fromhex(
    "45c0003f2053000040015ba97f0000017f000001"
    "03031e120000000045000023b48a40004011883d7f0000017f0000019c419c42000ffe227461696c636667"
)
LO6 = ipaddress.IPv6Address("::1")
LO4 = ipaddress.IPv4Address("127.0.0.1")


def test_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum = its complement).
    assert packets.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_ipv4_header_checksum_vector() -> None:
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert packets.checksum(header) == 0xB861


@pytest.mark.parametrize(
    "raw",
    [
        KERNEL_RST,
        KERNEL_ECHO_REPLY,
        KERNEL_ECHO6_REQUEST,
        KERNEL_ECHO6_REPLY,
        KERNEL_PORT_UNREACHABLE,
    ],
    ids=["tcp-rst", "icmp-echo-reply", "icmpv6-echo-request", "icmpv6-echo-reply", "icmp-unreach"],
)
def test_kernel_packets_parse_with_valid_checksums(raw: bytes) -> None:
    assert packets.parse(raw).checksum_ok


def test_tcp_rst_is_byte_identical_to_the_kernels() -> None:
    built = packets.tcp(LO4, LO4, 40006, 40005, RST | ACK, seq=0, ack=0xCC5788BD, window=0)
    assert built == KERNEL_RST


def test_icmp_echo_reply_segment_is_byte_identical_to_the_kernels() -> None:
    built = packets.icmp_echo(LO4, LO4, 0x1234, 1, b"tailcfg!", reply=True)
    assert built[20:] == KERNEL_ECHO_REPLY[20:]
    assert packets.checksum(built[:20]) == 0


@pytest.mark.parametrize(
    ("reply", "kernel"), [(False, KERNEL_ECHO6_REQUEST), (True, KERNEL_ECHO6_REPLY)]
)
def test_icmpv6_echo_is_byte_identical_to_the_kernels_but_the_flow_label(
    reply: bool, kernel: bytes
) -> None:
    built = packets.icmp_echo(LO6, LO6, 0x1234, 1, b"tailcfg!", reply=reply)
    assert built[4:] == kernel[4:]
    assert built[:4] == bytes.fromhex("60000000")


def test_parse_fields_of_the_kernels_packets() -> None:
    rst = packets.parse(KERNEL_RST)
    assert (rst.src, rst.dst, rst.sport, rst.dport, rst.flags, rst.ack, rst.ttl) == (
        LO4, LO4, 40006, 40005, RST | ACK, 0xCC5788BD, 64,
    )  # fmt: skip
    reply = packets.parse(KERNEL_ECHO6_REPLY)
    assert (reply.proto, reply.icmp_type, reply.ident, reply.sequence, reply.payload) == (
        58, 129, 0x1234, 1, b"tailcfg!",
    )  # fmt: skip
    assert reply.is_echo_reply and not reply.is_echo_request
    error = packets.parse(KERNEL_PORT_UNREACHABLE)
    assert (error.icmp_type, error.icmp_code, error.is_icmp_error) == (3, 3, True)


def test_builders_round_trip_through_parse() -> None:
    cases = [
        (packets.tcp("100.64.0.1", "100.64.0.2", 40000, 22, SYN, seq=7), (6, 40000, 22, SYN)),
        (packets.tcp("fd7a::1", "fd7a::2", 22, 40000, SYN | ACK, ack=8), (6, 22, 40000, 18)),
        (packets.udp("100.64.0.1", "100.64.0.2", 1, 53, b"q"), (17, 1, 53, 0)),
        (packets.udp("fd7a::1", "fd7a::2", 1, 53, b"q"), (17, 1, 53, 0)),
        (packets.icmp_echo("100.64.0.1", "100.64.0.2", 9, 3), (1, 0, 0, 0)),
        (packets.icmp_echo("fd7a::1", "fd7a::2", 9, 3), (58, 0, 0, 0)),
    ]
    for raw, (proto, sport, dport, flags) in cases:
        pkt = packets.parse(raw)
        assert (pkt.proto, pkt.sport, pkt.dport, pkt.flags, pkt.checksum_ok) == (
            proto, sport, dport, flags, True,
        )  # fmt: skip


def test_a_corrupted_segment_fails_its_checksum() -> None:
    raw = bytearray(packets.udp("fd7a::1", "fd7a::2", 1, 53, b"query"))
    raw[-1] ^= 0x01
    assert not packets.parse(bytes(raw)).checksum_ok


def test_udp_checksum_zero_is_sent_as_ffff() -> None:
    # With payload word W = the checksum over a zero word, the sum becomes 0xffff, i.e. a
    # computed checksum of 0, which UDP must send as 0xffff (RFC 768).
    word = packets.udp("10.0.0.1", "10.0.0.2", 1, 2, b"\x00\x00")[26:28]
    raw = packets.udp("10.0.0.1", "10.0.0.2", 1, 2, word)
    assert raw[26:28] == b"\xff\xff"
    assert packets.parse(raw).checksum_ok


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty packet"),
        (b"\x45" + bytes(10), "not an IPv4 or IPv6 packet"),
        (KERNEL_RST[:10] + b"\x00\x00" + KERNEL_RST[12:], "bad IPv4 header checksum"),
        (KERNEL_RST[:2] + b"\x00\x50" + KERNEL_RST[4:], "bad IPv4 header length"),
        (KERNEL_ECHO6_REPLY[:4] + b"\x01\x00" + KERNEL_ECHO6_REPLY[6:], "bad IPv6 payload length"),
    ],
)
def test_malformed_packets_raise(raw: bytes, message: str) -> None:
    with pytest.raises(PacketError, match=message):
        packets.parse(raw)


def test_mixed_ip_versions_are_refused() -> None:
    with pytest.raises(PacketError, match="different IP versions"):
        packets.udp("10.0.0.1", "fd7a::1", 1, 2, b"")
