"""Per-peer WireGuard state: the keypairs (current/previous/next) and the timers.

Time is a float passed in by the caller (``now``), never read here, so every timer
of the whitepaper (§6) is testable with an injected clock:

* a keypair older than REKEY_AFTER_TIME (or past REKEY_AFTER_MESSAGES) makes its
  initiator start a new handshake when sending; past REJECT_AFTER_TIME (or
  REJECT_AFTER_MESSAGES) it neither sends nor receives;
* an unanswered initiation is retried every REKEY_TIMEOUT for REKEY_ATTEMPT_TIME;
* data received and nothing sent for KEEPALIVE_TIMEOUT sends a keepalive;
* data sent and nothing received for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT starts a handshake;
* no new session for 3 × REJECT_AFTER_TIME zeroes every key.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

from tailcfg.node.crypto import aead_decrypt, aead_encrypt
from tailcfg.node.noise import (
    MSG_TRANSPORT,
    ZERO_PSK,
    InitiatorHandshake,
    TransportKeys,
    cookie_key_for,
    mac1_key_for,
)
from tailcfg.node.replay import REJECT_AFTER_MESSAGES, ReplayWindow

REKEY_AFTER_MESSAGES = 1 << 60
REKEY_AFTER_TIME = 120.0
REJECT_AFTER_TIME = 180.0
REKEY_ATTEMPT_TIME = 90.0
REKEY_TIMEOUT = 5.0
KEEPALIVE_TIMEOUT = 10.0
COOKIE_REFRESH_TIME = 120.0
HANDSHAKE_INITIATION_RATE = 1.0 / 50
MAX_QUEUED_PACKETS = 128

__all__ = [
    "KEEPALIVE_TIMEOUT",
    "REJECT_AFTER_MESSAGES",
    "REJECT_AFTER_TIME",
    "REKEY_AFTER_MESSAGES",
    "REKEY_AFTER_TIME",
    "REKEY_ATTEMPT_TIME",
    "REKEY_TIMEOUT",
    "Keypair",
    "Session",
]


class Keypair:
    """Transport keys of one completed handshake, with its send counter and replay window."""

    __slots__ = (
        "created",
        "is_initiator",
        "local_index",
        "receive_key",
        "remote_index",
        "replay",
        "send_counter",
        "send_key",
    )

    def __init__(self, keys: TransportKeys, now: float) -> None:
        self.send_key = keys.send
        self.receive_key = keys.receive
        self.local_index = keys.local_index
        self.remote_index = keys.remote_index
        self.is_initiator = keys.is_initiator
        self.created = now
        self.send_counter = 0
        self.replay = ReplayWindow()

    def can_send(self, now: float) -> bool:
        return now - self.created < REJECT_AFTER_TIME and self.send_counter < REJECT_AFTER_MESSAGES

    def can_receive(self, now: float) -> bool:
        return now - self.created < REJECT_AFTER_TIME

    def needs_rekey(self, now: float) -> bool:
        """The initiator of this keypair should start a fresh handshake when sending."""
        return self.is_initiator and (
            now - self.created >= REKEY_AFTER_TIME or self.send_counter >= REKEY_AFTER_MESSAGES
        )

    def seal(self, packet: bytes) -> bytes:
        """A type-4 message: the packet zero-padded to a multiple of 16, then encrypted."""
        counter = self.send_counter
        self.send_counter += 1
        padded = packet + bytes(-len(packet) % 16)
        header = struct.pack("<IIQ", MSG_TRANSPORT, self.remote_index, counter)
        return header + aead_encrypt(self.send_key, counter, padded, b"")

    def open(self, counter: int, ciphertext: bytes) -> bytes:
        """Decrypt; raises AuthenticationError. The replay window is the caller's next step."""
        return aead_decrypt(self.receive_key, counter, ciphertext, b"")


