"""Interop: the Python WireGuard device against Debian's wireguard-go, in both directions.

Layout (traffic stays inside the namespace this test creates):

    root netns                                   netns tcfg<id>
    Python Device  udp V.1:<port>        ═veth═  V.2  wireguard-go wgt<id> :51820
    tunnel T.1/32                                tunnel T.2/30 (Linux answers)

V and T are two TEST-NET /30 blocks (RFC 5737) that overlap no address or route of the
root namespace: a CI runner may itself sit on 192.0.2.0/24 with its gateway at 192.0.2.1,
and a veth /30 there would steal the default route's next hop.

Python → wireguard-go: ICMP echo answered by the namespace's kernel, a TCP SYN to a closed
port answered by RST, a UDP datagram answered by ICMP port unreachable (the kernel checks our
checksums: a bad one would be silence). wireguard-go → Python: ``ping``, TCP connects and UDP
echoes (IPv4 and IPv6) from the namespace's kernel, answered by the Python host responder.
Then the Python side jumps its clock past REKEY_AFTER_TIME and rekeys with wireguard-go (old
key, new initiation, new key).
Everything is removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tailcfg.node import (
    Counters,
    Device,
    PeerConfig,
    generate_private_key,
    key_to_base64,
    public_key,
)
from tailcfg.node.responder import ProbeResult
from tailcfg.node.session import REKEY_AFTER_TIME

pytestmark = pytest.mark.slow

GO_PORT = 51820
# IPv6 tunnel addresses (RFC 3849 documentation prefix) exist only in the namespace.
PY_TUNNEL_IP6, GO_TUNNEL_IP6 = "2001:db8:7463::1", "2001:db8:7463::2"
TEST_NETS = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24")


def _root_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address or a route in."""
    nets: list[ipaddress.IPv4Network] = []
    for route in json.loads(_run("ip", "-j", "-4", "route", "show", "table", "all").stdout):
        for key in ("dst", "gateway", "prefsrc"):
            value = route.get(key)
            if value and value != "default":
                nets.append(ipaddress.IPv4Network(value, strict=False))
    for link in json.loads(_run("ip", "-j", "-4", "addr").stdout):
        for info in link.get("addr_info", []):
            nets.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    return nets


def _free_blocks(count: int) -> list[ipaddress.IPv4Network]:
    taken = _root_networks()
    blocks = [b for net in TEST_NETS for b in ipaddress.IPv4Network(net).subnets(new_prefix=30)]
    start = secrets.randbelow(len(blocks))
    free = [b for b in blocks[start:] + blocks[:start] if not any(b.overlaps(t) for t in taken)]
    if len(free) < count:
        pytest.skip("no free TEST-NET /30 block in the root namespace")
    return free[:count]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("ip", "wireguard-go", "wg"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt: iproute2, wireguard-go, wireguard-tools)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun for wireguard-go"
    return None


# Used when `ping` (iputils-ping) is absent: the same kernel path, an ICMP echo on a raw socket.
PYTHON_PING = """
import socket, struct, sys
def csum(b):
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    t = (t & 0xFFFF) + (t >> 16)
    return ~((t & 0xFFFF) + (t >> 16)) & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(3)
body = b"tailcfg-ping"
head = struct.pack("!BBHHH", 8, 0, 0, 0x7463, 1)
s.sendto(struct.pack("!BBHHH", 8, 0, csum(head + body), 0x7463, 1) + body, (sys.argv[1], 0))
while True:
    data, addr = s.recvfrom(2048)
    kind, _c, _s, ident, seq = struct.unpack_from("!BBHHH", data, (data[0] & 15) * 4)
    if (kind, ident, seq) == (0, 0x7463, 1):
        print(f"1 packets transmitted, 1 received (from {addr[0]})")
        break
s.close()
"""


# The namespace's kernel as a client of the Python host responder: a TCP connect() (SYN,
# SYN-ACK, ACK) and a UDP echo, over IPv4 and IPv6. Linux drops a reply with a bad checksum.
KERNEL_CLIENTS = """
import socket, sys
for host in sys.argv[1:]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_connection((host, 22), timeout=3):
        print("tcp", host, "connected")
    with socket.socket(family, socket.SOCK_DGRAM) as u:
        u.settimeout(3)
        u.sendto(b"tailcfg-udp", (host, 7))
        print("udp", host, u.recvfrom(100)[0].decode())
"""


