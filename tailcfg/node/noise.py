"""The Noise_IKpsk2 handshake of WireGuard and its message formats (whitepaper §5.4).

Message layouts (little-endian integers, sizes in bytes):

    initiation  type=1 (4) | sender (4) | ephemeral (32) | static (32+16) | timestamp (12+16)
                | mac1 (16) | mac2 (16)                                             = 148
    response    type=2 (4) | sender (4) | receiver (4) | ephemeral (32) | empty (0+16)
                | mac1 (16) | mac2 (16)                                             = 92
    cookie      type=3 (4) | receiver (4) | nonce (24) | cookie (16+16)            = 64
    transport   type=4 (4) | receiver (4) | counter (8) | packet (n+16)            >= 32

These functions are pure: randomness (ephemeral keys) and time (the TAI64N timestamp)
come in as arguments, so a handshake can be replayed byte for byte in tests.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from tailcfg.node.crypto import (
    AuthenticationError,
    aead_decrypt,
    aead_encrypt,
    dh,
    generate_private_key,
    hash_,
    kdf,
    mac,
    public_key,
    xaead_decrypt,
    xaead_encrypt,
)

MSG_INITIATION = 1
MSG_RESPONSE = 2
MSG_COOKIE_REPLY = 3
MSG_TRANSPORT = 4

INITIATION_SIZE = 148
RESPONSE_SIZE = 92
COOKIE_REPLY_SIZE = 64
TRANSPORT_HEADER_SIZE = 16
TRANSPORT_MIN_SIZE = 32

CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"
LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"

INITIAL_CHAIN_KEY = hash_(CONSTRUCTION)
INITIAL_HASH = hash_(INITIAL_CHAIN_KEY, IDENTIFIER)
ZERO_PSK = bytes(32)


@dataclass(frozen=True)
class Identity:
    """A static key pair with the MAC and cookie keys derived from its public half."""

    private: bytes
    public: bytes
    mac1_key: bytes
    cookie_key: bytes

    @classmethod
    def from_private(cls, private: bytes) -> Identity:
        pub = public_key(private)
        return cls(private, pub, mac1_key_for(pub), cookie_key_for(pub))


def mac1_key_for(public: bytes) -> bytes:
    return hash_(LABEL_MAC1, public)


def cookie_key_for(public: bytes) -> bytes:
    return hash_(LABEL_COOKIE, public)


@dataclass(frozen=True)
class InitiatorHandshake:
    """The initiator's state between sending an initiation and consuming the response."""

    local_index: int
    remote_static: bytes
    ephemeral_private: bytes
    chain_key: bytes
    hash: bytes
    psk: bytes


@dataclass(frozen=True)
class ConsumedInitiation:
    """What a responder learned from a valid initiation."""

    remote_static: bytes
    remote_index: int
    remote_ephemeral: bytes
    timestamp: bytes
    chain_key: bytes
    hash: bytes


@dataclass(frozen=True)
class TransportKeys:
    send: bytes
    receive: bytes
    local_index: int
    remote_index: int
    is_initiator: bool


def create_initiation(
    identity: Identity,
    remote_static: bytes,
    local_index: int,
    timestamp: bytes,
    *,
    psk: bytes = ZERO_PSK,
    ephemeral_private: bytes | None = None,
) -> tuple[bytes, InitiatorHandshake]:
    """The initiation without its MACs (116 bytes), and the state to finish the handshake."""
    e_priv = ephemeral_private if ephemeral_private is not None else generate_private_key()
    e_pub = public_key(e_priv)
    h = hash_(INITIAL_HASH, remote_static)
    c = kdf(INITIAL_CHAIN_KEY, e_pub, 1)[0]
    h = hash_(h, e_pub)
    c, k = kdf(c, dh(e_priv, remote_static), 2)
    enc_static = aead_encrypt(k, 0, identity.public, h)
    h = hash_(h, enc_static)
    c, k = kdf(c, dh(identity.private, remote_static), 2)
    enc_time = aead_encrypt(k, 0, timestamp, h)
    h = hash_(h, enc_time)
    body = struct.pack("<II", MSG_INITIATION, local_index) + e_pub + enc_static + enc_time
    return body, InitiatorHandshake(local_index, remote_static, e_priv, c, h, psk)


