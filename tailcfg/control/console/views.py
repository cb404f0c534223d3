"""What the console shows, as plain rows: read from the control plane, never changed.

Auth keys are listed by id and options only; their secrets are not stored (only a hash,
which is not shown either).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tailcfg.control.model import Device, iso
from tailcfg.control.netmap import policy_node
from tailcfg.control.service import ControlPlane
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.graph.build import build_graph
from tailcfg.policy.graph.page import HtmlParts, html_parts


def _when(value: datetime | None, never: str = "never") -> str:
    return (iso(value) or never).replace("T", " ").replace("Z", " UTC")


def device_row(control: ControlPlane, device: Device, now: datetime) -> dict[str, Any]:
    owner = control.store.user(device.user_id)
    online = control.hub.online(device.id)
    if device.key_expiry is None:
        expiry = "never (tagged)" if device.tags else "never"
    else:
        expiry = _when(device.key_expiry) + (" (expired)" if device.expired(now) else "")
    return {
        "id": device.id,
        "name": device.given_name,
        "hostname": device.hostname,
        "addresses": [device.ipv4, device.ipv6],
        "owner": "" if device.tags or owner is None else owner.login,
        "tags": list(device.tags),
        "online": online,
        "status": "online" if online else f"last seen {_when(device.last_seen)}",
        "expiry": expiry,
        "ephemeral": device.ephemeral,
        "authorized": device.authorized,
    }


def devices(control: ControlPlane, now: datetime) -> list[dict[str, Any]]:
    rows = [device_row(control, d, now) for d in control.store.devices()]
    return sorted(rows, key=lambda r: (r["name"], r["id"]))


def devices_state(control: ControlPlane, now: datetime) -> dict[str, Any]:
    """The live-update payload: the device rows and a version that changes with them."""
    rows = devices(control, now)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]
    return {"version": digest, "devices": rows}


def auth_keys(control: ControlPlane, now: datetime) -> list[dict[str, Any]]:
    users = {u.id: u.login for u in control.store.users()}
    rows = []
    for key in control.store.auth_keys():
        refusal = key.refusal(now)
        rows.append(
            {
                "id": key.id,
                "description": key.description,
                "owner": users.get(key.user_id, "?"),
                "tags": list(key.tags),
                "reusable": key.reusable,
                "ephemeral": key.ephemeral,
                "preauthorized": key.preauthorized,
                "used": key.used,
                "created": _when(key.created),
                "expires": _when(key.expires),
                "state": refusal.removeprefix("auth key ") if refusal else "valid",
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class PolicyView:
    lines: tuple[str, ...]
    etag: str
    updated: str
    tests: tuple[dict[str, Any], ...]
    passed: int
    failed: int


def policy_view(control: ControlPlane) -> PolicyView:
    loaded = control.policy
    stored = control.store.policy()
    report = run_tests(loaded.policy)
    tests = tuple(
        {
            "where": f"{r.section}[{r.entry}]",
            "line": r.span.line,
            "src": r.src,
            "dst": r.dst if r.login is None else f"{r.dst} as {r.login}",
            "expected": str(r.expected),
            "actual": str(r.actual),
            "passed": r.passed,
            "rules": ", ".join(rule.render() for rule in r.rules),
        }
        for r in report.results
    )
    passed = sum(1 for t in tests if t["passed"])
    return PolicyView(
        lines=tuple(loaded.text.splitlines()),
        etag=loaded.etag[:12],
        updated=_when(stored.updated if stored else None, "-"),
        tests=tests,
        passed=passed,
        failed=len(tests) - passed,
    )


def graph_view(control: ControlPlane) -> HtmlParts:
    """The access graph and matrix of the current policy on the registered devices."""
    users = {u.id: u for u in control.store.users()}
    nodes = [policy_node(d, users) for d in control.store.devices()]
    return html_parts(build_graph(control.policy.policy, nodes), heading_level=2)
