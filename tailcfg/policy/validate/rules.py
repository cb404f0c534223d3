"""Checks of ``acls`` and ``grants`` entries, in the server's order and wording."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailcfg.hujson import JsonPath
from tailcfg.policy.model import capabilities
from tailcfg.policy.model.capabilities import CapVerdict
from tailcfg.policy.model.ports import (
    ALL_PORTS,
    PORTED_PROTOCOLS,
    PortError,
    parse_ports,
    port_range,
    proto_number,
    split_alias_ports,
    split_ip_spec,
)
from tailcfg.policy.validate.context import Context, aliases, quoted, strings
from tailcfg.policy.validate.refs import check_alias
from tailcfg.policy.validate.syntax import Kind, alias_kind, parse_ip_or_prefix

SELF = "autogroup:self"
_MEMBER_SPELLINGS = ("autogroup:member", "autogroup:members")
SELF_SOURCES_MESSAGE = "autogroup:self can only be used with users, groups, or supported autogroups"


def _proto(rule: Mapping[str, Any]) -> int | None:
    value = rule.get("proto")
    if not isinstance(value, str) or not value:
        return None
    try:
        return proto_number(value)
    except PortError:
        return None


def _parsed_dst(dst: str) -> tuple[str, tuple[tuple[int, int], ...]] | None:
    try:
        alias, ports = split_alias_ports(dst)
        return alias, parse_ports(ports)
    except PortError:
        return None


def _acl_src_key(rule: Mapping[str, Any]) -> str:
    return "src" if "src" in rule or "users" not in rule else "users"


def _acl_dst_key(rule: Mapping[str, Any]) -> str:
    return "dst" if "dst" in rule or "ports" not in rule else "ports"


# --- parse phase -------------------------------------------------------------------------


def _parse_acl_dst(ctx: Context, path: JsonPath, dst: str) -> None:
    try:
        port_range(split_alias_ports(dst)[1])
    except PortError as exc:
        ctx.parse_error(path, f"dst={quoted(dst)}: {exc}", "port")


def parse_acls(ctx: Context) -> None:
    for path, rule in ctx.rules("acls"):
        for key, value in rule.items():
            if key == "action" and isinstance(value, str) and value != "accept":
                ctx.parse_error((*path, key), f"action={quoted(value)} is not supported", "action")
            elif key in ("dst", "ports"):
                for dst_path, dst in strings(rule, key, path):
                    _parse_acl_dst(ctx, dst_path, dst)
            elif key == "proto" and isinstance(value, str) and value:
                try:
                    proto_number(value)
                except PortError as exc:
                    ctx.parse_error((*path, key), str(exc), "proto")
        if "action" not in rule:
            ctx.parse_error(path, 'action="" is not supported', "action")


def _parse_ip(ctx: Context, path: JsonPath, spec: str) -> None:
    if spec == "*":
        return
    try:
        proto_text, ports = split_ip_spec(spec)
    except PortError as exc:
        ctx.parse_error(path, str(exc), "port")
        return
    if proto_text == "*":
        message = (
            f'ip {quoted(spec)}: a protocol of "*" is neither documented nor captured; '
            "whether the server accepts it is not known (read as every protocol)"
        )
        ctx.warn(path, message)
    try:
        if proto_text is not None and proto_text != "*":
            proto_number(proto_text)
    except PortError as exc:
        ctx.parse_error(path, str(exc), "proto")
        return
    if "," in ports:
        message = (
            f"ip {quoted(spec)}: a comma list of ports in one entry is neither documented nor "
            "captured (the documented form is one entry per port or range); whether the server "
            "accepts it is not known (read as the listed ports)"
        )
        ctx.warn(path, message)
    try:
        port_range(ports)
    except PortError as exc:
        ctx.parse_error(path, str(exc), "port")


def parse_grants(ctx: Context) -> None:
    for path, rule in ctx.rules("grants"):
        for ip_path, spec in strings(rule, "ip", path):
            _parse_ip(ctx, ip_path, spec)
        via = rule.get("via")
        if isinstance(via, list):
            for index, tag in enumerate(via):
                if not (isinstance(tag, str) and tag.startswith("tag:")):
                    ctx.parse_error((*path, "via", index), "via can only be a tag", "via")
                    break


# --- semantic phase ----------------------------------------------------------------------


def _self_sources_ok(ctx: Context, rule: Mapping[str, Any], src_key: str, *, acl: bool) -> bool:
    allowed = {Kind.USER, Kind.GROUP, Kind.DOMAIN_USERS}
    if acl:
        allowed.add(Kind.WILDCARD)
    src = rule.get(src_key)
    for item in src if isinstance(src, list) else []:
        if not isinstance(item, str):
            continue
        if item.strip() not in _MEMBER_SPELLINGS and alias_kind(item.strip()) not in allowed:
            return False
    return True


def _check_acl(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    src_key, dst_key = _acl_src_key(rule), _acl_dst_key(rule)
    for src_path, src in aliases(rule, src_key, path):
        check_alias(ctx, src_path, src, section="acls", side="src")
    parsed = []
    for dst_path, dst in strings(rule, dst_key, path):
        entry = _parsed_dst(dst)
        if entry is not None:
            entry = (entry[0].strip(), entry[1])
            parsed.append((dst_path, *entry))
            check_alias(ctx, dst_path, entry[0], section="acls", side="dst")
    proto = _proto(rule)
    if proto is not None and proto not in PORTED_PROTOCOLS:
        for dst_path, _alias, ports in parsed:
            if ports != ALL_PORTS:
                message = (
                    f"protocol does not support specific ports: {quoted(str(rule['proto']))}, "
                    'only "*" is allowed'
                )
                ctx.error(dst_path, message, "proto")
                break
    self_paths = [p for p, alias, _ports in parsed if alias == SELF]
    if self_paths and not _self_sources_ok(ctx, rule, src_key, acl=True):
        ctx.error(self_paths[0], SELF_SOURCES_MESSAGE, "autogroup")


def check_acls(ctx: Context) -> None:
    for path, rule in ctx.rules("acls"):
        _check_acl(ctx, path, rule)


def _check_capabilities(ctx: Context, path: JsonPath, app: Mapping[str, Any]) -> None:
    for name in app:
        if "://" in name or "/" not in name:
            message = "capability name must have the form {domain}/{path}"
            ctx.error((*path, "app", name), message, "capability", key=True)
        elif capabilities.verdict(name) is CapVerdict.REFUSED:
            message = capabilities.REFUSED_MESSAGE
            ctx.error((*path, "app", name), message, "capability", key=True)
        elif capabilities.verdict(name) is CapVerdict.UNKNOWN:
            message = (
                f"capability {quoted(name)} is in the tailscale.com domain, where the server "
                "allows only the names it knows; neither its documentation nor a capture "
                "says whether this one is allowed"
            )
            ctx.warn((*path, "app", name), message, key=True)


def _check_grant_targets(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    app = rule.get("app")
    has_app = isinstance(app, Mapping) and len(app) > 0
    for dst_path, dst in aliases(rule, "dst", path):
        if has_app and dst == "autogroup:internet":
            ctx.error(dst_path, "cannot use app grants with autogroup:internet", "grant")
            break
    for dst_path, dst in aliases(rule, "dst", path):
        if alias_kind(dst) is Kind.IP and "/" in dst:
            try:
                network = parse_ip_or_prefix(dst)
            except ValueError:
                continue
            if network.prefixlen == 0:
                message = (
                    f'dst {quoted(str(network))}: to allow all IP addresses, use "*" or '
                    '"autogroup:internet"'
                )
                ctx.error(dst_path, message, "default-route")
                break


def _check_grant(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    ip, app = rule.get("ip"), rule.get("app")
    has_ip = isinstance(ip, list) and len(ip) > 0
    if not has_ip and not (isinstance(app, Mapping) and len(app) > 0):
        ctx.error(path, "ip and app can not both be empty", "grant")
    if isinstance(app, Mapping):
        _check_capabilities(ctx, path, app)
    _check_grant_targets(ctx, path, rule)
    for src_path, src in aliases(rule, "src", path):
        check_alias(ctx, src_path, src, section="grants", side="src")
    for dst_path, dst in aliases(rule, "dst", path):
        check_alias(ctx, dst_path, dst, section="grants", side="dst")
    for via_path, tag in aliases(rule, "via", path):
        if tag.startswith("tag:") and tag not in ctx.tag_owners:
            ctx.error(via_path, f"tag {quoted(tag)} not found", "undefined-tag")
    self_paths = [p for p, dst in aliases(rule, "dst", path) if dst == SELF]
    if self_paths and not _self_sources_ok(ctx, rule, "src", acl=False):
        ctx.error(self_paths[0], SELF_SOURCES_MESSAGE, "autogroup")
    _check_ip_protocols(ctx, path, rule)


def _check_ip_protocols(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    for ip_path, spec in strings(rule, "ip", path):
        proto_text, colon, ports = spec.partition(":")
        if not colon or ports == "*" or ":" in ports:
            continue
        try:
            proto = proto_number(proto_text)
        except PortError:
            continue
        if proto not in PORTED_PROTOCOLS:
            message = (
                f"protocol does not support specific ports: {quoted(proto_text)}, "
                'only "*" is allowed'
            )
            ctx.error(ip_path, message, "proto")


def check_grants(ctx: Context) -> None:
    for path, rule in ctx.rules("grants"):
        _check_grant(ctx, path, rule)
