"""The autogroups Tailscale defines: one list for the validator and the engine."""

from __future__ import annotations

# Autogroups that select the devices of users holding a role in the tailnet. Roles come
# from the devices file (a device's ``roles``: its user's roles); the Owner is an Admin too
# (the captures show the owner's device with both the is-owner and is-admin capability).
ROLE_AUTOGROUPS = frozenset(
    {
        "autogroup:admin",
        "autogroup:owner",
        "autogroup:it-admin",
        "autogroup:network-admin",
        "autogroup:billing-admin",
        "autogroup:auditor",
    }
)
# The legacy plural, documented as still working: the same devices as autogroup:member.
MEMBERS_LEGACY = "autogroup:members"

AUTOGROUPS = (
    frozenset(
        {
            "autogroup:internet",
            "autogroup:member",
            "autogroup:members",
            "autogroup:tagged",
            "autogroup:self",
            "autogroup:danger-all",
            "autogroup:nonroot",
            "autogroup:shared",
        }
    )
    | ROLE_AUTOGROUPS
)
