"""Which ``tailscale.com/...`` application capabilities a policy may grant, and what is known.

Tailscale's server keeps an allowlist of first-party capability names in its own domain.
What is *known* of it comes from the conformance captures and Tailscale's documentation;
anything else in the domain is unknown, and tailcfg says so with a warning instead of
rejecting it (see docs/conformance.md, "The rule").
"""

from __future__ import annotations

from enum import StrEnum

TAILSCALE_DOMAIN = "tailscale.com/"


class CapVerdict(StrEnum):
    ALLOWED = "allowed"  # captured accepted, or documented as grantable
    REFUSED = "refused"  # captured rejection: the server reserves it
    UNKNOWN = "unknown"  # neither the captures nor the docs settle it
    OTHER_DOMAIN = "other"  # not a tailscale.com name: the server does not restrict it


# Captured accepted (drive, kubernetes, relay) and documented grantable ones (Tailscale's
# docs: Taildrive, Kubernetes operator, peer relays, web interface, tsidp, secrets, tailsql,
# golink; "tailscale.com/app-connectors" is a documented nodeAttrs app key).
ALLOWED = frozenset(
    f"tailscale.com/cap/{name}"
    for name in (
        "drive",
        "kubernetes",
        "relay",
        "webui",
        "tsidp",
        "secrets",
        "tailsql",
        "golink",
    )
) | {"tailscale.com/app-connectors"}
# Captured rejections: "capability name must not be in the tailscale.com domain".
REFUSED = frozenset(f"tailscale.com/cap/{name}" for name in ("relay-target", "ingress", "funnel"))
REFUSED_MESSAGE = "capability name must not be in the tailscale.com domain"


def verdict(name: str) -> CapVerdict:
    """What is known of the server's answer to a grant of capability ``name``."""
    if not name.startswith(TAILSCALE_DOMAIN):
        return CapVerdict.OTHER_DOMAIN
    if name in ALLOWED:
        return CapVerdict.ALLOWED
    if name in REFUSED:
        return CapVerdict.REFUSED
    return CapVerdict.UNKNOWN
