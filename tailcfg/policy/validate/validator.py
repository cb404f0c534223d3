"""The server's rejection checks of a policy file, with its wording, at exact positions.

``validate(doc)`` returns every error Tailscale's control server would reject the
policy for (``tests``/``sshTests`` assertions excepted: they need the engine, see
:mod:`tailcfg.policy.evaluate.run`), each at the offending value. The list is ordered
the way the server checks, so its first entry is the message the server answers
with: first what decoding rejects (schema shape, actions, ports, protocols,
durations, nested groups, ``via``), section by section in file order; then the
validation pass over acls, ssh, grants, nodeAttrs, tagOwners, autoApprovers,
ipsets, postures and sshTests destinations.

``warnings(doc)`` reports groups, hosts and tags that nothing uses.

The policy engine calls ``validate`` before compiling and raises
:class:`~tailcfg.errors.PolicyError` with the result when it is not empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailcfg.hujson import Document
from tailcfg.policy.validate.assertions import check_tests
from tailcfg.policy.validate.context import Context, quoted
from tailcfg.policy.validate.refs import (
    any_strings,
    check_auto_approvers,
    check_ipsets,
    check_legacy_members,
    check_node_attrs,
    check_postures,
    check_tag_owners,
    parse_auto_approvers,
    parse_groups,
    parse_hosts,
    parse_tag_owners,
)
from tailcfg.policy.validate.rules import check_acls, check_grants, parse_acls, parse_grants
from tailcfg.policy.validate.schema import canonical_value, original_path, schema_findings
from tailcfg.policy.validate.ssh import check_ssh, check_ssh_tests, parse_ssh
from tailcfg.source import Diagnostic, Severity

__all__ = ["check", "tailnet_domains", "unverified", "validate", "warnings"]

_PARSERS = (
    parse_groups,
    parse_hosts,
    parse_tag_owners,
    parse_auto_approvers,
    parse_acls,
    parse_grants,
    parse_ssh,
)
_CHECKS = (
    check_acls,
    check_ssh,
    check_grants,
    check_node_attrs,
    check_tag_owners,
    check_auto_approvers,
    check_ipsets,
    check_postures,
    check_ssh_tests,
    check_legacy_members,
    check_tests,
)
# Top-level keys the schema lets through whose acceptance by the server is not known.
_UNVERIFIED_KEYS = ("nodeVisibility",)
# Sections whose strings can reference groups, hosts and tags.
_USING_SECTIONS = (
    "acls",
    "grants",
    "ssh",
    "tagOwners",
    "autoApprovers",
    "nodeAttrs",
    "ipsets",
    "tests",
    "sshTests",
)


def tailnet_domains(users: Sequence[Any]) -> frozenset[str]:
    """The tailnet's own domain: that of its first user's email (the owner).

    ``users`` are dicts with an ``email`` (the conformance captures' shape) or
    plain email strings. Users invited from other domains do not add theirs: the
    server rejects ``user:*@<their domain>``.
    """
    for user in users:
        email = user.get("email") if isinstance(user, Mapping) else user
        if isinstance(email, str) and "@" in email:
            return frozenset({email.rpartition("@")[2]})
    return frozenset()


def validate(
    doc: Document,
    *,
    users: Sequence[Any] | None = None,
    domains: Iterable[str] | None = None,
) -> list[Diagnostic]:
    """Every server-side rejection of the policy in ``doc``, first the one the server names.

    ``domains`` (or, failing that, the domain of the first of ``users``) enables
    the check that ``user:*@domain`` / ``localpart:*@domain`` name the tailnet's
    own domain; without either it is skipped.
    """
    return _validate(doc, canonical_value(doc.value), users=users, domains=domains)[0]


def check(
    doc: Document,
    *,
    users: Sequence[Any] | None = None,
    domains: Iterable[str] | None = None,
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """``(validate(doc), warnings)``, sharing the work of both.

    The warnings are first the ``unverified`` constructs (the server's answer to them is
    not known), then the hints (legacy spellings), then declarations nothing uses.
    """
    value = canonical_value(doc.value)
    errors, unverified = _validate(doc, value, users=users, domains=domains)
    return errors, [*unverified, *_warnings(doc, value)]


def unverified(doc: Document) -> list[Diagnostic]:
    """The constructs of ``doc`` whose acceptance by the server is not known."""
    return _validate(doc, canonical_value(doc.value), users=None, domains=None)[1]


def _validate(
    doc: Document,
    value: Any,
    *,
    users: Sequence[Any] | None,
    domains: Iterable[str] | None,
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    if domains is not None:
        known: frozenset[str] | None = frozenset(domains)
    elif users:
        known = tailnet_domains(users)
    else:
        known = None
    ctx = Context(doc, value, domains=known)
    for path, diag in schema_findings(doc, value):
        ctx.parse_errors.setdefault(str(path[0]) if path else "", []).append(diag)
    for parse in _PARSERS:
        parse(ctx)
    for run in _CHECKS:
        run(ctx)
    for key in _UNVERIFIED_KEYS:
        if key in ctx.policy:
            message = (
                f'top-level key "{key}": reported in use, but neither documented nor captured; '
                "whether the server accepts it is not known (ignored offline)"
            )
            ctx.warn((key,), message, key=True)
    notes = sorted([*ctx.unverified, *ctx.hints], key=lambda d: (d.span.offset, d.code))
    return ctx.in_sorted_findings(list(ctx.policy)), notes


def _references(policy: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for section in _USING_SECTIONS:
        for text in any_strings(policy.get(section)):
            names.add(text)
            names.add(text.rpartition(":")[0])
            names.add(text.removeprefix("[").partition("]")[0])
    approvers = policy.get("autoApprovers")
    if isinstance(approvers, Mapping):
        names.update(any_strings(approvers.get("routes")))
    return names


def warnings(doc: Document) -> list[Diagnostic]:
    """Groups, hosts and tags that are declared but used nowhere in the policy."""
    return _warnings(doc, canonical_value(doc.value))


def _warnings(doc: Document, value: Any) -> list[Diagnostic]:
    policy = value if isinstance(value, Mapping) else {}
    used = _references(policy)
    out: list[Diagnostic] = []
    for section, what, code in (
        ("groups", "group", "unused-group"),
        ("hosts", "host", "unused-host"),
        ("tagOwners", "tag", "unused-tag"),
    ):
        declared = policy.get(section)
        if not isinstance(declared, Mapping):
            continue
        for name in declared:
            if name in used:
                continue
            span = doc.key_span_at(original_path(doc.value, (section, name)))
            message = f"{what} {quoted(name)} is declared but not used by any rule"
            out.append(Diagnostic(span, message, code=code, severity=Severity.WARNING))
    return out