def _ping_argv(target: str) -> list[str]:
    if shutil.which("ping") is not None:
        return ["ping", "-c", "1", "-W", "3", target]
    return [sys.executable, "-c", PYTHON_PING, target]


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


class Netns:
    """A namespace with a veth pair to the root namespace and wireguard-go inside."""

    def __init__(self, workdir: Path) -> None:
        tag = secrets.token_hex(3)
        self.ns, self.iface = f"tcfg{tag}", f"wgt{tag}"
        self.veth_root, self.veth_ns = f"tcv{tag}a", f"tcv{tag}b"
        self.workdir = workdir
        self.root_ip = self.ns_ip = self.py_tunnel_ip = self.go_tunnel_ip = ""
        self.tunnel_prefix = 30
        self.private_key = generate_private_key()
        self.public_key = public_key(self.private_key)
        self.proc: subprocess.Popen[bytes] | None = None

    def ns_exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.ns, *argv, check=check)

    def create(self) -> None:
        made = _run("ip", "netns", "add", self.ns, check=False)
        if made.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
        _run("ip", "link", "add", self.veth_root, "type", "veth", "peer", "name", self.veth_ns)
        _run("ip", "link", "set", self.veth_ns, "netns", self.ns)
        # Concurrent runs (several test sessions on one runner) must not pick the same block:
        # choose and claim it under a lock.
        lock_path = Path(tempfile.gettempdir()) / "tailcfg-interop-netns.lock"
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            veth, tunnel = _free_blocks(2)
            self.root_ip, self.ns_ip = str(veth[1]), str(veth[2])
            self.py_tunnel_ip, self.go_tunnel_ip = str(tunnel[1]), str(tunnel[2])
            self.tunnel_prefix = tunnel.prefixlen
            _run("ip", "addr", "add", f"{self.root_ip}/30", "dev", self.veth_root)
        _run("ip", "link", "set", self.veth_root, "up")
        _run("ip", "-n", self.ns, "addr", "add", f"{self.ns_ip}/30", "dev", self.veth_ns)
        _run("ip", "-n", self.ns, "link", "set", self.veth_ns, "up")
        _run("ip", "-n", self.ns, "link", "set", "lo", "up")

    def start_wireguard_go(self, peer_key: bytes, peer_port: int) -> None:
        log = (self.workdir / "wireguard-go.log").open("wb")
        with log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, "wireguard-go", "-f", self.iface],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LOG_LEVEL": "verbose"},
            )
        deadline = time.monotonic() + 10
        while _run("ip", "-n", self.ns, "link", "show", self.iface, check=False).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"wireguard-go did not start: {self.log()}")
            time.sleep(0.05)
        key_file = self.workdir / "wg.key"
        key_file.touch(mode=0o600)
        key_file.write_text(key_to_base64(self.private_key) + "\n")
        self.ns_exec(
            "wg", "set", self.iface, "private-key", str(key_file), "listen-port", str(GO_PORT),
            "peer", key_to_base64(peer_key), "endpoint", f"{self.root_ip}:{peer_port}",
            "allowed-ips", f"{self.py_tunnel_ip}/32,{PY_TUNNEL_IP6}/128",
        )  # fmt: skip
        key_file.unlink()
        ns = ("ip", "-n", self.ns)
        _run(*ns, "addr", "add", f"{self.go_tunnel_ip}/{self.tunnel_prefix}", "dev", self.iface)
        _run(*ns, "link", "set", self.iface, "up")
        _run(*ns, "-6", "addr", "add", f"{GO_TUNNEL_IP6}/64", "dev", self.iface, "nodad")

    def log(self) -> str:
        path = self.workdir / "wireguard-go.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def destroy(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        _run("ip", "netns", "del", self.ns, check=False)
        _run("ip", "link", "del", self.veth_root, check=False)


@contextlib.contextmanager
def netns(workdir: Path) -> Iterator[Netns]:
    env = Netns(workdir)
    try:
        env.create()
        yield env
    finally:
        env.destroy()


