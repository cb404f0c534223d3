"""`tailcfg verify examples/homelab`: one real run (module fixture) and what it proves."""

from __future__ import annotations

import json

import pytest
from fakes.homelab import MATRIX
from verify_helpers import HOMELAB, copy_homelab

from tailcfg.verify import OK, VerifyOptions, VerifyReport, verify


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> VerifyReport:
    directory = copy_homelab(tmp_path_factory.mktemp("verify"), "homelab")
    return verify(VerifyOptions(directory=directory, probe_timeout=0.5))


def test_matrix_matches_expectations_engine_and_tunnels(report: VerifyReport) -> None:
    got = [(r.test, r.expected, r.engine, r.observed) for r in report.rows]
    assert got == MATRIX
    assert [r.status for r in report.rows] == [OK] * len(MATRIX)
    assert report.passed
    assert report.lint_errors == () and report.problems == ()


def test_every_host_joined_with_its_tags(report: VerifyReport) -> None:
    got = [(h.name, h.ok, h.detail, h.tags) for h in report.hosts]
    assert got == [
        ("laptop", True, "joined", ()),
        ("dao", True, "joined", ("tag:server",)),
        ("gateway", True, "joined", ("tag:router",)),
        ("exit", True, "joined", ("tag:exit",)),
        ("ci-runner", True, "joined", ("tag:ci",)),
        ("monitor", True, "joined", ("tag:monitoring",)),
    ]
    assert all(h.endpoint.startswith("127.0.0.1:") for h in report.hosts)


def test_probes_go_where_the_policy_says(report: VerifyReport) -> None:
    by_test = {r.test: r for r in report.rows}
    nas = by_test["odin@example.com -> nas:445"].probes
    # The subnet address is owned by the router whose approved route holds it.
    assert [(p.src, p.dst, p.address, p.proto, p.port, p.ok, p.reason) for p in nas] == [
        ("laptop", "gateway", "192.168.1.10", "tcp", 445, True, "syn-ack")
    ]
    # Not a peer at all: the packet has no route (the netmap hides monitor from ci-runner).
    hidden = by_test["tag:ci -> tag:monitoring:3000"].probes
    assert [(p.src, p.dst, p.reason) for p in hidden] == [("ci-runner", "monitor", "no-route")] * 2
    # A peer whose filter drops the packet: silence.
    filtered = by_test["tag:ci -> tag:server:22"].probes
    assert [(p.src, p.dst, p.ok, p.reason) for p in filtered] == [
        ("ci-runner", "dao", False, "timeout")
    ] * 2
    # Devices are probed on both families.
    reached = by_test["tag:ci -> tag:server:443"].probes
    dao = next(h for h in report.hosts if h.name == "dao")
    assert [(p.address, p.ok) for p in reached] == [(a, True) for a in dao.addresses]
    assert [":" in a for a in dao.addresses] == [False, True]
    check = by_test["odin@example.com -> odin@tag:monitoring"]
    assert check.reason.startswith("ssh policy: laptop->monitor check; tcp/22: ")


def test_the_example_has_no_warnings(report: VerifyReport) -> None:
    # The check-mode SSH rule into tag:monitoring comes with a grant opening TCP/22, so the
    # packet filter and the SSH policy agree everywhere (the drills show the warning).
    assert [(r.test, r.warning) for r in report.rows if r.warning] == []


def test_revocation_drill_within_one_second(report: VerifyReport) -> None:
    drill = report.drill
    assert drill is not None
    assert (drill.device, drill.prober, drill.port) == ("dao", "laptop", 22)
    assert drill.passed, drill.reason
    assert drill.reason.startswith("deleted dao through the API: a probe from laptop sent ")


def test_json_report_shape(report: VerifyReport) -> None:
    data = json.loads(json.dumps(report.to_json()))
    assert sorted(data) == [
        "control",
        "differences",
        "directory",
        "drill",
        "hosts",
        "lint_errors",
        "node",
        "notes",
        "passed",
        "policy",
        "problems",
        "received",
        "rows",
        "timings",
        "version",
    ]
    assert (data["version"], data["passed"], data["policy"]) == (1, True, "policy.hujson")
    assert (data["control"], data["node"], data["received"], data["differences"]) == (
        "embedded",
        "python",
        [],
        [],
    )
    assert [(r["test"], r["expected"], r["engine"], r["observed"]) for r in data["rows"]] == MATRIX
    path, line, col = data["rows"][0]["location"].split(":")
    text = (HOMELAB / path).read_text(encoding="utf-8").splitlines()[int(line) - 1]
    assert text[int(col) - 1 :].startswith('"tag:server:22"')
    assert data["timings"]["probes"] == sum(len(r["probes"]) for r in data["rows"])
