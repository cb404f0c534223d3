"""``tailcfg verify``: boot the tailnet a repository declares and prove its policy's tests.

    verify(VerifyOptions(directory=Path("examples/homelab")), on_event=print) -> VerifyReport

Modules: ``model`` (report types) ← ``identity`` (aliases → devices), ``ssh`` (SSH policy
decisions) ← ``bootstrap`` (mint, seal, decrypt as the host) ← ``mesh`` (nodes, routes,
waiting) ← ``probes`` (assertions → probes) ← ``drill`` (revocation) ← ``run``.
"""

from tailcfg.verify.bootstrap import host_key_request
from tailcfg.verify.model import (
    MISMATCH,
    NOT_PROBED,
    OK,
    Drill,
    Event,
    HostResult,
    Probe,
    Row,
    Timings,
    VerifyReport,
)
from tailcfg.verify.run import VerifyOptions, verify, verify_async

__all__ = [
    "MISMATCH",
    "NOT_PROBED",
    "OK",
    "Drill",
    "Event",
    "HostResult",
    "Probe",
    "Row",
    "Timings",
    "VerifyOptions",
    "VerifyReport",
    "host_key_request",
    "verify",
    "verify_async",
]
