"""SSH ed25519 keys as age X25519 keys, byte-identical to ssh-to-age.

* public: the ed25519 point converted to Montgomery form (``crypto_sign_ed25519_pk_to_curve25519``),
  bech32 with hrp ``age`` -> ``age1...``;
* private: ``sha512(seed)[:32]``, *unclamped* (X25519 clamps when it uses the scalar),
  bech32 with hrp ``age-secret-key-``, upper-cased -> ``AGE-SECRET-KEY-1...``.

The bech32 code is ours (BIP-173 checksum, no length limit, as age uses it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

import nacl.bindings
import nacl.exceptions

from tailcfg.errors import TailcfgError
from tailcfg.inventory import ed25519_key_blob

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_OPENSSH_MAGIC = b"openssh-key-v1\x00"
_PEM_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PEM_END = "-----END OPENSSH PRIVATE KEY-----"


class AgeKeyError(TailcfgError):
    """A key could not be parsed or converted."""


# --- bech32 ---------------------------------------------------------------------------


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to_bits - bits)) & maxv)
    elif not pad and (bits >= from_bits or (acc << (to_bits - bits)) & maxv):
        raise ValueError("bech32: invalid padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Lower-case bech32 of ``data`` (8-bit bytes) under ``hrp``."""
    hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(hrp, data) of a bech32 string (all lower or all upper case); ValueError if invalid."""
    if text.lower() != text and text.upper() != text:
        raise ValueError("bech32: mixed case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise ValueError("bech32: separator misplaced")
    hrp = text[:pos]
    try:
        values = [_CHARSET.index(c) for c in text[pos + 1 :]]
    except ValueError:
        raise ValueError("bech32: invalid character") from None
    if _polymod([*_hrp_expand(hrp), *values]) != 1:
        raise ValueError("bech32: bad checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))


# --- conversions ----------------------------------------------------------------------


def ssh_pubkey_to_age(ssh_pubkey: str) -> str:
    """``ssh-ed25519 AAAA... [comment]`` -> ``age1...`` (the host's sops recipient)."""
    try:
        blob = ed25519_key_blob(ssh_pubkey.strip())
    except ValueError as exc:
        raise AgeKeyError(f"SSH public key: {exc}") from None
    return ed25519_public_to_age(blob[19:])


def ed25519_public_to_age(public: bytes) -> str:
    try:
        montgomery = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public)
    except nacl.exceptions.RuntimeError:
        raise AgeKeyError("SSH public key: not a valid ed25519 point") from None
    return bech32_encode("age", montgomery)


def ed25519_seed_to_age_identity(seed: bytes) -> str:
    """The ssh-to-age private conversion: ``sha512(seed)[:32]`` unclamped, upper-case bech32."""
    scalar = hashlib.sha512(seed).digest()[:32]
    return bech32_encode("age-secret-key-", scalar).upper()


def ssh_private_key_to_age(openssh_text: str) -> str:
    """An unencrypted OpenSSH ed25519 private key -> ``AGE-SECRET-KEY-1...``."""
    return ed25519_seed_to_age_identity(openssh_ed25519_seed(openssh_text))


def age_identity_to_recipient(identity: str) -> str:
    """``AGE-SECRET-KEY-1...`` -> ``age1...`` (what ``age-keygen -y`` prints)."""
    try:
        hrp, scalar = bech32_decode(identity.strip())
    except ValueError as exc:
        raise AgeKeyError(f"age identity: {exc}") from None
    if hrp != "age-secret-key-" or len(scalar) != 32:
        raise AgeKeyError("age identity: not an AGE-SECRET-KEY-1... X25519 identity")
    return bech32_encode("age", nacl.bindings.crypto_scalarmult_base(scalar))


def is_age_recipient(text: str) -> bool:
    try:
        hrp, data = bech32_decode(text)
    except ValueError:
        return False
    return hrp == "age" and len(data) == 32 and text == text.lower()


# --- OpenSSH private key format (PROTOCOL.key) -----------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())


def openssh_ed25519_seed(text: str) -> bytes:
    """The 32-byte seed of an unencrypted OpenSSH ed25519 private key."""
    try:
        return _parse_openssh(text)
    except ValueError as exc:
        # never include the key text in the message
        raise AgeKeyError(f"SSH private key: {exc}") from None


def _parse_openssh(text: str) -> bytes:
    stripped = text.strip()
    if not (stripped.startswith(_PEM_BEGIN) and stripped.endswith(_PEM_END)):
        raise ValueError("not an OpenSSH private key (BEGIN OPENSSH PRIVATE KEY)")
    body = "".join(stripped[len(_PEM_BEGIN) : -len(_PEM_END)].split())
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64") from None
    if not data.startswith(_OPENSSH_MAGIC):
        raise ValueError("bad magic")
    reader = _Reader(data[len(_OPENSSH_MAGIC) :])
    cipher, kdf = reader.string(), reader.string()
    reader.string()  # kdf options
    if cipher != b"none" or kdf != b"none":
        raise ValueError("the key is passphrase-protected; decrypt it first")
    if reader.uint32() != 1:
        raise ValueError("expected exactly one key")
    reader.string()  # public key blob
    private = _Reader(reader.string())
    if private.uint32() != private.uint32():
        raise ValueError("check bytes differ (corrupt key)")
    if private.string() != b"ssh-ed25519":
        raise ValueError("only ed25519 keys are supported")
    public = private.string()
    secret = private.string()
    if len(public) != 32 or len(secret) != 64 or secret[32:] != public:
        raise ValueError("malformed ed25519 key")
    return secret[:32]
