"""A WireGuard protocol engine: datagrams in, datagrams and plaintext packets out.

No sockets and no clock reads of its own: the device feeds it received datagrams and
outgoing packets, and calls :meth:`WireGuard.tick` for the timers; ``clock`` (monotonic
seconds) and ``wall_clock`` (Unix seconds, for TAI64N) are injectable so that rekeying,
expiry and keepalives can be tested without waiting.

    engine = WireGuard(private_key)
    engine.add_peer(peer_public_key)
    datagrams = engine.send(peer_public_key, ip_packet)    # initiation first, data queued
    result = engine.receive(datagram, ("127.0.0.1", 51820))  # Received(...)
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tailcfg.node import noise
from tailcfg.node.crypto import AuthenticationError, mac, parse_key, tai64n
from tailcfg.node.noise import ZERO_PSK, Identity, InitiatorHandshake
from tailcfg.node.session import (
    COOKIE_REFRESH_TIME,
    HANDSHAKE_INITIATION_RATE,
    KEEPALIVE_TIMEOUT,
    REJECT_AFTER_MESSAGES,
    REJECT_AFTER_TIME,
    REKEY_ATTEMPT_TIME,
    REKEY_TIMEOUT,
    Keypair,
    Session,
)

Address = tuple[str, int]


@dataclass
class Received:
    """The outcome of one datagram: who sent it, the inner packet, datagrams to send back."""

    event: str
    peer: bytes | None = None
    packet: bytes | None = None
    replies: list[bytes] = field(default_factory=list)
    reason: str = ""


def _dropped(reason: str, peer: bytes | None = None) -> Received:
    return Received("dropped", peer=peer, reason=reason)


def inner_length(packet: bytes) -> int | None:
    """The IP packet's own length (padding follows it), or None when it is not IP."""
    if len(packet) >= 20 and packet[0] >> 4 == 4:
        total = int.from_bytes(packet[2:4], "big")
        return total if 20 <= total <= len(packet) else None
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        total = 40 + int.from_bytes(packet[4:6], "big")
        return total if total <= len(packet) else None
    return None


