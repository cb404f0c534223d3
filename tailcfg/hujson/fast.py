"""The fast path: strip comments and trailing commas with compiled regexes, then json.loads.

The regexes are deliberately not string-aware, which keeps them at C speed with no
Python callback. Every removed comment or trailing comma becomes a TAB: outside a
string that is whitespace, but inside a string (a ``//`` in a URL, say) json.loads
rejects a raw TAB. So a mistaken match can only make this path *give up*, never
accept a wrong value. Anything this path rejects (errors, NaN/Infinity, duplicate
keys, a stray ``/``, ``[,]``, a trailing comma after a space) goes to the exact
scanner, which decides and reports the position. A property test checks that this
path never accepts a text the scanner rejects, and that both give the same value.
"""

from __future__ import annotations

import json
import re
from typing import Any

# "://" is skipped so that URLs in strings do not send a policy to the slow path.
COMMENT = re.compile(r"/(?:/(?<!://)[^\n]*+\n|\*(?s:.*?)\*/)")
# A trailing comma right after a value: a ']', '}', '"', the last letter of true/false/null
# or a digit. A trailing comma after anything else ('[', ',', or whitespace such as
# "1 ,]") is left in place, so json.loads rejects it and the exact scanner decides.
# (The lookahead goes first: it fails at most commas, so the lookbehind rarely runs.)
TRAILING_COMMA = re.compile(r",(?=[ \t\r\n]*+[\]}])(?<=[\]}\"el0-9],)")


class _Reject(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _Reject(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Reject("duplicate key")
    return out


def strip(text: str) -> str:
    """``text`` with comments and trailing commas replaced by TABs."""
    if "/" in text:
        text = COMMENT.sub("\t", text)
    if "," in text:
        text = TRAILING_COMMA.sub("\t", text)
    return text


def loads(text: str) -> tuple[bool, Any]:
    """(True, value) when the fast path accepts ``text``; (False, None) otherwise."""
    stripped = strip(text)
    try:
        value = json.loads(stripped, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, _Reject, RecursionError):
        return False, None
    return True, value
