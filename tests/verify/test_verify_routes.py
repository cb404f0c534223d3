"""Probes through routers: UDP to the internet via the exit node, to the LAN via the subnet
router, and a LAN address the policy does not open (the router's filter drops it)."""

from __future__ import annotations

from pathlib import Path

from verify_helpers import copy_homelab

from tailcfg.verify import OK, VerifyOptions, verify

ODIN_DENY = '"deny": ["tag:router:22", "tag:ci:22"],'
EXTRA = (
    '"deny":   ["tag:router:22", "tag:ci:22", "192.168.1.20:22"],\n\t\t},\n'
    '\t\t{"src": "odin@example.com", "proto": "udp", "accept": ["8.8.8.8:53", "nas:445"],'
)


def test_udp_through_exit_node_and_subnet_router(tmp_path: Path) -> None:
    directory = copy_homelab(tmp_path, "homelab")
    policy = directory / "policy.hujson"
    text = policy.read_text(encoding="utf-8")
    assert text.count(ODIN_DENY) == 1
    policy.write_text(text.replace(ODIN_DENY, EXTRA), encoding="utf-8")

    report = verify(VerifyOptions(directory=directory, probe_timeout=0.3, drill=False))
    assert report.passed, [r.reason for r in report.rows if r.status != OK]
    extra = {
        r.test: [(p.src, p.dst, p.address, p.proto, p.port, p.reason) for p in r.probes]
        for r in report.rows
        if "(udp)" in r.test or "192.168.1.20" in r.test
    }
    assert extra == {
        "odin@example.com -> 192.168.1.20:22": [
            ("laptop", "gateway", "192.168.1.20", "tcp", 22, "timeout")
        ],
        "odin@example.com -> 8.8.8.8:53 (udp)": [
            ("laptop", "exit", "8.8.8.8", "udp", 53, "udp-reply")
        ],
        "odin@example.com -> nas:445 (udp)": [
            ("laptop", "gateway", "192.168.1.10", "udp", 445, "udp-reply")
        ],
    }
