"""Every exception tailcfg raises on purpose, in one tree.

    TailcfgError                 the input is wrong (exit code 1)
    ├── SourceError              positioned: carries one or more Diagnostics
    │   ├── HujsonError          the file is not HuJSON (syntax)
    │   └── PolicyError          the policy is rejected (the server's wording)
    ├── InventoryError           tailcfg.yaml is wrong
    ├── SopsError                the sops binary failed, or a secret is not sealed right
    ├── BackendError             a control server (Tailscale, Headscale, embedded) said no
    │   └── ConflictError        an If-Match / ETag guard failed
    ├── ControlError             the embedded control plane refused a request
    ├── PeerError                a real peer (headscale, tailscaled) is missing or failed
    │   └── PortTakenError       it could not bind a port another process holds
    └── VerifyError              the end-to-end proof failed

Library code raises these; only ``tailcfg.cli`` turns them into exit codes
(0 ok, 1 TailcfgError, 2 usage, 3 internal error, 130 interrupted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tailcfg.source import Diagnostic


class TailcfgError(Exception):
    """The user's input or environment is wrong; the message says how."""


class SourceError(TailcfgError):
    """An error at one or more positions of a source file."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @property
    def diagnostic(self) -> Diagnostic:
        return self.diagnostics[0]


class HujsonError(SourceError):
    """The text is not valid HuJSON (JWCC)."""


class PolicyError(SourceError):
    """The policy is rejected, with the wording Tailscale's server uses."""


class InventoryError(TailcfgError):
    """tailcfg.yaml is missing, malformed or inconsistent."""


class SopsError(TailcfgError):
    """Running sops failed, or a secrets file is not sealed as required."""


class BackendError(TailcfgError):
    """A control server answered with an error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ConflictError(BackendError):
    """A precondition (If-Match / ETag) failed: somebody else changed the resource."""


class ControlError(TailcfgError):
    """The embedded control plane refused a request."""


class PeerError(TailcfgError):
    """A real peer program (headscale, tailscaled) is missing, the wrong version, or failed."""


class PortTakenError(PeerError):
    """A peer could not listen on a port: another process holds it."""


class VerifyError(TailcfgError):
    """The end-to-end verification found a mismatch."""
