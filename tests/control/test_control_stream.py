"""Netmap streams over real HTTP: full map, then joins, deletions, endpoints, policy, expiry."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from control_helpers import Member, api, mint, run

from tailcfg.control.model import ControlRequestError
from tailcfg.control.server import RunningControl, running_control
from tailcfg.control.service import Settings

Scenario = Callable[[httpx.AsyncClient, list[Member]], Awaitable[Any]]


@contextlib.asynccontextmanager
async def members(ctl: RunningControl, names: list[str], **key: Any) -> AsyncIterator[list[Member]]:
    out = [Member(ctl.url, n) for n in names]
    try:
        async with api(ctl) as admin:
            auth = await mint(admin, reusable=True, preauthorized=True, **key)
        for m in out:
            await m.join(auth)
        yield out
    finally:
        for m in out:
            await m.close()


def _names(peers: list[dict[str, Any]]) -> list[str]:
    return sorted(p["Name"] for p in peers)


def test_full_map_then_join_then_deletion(control: RunningControl) -> None:
    async def scenario() -> None:
        async with members(control, ["a", "b"]) as (a, b), api(control) as admin:
            full = await a.start()
            assert full["Node"]["Name"] == "a.tailnet.internal."
            assert _names(full["Peers"]) == ["b.tailnet.internal."]
            assert full["DNSConfig"] == {
                "Domains": ["tailnet.internal"],
                "Proxied": True,
                "Resolvers": [],
                "Routes": {},
            }
            peer = full["Peers"][0]
            assert peer["Key"] == b.node_key
            assert peer["AllowedIPs"] == peer["Addresses"] == b.identity["Addresses"]
            await b.start()
            async with members(control, ["c"]) as (c,):
                joined = await a.wait_for("PeersChanged")
                assert _names(joined["PeersChanged"]) == ["c.tailnet.internal."]  # only c
                await b.wait_for("PeersChanged")
                await c.start()
                deleted = await admin.delete(f"/api/v2/device/{c.id}")
                assert deleted.status_code == 200
                for peer_member in (a, b):
                    removed = await peer_member.wait_for("PeersRemoved")
                    assert removed["PeersRemoved"] == [c.id]
                assert await c.next() is None  # the deleted device's own stream ends

    run(scenario())


def test_endpoint_update_reaches_peers(control: RunningControl) -> None:
    async def scenario() -> None:
        async with members(control, ["a", "b"]) as (a, b):
            await a.start()
            await b.client.update_endpoints(b.node_key, ["192.0.2.7:41641"])
            changed = await a.wait_until(
                lambda m: any(p["Endpoints"] for p in m.get("PeersChanged", ()))
            )
            assert [p["Endpoints"] for p in changed["PeersChanged"]] == [["192.0.2.7:41641"]]

    run(scenario())


def test_policy_change_pushes_new_filter(control: RunningControl) -> None:
    policy = """{
  "groups": {"group:admins": ["odin@example.com"]},
  "tagOwners": {"tag:server": ["group:admins"]},
  "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["tag:server:22"]}],
}
"""

    async def scenario() -> None:
        async with (
            members(control, ["srv"], tags=["tag:server"]) as (srv,),
            members(control, ["lap"]) as (lap,),
            api(control) as admin,
        ):
            await srv.start()
            await lap.start()
            etag = (await admin.get("/api/v2/tailnet/-/acl")).headers["etag"]
            response = await admin.post(
                "/api/v2/tailnet/-/acl",
                content=policy,
                headers={"If-Match": etag, "Content-Type": "application/hujson"},
            )
            assert response.status_code == 200, response.text
            update = await srv.wait_for("PacketFilter")
            lap_ips = [a.split("/")[0] for a in lap.identity["Addresses"]]
            srv_ips = [a.split("/")[0] for a in srv.identity["Addresses"]]
            assert update["PacketFilter"] == [
                {
                    "SrcIPs": lap_ips,
                    "DstPorts": [{"IP": ip, "Ports": {"First": 22, "Last": 22}} for ip in srv_ips],
                }
            ]
            lap_update = await lap.wait_for("PacketFilter")
            assert lap_update["PacketFilter"] == []

    run(scenario())


def test_expired_device_is_dropped_from_peer_maps(control: RunningControl) -> None:
    async def scenario() -> None:
        async with members(control, ["a", "b"]) as (a, b), api(control) as admin:
            await a.start()
            response = await admin.post(f"/api/v2/device/{b.id}/expire")
            assert response.status_code == 200
            removed = await a.wait_for("PeersRemoved")
            assert removed["PeersRemoved"] == [b.id]
            device = (await admin.get(f"/api/v2/device/{b.id}")).json()
            assert device["expired"] is True

    run(scenario())


def test_unauthorized_device_appears_once_authorized(control: RunningControl) -> None:
    async def scenario() -> None:
        async with members(control, ["a"]) as (a,), api(control) as admin:
            await a.start()
            pending = Member(control.url, "pending")
            try:
                await pending.join(await mint(admin, preauthorized=False))
                assert pending.identity["MachineAuthorized"] is False
                full = await pending.start()
                assert full["Peers"] == []
                response = await admin.post(
                    f"/api/v2/device/{pending.id}/authorized", json={"authorized": True}
                )
                assert response.status_code == 200
                added = await a.wait_for("PeersChanged")
                assert _names(added["PeersChanged"]) == ["pending.tailnet.internal."]
                own = await pending.wait_for("PeersChanged")
                assert _names(own["PeersChanged"]) == ["a.tailnet.internal."]
            finally:
                await pending.close()

    run(scenario())


def test_ephemeral_device_removed_after_disconnect(control: RunningControl) -> None:
    async def scenario() -> list[str]:
        async with members(control, ["keep"]) as (keep,), api(control) as admin:
            await keep.start()
            async with members(control, ["eph"], ephemeral=True) as (eph,):
                await eph.start()
                await keep.wait_for("PeersChanged")
            removed = await keep.wait_for("PeersRemoved")  # timeout 0.5 s in the fixture
            assert removed["PeersRemoved"] == [eph.id]
            devices = (await admin.get("/api/v2/tailnet/-/devices")).json()["devices"]
            return [d["hostname"] for d in devices]

    assert run(scenario()) == ["keep"]


def test_node_key_expiry_drops_the_device_by_itself(state_dir: Path, policy_file: Path) -> None:
    settings = Settings(keepalive=5.0, node_key_lifetime=timedelta(seconds=2))

    async def scenario(ctl: RunningControl) -> None:
        async with members(ctl, ["server"], tags=["tag:server"]) as (server,):
            await server.start()
            async with members(ctl, ["laptop"]) as (laptop,):
                assert laptop.identity["KeyExpiry"] is not None
                await server.wait_for("PeersChanged")
                removed = await server.wait_for("PeersRemoved")  # after ~2 s, unprompted
                assert removed["PeersRemoved"] == [laptop.id]
                try:
                    await laptop.client.register(laptop.node_key, hostname="laptop")
                except ControlRequestError as exc:
                    assert (str(exc), exc.status) == (
                        "node key expired; register again with an auth key",
                        401,
                    )
                else:
                    raise AssertionError("an expired node re-registered without a key")

    with running_control(state_dir, policy_file, settings=settings) as ctl:
        run(scenario(ctl))


ROUTER_POLICY = """{
  "groups": {"group:admins": ["odin@example.com"]},
  "tagOwners": {"tag:router": ["group:admins"]},
  "autoApprovers": {"routes": {"192.168.0.0/16": ["tag:router"]}},
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
}
"""


def test_routes_auto_approved_and_by_admin(state_dir: Path, tmp_path: Path) -> None:
    policy = tmp_path / "router.hujson"
    policy.write_text(ROUTER_POLICY, encoding="utf-8")

    async def scenario(ctl: RunningControl) -> None:
        async with members(ctl, ["lap"]) as (lap,), api(ctl) as admin:
            await lap.start()
            async with members(ctl, ["gw"], tags=["tag:router"]) as (gw,):
                routes = ["192.168.1.0/24", "10.9.0.0/16"]
                await gw.client.register(gw.node_key, hostname="gw", routable_ips=routes)
                seen = await lap.wait_until(
                    lambda m: any(
                        "192.168.1.0/24" in p["AllowedIPs"] for p in m.get("PeersChanged", ())
                    )
                )
                (peer,) = seen["PeersChanged"]
                assert peer["AllowedIPs"] == [*gw.identity["Addresses"], "192.168.1.0/24"]
                path = f"/api/v2/device/{gw.id}/routes"
                assert (await admin.get(path)).json() == {
                    "advertisedRoutes": routes,
                    "enabledRoutes": ["192.168.1.0/24"],
                }
                refused = await admin.post(path, json={"routes": ["172.16.0.0/12"]})
                assert (refused.status_code, refused.json()) == (
                    400,
                    {"message": "routes ['172.16.0.0/12'] are not advertised by the device"},
                )
                approved = await admin.post(path, json={"routes": routes})
                assert approved.json()["enabledRoutes"] == routes
                more = await lap.wait_until(
                    lambda m: any(
                        "10.9.0.0/16" in p["AllowedIPs"] for p in m.get("PeersChanged", ())
                    )
                )
                assert more["PeersChanged"][0]["PrimaryRoutes"] == routes

    with running_control(state_dir, policy) as ctl:
        run(scenario(ctl))
