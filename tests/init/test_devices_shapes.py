"""Device lists in the APIs' own shapes -> the --nodes records; wrong answers -> BackendError."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakes.tailnet_api import serve_tailnet
from init_tailnets import cli_env

from tailcfg.devices import Device, devices_json_text, parse_headscale, parse_tailscale
from tailcfg.errors import BackendError
from tailcfg.policy.model.nodes import load_nodes

WHAT = "GET http://x/api"

TAILSCALE = {
    "devices": [
        {
            "addresses": ["100.87.74.78", "fd7a:115c:a1e0:ac82:4843:ca90:697d:c36e"],
            "id": "92960230385",
            "nodeId": "n292kg92CNTRL",
            "user": "amelie@example.com",
            "name": "pangolin.tailfe8c.ts.net",
            "hostname": "pangolin",
            "clientVersion": "",
            "updateAvailable": False,
            "os": "linux",
            "created": "2022-12-01T05:23:30Z",
            "lastSeen": "2022-12-01T05:23:30Z",
            "keyExpiryDisabled": False,
            "expires": "2023-05-30T04:44:05Z",
            "authorized": False,
            "isExternal": False,
            "isEphemeral": False,
            "machineKey": "",
            "nodeKey": "nodekey:01234567890abcdef",
            "blocksIncomingConnections": False,
            "enabledRoutes": ["10.0.0.0/16"],
            "advertisedRoutes": ["10.0.0.0/16", "192.168.1.0/24", "0.0.0.0/0", "::/0"],
            "clientConnectivity": {"endpoints": ["199.9.14.201:59128"], "derp": ""},
            "tags": ["tag:golink"],
            "tailnetLockError": "",
            "tailnetLockKey": "",
        },
        {
            "addresses": ["100.101.102.103"],
            "id": "1",
            "user": "odin@example.com",
            "name": "Odin's MacBook.tailfe8c.ts.net",
            "hostname": "Odin's MacBook",
            "created": "2024-01-01T00:00:00Z",
        },
    ]
}

HEADSCALE = {
    "nodes": [
        {
            "id": "1",
            "machineKey": "mkey:aa",
            "nodeKey": "nodekey:bb",
            "discoKey": "discokey:cc",
            "ipAddresses": ["100.64.0.1", "fd7a:115c:a1e0::1"],
            "name": "laptop",
            "user": {"id": "1", "name": "odin", "email": "odin@example.com"},
            "lastSeen": "2026-12-01T10:00:00Z",
            "expiry": None,
            "createdAt": "2026-11-01T10:00:00Z",
            "registerMethod": "REGISTER_METHOD_AUTH_KEY",
            "givenName": "laptop",
            "online": True,
            "approvedRoutes": [],
            "availableRoutes": [],
            "subnetRoutes": [],
            "tags": [],
        },
        {
            "id": "2",
            "ipAddresses": ["fd7a:115c:a1e0::2", "100.64.0.2"],
            "name": "gw-host",
            "user": {"id": "2", "name": "tagged-devices"},
            "givenName": "gw",
            "createdAt": "2026-11-02T10:00:00Z",
            "approvedRoutes": ["192.168.1.0/24"],
            "availableRoutes": ["192.168.1.0/24", "10.9.0.0/16"],
            "tags": ["tag:router"],
        },
        {  # an older server: forcedTags / validTags, no "tags"
            "id": "3",
            "ipAddresses": ["100.64.0.3"],
            "name": "old",
            "user": {"name": "ops"},
            "givenName": "old",
            "forcedTags": ["tag:a"],
            "validTags": ["tag:b", "tag:a"],
        },
    ]
}


def test_tailscale_shape() -> None:
    got = parse_tailscale(TAILSCALE, WHAT)
    assert got[0] == Device(
        name="pangolin",
        hostname="pangolin",
        user=None,
        tags=("tag:golink",),
        ipv4="100.87.74.78",
        ipv6="fd7a:115c:a1e0:ac82:4843:ca90:697d:c36e",
        routable_ips=("10.0.0.0/16", "192.168.1.0/24", "0.0.0.0/0", "::/0"),
        approved_routes=("10.0.0.0/16",),
        created="2022-12-01T05:23:30Z",
        id="92960230385",
    )
    assert got[0].exit_node and got[0].subnet_routes == ("10.0.0.0/16", "192.168.1.0/24")
    assert (got[1].name, got[1].user, got[1].ipv6, got[1].routable_ips) == (
        "Odin's MacBook",
        "odin@example.com",
        "",
        (),
    )


def test_headscale_shape() -> None:
    laptop, gw, old = parse_headscale(HEADSCALE, WHAT)
    assert (laptop.name, laptop.user, laptop.tags, laptop.ipv4, laptop.ipv6) == (
        "laptop",
        "odin@example.com",
        (),
        "100.64.0.1",
        "fd7a:115c:a1e0::1",
    )
    assert (gw.name, gw.hostname, gw.user, gw.tags, gw.ipv4) == (
        "gw",
        "gw-host",
        None,
        ("tag:router",),
        "100.64.0.2",
    )
    assert (gw.routable_ips, gw.approved_routes) == (
        ("192.168.1.0/24", "10.9.0.0/16"),
        ("192.168.1.0/24",),
    )
    assert (old.tags, old.user, old.created) == (("tag:a", "tag:b"), None, "")
    assert parse_headscale({}, WHAT) == []  # grpc-gateway leaves out an empty list


def test_the_file_loads_as_nodes(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text(devices_json_text(parse_headscale(HEADSCALE, WHAT)))
    nodes = load_nodes(path)
    assert [(n.name, n.user, n.tags, n.approved_routes) for n in nodes] == [
        ("laptop", "odin@example.com", (), ()),
        ("gw", None, ("tag:router",), ("192.168.1.0/24",)),
        ("old", None, ("tag:a", "tag:b"), ()),
    ]


def test_shared_in_devices_are_listed_not_declared() -> None:
    from tailcfg.scaffold_hosts import hosts_yaml

    shared = dict(TAILSCALE["devices"][0], isExternal=True, name="friend.other.ts.net", id="5")
    devices = parse_tailscale({"devices": [TAILSCALE["devices"][1], shared]}, WHAT)
    assert [(d.name, d.external) for d in devices] == [("Odin's MacBook", False), ("friend", True)]
    assert devices[1].to_json()["external"] is True and "external" not in devices[0].to_json()
    lines = hosts_yaml(devices)
    assert "  # friend: shared in from another tailnet, not declared" in lines
    assert "  friend:" not in lines and "  odin-s-macbook:" in lines


def test_duplicate_short_names_are_kept_apart() -> None:
    twice = {"devices": [dict(TAILSCALE["devices"][1]), dict(TAILSCALE["devices"][1], id="7")]}
    assert [d.name for d in parse_tailscale(twice, WHAT)] == ["Odin's MacBook", "Odin's MacBook-7"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, f"{WHAT}: answer has no 'devices' list"),
        ([], f"{WHAT}: answer has no 'devices' list"),
        ({"devices": [1]}, f"{WHAT}: answer has no 'devices' list"),
        ({"devices": [{"id": "1"}]}, f"{WHAT}: device 1 has no name"),
        (
            {"devices": [{"name": "a", "addresses": "100.1.1.1"}]},
            f"{WHAT}: device ?: addresses is not a list of strings",
        ),
        (
            {"devices": [{"name": "a", "addresses": ["nope"]}]},
            f"{WHAT}: device a: 'nope' is not an IP address",
        ),
    ],
)
def test_wrong_answers(answer: Any, message: str) -> None:
    with pytest.raises(BackendError) as caught:
        parse_tailscale(answer, WHAT)
    assert str(caught.value) == message


def test_devices_pull_from_the_loopback_api(tmp_path: Path) -> None:
    with serve_tailnet() as api:
        (tmp_path / "tailcfg.yaml").write_text(
            f"tailnet: example.com\ncontrol: {{backend: tailscale, url: {api.url}}}\nhosts: {{}}\n"
        )
        env = cli_env(TAILSCALE_API_KEY=next(iter(api.state.api_keys)))
        done = subprocess.run(
            ["tailcfg", "devices", "pull"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert ("GET", "/api/v2/tailnet/example.com/devices") in api.state.requests
    assert done.returncode == 0, done.stderr
    nodes = json.loads(done.stdout)["nodes"]
    assert [(n["name"], n["user"], n["tags"], n["approved_routes"]) for n in nodes] == [
        ("gw", None, ["tag:router"], ["192.168.7.0/24"]),
        ("odin-laptop", "odin@example.com", [], []),
        ("web", None, ["tag:server"], []),
    ]