class SkewedClock:
    """The monotonic clock, plus a jump the test controls (wireguard-go keeps real time)."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skew


@dataclass
class Outcome:
    probes: dict[str, ProbeResult]
    ping: tuple[int | None, str]
    clients: tuple[int | None, str]
    counters: Counters
    python_key: str
    python_port: int
    dump: str


async def _in_netns(env: Netns, *argv: str) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", env.ns, *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode, out.decode().strip()


async def _exercise(env: Netns) -> Outcome:
    every_port = {"IP": "*", "Ports": {"First": 0, "Last": 65535}}
    rules = [{"SrcIPs": [env.go_tunnel_ip, GO_TUNNEL_IP6], "DstPorts": [every_port]}]
    addresses = [env.py_tunnel_ip, PY_TUNNEL_IP6]
    clock = SkewedClock()
    async with Device(
        generate_private_key(), addresses, host=env.root_ip, packet_filter=rules, clock=clock
    ) as device:
        env.start_wireguard_go(device.public_key, device.endpoint[1])
        go_ips = [f"{env.go_tunnel_ip}/32", f"{GO_TUNNEL_IP6}/128"]
        device.set_peers([PeerConfig.make(env.public_key, f"{env.ns_ip}:{GO_PORT}", go_ips)])
        probes = {
            "icmp": await device.probe(env.go_tunnel_ip, proto="icmp", timeout=5),
            "tcp_closed": await device.probe(env.go_tunnel_ip, 9, proto="tcp", timeout=5),
            "udp_closed": await device.probe(env.go_tunnel_ip, 9, proto="udp", timeout=5),
            "icmp6": await device.probe(GO_TUNNEL_IP6, proto="icmp", timeout=5),
            "tcp6_closed": await device.probe(GO_TUNNEL_IP6, 9, proto="tcp", timeout=5),
        }
        ping = await _in_netns(env, *_ping_argv(env.py_tunnel_ip))
        clients = await _in_netns(
            env, sys.executable, "-c", KERNEL_CLIENTS, env.py_tunnel_ip, PY_TUNNEL_IP6
        )
        handshakes_before = device.counters.handshakes
        # Two minutes later (for the Python side): its keypair is due for a rekey; the first
        # probe goes out on the old key with a new initiation, the second on the new key.
        clock.skew += REKEY_AFTER_TIME
        probes["icmp_rekeying"] = await device.probe(env.go_tunnel_ip, proto="icmp", timeout=5)
        await asyncio.sleep(0.2)
        probes["icmp_rekeyed"] = await device.probe(env.go_tunnel_ip, proto="icmp", timeout=5)
        probes["handshakes"] = ProbeResult(
            True, None, f"{handshakes_before} then {device.counters.handshakes}"
        )
        dump = env.ns_exec("wg", "show", env.iface, "dump").stdout
        return Outcome(
            probes,
            ping,
            clients,
            device.counters,
            device.public_key_base64,
            device.endpoint[1],
            dump,
        )


def test_python_device_and_wireguard_go_talk_both_ways(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with netns(tmp_path) as env:
        out = asyncio.run(_exercise(env))
        context = f"results: {out}\nwireguard-go log:\n{env.log()}"
    # Python → wireguard-go: the namespace's kernel answers through the tunnel.
    assert {name: (r.ok, r.reason) for name, r in out.probes.items()} == {
        "icmp": (True, "echo-reply"),
        "tcp_closed": (False, "rst"),
        "udp_closed": (False, "unreachable"),
        "icmp6": (True, "echo-reply"),
        "tcp6_closed": (False, "rst"),
        "icmp_rekeying": (True, "echo-reply"),
        "icmp_rekeyed": (True, "echo-reply"),
        "handshakes": (True, "1 then 2"),
    }, context
    # wireguard-go → Python: the Python host responder answers the kernel.
    assert out.ping[0] == 0 and "1 received" in out.ping[1], context
    assert out.clients == (
        0,
        f"tcp {env.py_tunnel_ip} connected\nudp {env.py_tunnel_ip} tailcfg-udp\n"
        f"tcp {PY_TUNNEL_IP6} connected\nudp {PY_TUNNEL_IP6} tailcfg-udp",
    ), context
    counters = out.counters
    assert (counters.dropped_by_filter, counters.dropped_by_routing) == (0, 0), context
    assert (counters.invalid, counters.replayed) == (0, 0), context
    # `wg show dump`, the peer line: key, psk, endpoint, allowed-ips, latest-handshake, rx, tx
    peer = out.dump.strip().splitlines()[1].split("\t")
    assert peer[0] == out.python_key, context
    assert peer[2] == f"{env.root_ip}:{out.python_port}", context
    assert peer[3] == f"{env.py_tunnel_ip}/32,{PY_TUNNEL_IP6}/128", context
    assert int(peer[4]) > 0 and int(peer[5]) > 0 and int(peer[6]) > 0, context