def consume_initiation(
    identity: Identity, message: bytes, is_known: Callable[[bytes], bool]
) -> ConsumedInitiation:
    """Decrypt an initiation (MACs already checked); raises AuthenticationError."""
    if len(message) != INITIATION_SIZE:
        raise AuthenticationError("bad initiation size")
    (sender,) = struct.unpack_from("<I", message, 4)
    e_pub = message[8:40]
    enc_static, enc_time = message[40:88], message[88:116]
    h = hash_(INITIAL_HASH, identity.public)
    h = hash_(h, e_pub)
    c = kdf(INITIAL_CHAIN_KEY, e_pub, 1)[0]
    c, k = kdf(c, dh(identity.private, e_pub), 2)
    remote_static = aead_decrypt(k, 0, enc_static, h)
    h = hash_(h, enc_static)
    if not is_known(remote_static):
        raise AuthenticationError("initiation from an unknown peer")
    c, k = kdf(c, dh(identity.private, remote_static), 2)
    timestamp = aead_decrypt(k, 0, enc_time, h)
    h = hash_(h, enc_time)
    return ConsumedInitiation(remote_static, sender, e_pub, timestamp, c, h)


def create_response(
    initiation: ConsumedInitiation,
    local_index: int,
    *,
    psk: bytes = ZERO_PSK,
    ephemeral_private: bytes | None = None,
) -> tuple[bytes, TransportKeys]:
    """The response without its MACs (60 bytes), and the responder's transport keys."""
    e_priv = ephemeral_private if ephemeral_private is not None else generate_private_key()
    e_pub = public_key(e_priv)
    h = hash_(initiation.hash, e_pub)
    c = kdf(initiation.chain_key, e_pub, 1)[0]
    c = kdf(c, dh(e_priv, initiation.remote_ephemeral), 1)[0]
    c = kdf(c, dh(e_priv, initiation.remote_static), 1)[0]
    c, tau, k = kdf(c, psk, 3)
    h = hash_(h, tau)
    empty = aead_encrypt(k, 0, b"", h)
    body = struct.pack("<III", MSG_RESPONSE, local_index, initiation.remote_index) + e_pub + empty
    receive, send = kdf(c, b"", 2)
    keys = TransportKeys(send, receive, local_index, initiation.remote_index, False)
    return body, keys


def consume_response(
    identity: Identity, state: InitiatorHandshake, message: bytes
) -> TransportKeys:
    """Finish the handshake as initiator; raises AuthenticationError."""
    if len(message) != RESPONSE_SIZE:
        raise AuthenticationError("bad response size")
    sender, receiver = struct.unpack_from("<II", message, 4)
    if receiver != state.local_index:
        raise AuthenticationError("response for another handshake")
    e_pub, empty = message[12:44], message[44:60]
    h = hash_(state.hash, e_pub)
    c = kdf(state.chain_key, e_pub, 1)[0]
    c = kdf(c, dh(state.ephemeral_private, e_pub), 1)[0]
    c = kdf(c, dh(identity.private, e_pub), 1)[0]
    c, tau, k = kdf(c, state.psk, 3)
    h = hash_(h, tau)
    aead_decrypt(k, 0, empty, h)
    send, receive = kdf(c, b"", 2)
    return TransportKeys(send, receive, state.local_index, sender, True)


def add_macs(body: bytes, receiver_mac1_key: bytes, cookie: bytes | None) -> bytes:
    """Append mac1 (keyed by the receiver's public key) and mac2 (the cookie, or zeros)."""
    mac1 = mac(receiver_mac1_key, body)
    mac2 = mac(cookie, body + mac1) if cookie is not None else bytes(16)
    return body + mac1 + mac2


def mac1_valid(message: bytes, own_mac1_key: bytes) -> bool:
    return mac(own_mac1_key, message[:-32]) == message[-32:-16]


def mac2_valid(message: bytes, cookie: bytes) -> bool:
    return mac(cookie, message[:-16]) == message[-16:]


def create_cookie_reply(
    receiver_index: int, nonce: bytes, cookie: bytes, own_cookie_key: bytes, mac1: bytes
) -> bytes:
    """A type-3 message carrying ``cookie`` encrypted for the sender of ``mac1``."""
    encrypted = xaead_encrypt(own_cookie_key, nonce, cookie, mac1)
    return struct.pack("<II", MSG_COOKIE_REPLY, receiver_index) + nonce + encrypted


def open_cookie_reply(message: bytes, peer_cookie_key: bytes, last_mac1: bytes) -> bytes:
    """The cookie from a type-3 message; raises AuthenticationError."""
    if len(message) != COOKIE_REPLY_SIZE:
        raise AuthenticationError("bad cookie reply size")
    return xaead_decrypt(peer_cookie_key, message[8:32], message[32:64], last_mac1)
