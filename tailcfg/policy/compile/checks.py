"""The engine's own compile-time checks: what resolution finds the server would reject.

These overlap with :mod:`tailcfg.policy.validate.validator` on purpose (the engine must not
compile what it cannot resolve); the validator runs first and wins. Messages are the
server's wording; the first finding, in the server's order, is raised as PolicyError.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tailcfg.errors import PolicyError
from tailcfg.policy.model import addrs, capabilities
from tailcfg.policy.model.capabilities import CapVerdict
from tailcfg.policy.model.policy import Policy, Ref
from tailcfg.policy.model.ports import PortError, parse_dst, parse_ip_spec, parse_proto
from tailcfg.source import Diagnostic, Span

SELF = "autogroup:self"
_SELF_OK = ("autogroup:member",)
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNITS["h"] = 3600 * 10**9
_DUR = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")


class _Found(Exception):
    def __init__(self, span: Span, message: str, code: str) -> None:
        super().__init__(message)
        self.diag = Diagnostic(span, message, code=code)


def _fail(span: Span, message: str, code: str = "invalid-policy") -> _Found:
    return _Found(span, message, code)


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string; ValueError with Go's message."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    pos, total = 0, 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    while pos < len(s):
        m = _DUR.match(s, pos)
        if not m:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * int(total)


def format_go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for whole-second-or-more values."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    secs, frac = divmod(ns, 10**9)
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s}.{frac:09d}".rstrip("0").rstrip(".") if frac else str(s)
    if h:
        return f"{sign}{h}h{m}m{sec}s"
    if m:
        return f"{sign}{m}m{sec}s"
    return f"{sign}{sec}s"


def _groups(policy: Policy) -> None:
    for name in sorted(policy.groups, reverse=True):
        for member in policy.groups[name].members:
            if member.text.startswith("group:"):
                raise _fail(
                    member.span,
                    f'groups["{name}"]: "{member.text}": group members cannot be recursive',
                    "recursive-group",
                )


def _tag_known(policy: Policy, ref: Ref) -> bool:
    return ref.text.strip() in policy.tag_owners


def _acl_parse(policy: Policy) -> None:
    for acl in policy.acls:
        if acl.action != "accept":
            raise _fail(
                acl.loc.child("action").span,
                f'action="{acl.action}" is not supported',
                "invalid-action",
            )
        if acl.proto is not None:
            try:
                parse_proto(acl.proto.text)
            except PortError as exc:
                raise _fail(acl.proto.span, str(exc), "invalid-proto") from None
        for d in acl.dst:
            try:
                parse_dst(d.text)
            except PortError as exc:
                raise _fail(d.span, str(exc), "invalid-port") from None


def _grant_parse(policy: Policy) -> None:
    for g in policy.grants:
        for ip in g.ip:
            try:
                parse_ip_spec(ip.text)
            except PortError as exc:
                raise _fail(ip.span, str(exc), "invalid-port") from None
        for v in g.via:
            if not v.text.strip().startswith("tag:"):
                raise _fail(v.span, "via can only be a tag", "invalid-via")


def _ssh_parse(policy: Policy) -> None:
    for rule in policy.ssh:
        action = rule.action.strip()
        if action not in ("", "accept", "check"):
            raise _fail(
                rule.loc.child("action").span, f'"{action}" is not a valid action', "invalid-action"
            )
        if rule.check_period is not None and rule.check_period != "always":
            try:
                parse_go_duration(rule.check_period)
            except ValueError as exc:
                span = rule.loc.child("checkPeriod").span
                raise _fail(span, str(exc), "invalid-duration") from None


def _src_checks(policy: Policy, refs: tuple[Ref, ...]) -> Iterator[_Found]:
    for s in refs:
        a = s.text.strip()
        if a.startswith("tag:") and not _tag_known(policy, s):
            yield _fail(s.span, f'src=tag not found: "{a}"', "undefined-tag")
        if a == SELF:
            yield _fail(s.span, '"autogroup:self" not valid on the src side of a rule')


def _self_src_ok(policy: Policy, refs: tuple[Ref, ...], *, allow_star: bool) -> bool:
    for s in refs:
        a = s.text.strip()
        if a == "*" and allow_star:
            continue
        if a in _SELF_OK or a.startswith("group:") or ("@" in a and ":" not in a):
            continue
        return False
    return True


_SELF_MSG = "autogroup:self can only be used with users, groups, or supported autogroups"


def _acl_semantic(policy: Policy) -> None:
    for acl in policy.acls:
        for err in _src_checks(policy, acl.src):
            raise err
        aliases = []
        for d in acl.dst:
            alias = parse_dst(d.text).alias.strip()
            aliases.append(alias)
            if alias.startswith("tag:") and alias not in policy.tag_owners:
                raise _fail(d.span, f'dst="{alias}": tag not found: "{alias}"', "undefined-tag")
            if alias == "autogroup:danger-all":
                raise _fail(d.span, "cannot use autogroup:danger-all as a dst")
        if SELF in aliases and not _self_src_ok(policy, acl.src, allow_star=True):
            raise _fail(acl.span, _SELF_MSG, "invalid-self")


def _grant_semantic(policy: Policy) -> None:
    for g in policy.grants:
        if not g.has_ip and not g.has_app:
            raise _fail(g.span, "ip and app can not both be empty", "empty-grant")
        for cap in g.app:
            if "://" in cap:
                raise _fail(
                    g.loc.child("app").span, "capability name must have the form {domain}/{path}"
                )
            if capabilities.verdict(cap) is CapVerdict.REFUSED:
                raise _fail(g.loc.child("app").span, capabilities.REFUSED_MESSAGE)
        dsts = [d.text.strip() for d in g.dst]
        if g.has_app and "autogroup:internet" in dsts:
            raise _fail(g.span, "cannot use app grants with autogroup:internet")
        for d in g.dst:
            iv = addrs.parse_interval(d.text.strip()) if "/" in d.text else None
            if iv is not None and iv[1] == 0 and addrs.is_exit_route(d.text.strip()):
                c = addrs.canonical(d.text.strip())
                raise _fail(
                    d.span, f'dst "{c}": to allow all IP addresses, use "*" or "autogroup:internet"'
                )
        for err in _src_checks(policy, g.src):
            raise err
        for d in g.dst:
            a = d.text.strip()
            if a.startswith("tag:") and a not in policy.tag_owners:
                raise _fail(d.span, f'tag not found: "{a}"', "undefined-tag")
            if a == "autogroup:danger-all":
                raise _fail(d.span, "cannot use autogroup:danger-all as a dst")
        for v in g.via:
            if not _tag_known(policy, v):
                raise _fail(v.span, f'tag "{v.text.strip()}" not found', "undefined-tag")
        if SELF in dsts and not _self_src_ok(policy, g.src, allow_star=False):
            raise _fail(g.span, _SELF_MSG, "invalid-self")


def _ssh_semantic(policy: Policy) -> None:
    for rule in policy.ssh:
        if not rule.action.strip():
            raise _fail(rule.span, "action must be specified", "invalid-action")
        if not rule.users:
            raise _fail(rule.span, "users must be specified", "invalid-users")
        for u in rule.users:
            if u.text.strip() in ("", "*"):
                raise _fail(u.span, f'user "{u.text.strip()}" is not valid', "invalid-users")
        for e in rule.accept_env:
            if e.text == "":
                raise _fail(e.span, "acceptEnv values cannot be empty")
        for s in rule.src:
            a = s.text.strip()
            if a.startswith("tag:") and a not in policy.tag_owners:
                raise _fail(s.span, f'tag not found: "{a}"', "undefined-tag")
        for d in rule.dst:
            a = d.text.strip()
            if a.startswith("tag:") and a not in policy.tag_owners:
                raise _fail(d.span, f'tag not found: "{a}"', "undefined-tag")
            if a in policy.hosts:
                raise _fail(d.span, f'invalid dst "{a}"', "invalid-dst")
        if rule.check_period not in (None, "always"):
            ns = parse_go_duration(rule.check_period or "")
            text = format_go_duration(ns)
            period = rule.loc.child("checkPeriod").span
            if ns < 0:
                raise _fail(period, f"checkPeriod {text} must be a positive duration")
            if ns > 168 * 3600 * 10**9:
                raise _fail(period, f"checkPeriod {text} is above the max (168h)")


def _node_attrs(policy: Policy) -> None:
    for na in policy.node_attrs:
        for t in na.target:
            a = t.text.strip()
            if a.startswith("tag:") and a not in policy.tag_owners:
                raise _fail(t.span, f'tag not found: "{a}"', "undefined-tag")
            if a == SELF:
                raise _fail(t.span, "internal server error", "server-error")


def check_policy(policy: Policy) -> None:
    """Raise PolicyError with the first finding the server would report."""
    try:
        _groups(policy)
        _acl_parse(policy)
        _grant_parse(policy)
        _ssh_parse(policy)
        _acl_semantic(policy)
        _ssh_semantic(policy)
        _grant_semantic(policy)
        _node_attrs(policy)
    except _Found as found:
        raise PolicyError([found.diag]) from None
