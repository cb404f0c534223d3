"""Runs inside a network namespace: listeners and probes, driven by JSON lines on stdin.

Started as ``ip netns exec NS python -m tailcfg.peers.probeagent`` by
:class:`tailcfg.peers.tailscaled.NodeProbes`. Each request is one JSON object per line with
an ``id``; each answer is one JSON line with the same ``id``:

* ``{"op": "listen", "tcp": [22, 443], "udp": [53]}`` — TCP listeners that accept and close,
  UDP listeners that echo, on every address of the namespace (IPv4 and IPv6) →
  ``{"ok": true}``; a port that cannot be bound → ``{"ok": false, "reason": ...}``.
* ``{"op": "probe", "proto": "tcp|udp|icmp", "address": A, "port": P, "timeout": S}`` →
  ``{"ok": bool, "reason": "syn-ack|rst|echo|echo-reply|timeout|unreachable|...",
  "rtt_ms": float|null}``.
* ``{"op": "ssh", "address": A, "login": L, "timeout": S}`` — the OpenSSH client against a
  Tailscale SSH server: ``{"outcome": "accept|check|deny|error", "reason": ...}`` read from
  the client's verbose output (authenticated; Headscale's "additional check" banner; the
  "tailnet policy does not permit" banner).

The kernel of the namespace answers ICMP echo itself. Nothing here reads a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
import struct
import sys
import time
from typing import Any

SSH_CHECK = "requires an additional check"
SSH_DENY = "tailnet policy does not permit"


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def listen(tcp: list[int], udp: list[int], keep: list[Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    try:
        for port in tcp:
            keep.append(await asyncio.start_server(_close_at_once, host=None, port=port))
        for port in udp:
            for family, anywhere in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((anywhere, port))
                transport, _ = await loop.create_datagram_endpoint(_Echo, sock=sock)
                keep.append(transport)
    except OSError as exc:
        return {"ok": False, "reason": str(exc)}
    return {"ok": True}


def _reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "rst"
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "no-route"
    return exc.strerror or type(exc).__name__


async def probe_tcp(address: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        return False, "timeout"
    except OSError as exc:
        return False, _reason(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, "syn-ack"


async def probe_udp(address: str, port: int, timeout: float) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.connect((address, port))
            payload = os.urandom(8)
            await loop.sock_sendall(sock, payload)
            data = await asyncio.wait_for(loop.sock_recv(sock, 64), timeout)
        except TimeoutError:
            return False, "timeout"
        except OSError as exc:
            return False, "unreachable" if isinstance(exc, ConnectionRefusedError) else _reason(exc)
    return (True, "echo") if data == payload else (False, "wrong answer")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total & 0xFFFF) + (total >> 16)
    return ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF


async def probe_icmp(address: str, timeout: float) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    v6 = ":" in address
    family, proto = (
        (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
    )
    request, reply = (128, 129) if v6 else (8, 0)
    ident, seq = int.from_bytes(os.urandom(2), "big"), 1
    body = b"tailcfg-probe"
    head = struct.pack("!BBHHH", request, 0, 0, ident, seq)
    checksum = 0 if v6 else _checksum(head + body)  # the kernel sums ICMPv6
    packet = struct.pack("!BBHHH", request, 0, checksum, ident, seq) + body
    deadline = loop.time() + timeout
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        sock.setblocking(False)
        try:
            await loop.sock_sendto(sock, packet, (address, 0))
            while (left := deadline - loop.time()) > 0:
                data = await asyncio.wait_for(loop.sock_recv(sock, 2048), left)
                at = 0 if v6 else (data[0] & 15) * 4
                kind, _code, _sum, got_ident, got_seq = struct.unpack_from("!BBHHH", data, at)
                if (kind, got_ident, got_seq) == (reply, ident, seq):
                    return True, "echo-reply"
        except TimeoutError:
            pass
        except OSError as exc:
            return False, _reason(exc)
    return False, "timeout"


async def probe(req: dict[str, Any]) -> dict[str, Any]:
    proto, address = str(req["proto"]), str(req["address"])
    port, timeout = int(req.get("port") or 0), float(req.get("timeout") or 1.0)
    started = time.monotonic()
    if proto == "tcp":
        ok, reason = await probe_tcp(address, port, timeout)
    elif proto == "udp":
        ok, reason = await probe_udp(address, port, timeout)
    elif proto == "icmp":
        ok, reason = await probe_icmp(address, timeout)
    else:
        return {"ok": False, "reason": f"no probe for {proto}", "rtt_ms": None}
    rtt = (time.monotonic() - started) * 1000 if ok else None
    return {"ok": ok, "reason": reason, "rtt_ms": rtt}


def classify_ssh(output: str, returncode: int | None) -> tuple[str, str]:
    """The Tailscale SSH server's decision, read from ``ssh -v``'s output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    banner = next((line for line in lines if "tailscale:" in line or "Headscale" in line), "")
    if SSH_CHECK in output:
        return "check", banner or SSH_CHECK
    if SSH_DENY in output:
        return "deny", banner or SSH_DENY
    if "Authenticated to" in output:
        return "accept", "authenticated"
    last = next((line for line in reversed(lines) if not line.startswith("debug")), "")
    if returncode is None:
        return "error", f"no decision within the timeout: {last or 'no output'}"
    return "error", last or f"ssh exited {returncode}"


async def ssh(req: dict[str, Any]) -> dict[str, Any]:
    address, login, timeout = str(req["address"]), str(req["login"]), float(req["timeout"])
    argv = [
        "ssh", "-v", "-F", "/dev/null", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", f"ConnectTimeout={max(1, int(timeout))}", "-l", login, address, "true",
    ]  # fmt: skip
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except FileNotFoundError:
        return {"outcome": "error", "reason": "the OpenSSH client (ssh) is not installed"}
    chunks: list[bytes] = []

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(4096):
            chunks.append(chunk)
            if SSH_CHECK.encode() in b"".join(chunks):
                return  # the server holds the session until a human checks in

    returncode: int | None = None
    try:
        await asyncio.wait_for(read(), timeout)
        returncode = await asyncio.wait_for(proc.wait(), 1.0) if proc.returncode is None else 0
    except TimeoutError:
        pass
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    outcome, reason = classify_ssh(b"".join(chunks).decode("utf-8", "replace"), returncode)
    return {"outcome": outcome, "reason": reason}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    keep: list[Any] = []
    tasks: set[asyncio.Task[None]] = set()

    def send(answer: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    async def handle(req: dict[str, Any]) -> None:
        op = req.get("op")
        if op == "listen":
            answer = await listen(list(req.get("tcp") or ()), list(req.get("udp") or ()), keep)
        elif op == "probe":
            answer = await probe(req)
        elif op == "ssh":
            answer = await ssh(req)
        else:
            answer = {"ok": False, "reason": f"unknown op {op!r}"}
        send({"id": req.get("id"), **answer})

    send({"id": 0, "ready": True})
    while line := await reader.readline():
        task = asyncio.create_task(handle(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(serve())
