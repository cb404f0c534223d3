"""``tailcfg verify`` benchmark: wall time of the whole proof, handshake time, probe rate.

Prints:

- ``tailcfg verify examples/homelab`` wall time, as a user runs it (a fresh process; goal
  < 20 s), and the in-process phases (bootstrap: mint + sops seal + decrypt as the host for
  every host; mesh; probes; the revocation drill);
- WireGuard handshake time between two fresh Python nodes on 127.0.0.1: the first probe
  after a new node key (handshake + SYN/SYN-ACK) minus a probe on the established session;
- probes per second through the Python data plane, one at a time and 100 in flight.

Run: ``python bench/bench_verify.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from tailcfg.control.server import RunningControl, running_control
from tailcfg.control.service import Settings
from tailcfg.node.agent import NodeAgent
from tailcfg.verify import VerifyOptions, verify

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "homelab"
POLICY = """{
  "tagOwners": {"tag:server": ["autogroup:admin"]},
  "acls": [{"action": "accept", "src": ["*"], "dst": ["tag:server:*"]}],
}
"""


def cli_wall(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", "from tailcfg.cli.main import run; run()", "verify", str(DEMO)],
            capture_output=True,
            check=False,
        )
        times.append(time.monotonic() - started)
        if proc.returncode != 0:
            sys.exit(f"tailcfg verify failed:\n{proc.stdout.decode()}\n{proc.stderr.decode()}")
    return times


def in_process() -> None:
    report = verify(VerifyOptions(directory=DEMO))
    t = report.timings
    drill = report.drill
    print(
        f"  in-process total {t.total_s:.2f} s: bootstrap {t.bootstrap_s:.2f} s "
        f"({len(report.hosts)} hosts), mesh {t.mesh_s:.2f} s, every handshake "
        f"{t.handshake_ms:.0f} ms, {t.probes} probes in "
        f"{t.probe_s:.2f} s (deny probes wait out their 1 s timeout)"
    )
    if drill is not None and drill.unreachable_after_ms is not None:
        ms = drill.unreachable_after_ms
        print(f"  revocation drill: unreachable after {ms:.0f} ms (limit 1000)")


def mint(control: RunningControl, path: Path, *tags: str) -> None:
    response = httpx.post(
        f"{control.url}/api/v2/tailnet/-/keys",
        headers={"Authorization": f"Bearer {control.admin_key}"},
        json={"capabilities": {"devices": {"create": {"preauthorized": True, "tags": list(tags)}}}},
    )
    response.raise_for_status()
    path.write_text(response.json()["key"] + "\n", encoding="utf-8")


async def data_plane(control: RunningControl, tmp: Path) -> None:
    mint(control, tmp / "a.key")
    mint(control, tmp / "b.key", "tag:server")
    a = NodeAgent(control.url, auth_key_file=tmp / "a.key", state_dir=tmp / "a", hostname="a")
    b = NodeAgent(control.url, auth_key_file=tmp / "b.key", state_dir=tmp / "b", hostname="b")
    async with a, b:
        await a.wait_for(lambda x: len(x.peers) == 1, 10)
        dst = b.addresses[0]
        first, steady = [], []
        for _ in range(10):
            await a.rotate_node_key()
            await b.wait_for(lambda x: [p.key for p in x.peers.values()] == [a.node_key], 10)
            t0 = time.monotonic()
            assert (await a.probe(dst, 22)).ok
            first.append(time.monotonic() - t0)
            t0 = time.monotonic()
            assert (await a.probe(dst, 22)).ok
            steady.append(time.monotonic() - t0)
        hs = (statistics.median(first) - statistics.median(steady)) * 1000
        print(
            f"  first probe on a new key {statistics.median(first) * 1000:.2f} ms, on the "
            f"established session {statistics.median(steady) * 1000:.2f} ms: "
            f"handshake ~{hs:.2f} ms (median of 10)"
        )
        n = 2000
        t0 = time.monotonic()
        for i in range(n):
            assert (await a.probe(dst, 1 + i % 1000)).ok
        serial = n / (time.monotonic() - t0)
        t0 = time.monotonic()
        for start in range(0, n, 100):
            results = await asyncio.gather(
                *(a.probe(dst, 1 + (start + j) % 1000) for j in range(100))
            )
            assert all(r.ok for r in results)
        parallel = n / (time.monotonic() - t0)
        print(f"  probes/s: {serial:,.0f} one at a time, {parallel:,.0f} with 100 in flight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"tailcfg verify {DEMO.relative_to(ROOT)} (fresh process, {args.runs} runs)")
    walls = cli_wall(args.runs)
    best, median = min(walls), statistics.median(walls)
    print(
        f"  wall: min {best:.2f} s, median {median:.2f} s (goal < 20 s: {20 / median:.1f}x under)"
    )
    in_process()
    print("data plane (two Python nodes, 127.0.0.1)")
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.hujson"
        policy.write_text(POLICY, encoding="utf-8")
        settings = Settings(node_key_lifetime=timedelta(days=1))
        with running_control(Path(tmp) / "control", policy, settings=settings) as control:
            asyncio.run(data_plane(control, Path(tmp)))


if __name__ == "__main__":
    main()
