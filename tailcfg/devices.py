"""The tailnet's live devices, as the ``--nodes`` file of the policy commands holds them.

* Tailscale API v2 (and the embedded plane, which speaks it):
  ``GET /api/v2/tailnet/{tailnet}/devices?fields=all`` -> ``{"devices": [{"id", "name"
  (the MagicDNS FQDN), "hostname", "addresses": [v4, v6], "user" (login), "tags",
  "advertisedRoutes", "enabledRoutes", "created", ...}]}``; OAuth scope ``devices:core``.
* Headscale v1: ``GET /api/v1/node`` -> ``{"nodes": [{"id", "name" (the hostname),
  "givenName", "user": {"name", "email", ...}, "ipAddresses", "tags" (v0.27+; older
  servers: "forcedTags" / "validTags"), "approvedRoutes", "availableRoutes", "createdAt",
  ...}]}``.

Each device becomes one node record (:data:`NODE_FIELDS`): ``name`` (the short MagicDNS
name), ``hostname``, ``user`` (owner login; null for a tagged device, which belongs to its
tags), ``tags``, ``ipv4``, ``ipv6``, ``routable_ips`` (advertised), ``approved_routes``,
``created``, ``id``. ``policy test/compile/explain/diff --nodes`` read that file directly.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from tailcfg.apiclient import Credentials, HeadscaleApi, Injected, TailscaleApi, open_api
from tailcfg.errors import BackendError
from tailcfg.inventory import ControlConfig

NODE_FIELDS = (
    "name",
    "hostname",
    "user",
    "tags",
    "ipv4",
    "ipv6",
    "routable_ips",
    "approved_routes",
    "created",
    "id",
)
EXIT_ROUTES = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True, slots=True)
class Device:
    """One live device (what the ``--nodes`` file and ``init --from`` need of it)."""

    name: str
    hostname: str
    user: str | None
    tags: tuple[str, ...]
    ipv4: str
    ipv6: str
    routable_ips: tuple[str, ...]
    approved_routes: tuple[str, ...]
    created: str
    id: str
    external: bool = False  # shared in from another tailnet (Tailscale's isExternal)

    @property
    def exit_node(self) -> bool:
        """Advertises both default routes."""
        return set(self.routable_ips) >= EXIT_ROUTES

    @property
    def subnet_routes(self) -> tuple[str, ...]:
        """Advertised routes other than the default routes of an exit node."""
        return tuple(r for r in self.routable_ips if r not in EXIT_ROUTES)

    def to_json(self) -> dict[str, Any]:
        extra = {"external": True} if self.external else {}
        return {
            "name": self.name,
            "hostname": self.hostname,
            "user": self.user,
            "tags": list(self.tags),
            "ipv4": self.ipv4,
            "ipv6": self.ipv6,
            "routable_ips": list(self.routable_ips),
            "approved_routes": list(self.approved_routes),
            "created": self.created,
            "id": self.id,
            **extra,
        }


class TailscaleDevices(TailscaleApi):
    """``GET /api/v2/tailnet/{tailnet}/devices?fields=all``."""

    resource = "devices"
    scope = "devices:core"
    timeout = 30.0

    def list(self) -> list[Device]:
        answer = self._http.request("GET", self._path, params={"fields": "all"})
        what = self._http.what("GET", self._path)
        return parse_tailscale(answer, what)


class HeadscaleNodes(HeadscaleApi):
    """``GET /api/v1/node``."""

    def list(self) -> list[Device]:
        answer = self._http.request("GET", "/api/v1/node")
        return parse_headscale(answer, self._http.what("GET", "/api/v1/node"))


def open_devices_client(
    control: ControlConfig, *, tailnet: str, credentials: Credentials, **injected: Unpack[Injected]
) -> TailscaleDevices | HeadscaleNodes:
    return open_api(
        control,
        TailscaleDevices,
        HeadscaleNodes,
        tailnet=tailnet,
        credentials=credentials,
        **injected,
    )


def fetch_devices(
    control: ControlConfig, *, tailnet: str, credentials: Credentials, **injected: Unpack[Injected]
) -> list[Device]:
    """The live devices of the ``control`` server, sorted by name."""
    with open_devices_client(
        control, tailnet=tailnet, credentials=credentials, **injected
    ) as client:
        return sorted(client.list(), key=lambda d: (d.name, d.id))


def devices_json_text(devices: Sequence[Device]) -> str:
    """The ``--nodes`` file: ``{"nodes": [...]}``, one device per element, stable order."""
    body = {"nodes": [d.to_json() for d in devices]}
    return json.dumps(body, indent=2) + "\n"


# --- wire shapes -----------------------------------------------------------------------------


def parse_tailscale(answer: Any, what: str) -> list[Device]:
    items = _list_of(answer, "devices", what)
    return _unique([_tailscale_device(item, what) for item in items])


def parse_headscale(answer: Any, what: str) -> list[Device]:
    items = _list_of(answer, "nodes", what)
    return _unique([_headscale_device(item, what) for item in items])


def _list_of(answer: Any, key: str, what: str) -> list[Mapping[str, Any]]:
    items = answer.get(key) if isinstance(answer, dict) else None
    if items is None and isinstance(answer, dict) and not answer:
        return []  # grpc-gateway omits an empty list
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BackendError(f"{what}: answer has no {key!r} list")
    return items


def _strings(item: Mapping[str, Any], key: str, what: str) -> tuple[str, ...]:
    value = item.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BackendError(f"{what}: device {item.get('id', '?')}: {key} is not a list of strings")
    return tuple(value)


def _string(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _split_addresses(addresses: Sequence[str], what: str, ident: str) -> tuple[str, str]:
    ipv4 = ipv6 = ""
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("/")[0])
        except ValueError:
            raise BackendError(f"{what}: device {ident}: {text!r} is not an IP address") from None
        if address.version == 4 and not ipv4:
            ipv4 = str(address)
        elif address.version == 6 and not ipv6:
            ipv6 = str(address)
    return ipv4, ipv6


def _short_name(name: str) -> str:
    """``laptop.tail1234.ts.net`` -> ``laptop`` (the name policies and tests use)."""
    return name.rstrip(".").split(".")[0]


def _tailscale_device(item: Mapping[str, Any], what: str) -> Device:
    ident = _string(item, "id") or _string(item, "nodeId")
    full = _string(item, "name")
    hostname = _string(item, "hostname")
    name = _short_name(full) or hostname
    if not name:
        raise BackendError(f"{what}: device {ident or '?'} has no name")
    ipv4, ipv6 = _split_addresses(_strings(item, "addresses", what), what, name)
    tags = _strings(item, "tags", what)
    user = _string(item, "user") or None
    return Device(
        name=name,
        hostname=hostname or name,
        user=None if tags else user,
        tags=tags,
        ipv4=ipv4,
        ipv6=ipv6,
        routable_ips=_strings(item, "advertisedRoutes", what),
        approved_routes=_strings(item, "enabledRoutes", what),
        created=_string(item, "created"),
        id=ident,
        external=item.get("isExternal") is True,
    )


def _headscale_user(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("email", "name"):
            login = value.get(key)
            if isinstance(login, str) and login:
                return login
    return None


def _headscale_tags(item: Mapping[str, Any], what: str) -> tuple[str, ...]:
    if "tags" in item:
        return _strings(item, "tags", what)
    merged = _strings(item, "forcedTags", what) + _strings(item, "validTags", what)
    return tuple(dict.fromkeys(merged))


def _headscale_device(item: Mapping[str, Any], what: str) -> Device:
    ident = _string(item, "id")
    hostname = _string(item, "name")
    name = _string(item, "givenName") or hostname
    if not name:
        raise BackendError(f"{what}: node {ident or '?'} has no name")
    ipv4, ipv6 = _split_addresses(_strings(item, "ipAddresses", what), what, name)
    tags = _headscale_tags(item, what)
    return Device(
        name=name,
        hostname=hostname or name,
        user=None if tags else _headscale_user(item.get("user")),
        tags=tags,
        ipv4=ipv4,
        ipv6=ipv6,
        routable_ips=_strings(item, "availableRoutes", what),
        approved_routes=_strings(item, "approvedRoutes", what),
        created=_string(item, "createdAt"),
        id=ident,
    )


def _unique(devices: list[Device]) -> list[Device]:
    """Two devices with one short name (``laptop``, ``laptop-1`` is the server's fix) are kept
    apart by suffixing the later one's id, so the ``--nodes`` file stays loadable."""
    seen: set[str] = set()
    out: list[Device] = []
    for device in devices:
        name = device.name
        if name in seen:
            name = f"{name}-{device.id or len(out)}"
        seen.add(name)
        out.append(device if name == device.name else _renamed(device, name))
    return out


def _renamed(device: Device, name: str) -> Device:
    return Device(
        name,
        device.hostname,
        device.user,
        device.tags,
        device.ipv4,
        device.ipv6,
        device.routable_ips,
        device.approved_routes,
        device.created,
        device.id,
        device.external,
    )