@dataclass
class Session:
    """Everything the local device keeps about one peer."""

    remote_static: bytes
    psk: bytes = ZERO_PSK
    current: Keypair | None = None
    previous: Keypair | None = None
    next: Keypair | None = None
    handshake: InitiatorHandshake | None = None
    last_timestamp: bytes = b""
    last_initiation_consumed: float = float("-inf")
    last_handshake_sent: float = float("-inf")
    attempt_started: float | None = None
    last_handshake_completed: float | None = None
    retry_due: float | None = None
    keepalive_due: float | None = None
    new_handshake_due: float | None = None
    zero_keys_due: float | None = None
    cookie: bytes | None = None
    cookie_received: float = float("-inf")
    last_mac1_sent: bytes = b""
    queue: deque[bytes] = field(default_factory=deque)
    mac1_key: bytes = b""
    cookie_key: bytes = b""

    def __post_init__(self) -> None:
        self.mac1_key = mac1_key_for(self.remote_static)
        self.cookie_key = cookie_key_for(self.remote_static)

    def keypairs(self) -> list[Keypair]:
        return [kp for kp in (self.current, self.previous, self.next) if kp is not None]

    def sending_keypair(self, now: float) -> Keypair | None:
        kp = self.current
        return kp if kp is not None and kp.can_send(now) else None

    def valid_cookie(self, now: float) -> bytes | None:
        if self.cookie is not None and now - self.cookie_received < COOKIE_REFRESH_TIME:
            return self.cookie
        return None

    def enqueue(self, packet: bytes) -> None:
        if len(self.queue) >= MAX_QUEUED_PACKETS:
            self.queue.popleft()
        self.queue.append(packet)

    def install(self, kp: Keypair, now: float) -> list[Keypair]:
        """Rotate a new keypair in; returns the keypairs dropped (their indices are freed).

        The initiator uses a new keypair at once; the responder keeps it as ``next``
        until the first transport message proves the initiator has it too.
        """
        dropped: list[Keypair] = []
        if kp.is_initiator:
            if self.next is not None:
                dropped += [k for k in (self.previous, self.current) if k is not None]
                self.previous, self.next = self.next, None
            else:
                dropped += [self.previous] if self.previous is not None else []
                self.previous = self.current
            self.current = kp
            self.last_handshake_completed = now
        else:
            dropped += [k for k in (self.next, self.previous) if k is not None]
            self.next, self.previous = kp, None
        self.zero_keys_due = now + 3 * REJECT_AFTER_TIME
        return dropped

    def confirm(self, kp: Keypair, now: float) -> list[Keypair]:
        """``kp`` authenticated a transport message: promote it from ``next`` if it was."""
        if kp is not self.next:
            return []
        dropped = [self.previous] if self.previous is not None else []
        self.previous, self.current, self.next = self.current, kp, None
        self.last_handshake_completed = now
        return dropped

    def zero(self) -> list[Keypair]:
        dropped = self.keypairs()
        self.current = self.previous = self.next = None
        self.handshake = None
        self.retry_due = self.keepalive_due = self.new_handshake_due = None
        self.zero_keys_due = None
        self.queue.clear()
        return dropped

    # --- timer bookkeeping (whitepaper §6.5) --------------------------------------

    def on_sent(self, *, data: bool, now: float) -> None:
        self.keepalive_due = None
        if data and self.new_handshake_due is None:
            self.new_handshake_due = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT

    def on_received(self, *, data: bool, now: float) -> None:
        self.new_handshake_due = None
        if data and self.keepalive_due is None:
            self.keepalive_due = now + KEEPALIVE_TIMEOUT

    def on_initiation_sent(self, now: float, *, retry: bool) -> None:
        self.last_handshake_sent = now
        if not retry or self.attempt_started is None:
            self.attempt_started = now
        self.retry_due = now + REKEY_TIMEOUT
        self.keepalive_due = None

    def on_handshake_complete(self) -> None:
        self.handshake = None
        self.retry_due = None
        self.attempt_started = None
