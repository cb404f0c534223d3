"""`devices pull` and `init --from headscale` against a real Headscale v0.29 with real
tailscaled nodes: Headscale's own /api/v1/node shape, parsed as the --nodes file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from headscale_peer import Headscale, headscale
from init_tailnets import cli_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

POLICY = """// the Headscale tailnet's policy
{
  "tagOwners": {"tag:router": ["odin@"]},
  "autoApprovers": {"routes": {"192.168.7.0/24": ["tag:router"]}},
  "acls": [{"action": "accept", "src": ["odin@"], "dst": ["*:*"]}],
}
"""


@pytest.fixture(scope="module")
def hs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Headscale, str]]:
    with headscale(tmp_path_factory.mktemp("hs")) as server:
        policy = server.dir / "policy.hujson"
        policy.write_text(POLICY)
        server.cli("policy", "set", "-f", str(policy))
        user = server.cli("users", "create", "odin")
        user_id = str(user["id"])
        plain = server.cli("preauthkeys", "create", "--user", user_id)
        tagged = server.cli("preauthkeys", "create", "--user", user_id, "--tags", "tag:router")
        server.join("laptop", plain["key"])
        server.join("gw", tagged["key"], routes=("192.168.7.0/24",))
        yield server, server.api_key()


def test_devices_pull_reads_headscale_nodes(hs: tuple[Headscale, str], tmp_path: Path) -> None:
    server, key = hs
    (tmp_path / "tailcfg.yaml").write_text(
        f"control: {{backend: headscale, url: {server.url}}}\nhosts: {{}}\n"
    )
    env = cli_env(HEADSCALE_API_KEY=key)
    done = subprocess.run(
        ["tailcfg", "devices", "pull", "-o", "devices.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    nodes = {n["name"]: n for n in json.loads((tmp_path / "devices.json").read_text())["nodes"]}
    assert sorted(nodes) == ["gw", "laptop"]
    assert nodes["laptop"]["tags"] == [] and nodes["laptop"]["user"] == "odin"
    assert nodes["gw"]["tags"] == ["tag:router"] and nodes["gw"]["user"] is None
    assert nodes["gw"]["routable_ips"] == ["192.168.7.0/24"]
    assert nodes["gw"]["approved_routes"] == ["192.168.7.0/24"]
    for node in nodes.values():
        assert node["ipv4"].startswith("100.64.0.") and node["ipv6"].startswith("fd7a:115c:a1e0:")
        assert node["created"].endswith("Z")
    listed = server.cli("nodes", "list")
    assert sorted(n["given_name"] for n in listed) == ["gw", "laptop"]


def test_init_from_headscale(hs: tuple[Headscale, str], tmp_path: Path) -> None:
    server, key = hs
    env = cli_env(HEADSCALE_API_KEY=key)
    age = "age1fdwhcg84ns28vlm0zana7gpwhhvan0dvw0rf78zf2wz0pkexcpds36q7ge"
    args = ["init", "net", "--from", "headscale", "--url", server.url, "--admin-age", age]
    done = subprocess.run(
        ["tailcfg", *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    repo = tmp_path / "net"
    assert (repo / "policy.hujson").read_text() == POLICY  # as Headscale stores it
    for check in (["policy", "lint", "policy.hujson"], ["keys", "status"]):
        ran = subprocess.run(
            ["tailcfg", *check], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
