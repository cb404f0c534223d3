"""What ``tailcfg verify`` reports: plain, immutable data (rendered by ``tailcfg.cli``).

One :class:`Row` per assertion of the policy's ``tests`` / ``sshTests``: the expectation,
the engine's verdict, what the probes through the tunnels observed, and how long they
took. ``status`` is ``ok``, ``mismatch`` (a failure) or ``not probed`` (the source identity
has no device in the inventory: reported, not a failure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
MISMATCH = "mismatch"
NOT_PROBED = "not probed"

DEFAULT_HOST_KEY = "demo-keys/hosts/ssh_host_ed25519_key.{host}"


@dataclass(frozen=True, slots=True)
class Probe:
    """One packet exchange from a source device to a destination device."""

    src: str  # device name
    dst: str  # device name (the router for a subnet address)
    address: str  # the destination address probed
    proto: str  # tcp, udp, icmp
    port: int
    ok: bool
    reason: str  # syn-ack, timeout, no-route, ...
    rtt_ms: float | None


@dataclass(frozen=True, slots=True)
class Row:
    section: str  # tests | sshTests
    entry: int
    test: str  # "odin@example.com -> tag:server:22" / "... -> root@tag:server"
    expected: str
    engine: str
    observed: str  # accept / deny / check / mixed / none / -
    status: str  # OK / MISMATCH / NOT_PROBED
    reason: str
    time_ms: float
    probes: tuple[Probe, ...] = ()
    location: str = ""  # policy.hujson:LINE:COL
    warning: str = ""  # holds, but something on the way deserves a look

    @property
    def failed(self) -> bool:
        return self.status == MISMATCH


@dataclass(frozen=True, slots=True)
class HostResult:
    """How one inventory host joined (or failed to)."""

    name: str
    ok: bool
    detail: str
    tags: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    endpoint: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Drill:
    """The revocation drill: a device deleted through the API must become unreachable."""

    device: str
    prober: str
    address: str
    port: int
    unreachable_after_ms: float | None  # None: still reachable at the deadline
    limit_ms: float
    reason: str

    @property
    def passed(self) -> bool:
        return self.unreachable_after_ms is not None and self.unreachable_after_ms <= self.limit_ms


@dataclass(frozen=True, slots=True)
class Received:
    """What one real node received from the control server, against ``policy compile``."""

    node: str
    filter: str  # equal / equivalent / differs
    ssh: str  # equal / equivalent / differs
    detail: str = ""  # the differences, when any

    @property
    def agrees(self) -> bool:
        return self.filter != "differs" and self.ssh != "differs"


@dataclass(frozen=True, slots=True)
class Timings:
    total_s: float = 0.0
    bootstrap_s: float = 0.0  # mint + seal + decrypt, every host
    mesh_s: float = 0.0  # nodes up until every expected peer is known
    handshake_ms: float = 0.0  # until every tunnel had a WireGuard session (all at once)
    probes: int = 0
    probe_s: float = 0.0


@dataclass(frozen=True, slots=True)
class VerifyReport:
    directory: Path
    policy: str
    lint_errors: tuple[str, ...] = ()
    hosts: tuple[HostResult, ...] = ()
    rows: tuple[Row, ...] = ()
    drill: Drill | None = None
    problems: tuple[str, ...] = ()
    timings: Timings = field(default_factory=Timings)
    notes: tuple[str, ...] = ()  # what was not proven, by design (not a failure)
    control_url: str = ""
    admin_key_file: str = ""  # the control plane's admin API key (exists while it runs)
    control: str = "embedded"  # embedded | headscale
    node: str = "python"  # python | tailscaled
    received: tuple[Received, ...] = ()  # real nodes: their filters against the engine
    differences: tuple[str, ...] = ()  # where a real peer disagrees (recorded, not failures)

    @property
    def passed(self) -> bool:
        return (
            not self.lint_errors
            and not self.problems
            and all(h.ok for h in self.hosts)
            and not any(r.failed for r in self.rows)
            and (self.drill is None or self.drill.passed)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "directory": str(self.directory),
            "policy": self.policy,
            "passed": self.passed,
            "lint_errors": list(self.lint_errors),
            "problems": list(self.problems),
            "notes": list(self.notes),
            "hosts": [_host_json(h) for h in self.hosts],
            "control": self.control,
            "node": self.node,
            "rows": [_row_json(r) for r in self.rows],
            "differences": list(self.differences),
            "received": [
                {"node": r.node, "filter": r.filter, "ssh": r.ssh, "detail": r.detail}
                for r in self.received
            ],
            "drill": None if self.drill is None else _drill_json(self.drill),
            "timings": {
                "total_s": round(self.timings.total_s, 3),
                "bootstrap_s": round(self.timings.bootstrap_s, 3),
                "mesh_s": round(self.timings.mesh_s, 3),
                "handshake_ms": round(self.timings.handshake_ms, 3),
                "probes": self.timings.probes,
                "probe_s": round(self.timings.probe_s, 3),
            },
        }


def _host_json(h: HostResult) -> dict[str, Any]:
    return {
        "name": h.name,
        "ok": h.ok,
        "detail": h.detail,
        "tags": list(h.tags),
        "addresses": list(h.addresses),
        "endpoint": h.endpoint,
    }


def _row_json(r: Row) -> dict[str, Any]:
    return {
        "section": r.section,
        "entry": r.entry,
        "location": r.location,
        "test": r.test,
        "expected": r.expected,
        "engine": r.engine,
        "observed": r.observed,
        "status": r.status,
        "reason": r.reason,
        "warning": r.warning,
        "time_ms": round(r.time_ms, 3),
        "probes": [
            {
                "src": p.src,
                "dst": p.dst,
                "address": p.address,
                "proto": p.proto,
                "port": p.port,
                "ok": p.ok,
                "reason": p.reason,
                "rtt_ms": None if p.rtt_ms is None else round(p.rtt_ms, 3),
            }
            for p in r.probes
        ],
    }


def _drill_json(d: Drill) -> dict[str, Any]:
    return {
        "device": d.device,
        "prober": d.prober,
        "address": d.address,
        "port": d.port,
        "unreachable_after_ms": None
        if d.unreachable_after_ms is None
        else round(d.unreachable_after_ms, 3),
        "limit_ms": d.limit_ms,
        "passed": d.passed,
        "reason": d.reason,
    }


@dataclass(frozen=True, slots=True)
class Event:
    """Progress: ``stage`` (lint, control, host, mesh, probe, drill, done) and a message."""

    stage: str
    message: str
    done: int = 0
    total: int = 0
    ok: bool = True


EventSink = Callable[[Event], None]
