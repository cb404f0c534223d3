"""Control plane benchmark: N simulated devices registered and streaming netmaps.

For each size (default 250, 500 and 1,000 devices) a fresh ``tailcfg control serve`` runs in
its own process; one client process registers N light async clients (ControlClient) with a
reusable key and opens N map streams. Then it measures, over several repetitions, the time
from the action to its arrival on every stream (p50 / p95 / max across the N streams):

- join:     a new device registers              -> PeersChanged carrying its node key
- deletion: DELETE /api/v2/device/{id}          -> PeersRemoved with its ID
- policy:   POST /api/v2/tailnet/-/acl          -> a new PacketFilter

and the server's resident memory (VmRSS, and the peak VmHWM). Goals on a 2-core machine:
p95 < 1 s for each, memory < 500 MB, near-linear growth. Figures only; nothing is asserted.

Run: ``.venv/bin/python bench/bench_control.py [--sizes 250,500,1000] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from nacl.public import PrivateKey

from tailcfg.control import keys
from tailcfg.control.bootstrap import init_state, read_admin_key
from tailcfg.control.client import ControlClient

T = TypeVar("T")
POLICIES = (
    '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}\n',
    '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:1-65535"]}]}\n',
)


class Probe:
    """One measured event: which message counts as its arrival, and when each stream saw it."""

    def __init__(self, kind: str, target: Any, expected: int) -> None:
        self.kind, self.target, self.expected = kind, target, expected
        self.t0 = time.monotonic()
        self.arrivals: dict[int, float] = {}
        self.done = asyncio.Event()

    def observe(self, stream: int, message: dict[str, Any]) -> None:
        if stream in self.arrivals:
            return
        if self.kind == "join":
            hit = any(p["Key"] == self.target for p in message.get("PeersChanged", ()))
        elif self.kind == "delete":
            hit = self.target in message.get("PeersRemoved", ())
        else:
            hit = "PacketFilter" in message
        if hit:
            self.arrivals[stream] = time.monotonic() - self.t0
            if len(self.arrivals) >= self.expected:
                self.done.set()


class Fleet:
    """N devices in one process, each a ControlClient with a map stream."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[ControlClient] = []
        self.node_keys: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.probe: Probe | None = None
        self.errors: list[str] = []

    async def register(self, n: int, auth_key: str, concurrency: int = 32) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                client = ControlClient(self.url, PrivateKey.generate())
                node_key = keys.public_text(PrivateKey.generate().public_key, keys.NODE_PREFIX)
                await client.register(node_key, auth_key=auth_key, hostname=f"dev{i}")
                self.clients.append(client)
                self.node_keys.append(node_key)

        await asyncio.gather(*(one(i) for i in range(n)))

    async def stream_all(self, batch: int = 50) -> None:
        for start in range(0, len(self.clients), batch):
            ready = [asyncio.Event() for _ in self.clients[start : start + batch]]
            for offset, event in enumerate(ready):
                index = start + offset
                self.tasks.append(asyncio.create_task(self._stream(index, event)))
            await asyncio.gather(*(e.wait() for e in ready))
            if self.errors:
                raise SystemExit("\n".join(self.errors[:5]))

    async def _stream(self, index: int, ready: asyncio.Event) -> None:
        client, node_key = self.clients[index], self.node_keys[index]
        try:
            async for message in client.stream_map(node_key):
                ready.set()
                if self.probe is not None:
                    self.probe.observe(index, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"stream {index}: {type(exc).__name__}: {exc}")
            raise
        finally:
            ready.set()

    async def measure(self, kind: str, target: Any, action: Awaitable[T]) -> tuple[list[float], T]:
        """Run ``action`` (not yet started) and wait until every stream saw its effect."""
        self.probe = Probe(kind, target, len(self.tasks))
        result = await action
        await asyncio.wait_for(self.probe.done.wait(), 120)
        arrivals = sorted(self.probe.arrivals.values())
        self.probe = None
        return arrivals, result

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
        for client in self.clients:
            await client.aclose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(state: Path, policy: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    code = "import sys; from tailcfg.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = ["control", "serve", "--state", str(state), "--policy", str(policy)]
    args += ["--listen", f"127.0.0.1:{port}", "--keepalive", "60"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/key", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("control server did not start") from None
                time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_size(n: int, repeats: int, state: Path, policy: Path) -> dict[str, Any]:
    with server(state, policy) as (url, pid):
        headers = {"Authorization": f"Bearer {read_admin_key(state)}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as admin:
            body = {"capabilities": {"devices": {"create": {"reusable": True}}}}
            body["capabilities"]["devices"]["create"]["preauthorized"] = True
            auth_key = (await admin.post("/api/v2/tailnet/-/keys", json=body)).json()["key"]
            fleet = Fleet(url)
            t = time.monotonic()
            await fleet.register(n, auth_key)
            registered = time.monotonic() - t
            t = time.monotonic()
            await fleet.stream_all()
            streaming = time.monotonic() - t
            results: dict[str, list[list[float]]] = {"join": [], "deletion": [], "policy": []}
            for r in range(repeats):
                async with ControlClient(url, PrivateKey.generate()) as joiner:
                    node_key = keys.public_text(PrivateKey.generate().public_key, keys.NODE_PREFIX)
                    register = joiner.register(node_key, auth_key=auth_key, hostname=f"new{r}")
                    arrivals, identity = await fleet.measure("join", node_key, register)
                results["join"].append(arrivals)
                joined_id = identity["NodeID"]
                delete = admin.delete(f"/api/v2/device/{joined_id}")
                results["deletion"].append((await fleet.measure("delete", joined_id, delete))[0])
                change = admin.post("/api/v2/tailnet/-/acl", content=POLICIES[(r + 1) % 2])
                results["policy"].append((await fleet.measure("policy", None, change))[0])
            rss, peak = memory_mb(pid)
            await fleet.close()
    summary: dict[str, Any] = {"n": n, "register": registered, "stream": streaming}
    for kind, runs in results.items():
        summary[kind] = tuple(
            statistics.median(pct(run, q) for run in runs) for q in (0.5, 0.95, 1.0)
        )
    summary["rss"], summary["peak"] = rss, peak
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            state, policy = Path(tmp) / "state", Path(tmp) / "policy.hujson"
            init_state(state)
            policy.write_text(POLICIES[0], encoding="utf-8")
            rows.append(asyncio.run(run_size(n, args.repeats, state, policy)))
        _print_row(rows[-1])
    _print_summary(rows)
    return 0


def _print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['n']:>5} devices: registered in {row['register']:.1f} s, "
        f"all streaming after {row['stream']:.1f} s more",
        flush=True,
    )


def _print_summary(rows: list[dict[str, Any]]) -> None:
    print()
    print("time for one event to reach every stream (s; median over repeats of p50/p95/max)")
    print(
        f"{'devices':>7} | {'join p50/p95/max':>20} | {'deletion p50/p95/max':>20} | "
        f"{'policy p50/p95/max':>20} | {'RSS MB':>6} | {'peak MB':>7}"
    )
    for row in rows:
        cells = ["/".join(f"{v:.3f}" for v in row[k]) for k in ("join", "deletion", "policy")]
        print(
            f"{row['n']:>7} | {cells[0]:>20} | {cells[1]:>20} | {cells[2]:>20} | "
            f"{row['rss']:>6.0f} | {row['peak']:>7.0f}"
        )
    base = rows[0]
    print()
    print("growth relative to the first size (devices ratio -> p95 ratio, RSS ratio)")
    for row in rows[1:]:
        ratio = row["n"] / base["n"]
        p95 = "  ".join(
            f"{k} x{row[k][1] / base[k][1]:.2f}" for k in ("join", "deletion", "policy")
        )
        print(f"  x{ratio:.0f} devices: {p95}  RSS x{row['rss'] / base['rss']:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
