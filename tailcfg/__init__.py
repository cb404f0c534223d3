"""tailcfg: a declarative, provable tailnet.

The public API is re-exported here and nowhere else; ``tests/test_public_api.py``
fails when ``__all__`` drifts.
"""

from tailcfg.errors import (
    BackendError,
    ConflictError,
    ControlError,
    HujsonError,
    InventoryError,
    PolicyError,
    SopsError,
    SourceError,
    TailcfgError,
    VerifyError,
)
from tailcfg.source import Diagnostic, Severity, Span

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "ConflictError",
    "ControlError",
    "Diagnostic",
    "HujsonError",
    "InventoryError",
    "PolicyError",
    "Severity",
    "SopsError",
    "SourceError",
    "Span",
    "TailcfgError",
    "VerifyError",
    "__version__",
]
