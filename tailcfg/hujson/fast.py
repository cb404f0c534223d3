"""The fast path: strip comments and trailing commas with compiled regexes, then json.loads.

The regexes are deliberately not string-aware, which keeps them at C speed with no
Python callback. Every removed comment or trailing comma becomes a TAB: outside a
string that is whitespace, but inside a string (a ``//`` in a URL, say) json.loads
rejects a raw TAB. So a mistaken match can only make this path *give up*, never
accept a wrong value. Anything this path rejects (errors, NaN/Infinity, duplicate
keys, a stray ``/``, ``[,]``) goes to the exact scanner, which decides and reports the
position. A property test checks that both paths accept the same texts.
"""

from __future__ import annotations

import json
import re
from typing import Any

# "://" is skipped so that URLs in strings do not send a policy to the slow path.
COMMENT = re.compile(r"/(?:/(?<!://)[^\n]*+\n|\*(?s:.*?)\*/)")
TRAILING_COMMA = re.compile(r",(?=[ \t\r\n]*+[\]}])")
# A comma right after '[' or '{' is an error that deleting it as "trailing" would hide.
# (Two patterns with a literal first character search much faster than one with a set.)
_ARRAY_THEN_COMMA = re.compile(r"\[[ \t\r\n]*+,")
_OBJECT_THEN_COMMA = re.compile(r"\{[ \t\r\n]*+,")


class _Reject(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _Reject(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Reject("duplicate key")
    return out


def strip(text: str) -> str | None:
    """``text`` with comments and trailing commas replaced by TABs; None when unsure."""
    if "/" in text:
        text = COMMENT.sub("\t", text)
    if "," in text:
        stripped, count = TRAILING_COMMA.subn("\t", text)
        if count and (_ARRAY_THEN_COMMA.search(text) or _OBJECT_THEN_COMMA.search(text)):
            return None
        text = stripped
    return text


def loads(text: str) -> tuple[bool, Any]:
    """(True, value) when the fast path accepts ``text``; (False, None) otherwise."""
    stripped = strip(text)
    if stripped is None:
        return False, None
    try:
        value = json.loads(stripped, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, _Reject, RecursionError):
        return False, None
    return True, value
