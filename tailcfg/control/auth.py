"""Secrets of the control plane: auth keys and API keys, minted, parsed and hashed.

Auth keys have Tailscale's form ``tskey-auth-<id>-<secret>``, API keys ``tskey-api-<id>-<secret>``.
Only ``sha256(secret)`` is stored; the whole key is shown once, to whoever minted it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from tailcfg.control.model import ControlRequestError

_ALPHABET = string.ascii_letters + string.digits
AUTH_PREFIX = "tskey-auth-"
API_PREFIX = "tskey-api-"


def _token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_key(prefix: str) -> tuple[str, str, str]:
    """``(id, secret, full key)`` for a fresh key with ``prefix``."""
    key_id = "k" + _token(11) + "CNTRL"
    secret = _token(32)
    return key_id, secret, f"{prefix}{key_id}-{secret}"


def split_key(text: str, prefix: str) -> tuple[str, str]:
    """``(id, secret)`` of a key; a 401 error when the text does not have the form."""
    text = text.strip()
    if not text.startswith(prefix):
        raise ControlRequestError(f"invalid key: expected {prefix}<id>-<secret>", status=401)
    key_id, sep, secret = text[len(prefix) :].partition("-")
    if not sep or not key_id or not secret:
        raise ControlRequestError(f"invalid key: expected {prefix}<id>-<secret>", status=401)
    return key_id, secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
