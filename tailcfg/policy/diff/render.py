"""Render a :class:`~tailcfg.policy.diff.compare.PolicyDiff`: text, markdown, json, github.

Pure functions returning ``str``. ``markdown`` is ready to paste as a pull-request
comment; ``json`` is the stable shape documented in ``docs/diff.md``; ``github`` is one
workflow-command notice per change (``docs/output-formats.md``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from tailcfg.outputs import escape_github_data, escape_github_property
from tailcfg.policy.diff.compare import AccessChange, CapChange, DeclChange, PolicyDiff, SshChange
from tailcfg.policy.evaluate.verdicts import RuleRef

NO_CHANGE = "no access change"


def _who(items: Sequence[str]) -> str:
    return ", ".join(items)


def access_line(c: AccessChange) -> str:
    return f"{_who(c.src)} -> {_who(c.dst)}: {c.ports_text}"


def ssh_line(c: SshChange) -> str:
    action = f"{c.old_action} -> {c.action}" if c.old_action else c.action
    return f"{_who(c.src)} -> {_who(c.dst)} as {_who(c.users)} ({action})"


def cap_line(c: CapChange) -> str:
    return f"{_who(c.src)} -> {_who(c.dst)}: {_who(c.capabilities)}"


def decl_line(d: DeclChange) -> str:
    parts = [f"+{x}" for x in d.added] + [f"-{x}" for x in d.removed]
    what = " ".join(parts) if parts else "(empty)"
    return f"{d.section} {d.name} {d.status}: {what}"


def summary(d: PolicyDiff) -> str:
    """The non-zero counts (``3 gained, 1 lost, 1 declaration changed``), or ``0 changes``."""
    counts = [
        (len(d.gained), "gained"),
        (len(d.lost), "lost"),
        (len(d.ssh_gained), "SSH gained"),
        (len(d.ssh_lost), "SSH lost"),
        (len(d.ssh_changed), "SSH changed"),
        (len(d.caps_gained), "capabilities gained"),
        (len(d.caps_lost), "capabilities lost"),
        (len(d.declarations), "declarations changed"),
    ]
    parts = [f"{n} {what}" for n, what in counts if n]
    text = ", ".join(parts) or "0 changes"
    return text.replace("1 declarations", "1 declaration") if len(d.declarations) == 1 else text


Rows = list[tuple[str, tuple[RuleRef, ...]]]


def _sections(d: PolicyDiff) -> list[tuple[str, str, Rows]]:
    return [
        ("Access gained", "+", [(access_line(c), c.rules) for c in d.gained]),
        ("Access lost", "-", [(access_line(c), c.rules) for c in d.lost]),
        ("SSH gained", "+", [(ssh_line(c), c.rules) for c in d.ssh_gained]),
        ("SSH lost", "-", [(ssh_line(c), c.rules) for c in d.ssh_lost]),
        ("SSH changed", "~", [(ssh_line(c), c.rules) for c in d.ssh_changed]),
        ("Capabilities gained", "+", [(cap_line(c), ()) for c in d.caps_gained]),
        ("Capabilities lost", "-", [(cap_line(c), ()) for c in d.caps_lost]),
        ("Declarations", "~", [(decl_line(c), ()) for c in d.declarations]),
    ]


def rules_text(rules: Sequence[RuleRef], *, lost: bool) -> str:
    """``by policy.hujson:33 (grants[0])``, or ``was ...`` for access that is lost."""
    if not rules:
        return ""
    return ("was " if lost else "by ") + ", ".join(r.render() for r in rules)


def render_text(d: PolicyDiff) -> str:
    lines = [f"policy diff {d.old} -> {d.new} ({d.mode})"]
    for title, mark, rows in _sections(d):
        if rows:
            lines.append(f"{title}:")
            for row, rules in rows:
                why = rules_text(rules, lost=mark == "-")
                lines.append(f"  {mark} {row}  {why}" if why else f"  {mark} {row}")
    if not d.access_changed:
        lines.append(NO_CHANGE)
    lines.append(summary(d))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _md_list(items: Sequence[str]) -> str:
    return ", ".join(_md(x) for x in items) if items else "—"


def _md_rules(rules: Sequence[RuleRef]) -> str:
    cells = [f"{_md(f'{r.span.path}:{r.span.line}')} {r.name}" if r.span else r.name for r in rules]
    return "<br>".join(cells) or "—"


def _md_table(header: Sequence[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return out


def render_markdown(d: PolicyDiff) -> str:
    """A pull-request comment: a verdict line, then one table per kind of change."""
    lines = [f"### Policy access diff: {_md(d.old)} → {_md(d.new)}", ""]
    verdict = "**No access change.**" if not d.access_changed else "**Access changes.**"
    lines += [f"{verdict} {summary(d)} ({d.mode} devices).", ""]
    for title, changes in (("Access gained", d.gained), ("Access lost", d.lost)):
        if changes:
            rows = [
                [_md_list(c.src), _md_list(c.dst), _md(c.ports_text), _md_rules(c.rules)]
                for c in changes
            ]
            header = ["Source", "Destination", "Ports", "Rule"]
            lines += [f"#### {title}", "", *_md_table(header, rows), ""]
    for title, ssh in (
        ("SSH gained", d.ssh_gained),
        ("SSH lost", d.ssh_lost),
        ("SSH changed", d.ssh_changed),
    ):
        if ssh:
            rows = [
                [
                    _md_list(c.src),
                    _md_list(c.dst),
                    _md_list(c.users),
                    f"{c.old_action} → {c.action}" if c.old_action else c.action,
                    _md_rules(c.rules),
                ]
                for c in ssh
            ]
            header = ["Source", "Destination", "Login users", "Action", "Rule"]
            lines += [f"#### {title}", "", *_md_table(header, rows), ""]
    for title, caps in (("Capabilities gained", d.caps_gained), ("Capabilities lost", d.caps_lost)):
        if caps:
            rows = [[_md_list(c.src), _md_list(c.dst), _md_list(c.capabilities)] for c in caps]
            header = ["Source", "Destination", "Capabilities"]
            lines += [f"#### {title}", "", *_md_table(header, rows), ""]
    if d.declarations:
        rows = [
            [d2.section, _md(d2.name), d2.status, _md_list(d2.added), _md_list(d2.removed)]
            for d2 in d.declarations
        ]
        header = ["Section", "Name", "Change", "Added", "Removed"]
        lines += ["#### Declarations", "", *_md_table(header, rows), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_json(d: PolicyDiff) -> str:
    return json.dumps(d.to_json(), indent=2, ensure_ascii=False) + "\n"


def render_github(d: PolicyDiff) -> str:
    """One ``::notice`` per change (titled by its kind); nothing when nothing changed.

    Gained and changed rows point at the rule of the new policy that grants them;
    lost rows name the old rule in the message (its lines are the old file's)."""
    out = []
    for title, mark, rows in _sections(d):
        for row, rules in rows:
            props = {"title": "tailcfg " + title.lower()}
            span = rules[0].span if rules and mark != "-" else None
            if span is not None:
                props = {
                    "file": span.path,
                    "line": str(span.line),
                    "col": str(span.col),
                    "endLine": str(span.end_line),
                    "endColumn": str(span.end_col),
                    **props,
                }
            joined = ",".join(f"{k}={escape_github_property(v)}" for k, v in props.items())
            why = rules_text(rules, lost=True) if mark == "-" else ""
            message = f"{row} ({why})" if why else row
            out.append(f"::notice {joined}::{escape_github_data(message)}\n")
    return "".join(out)


RENDERERS: dict[str, Callable[[PolicyDiff], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
    "github": render_github,
}
