"""Control and machine keys, their text forms, and the NaCl Box seal of the node protocol.

Public keys travel as ``mkey:<hex>`` (machine), ``nodekey:<hex>`` (node, WireGuard) and
``ctrlkey:<hex>`` (the control server's); private keys as ``privkey:<hex>``. A node request
is ``Box(machine private, control public)``; the answer ``Box(control private, machine
public)``. A sealed message is the 24-byte nonce followed by the ciphertext.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.utils
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey

from tailcfg.atomicfile import atomic_write_text
from tailcfg.control.model import ControlRequestError

MACHINE_PREFIX = "mkey:"
NODE_PREFIX = "nodekey:"
CONTROL_PREFIX = "ctrlkey:"
PRIVATE_PREFIX = "privkey:"
CONTROL_KEY_FILE = "control.key"


def public_text(key: PublicKey | bytes, prefix: str) -> str:
    raw = bytes(key)
    return prefix + raw.hex()


def parse_public(text: str, prefix: str) -> bytes:
    """The 32 raw bytes of ``<prefix><64 hex>``; a 400 error when it is anything else."""
    if not isinstance(text, str) or not text.startswith(prefix):
        raise ControlRequestError(f"invalid key: expected {prefix}<64 hex digits>")
    body = text[len(prefix) :]
    if len(body) != 64:
        raise ControlRequestError(f"invalid key: expected {prefix}<64 hex digits>")
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ControlRequestError(f"invalid key: expected {prefix}<64 hex digits>") from None


def private_text(key: PrivateKey) -> str:
    return PRIVATE_PREFIX + bytes(key).hex()


def parse_private(text: str) -> PrivateKey:
    text = text.strip()
    if not text.startswith(PRIVATE_PREFIX):
        raise ControlRequestError(f"invalid private key: expected {PRIVATE_PREFIX}<64 hex>")
    try:
        return PrivateKey(bytes.fromhex(text[len(PRIVATE_PREFIX) :]))
    except (ValueError, TypeError):
        raise ControlRequestError("invalid private key") from None


def create_control_key(state_dir: Path) -> PrivateKey:
    """Write a new control private key (mode 0600) unless one exists; return the key."""
    path = state_dir / CONTROL_KEY_FILE
    if path.exists():
        return load_control_key(state_dir)
    key = PrivateKey.generate()
    atomic_write_text(path, private_text(key) + "\n", mode=0o600)
    return key


def load_control_key(state_dir: Path) -> PrivateKey:
    path = state_dir / CONTROL_KEY_FILE
    try:
        return parse_private(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ControlRequestError(
            f"{path}: no control key; run `tailcfg control init --state {state_dir}` first",
            status=500,
        ) from None


def box_for(private: PrivateKey, peer_public: bytes) -> Box:
    """The Box between ``private`` and a peer; a 400 error for a weak (low-order) key."""
    try:
        return Box(private, PublicKey(peer_public))
    except (CryptoError, ValueError, TypeError):
        raise ControlRequestError("invalid machine key: not usable for key agreement") from None


def seal(box: Box, message: Any) -> bytes:
    return seal_bytes(box, json.dumps(message, separators=(",", ":")).encode())


def seal_bytes(box: Box, data: bytes) -> bytes:
    nonce, ciphertext = seal_parts(box, data)
    return nonce + ciphertext


def seal_parts(box: Box, data: bytes) -> tuple[bytes, bytes]:
    """``(nonce, ciphertext)`` of a seal, without the joined copy (for large messages)."""
    nonce = nacl.utils.random(Box.NONCE_SIZE)
    ciphertext: bytes = nacl.bindings.crypto_box_easy_afternm(data, nonce, box.shared_key())
    return nonce, ciphertext


def unseal(box: Box, data: bytes) -> Any:
    """Open a sealed JSON message; a 400 error when it was not sealed for this box."""
    if len(data) < Box.NONCE_SIZE + 16:
        raise ControlRequestError("request is not sealed: too short")
    try:
        plain = box.decrypt(data)
    except CryptoError:
        raise ControlRequestError("request is not sealed for this control server") from None
    try:
        return json.loads(plain)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlRequestError("sealed request is not JSON") from None
