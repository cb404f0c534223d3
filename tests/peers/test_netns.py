"""The LAN of network namespaces the real peers run on (needs root; fails in CI without)."""

from __future__ import annotations

import subprocess

from realpeers import missing

from tailcfg.peers.netns import Lan, missing_privileges


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10)


def test_namespaces_reach_each_other_and_nothing_else() -> None:
    why = missing_privileges()
    if why is not None:
        missing(why)
    with Lan.create() as lan:
        a, b = lan.namespace("a"), lan.namespace("b")
        # a default route that never changes (tailscaled drops its control connection on
        # every link change without one) and goes nowhere: nothing leaves the LAN
        default = run(["ip", "-n", a.name, "route", "show", "default"])
        assert default.stdout.split() == ["unreachable", "default"]
        assert run(a.argv("ping", "-c1", "-W2", b.address)).returncode == 0
        assert run(a.argv("ping", "-c1", "-W2", lan.host_ip)).returncode == 0
        out = run(a.argv("ping", "-c1", "-W2", "10.255.255.1"))
        assert out.returncode != 0 and "No route to host" in out.stderr + out.stdout
        names = {a.name, b.name}
    listed = run(["ip", "netns", "list"]).stdout
    assert not any(name in listed for name in names)
