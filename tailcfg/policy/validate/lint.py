"""``tailcfg policy lint``: syntax, schema, the server's rejections, then warnings.

``lint_text`` never raises for bad input: a file that is not HuJSON yields its
syntax diagnostic, anything else the full list. Errors come in the server's order
(see :mod:`tailcfg.policy.validate.validator`), warnings after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailcfg import hujson
from tailcfg.errors import HujsonError
from tailcfg.policy.validate.validator import check
from tailcfg.source import Diagnostic, LineIndex, Severity

# Short descriptions of the diagnostic codes (SARIF rule metadata, docs).
RULES: dict[str, str] = {
    "syntax": "The file is not valid HuJSON.",
    "duplicate-key": "An object has the same key twice.",
    "io": "The file could not be read.",
    "schema": "A value has the wrong JSON type or shape.",
    "unknown-field": "A field the policy file does not have.",
    "undefined-tag": "A tag that tagOwners does not define.",
    "undefined-group": "A group that groups does not define.",
    "undefined-host": "A host alias that hosts does not define.",
    "undefined-ipset": "An ipset that ipsets does not define.",
    "undefined-posture": "A posture that postures does not define.",
    "nested-group": "A group that has another group as a member.",
    "autogroup": "An autogroup used where the server does not allow it.",
    "alias": "A string that is no kind of alias.",
    "owner": "A tag owner or auto approver that is not a user, group, tag or autogroup.",
    "port": "A malformed port, port range or destination.",
    "proto": "An unknown protocol, or ports with a protocol that allows only '*'.",
    "action": "An ACL action other than accept.",
    "grant": "A grant without ip or app, or app with autogroup:internet.",
    "capability": "A capability name that is malformed or reserved by Tailscale.",
    "via": "A via entry that is not a tag.",
    "default-route": "0.0.0.0/0 or ::/0 as a grant destination.",
    "ssh-action": "An SSH rule without a valid action (accept or check).",
    "ssh-users": "An SSH rule without users, or with an invalid login user.",
    "ssh-src": "An SSH source that is not a user, group, tag or autogroup.",
    "ssh-dst": "An SSH destination that is a host alias or an IP.",
    "check-period": "A checkPeriod that is malformed, negative, over 168h or without check.",
    "accept-env": "An empty acceptEnv pattern.",
    "domain": "A user:*@domain or localpart:*@domain outside the tailnet's domains.",
    "ssh-tests": "An sshTests destination that is not one SSH-reachable host.",
    "ip": "A malformed IP address or CIDR prefix.",
    "ip-pool": "A nodeAttrs ipPool outside 100.64.0.0/10 or in a reserved range.",
    "tag-name": "A tag name that does not start with a letter.",
    "host-name": "A host alias name that cannot be used as an alias.",
    "unused-group": "A group that no rule uses.",
    "unused-host": "A host alias that no rule uses.",
    "unused-tag": "A tag that no rule uses.",
}


@dataclass(frozen=True, slots=True)
class LintResult:
    """The findings of one file: errors first (server order), then warnings."""

    path: str
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors


def lint_text(
    text: str,
    path: str = "<input>",
    *,
    users: Sequence[Any] | None = None,
    domains: Iterable[str] | None = None,
) -> LintResult:
    """Lint one policy text; ``users``/``domains`` enable the tailnet-domain checks."""
    try:
        doc = hujson.parse(text, path)
    except HujsonError as exc:
        return LintResult(path, exc.diagnostics)
    errors, warnings = check(doc, users=users, domains=domains)
    return LintResult(path, (*errors, *warnings))


def lint_file(
    path: Path | str,
    *,
    users: Sequence[Any] | None = None,
    domains: Iterable[str] | None = None,
) -> LintResult:
    """Read and lint one file; a file that cannot be read is one ``io`` error."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        span = LineIndex("", name).span(0)
        return LintResult(name, (Diagnostic(span, f"cannot read file: {reason}", code="io"),))
    return lint_text(text, name, users=users, domains=domains)


def lint_files(
    paths: Iterable[Path | str],
    *,
    users: Sequence[Any] | None = None,
    domains: Iterable[str] | None = None,
) -> list[LintResult]:
    """Lint every file, in order."""
    return [lint_file(p, users=users, domains=domains) for p in paths]
