"""Network namespaces joined by a bridge: a private LAN for real peers on one machine.

::

    with Lan.create() as lan:                 # bridge tcb<id> in the root namespace, X.1/27
        lan.host_ip                           # "198.51.100.33": where root-namespace servers
                                              # (headscale) listen for the namespaces
        ns = lan.namespace("dao")             # netns tcn<id>, veth to the bridge, X.n/27
        ns.argv("ping", "-c1", lan.host_ip)   # ["ip", "netns", "exec", "tcn<id>", ...]
        ns.add_local_address("192.168.1.10")  # an address held inside it (on its lo)
    # every namespace, veth and the bridge deleted, also when the body raised

The address block is a /27 of the TEST-NET ranges (RFC 5737) that overlaps no address or
route of the root namespace, chosen and assigned under the lock file the WireGuard interop
test uses, so that concurrent runs never pick the same block. Interface and namespace names
carry a random tag (names are limited to 15 bytes). A namespace may carry extra ``/etc``
files (``ip netns exec`` bind-mounts ``/etc/netns/<name>/<file>`` over ``/etc/<file>``):
:meth:`Namespace.etc_file` writes them and the namespace's removal deletes them.
Failures are :class:`PeerError` with the failing ``ip`` command's own message.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tailcfg.closing import Closing
from tailcfg.errors import PeerError

TEST_NETS = ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")
LOCK_NAME = "tailcfg-interop-netns.lock"
PREFIX = 27
ETC_NETNS = Path("/etc/netns")


def ip(*args: str, check: bool = True) -> str:
    """Run ``ip ARGS``; its stdout. PeerError (its stderr, one line) when it fails."""
    try:
        done = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=20, check=False
        )
    except FileNotFoundError:
        raise PeerError("`ip` is not installed (apt: iproute2)") from None
    if check and done.returncode != 0:
        why = done.stderr.strip().splitlines()
        raise PeerError(f"ip {' '.join(args)}: {why[-1] if why else 'failed'}")
    return done.stdout


def missing_privileges() -> str | None:
    """Why namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "`ip` is not installed (apt: iproute2)"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun (tailscaled needs a TUN device)"
    return None


def _root_networks() -> list[ipaddress.IPv4Network]:
    nets: list[ipaddress.IPv4Network] = []
    for route in json.loads(ip("-j", "-4", "route", "show", "table", "all") or "[]"):
        for key in ("dst", "gateway", "prefsrc"):
            value = route.get(key)
            if value and value != "default":
                with contextlib.suppress(ValueError):
                    nets.append(ipaddress.IPv4Network(value, strict=False))
    for link in json.loads(ip("-j", "-4", "addr") or "[]"):
        for info in link.get("addr_info", []):
            nets.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    return nets


def _free_block(prefix: int) -> ipaddress.IPv4Network:
    taken = _root_networks()
    blocks = [b for net in TEST_NETS for b in ipaddress.IPv4Network(net).subnets(new_prefix=prefix)]
    start = secrets.randbelow(len(blocks))
    for block in blocks[start:] + blocks[:start]:
        if not any(block.overlaps(t) for t in taken):
            return block
    raise PeerError(f"no free TEST-NET /{prefix} block left in the root namespace")


@contextlib.contextmanager
def _address_lock() -> Iterator[None]:
    with (Path(tempfile.gettempdir()) / LOCK_NAME).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass
class Namespace:
    """One network namespace on the LAN (see the module docstring)."""

    name: str
    label: str
    address: str
    veth_root: str

    def argv(self, *argv: str) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def add_local_address(self, address: str) -> None:
        """Hold ``address`` (/32 or /128) inside the namespace (on its loopback interface:
        not every kernel has the dummy interface type)."""
        bits = 128 if ":" in address else 32
        ip("-n", self.name, "addr", "add", f"{address}/{bits}", "dev", "lo")

    def etc_file(self, name: str, text: str) -> None:
        """``/etc/<name>`` as programs started in this namespace see it."""
        folder = ETC_NETNS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")

    def delete(self) -> None:
        ip("netns", "del", self.name, check=False)
        ip("link", "del", self.veth_root, check=False)
        shutil.rmtree(ETC_NETNS / self.name, ignore_errors=True)


@dataclass
class Lan(Closing):
    """A bridge in the root namespace and the namespaces attached to it."""

    bridge: str
    network: ipaddress.IPv4Network
    namespaces: list[Namespace] = field(default_factory=list)

    @property
    def host_ip(self) -> str:
        """The root namespace's address on the LAN."""
        return str(self.network.network_address + 1)

    @classmethod
    def create(cls, *, prefix: int = PREFIX) -> Lan:
        why = missing_privileges()
        if why is not None:
            raise PeerError(why)
        bridge = f"tcb{secrets.token_hex(3)}"
        ip("link", "add", bridge, "type", "bridge")
        try:
            with _address_lock():
                block = _free_block(prefix)
                ip("addr", "add", f"{block.network_address + 1}/{prefix}", "dev", bridge)
            ip("link", "set", bridge, "up")
        except BaseException:
            ip("link", "del", bridge, check=False)
            raise
        return cls(bridge, block)

    def namespace(self, label: str) -> Namespace:
        """A new namespace with the next free address of the LAN."""
        hosts = list(self.network.hosts())
        index = len(self.namespaces) + 1  # .1 is the root namespace
        if index >= len(hosts):
            raise PeerError(f"the LAN {self.network} has no address left for {label}")
        tag = secrets.token_hex(3)
        ns = Namespace(f"tcn{tag}", label, str(hosts[index]), f"tcv{tag}a")
        ip("netns", "add", ns.name)
        self.namespaces.append(ns)
        inner = f"tcv{tag}b"
        ip("link", "add", ns.veth_root, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", ns.name)
        ip("link", "set", ns.veth_root, "master", self.bridge)
        ip("link", "set", ns.veth_root, "up")
        ip("-n", ns.name, "addr", "add", f"{ns.address}/{self.network.prefixlen}", "dev", inner)
        ip("-n", ns.name, "link", "set", inner, "up")
        ip("-n", ns.name, "link", "set", "lo", "up")
        # A default route that never changes and sends nothing anywhere ("No route to host",
        # as without one). Without a default route tailscaled closes its control connection
        # on every link change, its own tailscale0 routes included (tsdial's
        # changeAffectsConn), and redials it on port 443 only: the node drops off the mesh.
        ip("-n", ns.name, "route", "add", "unreachable", "default")
        return ns

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces.clear()
        ip("link", "del", self.bridge, check=False)
