"""WireGuard's cryptographic primitives (whitepaper §5.4), on pynacl and hashlib.

HASH is BLAKE2s-256, MAC is keyed BLAKE2s-128, HMAC is HMAC-BLAKE2s-256, KDF is the
HKDF-style chain of HMACs, AEAD is ChaCha20-Poly1305 (IETF, 96-bit nonce = 32 zero bits
followed by a little-endian 64-bit counter), XAEAD is XChaCha20-Poly1305 (cookies), DH is
X25519. Keys are plain ``bytes`` of 32; :func:`parse_key` accepts base64, hex, and
Tailscale's ``nodekey:``/``mkey:`` prefixed hex.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from nacl import bindings
from nacl.exceptions import CryptoError

from tailcfg.errors import TailcfgError

KEY_SIZE = 32
TAG_SIZE = 16
TAI64N_SIZE = 12
_TAI64_BASE = (1 << 62) + 10


class InvalidKeyError(TailcfgError):
    """A WireGuard key is malformed (wrong length or encoding)."""


class AuthenticationError(Exception):
    """An AEAD tag, a MAC or a DH result did not verify (the packet is dropped)."""


def hash_(*parts: bytes) -> bytes:
    h = hashlib.blake2s(digest_size=32)
    for part in parts:
        h.update(part)
    return h.digest()


def mac(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2s(data, digest_size=16, key=key).digest()


def hmac_(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hashlib.blake2s)


def kdf(key: bytes, data: bytes, n: int) -> tuple[bytes, ...]:
    """KDF_n(key, data): n chained 32-byte outputs."""
    prk = hmac_(key, data)
    out: list[bytes] = []
    prev = b""
    for i in range(1, n + 1):
        prev = hmac_(prk, prev + bytes([i]))
        out.append(prev)
    return tuple(out)


def _nonce(counter: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack("<Q", counter)


def aead_encrypt(key: bytes, counter: int, plaintext: bytes, ad: bytes) -> bytes:
    return bytes(
        bindings.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad, _nonce(counter), key)
    )


def aead_decrypt(key: bytes, counter: int, ciphertext: bytes, ad: bytes) -> bytes:
    try:
        return bytes(
            bindings.crypto_aead_chacha20poly1305_ietf_decrypt(ciphertext, ad, _nonce(counter), key)
        )
    except CryptoError as exc:
        raise AuthenticationError("AEAD tag mismatch") from exc


def xaead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return bytes(bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key))


def xaead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    try:
        return bytes(
            bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key)
        )
    except CryptoError as exc:
        raise AuthenticationError("XAEAD tag mismatch") from exc


def generate_private_key() -> bytes:
    """A clamped X25519 private key, as ``wg genkey`` makes."""
    raw = bytearray(os.urandom(KEY_SIZE))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    return bytes(raw)


def public_key(private: bytes) -> bytes:
    return bytes(bindings.crypto_scalarmult_base(private))


def dh(private: bytes, public: bytes) -> bytes:
    """X25519; an all-zero shared secret (a low-order point) fails authentication."""
    try:
        shared = bytes(bindings.crypto_scalarmult(private, public))
    except (CryptoError, RuntimeError) as exc:
        raise AuthenticationError("X25519 produced a low-order result") from exc
    if shared == bytes(KEY_SIZE):
        raise AuthenticationError("X25519 produced a low-order result")
    return shared


def tai64n(wall_seconds: float) -> bytes:
    """The 12-byte TAI64N label of a Unix time (big-endian seconds + nanoseconds)."""
    secs = int(wall_seconds)
    nanos = int((wall_seconds - secs) * 1e9)
    return struct.pack(">QI", _TAI64_BASE + secs, nanos)


def parse_key(value: str | bytes) -> bytes:
    """A 32-byte key from raw bytes, base64, hex, or ``nodekey:``/``mkey:``/``privkey:`` hex."""
    if isinstance(value, bytes):
        if len(value) != KEY_SIZE:
            raise InvalidKeyError(f"a WireGuard key is {KEY_SIZE} bytes, got {len(value)}")
        return value
    text = value.strip()
    for prefix in ("nodekey:", "mkey:", "privkey:", "discokey:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    raw: bytes | None = None
    try:
        if len(text) == 2 * KEY_SIZE:
            raw = bytes.fromhex(text)
        elif len(text) == 44:
            raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raw = None
    if raw is None or len(raw) != KEY_SIZE:
        raise InvalidKeyError("a WireGuard key is 32 bytes: base64 (44 chars) or hex (64 chars)")
    return raw


def key_to_base64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")
