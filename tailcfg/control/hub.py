"""The netmap hub: keeps the devices and the compiled policy, and feeds every map stream.

Mutations (``upsert``, ``remove``, ``set_policy``) only mark what changed and wake the pump;
the pump recompiles the policy (in a worker thread, once per burst of changes) and puts, for
each subscription, the difference between what that stream was last sent and the new state
on its queue: new or changed peers, removed peer IDs, a new packet filter or SSH policy.
A queue receives ``None`` when its device is deleted. Runs entirely on one event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tailcfg.control.model import Device, User, utcnow
from tailcfg.control.netmap import encode, full_map, node_wire, policy_node
from tailcfg.control.policy import LoadedPolicy, NodePolicy, compile_for

log = logging.getLogger("tailcfg.control")
Message = dict[str, Any]
FULL_MAP: Message = {"FullMap": True}  # a marker, compared by identity


@dataclass(eq=False)
class Subscription:
    """One map stream: its queue and what it was last sent."""

    device_id: int
    # messages; FULL_MAP asks for the full map (built when sent); None ends the stream
    queue: asyncio.Queue[Message | None] = field(default_factory=asyncio.Queue)
    peers: frozenset[str] = frozenset()
    packet_filter: list[dict[str, Any]] | None = None
    ssh_policy: dict[str, Any] | None = None
    # pending changes already in the full map: device id -> its change count then
    seen: dict[int, int] = field(default_factory=dict)


class Hub:
    def __init__(
        self,
        *,
        domain: str,
        policy: LoadedPolicy,
        users: Iterable[User],
        devices: Iterable[Device],
        ephemeral_timeout: float,
        on_ephemeral_gone: Callable[[int], None],
        tick: float = 0.5,
        full_map_concurrency: int = 8,
    ) -> None:
        self.domain = domain
        self._policy = policy
        self._users = {u.id: u for u in users}
        self._devices: dict[int, Device] = {d.id: d for d in devices}
        self._by_name = {d.given_name: d.id for d in self._devices.values()}
        self._wire: dict[int, Message] = {}
        self._json: dict[int, bytes] = {}
        self._compiled: dict[str, NodePolicy] = {}
        self._subs: dict[int, list[Subscription]] = {}
        self._changed: set[int] = set()
        self._versions: dict[int, int] = {}
        Sets = frozenset[str]
        self._diffs: dict[tuple[int, int], tuple[Sets, Sets, Sets, Sets]] = {}
        self._removed: dict[str, int] = {}
        self._need_compile = True
        self._wake = asyncio.Event()
        self._compile_lock = asyncio.Lock()
        self.full_map_gate = asyncio.Semaphore(full_map_concurrency)
        self._ephemeral_timeout = ephemeral_timeout
        self._on_ephemeral_gone = on_ephemeral_gone
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tick = tick
        self._last_tick = utcnow()
        self.rounds = 0

    # state changes ---------------------------------------------------------------------
    def upsert(self, device: Device, *, topology: bool = True) -> None:
        """A device was added or changed; ``topology`` when the policy must be recompiled."""
        old = self._devices.get(device.id)
        if old is not None and old.given_name != device.given_name:
            self._by_name.pop(old.given_name, None)
        self._devices[device.id] = device
        self._by_name[device.given_name] = device.id
        self._forget(device.id)
        self._changed.add(device.id)
        self._versions[device.id] = self._versions.get(device.id, 0) + 1
        self._need_compile = self._need_compile or topology
        self._wake.set()

    def remove(self, device_id: int) -> None:
        device = self._devices.pop(device_id, None)
        if device is None:
            return
        self._by_name.pop(device.given_name, None)
        self._forget(device_id)
        self._removed[device.given_name] = device_id
        self._versions.pop(device_id, None)
        self._cancel_timer(device_id)
        self._need_compile = True
        self._wake.set()

    def set_policy(self, policy: LoadedPolicy) -> None:
        self._policy = policy
        self._need_compile = True
        self._wake.set()

    def set_users(self, users: Iterable[User]) -> None:
        self._users = {u.id: u for u in users}

    def device(self, device_id: int) -> Device | None:
        return self._devices.get(device_id)

    def online(self, device_id: int) -> bool:
        return bool(self._subs.get(device_id))

    # subscriptions ---------------------------------------------------------------------
    async def subscribe(self, device_id: int) -> Subscription:
        """A new stream; its queue starts with the full map."""
        device = self._devices.get(device_id)
        if device is None:
            raise KeyError(device_id)
        async with self._compile_lock:  # a compile under way includes this device
            pass
        if self._need_compile:
            await self._compile()
        sub = Subscription(device_id)
        sub.seen = {i: self._versions.get(i, 0) for i in self._changed}
        self._subs.setdefault(device_id, []).append(sub)
        self._cancel_timer(device_id)
        node = self._compiled.get(device.given_name) if self._visible(device) else None
        sub.peers = node.peers if node else frozenset()
        sub.packet_filter = node.packet_filter if node else []
        sub.ssh_policy = node.ssh_policy if node else {"rules": []}
        sub.queue.put_nowait(FULL_MAP)
        return sub

    def full_map(self, sub: Subscription) -> bytes | None:
        """The full map of ``sub`` as JSON bytes, from the state recorded at subscription.

        Built when it is sent: peers changed since then are already current here and come
        again as updates, which a node applies idempotently.
        """
        device = self._devices.get(sub.device_id)
        if device is None:  # deleted meanwhile: the stream is about to end
            return None
        own = device.given_name
        names = sorted(n for n in sub.peers if n != own and n in self._by_name)
        return full_map(
            self._wire_of(device.id),
            [self._json_of(self._by_name[n]) for n in names],
            packet_filter=sub.packet_filter or [],
            ssh_policy=sub.ssh_policy or {"rules": []},
            domain=self.domain,
            users=self._users.values(),
        )

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.device_id, [])
        if sub in subs:
            subs.remove(sub)
        if subs:
            return
        self._subs.pop(sub.device_id, None)
        device = self._devices.get(sub.device_id)
        if device is not None and device.ephemeral:
            self._schedule_ephemeral(device.id)

    def _schedule_ephemeral(self, device_id: int) -> None:
        self._cancel_timer(device_id)
        loop = asyncio.get_running_loop()
        self._timers[device_id] = loop.call_later(
            self._ephemeral_timeout, self._ephemeral_gone, device_id
        )

    def _ephemeral_gone(self, device_id: int) -> None:
        self._timers.pop(device_id, None)
        if not self._subs.get(device_id) and device_id in self._devices:
            self._on_ephemeral_gone(device_id)

    def _cancel_timer(self, device_id: int) -> None:
        timer = self._timers.pop(device_id, None)
        if timer is not None:
            timer.cancel()

    # the pump --------------------------------------------------------------------------
    async def run(self) -> None:
        """Push changes until cancelled; also notices node keys that expire."""
        for device in self._devices.values():
            if device.ephemeral and not self._subs.get(device.id):
                self._schedule_ephemeral(device.id)
        watcher = asyncio.create_task(self._watch_expiry())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                try:
                    await self.push_round()
                except Exception:
                    log.exception("netmap round failed")
        finally:
            watcher.cancel()
            for timer in self._timers.values():
                timer.cancel()
            for subs in self._subs.values():
                for sub in subs:
                    sub.queue.put_nowait(None)

    async def _watch_expiry(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            now = utcnow()
            for device in self._devices.values():
                expiry = device.key_expiry
                if expiry is not None and self._last_tick < expiry <= now:
                    self._changed.add(device.id)
                    self._forget(device.id)
                    self._need_compile = True
                    self._wake.set()
            self._last_tick = now

    async def _compile(self) -> None:
        async with self._compile_lock:
            if not self._need_compile:  # another caller compiled while we waited
                return
            self._need_compile = False
            now = utcnow()
            nodes = [
                policy_node(d, self._users) for d in self._devices.values() if self._visible(d, now)
            ]
            try:
                self._compiled = await asyncio.to_thread(compile_for, self._policy, nodes)
            except Exception:
                log.exception("policy compilation failed; keeping the previous netmaps")

    async def push_round(self) -> None:
        changed, removed = self._changed, self._removed
        self._changed, self._removed = set(), {}
        if self._need_compile:
            await self._compile()
        self._prune()
        self.rounds += 1
        changed_names = frozenset(
            self._devices[i].given_name for i in changed if i in self._devices
        )
        now = utcnow()
        self._diffs = {}
        for subs in list(self._subs.values()):
            for sub in subs:
                self._push(sub, changed, changed_names, removed, now)
        self._diffs = {}

    def _push(
        self,
        sub: Subscription,
        changed: set[int],
        changed_names: frozenset[str],
        removed: Mapping[str, int],
        now: datetime,
    ) -> None:
        device = self._devices.get(sub.device_id)
        if device is None:
            sub.queue.put_nowait(None)
            return
        node = self._compiled.get(device.given_name) if self._visible(device, now) else None
        peers = node.peers if node else frozenset()
        message: Message = {}
        if sub.seen:  # the full map already had these versions
            changed = {i for i in changed if sub.seen.get(i) != self._versions.get(i)}
            changed_names = frozenset(
                self._devices[i].given_name for i in changed if i in self._devices
            )
            sub.seen = {}
        if device.id in changed:
            message["Node"] = self._wire_of(device.id)
        own = {device.given_name}
        added: frozenset[str] = frozenset()
        gone: frozenset[str] = frozenset()
        if peers is not sub.peers:  # the same shared set: only changed peers matter
            added, gone = self._diff(sub.peers, peers)
            added, gone = added - own, gone - own
        updated = (changed_names & peers) - added - own
        replaced = removed.keys() & peers
        if added or updated:
            names = sorted(n for n in added | updated if n in self._by_name)
            message["PeersChanged"] = [self._wire_of(self._by_name[n]) for n in names]
        if gone or replaced:
            ids = {self._by_name.get(n) or removed.get(n) for n in gone}
            ids.update(removed[n] for n in replaced if removed[n] != self._by_name.get(n))
            ids.discard(None)
            if ids:
                message["PeersRemoved"] = sorted(i for i in ids if i is not None)
        packet_filter = node.packet_filter if node else []
        if packet_filter != sub.packet_filter:
            message["PacketFilter"] = packet_filter
        ssh_policy = node.ssh_policy if node else {"rules": []}
        if ssh_policy != sub.ssh_policy:
            message["SSHPolicy"] = ssh_policy
        sub.peers, sub.packet_filter, sub.ssh_policy = peers, packet_filter, ssh_policy
        if message:
            sub.queue.put_nowait(message)

    def _diff(
        self, old: frozenset[str], new: frozenset[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(new - old, old - new), once per pair of shared sets in a round."""
        key = (id(old), id(new))
        hit = self._diffs.get(key)
        if hit is None:  # the value keeps both sets alive, so their ids stay theirs
            hit = self._diffs[key] = (old, new, new - old, old - new)
        return hit[2], hit[3]

    def _prune(self) -> None:
        """Drop from the compiled peers the devices removed while compiling (rare)."""
        stale = self._compiled.keys() - self._by_name.keys()
        if not stale:
            return
        # keyed by identity; the value holds the original so that its id stays unique
        pruned: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        for name, node in list(self._compiled.items()):
            if name in stale:
                del self._compiled[name]
                continue
            entry = pruned.get(id(node.peers))
            if entry is None:
                entry = pruned[id(node.peers)] = (node.peers, node.peers - stale)
            self._compiled[name] = NodePolicy(node.packet_filter, node.ssh_policy, entry[1])

    def _visible(self, device: Device, now: datetime | None = None) -> bool:
        return device.authorized and not device.expired(now or utcnow())

    def _forget(self, device_id: int) -> None:
        self._wire.pop(device_id, None)
        self._json.pop(device_id, None)

    def _json_of(self, device_id: int) -> bytes:
        data = self._json.get(device_id)
        if data is None:
            data = self._json[device_id] = encode(self._wire_of(device_id))
        return data

    def _wire_of(self, device_id: int) -> Message:
        wire = self._wire.get(device_id)
        if wire is None:
            device = self._devices[device_id]
            wire = node_wire(device, domain=self.domain, now_expired=device.expired(utcnow()))
            self._wire[device_id] = wire
        return wire
