"""Rejections: every non-JWCC input fails with a positioned HujsonError (golden text).

``tests/golden/hujson/rejections.txt`` holds one block per case: the input (as a Python
literal) and the exact diagnostic. ``TAILCFG_UPDATE_GOLDEN=1`` rewrites it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tailcfg.errors import HujsonError
from tailcfg.hujson import parse, parse_bytes
from tailcfg.hujson.document import scan

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hujson" / "rejections.txt"
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"

CASES: list[tuple[str, str]] = [
    ("empty input", ""),
    ("only whitespace", " \n\t"),
    ("only a comment", "// nothing\n"),
    ("single-quoted string", "{\"a\": 'b'}"),
    ("single-quoted key", "{'a': 1}"),
    ("unquoted key", "{\n  acls: []\n}"),
    ("missing comma between members", '{\n  "a": 1\n  "b": 2\n}'),
    ("missing comma between elements", '["a" "b"]'),
    ("missing colon", '{"a" 1}'),
    ("hexadecimal", "[0x1F]"),
    ("NaN", "[NaN]"),
    ("Infinity", '{"a": Infinity}'),
    ("negative Infinity", "-Infinity"),
    ("leading plus", "+1"),
    ("leading zero", "[007]"),
    ("negative leading zero", "-01"),
    ("dot without digits", "1."),
    ("dot first", ".5"),
    ("exponent without digits", "1e+"),
    ("bare minus", "[-]"),
    ("raw newline in string", '{"a": "line\nbreak"}'),
    ("raw tab in string", '"a\tb"'),
    ("raw NUL in string", '"a\x00b"'),
    ("invalid escape", '"\\x41"'),
    ("short unicode escape", '"\\u12"'),
    ("bad unicode escape", '"\\u12G4"'),
    ("unterminated string", '{"a": "b'),
    ("unterminated string after escape", '"abc\\'),
    ("unterminated block comment", '{"a": 1 /* never closed'),
    ("line comment without newline at end", '{"a": 1}\n// trailing'),
    ("lone slash", "[1 / 2]"),
    ("slash at start of value", "[/ 2]"),
    ("trailing garbage", '{"a": 1} x'),
    ("two top-level values", "1 2"),
    ("comma before anything in array", "[,]"),
    ("comma before anything in object", "{,}"),
    ("comment then comma", "[ /* c */ , 1]"),
    ("double trailing comma", "[1,,]"),
    ("trailing comma at top level", "1,"),
    ("unclosed array", "[1, 2"),
    ("unclosed object", '{"a": 1'),
    ("mismatched closer", '{"a": [1}'),
    ("closer in object value", '{"a": }'),
    ("misspelled true", "[tru]"),
    ("capitalised True", "[True]"),
    ("misspelled null", "nul"),
    ("undefined", "undefined"),
    ("byte order mark", "\ufeff{}"),
    ("non-ASCII before the error (columns count code points)", '{"é😊": 1 2}'),
    ("duplicate key", '{\n  "acls": [],\n  "acls": []\n}'),
    ("duplicate key after escape", '{"a": 1, "\\u0061": 2}'),
    ("duplicate key nested", '{"x": {"k": 1, // c\n "k": 2}}'),
]


def _render(name: str, text: str) -> str:
    try:
        parse(text, "policy.hujson")
    except HujsonError as exc:
        return f"## {name}\n{text!r}\n{exc}\n"
    return f"## {name}\n{text!r}\nACCEPTED\n"


def test_rejections_golden() -> None:
    got = "".join(_render(name, text) for name, text in CASES)
    if UPDATE:
        GOLDEN.write_text(got, "utf-8")
    assert got == GOLDEN.read_text("utf-8")


@pytest.mark.parametrize(("name", "text"), CASES, ids=[name for name, _ in CASES])
def test_fast_and_exact_paths_both_reject(name: str, text: str) -> None:
    with pytest.raises(HujsonError) as via_parse:
        parse(text)
    with pytest.raises(HujsonError) as via_scan:
        scan(text)
    assert str(via_parse.value) == str(via_scan.value)
    diagnostic = via_parse.value.diagnostic
    assert diagnostic.code in ("syntax", "duplicate-key")
    assert diagnostic.span.line >= 1
    assert diagnostic.span.col >= 1


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b'{"a": "\xff"}', "p.hujson:1:8: error[syntax]: invalid UTF-8"),
        (b'{\n"\xc3\xa9": "\xe2\x82"}', "p.hujson:2:7: error[syntax]: invalid UTF-8"),
        (b"// \xde\xad\xbe\xef\nnull", "p.hujson:1:5: error[syntax]: invalid UTF-8"),
    ],
)
def test_invalid_utf8(data: bytes, want: str) -> None:
    with pytest.raises(HujsonError) as info:
        parse_bytes(data, "p.hujson")
    assert str(info.value) == want


# From tailscale/hujson json_test.go (BSD-3-Clause): inputs that upstream rejects, with
# upstream's (line, byte column). Our messages differ; the positions agree (ASCII inputs).
UPSTREAM_REJECTS = [
    (" null,", 1, 6),
    ("/?", 1, 1),
    ("null//", 1, 5),
    ("+1000", 1, 1),
    ("{", 1, 2),
    ("{,}", 1, 2),
    ('{null:"v"', 1, 2),
    ('{"k"', 1, 5),
    ('{"k";', 1, 5),
    ('{"k":}', 1, 6),
    ('{"k":"v"', 1, 9),
    ('{"k":"v"]', 1, 9),
    ("[", 1, 2),
    ("[,]", 1, 2),
    ('["s"', 1, 5),
    ('["s"}', 1, 5),
    (" '", 1, 2),
    ("[null,false,true,invalid]", 1, 18),
]


@pytest.mark.parametrize(("text", "line", "col"), UPSTREAM_REJECTS)
def test_upstream_rejections_same_position(text: str, line: int, col: int) -> None:
    with pytest.raises(HujsonError) as info:
        parse(text)
    span = info.value.diagnostic.span
    assert (span.line, span.col) == (line, col)
