"""The revocation drill: delete a device through the API; it must go dark within the limit.

The drill takes the first answered ``tests`` probe (a source node reaching a destination
device), deletes the destination through the control plane's API, then probes again and again
from the same source until the destination stops answering: the time from the DELETE to
the first unanswered probe is what the control plane + netmap + data plane need to revoke.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from tailcfg.verify.model import Drill, Row
from tailcfg.verify.probes import Mesh

PROBE_TIMEOUT = 0.05


Delete = Callable[[str], Awaitable[None]]  # delete the device of this name through the API


async def revocation_drill(
    delete: Delete, mesh: Mesh, rows: Sequence[Row], *, limit_ms: float, deadline_s: float = 3.0
) -> Drill:
    pick = next(
        (p for r in rows if r.section == "tests" for p in r.probes if p.ok and p.proto == "tcp"),
        None,
    )
    if pick is None:
        return Drill("-", "-", "-", 0, None, limit_ms, "no answered probe to revoke")
    prober = mesh.agents[pick.src]
    started = time.monotonic()
    await delete(pick.dst)
    while (elapsed := time.monotonic() - started) < deadline_s:
        sent = time.monotonic()
        result = await prober.probe(pick.address, pick.port, proto="tcp", timeout=PROBE_TIMEOUT)
        if not result.ok:
            ms = (sent - started) * 1000
            verdict = "within" if ms <= limit_ms else "NOT within"
            reason = (
                f"deleted {pick.dst} through the API: a probe from {pick.src} sent "
                f"{ms:.0f} ms later went unanswered ({result.reason}), {verdict} {limit_ms:.0f} ms"
            )
            return Drill(pick.dst, pick.src, pick.address, pick.port, ms, limit_ms, reason)
    reason = f"deleted {pick.dst}: still reachable from {pick.src} after {elapsed:.1f} s"
    return Drill(pick.dst, pick.src, pick.address, pick.port, None, limit_ms, reason)
