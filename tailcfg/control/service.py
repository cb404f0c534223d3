"""The control plane's operations: registration, device administration, keys, the policy.

``ControlPlane`` joins the store (durable state), the hub (live netmaps) and the policy. Every
method either returns a result or raises ``ControlRequestError`` carrying the HTTP status
that the HTTP layers answer with. It runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nacl.public import PrivateKey

from tailcfg.control import auth, keys
from tailcfg.control import policy as pol
from tailcfg.control.addresses import address_candidates, name_candidates
from tailcfg.control.hub import Hub
from tailcfg.control.model import AuthKey, ControlRequestError, Device, User, iso, utcnow
from tailcfg.control.store import Registration, Store
from tailcfg.errors import SourceError

log = logging.getLogger("tailcfg.control")


@dataclass(frozen=True, slots=True)
class Settings:
    """Server settings (from the CLI's flags)."""

    domain: str = "tailnet.internal"
    ephemeral_timeout: float = 120.0
    keepalive: float = 30.0
    node_key_lifetime: timedelta = timedelta(days=180)
    max_body: int = 1 << 20  # node requests
    max_policy_body: int = 16 << 20  # policy files through the admin APIs


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ControlRequestError(f"{what} must be a list of strings")
    return tuple(value)


class ControlPlane:
    def __init__(self, store: Store, control_key: PrivateKey, settings: Settings) -> None:
        self.store = store
        self.control_key = control_key
        self.settings = settings
        stored = store.policy()
        if stored is None:
            stored = store.put_policy(
                pol.DEFAULT_POLICY, pol.etag_of(pol.DEFAULT_POLICY), now=utcnow()
            )
        self.policy = pol.load(stored.text, users=self._logins())
        self.hub = Hub(
            domain=settings.domain,
            policy=self.policy,
            users=store.users(),
            devices=store.devices(),
            ephemeral_timeout=settings.ephemeral_timeout,
            on_ephemeral_gone=self._ephemeral_gone,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.hub.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # registration ----------------------------------------------------------------------
    def register(self, machine_key: str, request: Any) -> dict[str, Any]:
        """Register or re-register a machine, or rotate its node key (see the protocol doc)."""
        if not isinstance(request, dict):
            raise ControlRequestError("register request must be a JSON object")
        keys.parse_public(machine_key, keys.MACHINE_PREFIX)
        node_key = request.get("NodeKey")
        if not isinstance(node_key, str):
            raise ControlRequestError("NodeKey is required")
        keys.parse_public(node_key, keys.NODE_PREFIX)
        hostname = request.get("Hostname") or "device"
        if not isinstance(hostname, str) or len(hostname) > 255:
            raise ControlRequestError("Hostname must be a string of at most 255 characters")
        requested = _strings(request.get("RequestTags"), "RequestTags")
        routable = _strings(request.get("RoutableIPs"), "RoutableIPs")
        endpoints = _strings(request.get("Endpoints"), "Endpoints")
        existing = self.store.device_by_machine_key(machine_key)
        auth_key = request.get("AuthKey")
        if auth_key:
            if not isinstance(auth_key, str):
                raise ControlRequestError("AuthKey must be a string")
            device = self._register_with_key(
                machine_key, node_key, auth_key, hostname, requested, routable, endpoints
            )
        else:
            device = self._reregister(existing, request, node_key, hostname, routable, endpoints)
        device = self._approve_routes(device)
        self.hub.upsert(device)
        return self.identity(device)

    def _approve_routes(self, device: Device) -> Device:
        """Approved = advertised routes that autoApprovers or an admin approved."""
        if not device.routable_ips and not device.approved_routes:
            return device
        owner = None if device.tags else self.store.user(device.user_id)
        auto = pol.auto_approved(
            self.policy,
            device.routable_ips,
            tags=device.tags,
            login=owner.login if owner else None,
        )
        kept = set(auto) | set(device.approved_routes)
        approved = tuple(r for r in device.routable_ips if r in kept)
        if approved == device.approved_routes:
            return device
        return self.store.update_device(device.id, approved_routes=approved) or device

    def _register_with_key(
        self,
        machine_key: str,
        node_key: str,
        secret_key: str,
        hostname: str,
        requested: tuple[str, ...],
        routable: tuple[str, ...],
        endpoints: tuple[str, ...],
    ) -> Device:
        now = utcnow()
        key = self._check_auth_key(secret_key)
        creator = self.store.user(key.user_id)
        if creator is None:
            raise ControlRequestError("auth key's owner no longer exists", status=401)
        tags = key.tags or requested
        self.check_tags(tags, creator)
        existing = self.store.device_by_machine_key(machine_key)
        lifetime = self.settings.node_key_lifetime
        reg = Registration(
            machine_key=machine_key,
            node_key=node_key,
            key_expiry=None if tags else now + lifetime,
            hostname=hostname,
            tags=tags,
            user_id=creator.id,
            auth_key_id=key.id,
            authorized=key.preauthorized or bool(existing and existing.authorized),
            routable_ips=routable,
            endpoints=endpoints,
            ephemeral=key.ephemeral,
        )
        return self.store.register(
            reg,
            now=now,
            addresses=lambda: address_candidates(machine_key),
            names=lambda: name_candidates(hostname),
        )

    def _check_auth_key(self, text: str) -> AuthKey:
        key_id, secret = auth.split_key(text, auth.AUTH_PREFIX)
        found = self.store.auth_key(key_id)
        if found is None or not auth.secret_matches(secret, found[1]):
            raise ControlRequestError("invalid auth key", status=401)
        reason = found[0].refusal(utcnow())
        if reason is not None:
            raise ControlRequestError(reason, status=401)
        return found[0]

    def _reregister(
        self,
        existing: Device | None,
        request: dict[str, Any],
        node_key: str,
        hostname: str,
        routable: tuple[str, ...],
        endpoints: tuple[str, ...],
    ) -> Device:
        if existing is None:
            raise ControlRequestError("auth key required to register a new machine", status=401)
        now = utcnow()
        if existing.expired(now):
            raise ControlRequestError(
                "node key expired; register again with an auth key", status=401
            )
        old = request.get("OldNodeKey")
        if node_key == existing.node_key:
            fields: dict[str, Any] = {"hostname": hostname, "last_seen": now}
        elif old == existing.node_key:
            expiry = None if existing.tags else now + self.settings.node_key_lifetime
            fields = {"node_key": node_key, "key_expiry": expiry, "hostname": hostname}
        else:
            raise ControlRequestError(
                "node key does not match this machine; send OldNodeKey to rotate", status=403
            )
        fields["routable_ips"] = routable
        if endpoints:
            fields["endpoints"] = endpoints
        device = self.store.update_device(existing.id, **fields)
        if device is None:
            raise ControlRequestError("device was deleted", status=404)
        return device

    def identity(self, device: Device) -> dict[str, Any]:
        owner = self.store.user(device.user_id)
        return {
            "NodeID": device.id,
            "StableID": device.stable_id,
            "Name": f"{device.given_name}.{self.settings.domain}",
            "Addresses": [f"{device.ipv4}/32", f"{device.ipv6}/128"],
            "KeyExpiry": iso(device.key_expiry),
            "MachineAuthorized": device.authorized,
            "NodeKeyExpired": device.expired(utcnow()),
            "Tags": list(device.tags),
            "Ephemeral": device.ephemeral,
            "User": None if owner is None or device.tags else owner.login,
        }

    # node requests after registration --------------------------------------------------
    def node_device(self, machine_key: str, node_key: Any) -> Device:
        """The device of a map or endpoint request; refuses unknown, stale or expired keys."""
        device = self.store.device_by_machine_key(machine_key)
        if device is None:
            raise ControlRequestError("machine is not registered", status=401)
        if node_key != device.node_key:
            raise ControlRequestError("node key does not match the registered one", status=403)
        if device.expired(utcnow()):
            raise ControlRequestError("node key expired", status=401)
        return device

    def update_endpoints(self, device: Device, endpoints: Any) -> None:
        eps = _strings(endpoints, "Endpoints")
        updated = self.store.update_device(device.id, endpoints=eps, last_seen=utcnow())
        if updated is not None:
            self.hub.upsert(updated, topology=False)

    # administration --------------------------------------------------------------------
    def check_tags(self, tags: tuple[str, ...], user: User) -> None:
        bad = [
            t
            for t in tags
            if not pol.may_apply_tag(self.policy, t, login=user.login, is_admin=user.is_admin)
        ]
        if bad:
            raise ControlRequestError(
                f"requested tags {bad} are invalid or not permitted", status=400
            )

    def check_tags_defined(self, tags: tuple[str, ...]) -> None:
        bad = [t for t in tags if t not in self.policy.policy.tag_owners]
        if bad:
            raise ControlRequestError(
                f"requested tags {bad} are invalid or not permitted", status=400
            )

    def mint_auth_key(
        self,
        creator: User,
        *,
        reusable: bool = False,
        ephemeral: bool = False,
        preauthorized: bool = False,
        tags: tuple[str, ...] = (),
        expiry_seconds: int | None = None,
        expires_at: datetime | None = None,
        description: str = "",
        tags_owned: bool = True,
    ) -> tuple[AuthKey, str]:
        """A new auth key and its full secret text (shown once). ``tags_owned``: the creator
        must own the tags (else they need only be defined in tagOwners)."""
        if tags_owned:
            self.check_tags(tags, creator)
        else:
            self.check_tags_defined(tags)
        now = utcnow()
        seconds = 90 * 86400 if expiry_seconds is None else expiry_seconds
        if seconds < 0:
            raise ControlRequestError("expirySeconds must not be negative")
        key_id, secret, full = auth.new_key(auth.AUTH_PREFIX)
        key = AuthKey(
            id=key_id,
            user_id=creator.id,
            description=description,
            tags=tags,
            reusable=reusable,
            ephemeral=ephemeral,
            preauthorized=preauthorized,
            created=now,
            expires=expires_at or (now + timedelta(seconds=seconds) if seconds else None),
            used=False,
            revoked=None,
        )
        self.store.add_auth_key(key, auth.hash_secret(secret))
        log.info("auth key %s minted by %s", key_id, creator.login)
        return key, full

    def require_device(self, device_id: str | int) -> Device:
        try:
            number = int(device_id)
        except (TypeError, ValueError):
            raise ControlRequestError("device not found", status=404) from None
        device = self.store.device(number)
        if device is None:
            raise ControlRequestError("device not found", status=404)
        return device

    def delete_device(self, device_id: str | int) -> None:
        device = self.require_device(device_id)
        self.store.delete_device(device.id)
        self.hub.remove(device.id)
        log.info("device %s deleted", device.id)

    def _ephemeral_gone(self, device_id: int) -> None:
        if self.store.delete_device(device_id):
            log.info("ephemeral device %s removed after disconnecting", device_id)
        self.hub.remove(device_id)

    def update(self, device: Device, **fields: Any) -> Device:
        updated = self.store.update_device(device.id, **fields)
        if updated is None:
            raise ControlRequestError("device not found", status=404)
        self.hub.upsert(updated)
        return updated

    def set_tags(self, device_id: str, tags: tuple[str, ...], actor: User) -> Device:
        device = self.require_device(device_id)
        self.check_tags(tags, actor)
        expiry = None if tags else utcnow() + self.settings.node_key_lifetime
        updated = self.store.update_device(device.id, tags=tags, key_expiry=expiry)
        if updated is None:
            raise ControlRequestError("device not found", status=404)
        return self.update(self._approve_routes(updated))

    def set_routes(self, device_id: str, routes: tuple[str, ...]) -> Device:
        """Approve exactly ``routes`` (each must be advertised by the device)."""
        device = self.require_device(device_id)
        unknown = [r for r in routes if r not in device.routable_ips]
        if unknown:
            raise ControlRequestError(f"routes {unknown} are not advertised by the device")
        return self.update(device, approved_routes=routes)

    def expire(self, device_id: str) -> Device:
        return self.update(self.require_device(device_id), key_expiry=utcnow())

    # policy ----------------------------------------------------------------------------
    def validate_policy(self, text: str) -> pol.LoadedPolicy:
        """Load the policy and run its tests against the current devices."""
        try:
            loaded = pol.load(text, users=self._logins())
        except SourceError as exc:
            raise ControlRequestError(str(exc), status=400) from None
        failures = pol.run_tests(loaded)
        if failures:
            raise TestsFailed(failures)
        return loaded

    def put_policy(self, text: str, *, if_match: str | None = None) -> pol.LoadedPolicy:
        loaded = self.validate_policy(text)
        current = self.store.policy()
        if if_match == "ts-default":
            if current is not None and current.text != pol.DEFAULT_POLICY:
                raise ControlRequestError("precondition failed, invalid old hash", status=412)
            if_match = None
        self.store.put_policy(text, loaded.etag, now=utcnow(), if_match=if_match)
        self.policy = loaded
        for device in self.store.devices():
            approved = self._approve_routes(device)
            if approved is not device:
                self.hub.upsert(approved)
        self.hub.set_policy(loaded)
        log.info("policy updated (etag %s)", loaded.etag[:12])
        return loaded

    def _logins(self) -> tuple[str, ...]:
        return tuple(u.login for u in self.store.users())

    def user_changed(self) -> None:
        self.hub.set_users(self.store.users())


class TestsFailed(ControlRequestError):
    """The policy's tests failed; ``data`` is Tailscale's per-user failure list."""

    __test__ = False

    def __init__(self, data: list[dict[str, Any]]) -> None:
        self.data = data
        super().__init__("test(s) failed", status=400)
