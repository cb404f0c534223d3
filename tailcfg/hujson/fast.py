"""The fast path: blank comments and trailing commas with one compiled regex, then json.loads.

Blanking keeps every character offset (a comment becomes spaces, its newlines stay), so
the result decodes to the same value. This path only ever *accepts*: any doubt (a stray
``/``, an unterminated string or comment, a trailing comma with nothing before it, a
json.loads error, NaN/Infinity, a duplicate key) returns ``None`` and the exact scanner
decides, with the position of the error. The two paths accept the same texts
(a property test compares them).
"""

from __future__ import annotations

import json
import re
from typing import Any

_COMMENT = r"//[^\n]*+\n|/\*(?s:.*?)\*/"
_TRAILING = r"(?=(?:[ \t\r\n]++|" + _COMMENT + r")*+[\]}])"
_PLAIN = r'(?:[^"/,]++|"(?:[^"\\]++|\\(?s:.))*+"|,(?!(?:[ \t\r\n]++|' + _COMMENT + r")*+[\]}]))*+"
_SCAN = re.compile(_PLAIN + r"(?:(//[^\n]*+\n)|(/\*(?s:.*?)\*/)|(," + _TRAILING + r")|((?s:.))|\Z)")
_NOT_NEWLINE = re.compile(r"[^\n]")


class _Reject(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _Reject(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Reject("duplicate key")
    return out


def blank(text: str) -> str | None:
    """``text`` with comments and trailing commas turned into spaces, or None when unsure."""
    if "/" not in text and "," not in text:
        return text
    out: list[str] = []
    pos = 0
    last_sig = ""
    for m in _SCAN.finditer(text):
        kind = m.lastindex
        if kind is None:
            break
        start, end = m.span(kind)
        if kind == 4:
            return None
        plain = text[pos:start].rstrip(" \t\r\n")
        if plain:
            last_sig = plain[-1]
        out.append(text[pos:start])
        if kind == 3:
            if last_sig in ("", "[", "{", ","):
                return None
            out.append(" ")
        else:
            out.append(_NOT_NEWLINE.sub(" ", m.group(kind)))
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def loads(text: str) -> tuple[bool, Any]:
    """(True, value) when the fast path accepts ``text``; (False, None) otherwise."""
    blanked = blank(text)
    if blanked is None:
        return False, None
    try:
        value = json.loads(blanked, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, _Reject, RecursionError):
        return False, None
    return True, value
