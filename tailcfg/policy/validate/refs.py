"""Declarations and references: groups, hosts, tagOwners, ipsets, autoApprovers, nodeAttrs.

``check_alias`` is the one place that decides whether an alias used by a rule
names something that exists, with the wording of the rule's section and side.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from tailcfg.hujson import JsonPath
from tailcfg.policy.model import autogroups
from tailcfg.policy.validate.context import Context, aliases, quoted, strings
from tailcfg.policy.validate.schema import original_path
from tailcfg.policy.validate.syntax import (
    AUTOGROUPS,
    Kind,
    alias_kind,
    is_ip_range,
    parse_ip_or_prefix,
    service_name_problem,
)
from tailcfg.source import Diagnostic, Severity

# Role autogroups select the devices of users holding a role (docs: "Targets and selectors").
ROLE_AUTOGROUPS = autogroups.ROLE_AUTOGROUPS
# SSH sources: members, tagged devices and the role autogroups (accepted by the server
# since 2024: tailscale/tailscale#14102); destinations: never a role.
SSH_SRC_AUTOGROUPS = frozenset({"autogroup:member", "autogroup:members", "autogroup:tagged"})
SSH_SRC_AUTOGROUPS |= ROLE_AUTOGROUPS
SSH_DST_AUTOGROUPS = frozenset(
    {"autogroup:member", "autogroup:members", "autogroup:tagged", "autogroup:self"}
)
# Where a Tailscale Service (svc:NAME) may be named: as a destination of access rules.
_SERVICE_PLACES = frozenset({("grants", "dst"), ("acls", "dst")})
_NOT_TARGETS = frozenset({"autogroup:internet", "autogroup:danger-all", "autogroup:nonroot"})
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_RESERVED_POOLS = (
    ipaddress.ip_network("100.100.100.0/24"),
    ipaddress.ip_network("100.115.92.0/23"),
)


def domain_error(section: str, domain: str) -> str:
    prefix = f"[{section}] " if section else ""
    return (
        f"{prefix}{domain} is not associated with this Tailnet and cannot be used in "
        "user:*@<domain> expressions"
    )


def check_ip(ctx: Context, path: JsonPath, text: str) -> None:
    if is_ip_range(text):
        return
    try:
        parse_ip_or_prefix(text)
    except ValueError as exc:
        ctx.error(path, str(exc), "ip")


def _tag_message(section: str, side: str, tag: str) -> str:
    if section in ("acls", "grants") and side == "src":
        return f"src=tag not found: {quoted(tag)}"
    if section in ("acls", "grants") and side == "dst":
        return f"dst={quoted(tag)}: tag not found: {quoted(tag)}"
    return f"tag not found: {quoted(tag)}"


def _check_autogroup(ctx: Context, path: JsonPath, alias: str, section: str, side: str) -> None:
    if alias not in AUTOGROUPS:
        ctx.error(path, f"unknown autogroup {quoted(alias)}", "autogroup")
    elif section == "ssh":
        allowed = SSH_SRC_AUTOGROUPS if side == "src" else SSH_DST_AUTOGROUPS
        if alias == "autogroup:internet":
            ctx.error(path, "autogroup:internet can only be used in ACL destinations", "autogroup")
        elif alias not in allowed:
            where = "sources" if side == "src" else "destinations"
            ctx.error(
                path, f"autogroup not supported for SSH {where}: {quoted(alias)}", "autogroup"
            )
    elif section == "nodeAttrs":
        if alias in _NOT_TARGETS:
            ctx.error(path, f"nodeAttrs target does not support {quoted(alias)}", "autogroup")
        elif alias == "autogroup:self":
            message = (
                "autogroup:self is not supported as a nodeAttrs target "
                "(Tailscale's server fails with an internal error)"
            )
            ctx.error(path, message, "autogroup")
    elif side == "src" and alias in ("autogroup:self", "autogroup:internet", "autogroup:nonroot"):
        ctx.error(path, f"{quoted(alias)} not valid on the src side of a rule", "autogroup")
    elif side == "dst" and alias == "autogroup:danger-all":
        ctx.error(path, "cannot use autogroup:danger-all as a dst", "autogroup")
    elif side == "dst" and alias == "autogroup:nonroot":
        ctx.error(path, f"{quoted(alias)} not valid on the dst side of a rule", "autogroup")


def check_alias(ctx: Context, path: JsonPath, alias: str, *, section: str, side: str) -> None:
    """Report an alias that names nothing, or is not allowed where it is used."""
    kind = alias_kind(alias)
    if kind is Kind.INVALID:
        ctx.error(path, f"invalid alias format: {quoted(alias)}", "alias")
    elif kind is Kind.IP:
        check_ip(ctx, path, alias)
    elif kind is Kind.HOST and alias not in ctx.hosts:
        ctx.error(path, f"host not defined in policy: {quoted(alias)}", "undefined-host")
    elif kind is Kind.GROUP and alias not in ctx.groups:
        ctx.error(path, f"group not defined in policy: {quoted(alias)}", "undefined-group")
    elif kind is Kind.TAG and alias not in ctx.tag_owners:
        ctx.error(path, _tag_message(section, side, alias), "undefined-tag")
    elif kind is Kind.IPSET and alias not in ctx.ipsets:
        ctx.error(path, f"ipset not found: {quoted(alias)}", "undefined-ipset")
    elif kind is Kind.AUTOGROUP:
        _check_autogroup(ctx, path, alias, section, side)
    elif kind is Kind.SERVICE:
        check_service(ctx, path, alias, section=section, side=side)
    elif kind is Kind.DOMAIN_USERS and ctx.domains is not None:
        domain = alias.rpartition("@")[2]
        if domain and domain not in ctx.domains:
            ctx.error(path, domain_error(section, domain), "domain")


def check_service(ctx: Context, path: JsonPath, alias: str, *, section: str, side: str) -> None:
    """A Tailscale Service: a destination of grants (documented) or acls (unverified)."""
    if (section, side) not in _SERVICE_PLACES:
        where = f"{section} {side}" if side not in ("target", "") else section
        message = (
            f"{quoted(alias)}: a Tailscale Service can only be a destination of grants "
            f"(and tests), not in {where}"
        )
        ctx.error(path, message, "service")
        return
    problem = service_name_problem(alias)
    if problem is not None:
        message = (
            f"{quoted(alias)} is not a valid service name: {problem} (Tailscale's client "
            "rejects such a name; the server's answer is not known)"
        )
        ctx.warn(path, message)
    elif section == "acls":
        message = (
            f"{quoted(alias)} as an acls destination: Tailscale documents services as grant "
            "destinations; the acls form is not documented nor captured (read as a grant "
            "to the service's addresses)"
        )
        ctx.warn(path, message)


# --- parse phase: the declarations themselves -------------------------------------------


def parse_groups(ctx: Context) -> None:
    """Nested groups are rejected; the server names the last group (by name) first."""
    groups = ctx.groups
    for name in sorted(groups, reverse=True):
        for path, member in strings(groups, name, ("groups",)):
            if member.startswith("group:"):
                message = (
                    f"groups[{quoted(name)}]: {quoted(member)}: group members cannot be recursive"
                )
                ctx.parse_error(path, message, "nested-group")
                return


def parse_hosts(ctx: Context) -> None:
    for name, value in ctx.hosts.items():
        if "@" in name or ":" in name or not name:
            ctx.parse_error(
                ("hosts", name), f"invalid hostname: {quoted(name)}", "host-name", key=True
            )
        elif isinstance(value, str):
            try:
                parse_ip_or_prefix(value)
            except ValueError:
                message = (
                    f"hostname contains invalid IP address: hostname {quoted(name)} "
                    f"address {quoted(value)}"
                )
                ctx.parse_error(("hosts", name), message, "ip")


def parse_tag_owners(ctx: Context) -> None:
    for name in ctx.tag_owners:
        rest = name.removeprefix("tag:")
        if name.startswith("tag:") and not (rest[:1].isascii() and rest[:1].isalpha()):
            message = f"tagOwners[{quoted(name)}]: tag names must start with a letter, after 'tag:'"
            ctx.parse_error(("tagOwners", name), message, "tag-name", key=True)


def parse_auto_approvers(ctx: Context) -> None:
    approvers = ctx.policy.get("autoApprovers")
    routes = approvers.get("routes") if isinstance(approvers, Mapping) else None
    if isinstance(routes, Mapping):
        for prefix in routes:
            try:
                parse_ip_or_prefix(prefix)
            except ValueError as exc:
                ctx.parse_error(("autoApprovers", "routes", prefix), str(exc), "ip", key=True)


# --- semantic phase ----------------------------------------------------------------------


def _check_owner(ctx: Context, path: JsonPath, owner: str) -> None:
    kind = alias_kind(owner)
    if kind is Kind.GROUP and owner not in ctx.groups:
        ctx.error(path, f"group not defined in policy: {quoted(owner)}", "undefined-group")
    elif kind is Kind.TAG and owner not in ctx.tag_owners:
        ctx.error(path, f"tag not found: {quoted(owner)}", "undefined-tag")
    elif kind is Kind.AUTOGROUP and owner not in AUTOGROUPS:
        ctx.error(path, f"unknown autogroup {quoted(owner)}", "autogroup")
    elif kind not in (Kind.USER, Kind.GROUP, Kind.TAG, Kind.AUTOGROUP):
        ctx.error(path, f"invalid owner format: {quoted(owner)}", "owner")


def check_tag_owners(ctx: Context) -> None:
    for tag in ctx.tag_owners:
        for path, owner in strings(ctx.tag_owners, tag, ("tagOwners",)):
            _check_owner(ctx, path, owner)


def check_auto_approvers(ctx: Context) -> None:
    approvers = ctx.policy.get("autoApprovers")
    if not isinstance(approvers, Mapping):
        return
    routes = approvers.get("routes")
    if isinstance(routes, Mapping):
        for prefix in routes:
            for path, owner in strings(routes, prefix, ("autoApprovers", "routes")):
                _check_owner(ctx, path, owner)
    for path, owner in strings(approvers, "exitNode", ("autoApprovers",)):
        _check_owner(ctx, path, owner)
    services = approvers.get("services")
    if isinstance(services, Mapping):
        for name in services:
            _check_service_approver_key(ctx, ("autoApprovers", "services", name), name)
            for path, owner in strings(services, name, ("autoApprovers", "services")):
                _check_owner(ctx, path, owner)


def _check_service_approver_key(ctx: Context, path: JsonPath, name: str) -> None:
    """A key of ``autoApprovers.services``: a service, or a tag the services carry."""
    kind = alias_kind(name)
    if kind is Kind.SERVICE:
        problem = service_name_problem(name)
        if problem is not None:
            message = (
                f"{quoted(name)} is not a valid service name: {problem} (Tailscale's client "
                "rejects such a name; the server's answer is not known)"
            )
            ctx.warn(path, message, key=True)
    elif kind is not Kind.TAG:
        message = (
            f"autoApprovers.services key {quoted(name)}: Tailscale documents a service "
            '("svc:name") or a tag here; whether the server accepts anything else is not known'
        )
        ctx.warn(path, message, key=True)


def _check_pool(ctx: Context, path: JsonPath, text: str) -> None:
    try:
        pool = parse_ip_or_prefix(text)
    except ValueError as exc:
        ctx.error(path, str(exc), "ip")
        return
    if not (pool.version == 4 and pool.subnet_of(_CGNAT)):
        ctx.error(path, f"nodeAttrs ipPool must be within 100.64.0.0/10: {quoted(text)}", "ip-pool")
        return
    for reserved in _RESERVED_POOLS:
        if pool.overlaps(reserved):
            message = (
                "nodeAttrs ipPool must not overlap reserved Tailscale ranges: "
                f"{quoted(text)} overlaps {quoted(str(reserved))}"
            )
            ctx.error(path, message, "ip-pool")


def check_node_attrs(ctx: Context) -> None:
    for path, rule in ctx.rules("nodeAttrs"):
        for target_path, target in aliases(rule, "target", path):
            check_alias(ctx, target_path, target, section="nodeAttrs", side="target")
        for pool_path, pool in strings(rule, "ipPool", path):
            _check_pool(ctx, pool_path, pool)


def check_ipsets(ctx: Context) -> None:
    for name in ctx.ipsets:
        for path, entry in strings(ctx.ipsets, name, ("ipsets",)):
            _check_ipset_entry(ctx, path, entry)


def _check_ipset_entry(ctx: Context, path: JsonPath, entry: str) -> None:
    body = entry
    for prefix in ("add:", "remove:", "add ", "remove "):
        body = body.removeprefix(prefix)
    if alias_kind(body) in (Kind.IP, Kind.HOST, Kind.IPSET):
        check_alias(ctx, path, body, section="ipsets", side="src")


def check_postures(ctx: Context) -> None:
    """``srcPosture`` / ``defaultSrcPosture`` entries must name a declared posture."""
    postures = ctx.policy.get("postures")
    declared = postures if isinstance(postures, Mapping) else {}
    places = [
        (path, rule) for section in ("acls", "grants", "ssh") for path, rule in ctx.rules(section)
    ]
    found = [item for path, rule in places for item in strings(rule, "srcPosture", path)]
    found += list(strings(ctx.policy, "defaultSrcPosture", ()))
    for path, name in found:
        if name.startswith("posture:") and name not in declared:
            ctx.error(path, f"posture {quoted(name)} not found", "undefined-posture")


def any_strings(value: Any) -> list[str]:
    """Every string inside a JSON value (used to find references for the warnings)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in any_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in any_strings(item)]
    return []