class WireGuard:
    """One local static identity and the sessions with its peers."""

    def __init__(
        self,
        private_key: str | bytes,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.identity = Identity.from_private(parse_key(private_key))
        self.clock = clock
        self.wall_clock = wall_clock
        self.under_load = False  # force cookie replies (tests, or a caller's own load signal)
        self.load_threshold = 512  # handshake messages per second that mean "under load"
        self._recent_handshakes: deque[float] = deque()
        self._load_until = float("-inf")
        self.handshakes = 0
        self._sessions: dict[bytes, Session] = {}
        self._index: dict[int, tuple[Session, Keypair | InitiatorHandshake]] = {}
        self._cookie_secret = os.urandom(32)
        self._cookie_secret_born = clock()

    @property
    def public_key(self) -> bytes:
        return self.identity.public

    # --- peers ------------------------------------------------------------------------

    def add_peer(self, public_key: str | bytes, psk: bytes = ZERO_PSK) -> Session:
        key = parse_key(public_key)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = Session(key, psk)
        session.psk = psk
        return session

    def remove_peer(self, public_key: str | bytes) -> None:
        session = self._sessions.pop(parse_key(public_key), None)
        if session is not None:
            self._forget(session.zero())
            self._forget_handshake(session)

    def session(self, public_key: bytes) -> Session | None:
        return self._sessions.get(public_key)

    def peers(self) -> list[bytes]:
        return list(self._sessions)

    # --- sending ----------------------------------------------------------------------

    def send(self, public_key: bytes, packet: bytes) -> list[bytes]:
        """Datagrams for the peer: the encrypted packet, or an initiation (packet queued)."""
        session = self._sessions[public_key]
        now = self.clock()
        kp = session.sending_keypair(now)
        if kp is None:
            session.enqueue(packet)
            init = self.initiate(public_key)
            return [init] if init is not None else []
        out = [kp.seal(packet)]
        session.on_sent(data=bool(packet), now=now)
        if kp.needs_rekey(now):
            init = self.initiate(public_key)
            out += [init] if init is not None else []
        return out

    def initiate(self, public_key: bytes, *, retry: bool = False) -> bytes | None:
        """A handshake initiation, or None while the last one is under REKEY_TIMEOUT old."""
        session = self._sessions[public_key]
        now = self.clock()
        if not retry and now - session.last_handshake_sent < REKEY_TIMEOUT:
            return None
        self._forget_handshake(session)
        index = self._new_index()
        body, state = noise.create_initiation(
            self.identity,
            session.remote_static,
            index,
            tai64n(self.wall_clock()),
            psk=session.psk,
        )
        session.handshake = state
        self._index[index] = (session, state)
        message = noise.add_macs(body, session.mac1_key, session.valid_cookie(now))
        session.last_mac1_sent = message[-32:-16]
        session.on_initiation_sent(now, retry=retry)
        return message

    def _flush(self, session: Session, now: float) -> list[bytes]:
        kp = session.sending_keypair(now)
        if kp is None:
            return []
        out = [kp.seal(packet) for packet in session.queue]
        if out:
            session.on_sent(data=True, now=now)
        session.queue.clear()
        return out

    # --- receiving --------------------------------------------------------------------

    def receive(self, datagram: bytes, source: Address) -> Received:
        if len(datagram) < 4 or datagram[1:4] != b"\x00\x00\x00":
            return _dropped("malformed")
        kind = datagram[0]
        try:
            if kind == noise.MSG_TRANSPORT and len(datagram) >= noise.TRANSPORT_MIN_SIZE:
                return self._receive_transport(datagram)
            if kind == noise.MSG_INITIATION and len(datagram) == noise.INITIATION_SIZE:
                return self._receive_initiation(datagram, source)
            if kind == noise.MSG_RESPONSE and len(datagram) == noise.RESPONSE_SIZE:
                return self._receive_response(datagram, source)
            if kind == noise.MSG_COOKIE_REPLY and len(datagram) == noise.COOKIE_REPLY_SIZE:
                return self._receive_cookie(datagram)
        except AuthenticationError as exc:
            return _dropped(f"auth: {exc}")
        return _dropped("malformed")

    def _receive_transport(self, datagram: bytes) -> Received:
        receiver, counter = struct.unpack_from("<IQ", datagram, 4)
        session, kp = self._index.get(receiver, (None, None))
        if session is None or not isinstance(kp, Keypair):
            return _dropped("unknown-index")
        now = self.clock()
        if not kp.can_receive(now) or counter >= REJECT_AFTER_MESSAGES:
            return _dropped("expired", session.remote_static)
        plain = kp.open(counter, datagram[16:])
        if not kp.replay.accept(counter):
            return _dropped("replay", session.remote_static)
        replies: list[bytes] = []
        if kp is session.next:
            self._forget(session.confirm(kp, now))
            self.handshakes += 1
            replies += self._flush(session, now)
        session.on_received(data=bool(plain), now=now)
        if (
            kp is session.current
            and kp.is_initiator
            and now - kp.created >= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
        ):
            init = self.initiate(session.remote_static)
            replies += [init] if init is not None else []
        if not plain:
            return Received("keepalive", session.remote_static, None, replies)
        length = inner_length(plain)
        if length is None:
            return Received("dropped", session.remote_static, None, replies, "not-ip")
        return Received("data", session.remote_static, plain[:length], replies)

    def is_under_load(self) -> bool:
        """Forced, or within a second of more than ``load_threshold`` handshake messages in
        one second (wireguard-go also stays under load for a second)."""
        return self.under_load or self.clock() < self._load_until

    def _count_handshake_message(self) -> None:
        now = self.clock()
        recent = self._recent_handshakes
        recent.append(now)
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) > self.load_threshold:
            self._load_until = now + 1.0

    def _under_load_reply(self, datagram: bytes, source: Address) -> bytes | None:
        """Under load, a handshake without a valid mac2 gets a cookie reply instead."""
        self._count_handshake_message()
        if not self.is_under_load():
            return None
        cookie = self._cookie_for(source)
        if noise.mac2_valid(datagram, cookie):
            return None
        sender = int.from_bytes(datagram[4:8], "little")
        nonce = secrets.token_bytes(24)
        mac1 = datagram[-32:-16]
        return noise.create_cookie_reply(sender, nonce, cookie, self.identity.cookie_key, mac1)

    def _cookie_for(self, source: Address) -> bytes:
        now = self.clock()
        if now - self._cookie_secret_born >= COOKIE_REFRESH_TIME:
            self._cookie_secret, self._cookie_secret_born = os.urandom(32), now
        host, port = source
        raw = ipaddress.ip_address(host).packed + port.to_bytes(2, "big")
        return mac(self._cookie_secret, raw)

    def _receive_initiation(self, datagram: bytes, source: Address) -> Received:
        if not noise.mac1_valid(datagram, self.identity.mac1_key):
            return _dropped("mac1")
        cookie_reply = self._under_load_reply(datagram, source)
        if cookie_reply is not None:
            return Received("cookie-sent", replies=[cookie_reply])
        consumed = noise.consume_initiation(self.identity, datagram, self._sessions.__contains__)
        session = self._sessions[consumed.remote_static]
        now = self.clock()
        if consumed.timestamp <= session.last_timestamp:
            return _dropped("handshake-replay", session.remote_static)
        if now - session.last_initiation_consumed <= HANDSHAKE_INITIATION_RATE:
            return _dropped("handshake-flood", session.remote_static)
        session.last_timestamp = consumed.timestamp
        session.last_initiation_consumed = now
        index = self._new_index()
        body, keys = noise.create_response(consumed, index, psk=session.psk)
        kp = Keypair(keys, now)
        self._forget(session.install(kp, now))
        self._index[index] = (session, kp)
        message = noise.add_macs(body, session.mac1_key, session.valid_cookie(now))
        session.last_mac1_sent = message[-32:-16]
        # A response counts as a handshake sent: no crossing initiation for REKEY_TIMEOUT.
        session.last_handshake_sent = now
        session.on_received(data=False, now=now)
        session.on_sent(data=False, now=now)
        return Received("initiation", session.remote_static, None, [message])

    def _receive_response(self, datagram: bytes, source: Address) -> Received:
        if not noise.mac1_valid(datagram, self.identity.mac1_key):
            return _dropped("mac1")
        receiver = int.from_bytes(datagram[8:12], "little")
        session, state = self._index.get(receiver, (None, None))
        if session is None or not isinstance(state, InitiatorHandshake):
            return _dropped("unknown-index")
        cookie_reply = self._under_load_reply(datagram, source)
        if cookie_reply is not None:
            return Received("cookie-sent", replies=[cookie_reply])
        keys = noise.consume_response(self.identity, state, datagram)
        now = self.clock()
        del self._index[receiver]
        kp = Keypair(keys, now)
        self._forget(session.install(kp, now))
        self._index[keys.local_index] = (session, kp)
        session.on_handshake_complete()
        self.handshakes += 1
        session.on_received(data=False, now=now)
        replies = self._flush(session, now)
        if not replies:
            replies = [kp.seal(b"")]
            session.on_sent(data=False, now=now)
        return Received("response", session.remote_static, None, replies)

    def _receive_cookie(self, datagram: bytes) -> Received:
        receiver = int.from_bytes(datagram[4:8], "little")
        entry = self._index.get(receiver)
        if entry is None:
            return _dropped("unknown-index")
        session = entry[0]
        cookie = noise.open_cookie_reply(datagram, session.cookie_key, session.last_mac1_sent)
        session.cookie, session.cookie_received = cookie, self.clock()
        return Received("cookie", session.remote_static)

    # --- timers -----------------------------------------------------------------------

    def tick(self) -> list[tuple[bytes, bytes]]:
        """Run due timers; returns (peer public key, datagram) pairs to send."""
        now = self.clock()
        out: list[tuple[bytes, bytes]] = []
        for key, session in list(self._sessions.items()):
            out += [(key, d) for d in self._tick_session(session, now)]
        return out

    def _tick_session(self, session: Session, now: float) -> list[bytes]:
        out: list[bytes] = []
        key = session.remote_static
        if session.retry_due is not None and now >= session.retry_due:
            started = session.attempt_started if session.attempt_started is not None else now
            if now - started >= REKEY_ATTEMPT_TIME:
                session.retry_due = session.attempt_started = None
                self._forget_handshake(session)
                session.queue.clear()
            else:
                init = self.initiate(key, retry=True)
                out += [init] if init is not None else []
        if session.keepalive_due is not None and now >= session.keepalive_due:
            session.keepalive_due = None
            kp = session.sending_keypair(now)
            if kp is not None:
                out.append(kp.seal(b""))
                session.on_sent(data=False, now=now)
        if session.new_handshake_due is not None and now >= session.new_handshake_due:
            session.new_handshake_due = None
            init = self.initiate(key)
            out += [init] if init is not None else []
        if session.zero_keys_due is not None and now >= session.zero_keys_due:
            self._forget_handshake(session)
            self._forget(session.zero())
        return out

    # --- index table ------------------------------------------------------------------

    def _new_index(self) -> int:
        while True:
            index = secrets.randbits(32)
            if index not in self._index:
                return index

    def _forget(self, keypairs: list[Keypair]) -> None:
        for kp in keypairs:
            self._index.pop(kp.local_index, None)

    def _forget_handshake(self, session: Session) -> None:
        if session.handshake is not None:
            self._index.pop(session.handshake.local_index, None)
            session.handshake = None
