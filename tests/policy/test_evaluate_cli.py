"""`tailcfg policy test` and `tailcfg policy explain` end to end (files on disk)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from evalcases import NODES, policy_text

from tailcfg.cli.main import main


def _write(tmp_path: Path, tests: list[object], ssh_tests: list[object] | None = None) -> Path:
    path = tmp_path / "policy.hujson"
    path.write_text(policy_text(tests, ssh_tests), encoding="utf-8")
    return path


def _nodes(tmp_path: Path) -> Path:
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(NODES), encoding="utf-8")
    return path


def test_passing_tests_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _write(tmp_path, [{"src": "alice@example.com", "accept": ["tag:prod:22"]}])
    assert main(["policy", "test", str(policy)]) == 0
    assert capsys.readouterr().out == (
        f"{policy}: 1 assertions in 1 test entries (symbolic): 1 passed, 0 failed: passed\n"
    )


def test_failing_tests_exit_1_with_positions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _write(tmp_path, [{"src": "bob@example.com", "accept": ["tag:db:22"]}])
    assert main(["policy", "test", str(policy), "--nodes", str(_nodes(tmp_path))]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{policy}:21:51: FAIL tests[0]: bob@example.com -> tag:db:22: "
        "expected accept, denied: no rule matches",
        f"{policy}: 1 assertions in 1 test entries (topology): 0 passed, 1 failed: FAILED",
    ]


def test_no_tests_passes_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _write(tmp_path, [])
    assert main(["policy", "test", str(policy)]) == 0
    assert capsys.readouterr().out == f"{policy}: no tests or sshTests: nothing to check (passed)\n"


def test_rejected_policy_fails_with_the_server_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.hujson"
    policy.write_text('{"acls": [{"action": "accept", "src": ["tag:nope"], "dst": ["*:*"]}]}\n')
    assert main(["policy", "test", str(policy)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{policy}:1:")
    assert 'tag not found: "tag:nope"' in captured.err


def test_json_and_junit_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _write(tmp_path, [{"src": "alice@example.com", "deny": ["tag:db:22"]}])
    assert main(["policy", "test", str(policy), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["passed"], doc["summary"]["assertions"]) == (True, 1)
    assert main(["policy", "test", str(policy), "--format", "junit"]) == 0
    root = ET.fromstring(capsys.readouterr().out)
    assert [c.get("name") for c in root.iter("testcase")] == ["tests[0] alice@example.com"]


def test_explain_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _write(tmp_path, [])
    nodes = str(_nodes(tmp_path))
    assert (
        main(["policy", "explain", str(policy), "bob-laptop", "prod1:8080", "--nodes", nodes]) == 0
    )
    assert capsys.readouterr().out == (
        f"bob-laptop -> prod1:8080: ACCEPT\ngranted by:\n  {policy}:10 (acls[3])\n"
    )
    args = ["policy", "explain", str(policy), "alice@example.com", "tag:db", "--ssh", "root"]
    assert main([*args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["verdict"], doc["login"], doc["misses"][0]["rule"]) == ("deny", "root", "ssh[1]")


def test_explain_bad_destination_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _write(tmp_path, [])
    assert main(["policy", "explain", str(policy), "alice@example.com", "tag:prod"]) == 1
    assert "expected DST:PORT" in capsys.readouterr().err


def test_homelab_example_passes(repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = repo_root / "examples" / "homelab"
    if not (example / "policy.hujson").exists():
        pytest.skip("examples/homelab not present")
    for extra in ([], ["--nodes", str(example / "nodes.json")]):
        assert main(["policy", "test", str(example / "policy.hujson"), *extra]) == 0
    assert capsys.readouterr().out.count(": passed") == 2
