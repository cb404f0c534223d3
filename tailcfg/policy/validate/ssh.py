"""Checks of ``ssh`` rules and the static shape of ``sshTests`` destinations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailcfg.hujson import JsonPath
from tailcfg.policy.validate.context import Context, aliases, quoted, strings
from tailcfg.policy.validate.refs import check_alias, domain_error
from tailcfg.policy.validate.syntax import (
    Kind,
    alias_kind,
    format_go_duration,
    parse_go_duration,
    parse_ip_or_prefix,
)

MAX_CHECK_PERIOD = 168 * 3600 * 10**9
ACTIONS = frozenset({"", "accept", "check"})


def _action(rule: Mapping[str, Any]) -> str:
    value = rule.get("action")
    return value.strip() if isinstance(value, str) else ""


# --- parse phase -------------------------------------------------------------------------


def parse_ssh(ctx: Context) -> None:
    for path, rule in ctx.rules("ssh"):
        for key, value in rule.items():
            if key == "action" and isinstance(value, str) and value.strip() not in ACTIONS:
                message = f"{quoted(value.strip())} is not a valid action"
                ctx.parse_error((*path, key), message, "ssh-action")
            elif key == "checkPeriod" and isinstance(value, str) and value != "always":
                try:
                    parse_go_duration(value)
                except ValueError as exc:
                    ctx.parse_error((*path, key), str(exc), "check-period")


# --- semantic phase ----------------------------------------------------------------------


def _check_users(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    users = rule.get("users")
    if not isinstance(users, list) or not users:
        ctx.error(path, "users must be specified", "ssh-users")
        return
    for user_path, user in strings(rule, "users", path):
        login = user.strip()
        if login in ("", "*"):
            ctx.error(user_path, f"user {quoted(login)} is not valid", "ssh-users")
        elif login.startswith("localpart:*@") and ctx.domains is not None:
            domain = login.removeprefix("localpart:*@")
            if domain and domain != domain.lower():
                ctx.error(user_path, domain_error("", "PASSKEY"), "domain")
            elif domain and domain not in ctx.domains:
                ctx.error(user_path, domain_error("", domain), "domain")


def _check_dst(ctx: Context, path: JsonPath, dst: str) -> None:
    if alias_kind(dst) in (Kind.HOST, Kind.IP):
        ctx.error(path, f"invalid dst {quoted(dst)}", "ssh-dst")
    else:
        check_alias(ctx, path, dst, section="ssh", side="dst")


def _check_check_period(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    value = rule.get("checkPeriod")
    if not isinstance(value, str):
        return
    if _action(rule) != "check":
        ctx.error(
            (*path, "checkPeriod"), 'checkPeriod is only valid with action "check"', "check-period"
        )
        return
    if value == "always":
        return
    try:
        period = parse_go_duration(value)
    except ValueError:
        return  # reported while parsing
    if period < 0:
        message = f"checkPeriod {format_go_duration(period)} must be a positive duration"
        ctx.error((*path, "checkPeriod"), message, "check-period")
    elif period > MAX_CHECK_PERIOD:
        message = f"checkPeriod {format_go_duration(period)} is above the max (168h)"
        ctx.error((*path, "checkPeriod"), message, "check-period")


def _check_rule(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    if not _action(rule):
        ctx.error(path, "action must be specified", "ssh-action")
    _check_users(ctx, path, rule)
    for env_path, env in strings(rule, "acceptEnv", path):
        if not env:
            ctx.error(env_path, "acceptEnv values cannot be empty", "accept-env")
    for src_path, src in aliases(rule, "src", path):
        if alias_kind(src) in (Kind.HOST, Kind.IP):
            ctx.error(src_path, f"invalid src {quoted(src)}", "ssh-src")
        else:
            check_alias(ctx, src_path, src, section="ssh", side="src")
    for dst_path, dst in aliases(rule, "dst", path):
        _check_dst(ctx, dst_path, dst)
    _check_check_period(ctx, path, rule)
    _check_recorder(ctx, path, rule)


def _check_recorder(ctx: Context, path: JsonPath, rule: Mapping[str, Any]) -> None:
    """``recorder``: the tag of the session recorders (documented: one tag)."""
    entries = list(aliases(rule, "recorder", path))
    for rec_path, rec in entries:
        if alias_kind(rec) is Kind.TAG:
            if rec not in ctx.tag_owners:
                ctx.error(rec_path, f"tag not found: {quoted(rec)}", "undefined-tag")
        else:
            message = (
                f"recorder {quoted(rec)}: Tailscale documents a tag here; whether the server "
                "accepts anything else is not known (recorders resolved as any other alias)"
            )
            ctx.warn(rec_path, message)
    if len(entries) > 1:
        message = (
            "recorder: Tailscale documents exactly one tag; whether the server accepts "
            "several is not known (every recorder node is listed)"
        )
        ctx.warn((*path, "recorder"), message)


def check_ssh(ctx: Context) -> None:
    for path, rule in ctx.rules("ssh"):
        _check_rule(ctx, path, rule)


def _disallowed(ctx: Context, dst: str) -> bool:
    kind = alias_kind(dst)
    if kind is Kind.AUTOGROUP:
        return dst == "autogroup:internet"
    target = ctx.hosts.get(dst) if kind is Kind.HOST else dst if kind is Kind.IP else None
    if not isinstance(target, str):
        return False
    try:
        network = parse_ip_or_prefix(target)
    except ValueError:
        return False
    return network.prefixlen < network.max_prefixlen


def check_ssh_tests(ctx: Context) -> None:
    """Destinations of sshTests that cannot name one SSH-reachable host."""
    for path, test in ctx.rules("sshTests"):
        for dst_path, dst in aliases(test, "dst", path):
            if _disallowed(ctx, dst):
                message = f"SSH tests dst contains disallowed element {quoted(dst)}"
                ctx.error(dst_path, message, "ssh-tests")
            elif alias_kind(dst) is Kind.TAG and dst not in ctx.tag_owners:
                message = f"SSH tests dst contains unknown tag {quoted(dst)}"
                ctx.error(dst_path, message, "ssh-tests")
