"""Negative drills: break the example on purpose; verify must fail and say why.

* a rule a test needs is removed → the test fails, named, engine and tunnels agreeing;
* a host's recipient is missing from .sops.yaml → that host cannot decrypt its key;
* a key minted without the host's tag → the node comes up untagged, the tests that need
  the tag fail with that explanation.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from verify_helpers import copy_homelab

from tailcfg.cli.main import main
from tailcfg.inventory import Host
from tailcfg.keys.backends import KeyRequest
from tailcfg.verify import MISMATCH, OK, VerifyOptions, host_key_request, verify

NAS_RULE = '{"action": "accept", "src": ["group:ops"], "dst": ["nas:445"]},'
OPS_SSH_PORT = '{"src": ["group:ops"], "dst": ["tag:monitoring"], "ip": ["tcp:22"]},'
SERVER_TESTS = {
    "odin@example.com -> tag:server:22",
    "odin@example.com -> tag:server:443",
    "tag:monitoring -> tag:server:9100",
    "tag:monitoring -> tag:server:22",
    "tag:ci -> tag:server:443",
    "tag:ci -> tag:server:22",
    "tag:server -> tag:monitoring:3000",
    "tag:server -> tag:ci:443",
    "odin@example.com -> root@tag:server",
    "odin@example.com -> odin@tag:server",
    "tag:ci -> root@tag:server",
    "tag:ci -> deploy@tag:server",
}


def test_removed_rule_fails_naming_the_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = copy_homelab(tmp_path, "homelab")
    policy = directory / "policy.hujson"
    text = policy.read_text(encoding="utf-8")
    assert text.count(NAS_RULE) == 1
    policy.write_text(text.replace(NAS_RULE, ""), encoding="utf-8")

    code = main(["verify", str(directory), "--probe-timeout", "0.3"])
    out = capsys.readouterr().out
    assert code == 1
    failures = [line for line in out.splitlines() if ": mismatch " in line]
    assert len(failures) == 1, out
    assert re.fullmatch(
        r"policy\.hujson:\d+:\d+: mismatch tests\[0\] odin@example\.com -> nas:445: "
        r"expected accept, observed deny: laptop->gateway 192\.168\.1\.10:445/tcp timeout",
        failures[0],
    ), failures[0]
    assert "note: the policy's own tests fail, so a control server would refuse it" in out
    assert out.rstrip().endswith("FAILED")


def test_ssh_admitted_but_port_22_filtered_is_a_warning(tmp_path: Path) -> None:
    # Without the grant opening TCP/22, the check-mode SSH rule into tag:monitoring still
    # reaches monitor's SSH policy, but no packet gets there: the sshTests row holds (it
    # judges the SSH policy) and carries a warning.
    directory = copy_homelab(tmp_path, "homelab")
    policy = directory / "policy.hujson"
    text = policy.read_text(encoding="utf-8")
    assert text.count(OPS_SSH_PORT) == 1
    text = text.replace(OPS_SSH_PORT, "").replace('"tag:monitoring:22",', "")
    policy.write_text(text, encoding="utf-8")

    report = verify(VerifyOptions(directory=directory, probe_timeout=0.3, drill=False))
    assert report.passed
    assert [(r.test, r.warning) for r in report.rows if r.warning] == [
        (
            "odin@example.com -> odin@tag:monitoring",
            "the SSH policy admits laptop->monitor but the packet filter drops TCP/22 there: "
            "Tailscale SSH also needs an access rule (acls/grants) to port 22",
        )
    ]


def test_missing_recipient_means_the_host_cannot_decrypt(tmp_path: Path) -> None:
    directory = copy_homelab(tmp_path, "homelab")
    sops_yaml = directory / ".sops.yaml"
    text = sops_yaml.read_text(encoding="utf-8")
    assert text.count("- age: [*odin, *dao]") == 1
    sops_yaml.write_text(text.replace("- age: [*odin, *dao]", "- age: [*odin]"), encoding="utf-8")

    report = verify(VerifyOptions(directory=directory, probe_timeout=0.3, drill=False))
    assert not report.passed
    dao = next(h for h in report.hosts if h.name == "dao")
    assert not dao.ok
    assert dao.detail == (
        "did not join: host dao cannot decrypt its key: secrets/dao/tailscale.yaml is sealed"
        " for age1fdwhcg84ns28vlm0zana7gpwhhvan0dvw0rf78zf2wz0pkexcpds36q7ge, not for the"
        " host's recipient (age10jh5yjh9rnjqv0jmqvzfzlgmyfazhjt0y2trw662hxtg0k32syfsmav0nh);"
        " add it to the creation rule in .sops.yaml"
    )
    assert [h.name for h in report.hosts if h.ok] == [
        "laptop",
        "gateway",
        "exit",
        "ci-runner",
        "monitor",
    ]
    failed = {r.test: r for r in report.rows if r.status == MISMATCH}
    assert set(failed) == SERVER_TESTS
    for row in failed.values():
        assert row.observed == "none"
        assert row.reason == (
            "no device has identity tag:server: inventory host dao should have it "
            "(did not join: host dao cannot decrypt its key)"
        )
    assert all(r.status == OK for r in report.rows if r.test not in SERVER_TESTS)


def test_key_without_the_tag_brings_the_node_up_untagged(tmp_path: Path) -> None:
    directory = copy_homelab(tmp_path, "homelab")

    def untagged_dao(host: Host) -> KeyRequest:
        request = host_key_request(host)
        return dataclasses.replace(request, tags=()) if host.name == "dao" else request

    options = VerifyOptions(
        directory=directory, probe_timeout=0.3, drill=False, key_request=untagged_dao
    )
    report = verify(options)
    assert not report.passed
    dao = next(h for h in report.hosts if h.name == "dao")
    assert (dao.ok, dao.tags) == (False, ())
    assert dao.detail == "it registered with tags []: its auth key was minted with tags []"
    failed = {r.test: r for r in report.rows if r.status == MISMATCH}
    assert set(failed) == SERVER_TESTS
    for row in failed.values():
        assert row.reason == (
            "no device has identity tag:server: inventory host dao should have it "
            "(it registered with tags []: its auth key was minted with tags [])"
        )
    # Untagged, dao now belongs to odin: odin's tests are probed from it as well.
    nas = next(r for r in report.rows if r.test == "odin@example.com -> nas:445")
    assert (nas.status, [p.src for p in nas.probes]) == (OK, ["laptop", "dao"])


def test_keep_serves_the_tailnet_until_sigterm(tmp_path: Path) -> None:
    directory = copy_homelab(tmp_path, "homelab")
    argv = [
        sys.executable,
        "-c",
        "from tailcfg.cli.main import run; run()",
        "verify",
        str(directory),
        "--keep",
        "--probe-timeout",
        "0.3",
    ]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stderr is not None
        url = key_file = ""
        for line in proc.stderr:
            if line.startswith("control plane: "):
                url = line.split()[2]
            if line.startswith("admin API key: "):
                key_file = line.split(": ", 1)[1].strip()
                break
        key = Path(key_file).read_text(encoding="utf-8").strip()
        devices = httpx.get(
            f"{url}/api/v2/tailnet/-/devices", headers={"Authorization": f"Bearer {key}"}
        ).json()["devices"]
        online = sorted(d["hostname"] for d in devices if d["connectedToControl"])
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Every node still runs (dao was deleted by the revocation drill).
    assert online == ["ci-runner", "exit", "gateway", "laptop", "monitor"]
    assert proc.returncode == 0
    assert out.rstrip().endswith("verified")
    assert not Path(key_file).exists()  # the temporary state is gone


def test_invalid_policy_stops_before_booting_anything(tmp_path: Path) -> None:
    directory = copy_homelab(tmp_path, "homelab")
    policy = directory / "policy.hujson"
    text = policy.read_text(encoding="utf-8")
    owner = '"tag:server":     ["group:admins"],'
    assert text.count(owner) == 1
    policy.write_text(text.replace(owner, '"tag:server":     ["group:nobody"],'), encoding="utf-8")

    report = verify(VerifyOptions(directory=directory))
    assert not report.passed
    assert len(report.lint_errors) == 1
    assert report.lint_errors[0].startswith(f"{policy}:")
    assert report.lint_errors[0].endswith('group not defined in policy: "group:nobody"')
    assert (report.hosts, report.rows, report.drill, report.control_url) == ((), (), None, "")
