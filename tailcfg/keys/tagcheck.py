"""Offline check that the tags a host asks for exist in the policy's ``tagOwners``.

With an OAuth client, Tailscale only mints keys for tags the client owns: a tag listed in
the client's own tags, or one whose ``tagOwners`` entry names one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tailcfg import hujson
from tailcfg.errors import PolicyError
from tailcfg.source import Diagnostic
from tailcfg.textfile import read_text


def load_tag_owners(policy: Path) -> tuple[Mapping[str, Sequence[str]], Any]:
    """``tagOwners`` of the policy file, and its Document (for positions)."""
    text = read_text(policy, "policy")
    document = hujson.parse(text, str(policy))
    value = document.value
    owners = value.get("tagOwners") if isinstance(value, dict) else None
    return (owners if isinstance(owners, dict) else {}), document


def check_tags(
    policy: Path, tags: Sequence[str], *, host: str, oauth_tags: Sequence[str] | None = None
) -> None:
    """PolicyError (positioned at ``tagOwners``) if a tag is undefined or not owned by OAuth."""
    owners, document = load_tag_owners(policy)
    problems: list[str] = []
    for tag in tags:
        if tag not in owners:
            problems.append(f'host {host}: tag "{tag}" not found in tagOwners')
        elif oauth_tags is not None and tag not in oauth_tags:
            owned_by = {str(o) for o in owners.get(tag) or ()}
            if not owned_by & set(oauth_tags):
                allowed = ", ".join(oauth_tags) or "none"
                problems.append(
                    f'host {host}: tag "{tag}" is not owned by the OAuth client\'s tags ({allowed})'
                )
    if oauth_tags is not None and not tags:
        problems.append(f"host {host}: keys minted with an OAuth client must be tagged")
    if problems:
        where = ("tagOwners",) if "tagOwners" in (document.value or {}) else ()
        span = document.key_span_at(where) if where else document.span_at(())
        raise PolicyError([Diagnostic(span, p, "undefined-tag") for p in problems])
