"""Deterministic ed25519 SSH keys for tests: pynacl + a small OpenSSH private-key writer."""

from __future__ import annotations

import base64
import struct
import textwrap
from dataclasses import dataclass

import nacl.signing


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@dataclass(frozen=True)
class SshKey:
    seed: bytes
    comment: str = "root@host"

    @property
    def public(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @property
    def blob(self) -> bytes:
        return _string(b"ssh-ed25519") + _string(self.public)

    @property
    def public_line(self) -> str:
        return f"ssh-ed25519 {base64.b64encode(self.blob).decode()} {self.comment}"

    @property
    def private_pem(self) -> str:
        """The unencrypted OpenSSH format ``ssh-keygen -t ed25519 -N ''`` writes."""
        check = struct.pack(">I", 0x5EED1234)
        private = (
            check
            + check
            + _string(b"ssh-ed25519")
            + _string(self.public)
            + _string(self.seed + self.public)
            + _string(self.comment.encode())
        )
        private += bytes(range(1, 1 + (-len(private) % 8)))
        data = (
            b"openssh-key-v1\x00"
            + _string(b"none")
            + _string(b"none")
            + _string(b"")
            + struct.pack(">I", 1)
            + _string(self.blob)
            + _string(private)
        )
        body = "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 70))
        return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"


def ssh_key(n: int, comment: str = "root@host") -> SshKey:
    return SshKey(bytes([n]) * 32, comment)