def _string_paths(value: Any, path: JsonPath) -> list[tuple[JsonPath, str]]:
    """Every string value inside ``value`` (not keys), with its path, in file order."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [x for k, v in value.items() for x in _string_paths(v, (*path, k))]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _string_paths(v, (*path, i))]
    return []


def check_legacy_members(ctx: Context) -> None:
    """``autogroup:members``: the legacy name of autogroup:member, never both in one file.

    Tailscale's documentation: the plural "will continue to work", and a policy file may
    not use both spellings. Each use gets a hint naming the current spelling.
    """
    found = [
        (path, text.strip())
        for path, text in _string_paths(ctx.policy, ())
        if text.strip() in ("autogroup:member", autogroups.MEMBERS_LEGACY)
    ]
    legacy = [path for path, text in found if text == autogroups.MEMBERS_LEGACY]
    if not legacy:
        return
    if any(text == "autogroup:member" for _path, text in found):
        message = (
            'a policy file cannot use both "autogroup:member" and its legacy spelling '
            '"autogroup:members"'
        )
        ctx.error(legacy[0], message, "autogroup")
    for path in legacy:
        message = '"autogroup:members" is the legacy spelling of "autogroup:member"'
        written = original_path(ctx.doc.value, path)
        ctx.hints.append(
            Diagnostic(ctx.doc.span_at(written), message, code="legacy", severity=Severity.WARNING)
        )
