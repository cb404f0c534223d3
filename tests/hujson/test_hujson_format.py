"""format_text is byte-identical to tailscale/hujson's Format (upstream vectors + probes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailcfg.errors import HujsonError
from tailcfg.hujson import format_text, parse
from tailcfg.hujson.fmt import normalize_string

DATA = Path(__file__).parent / "data"
UPSTREAM = json.loads((DATA / "upstream_format.json").read_text("utf-8"))


@pytest.mark.parametrize("case", UPSTREAM, ids=[str(i) for i in range(len(UPSTREAM))])
def test_upstream_format_vectors(case: dict[str, str]) -> None:
    # Two upstream vectors repeat a key; tailscale/hujson accepts that, our parse does not.
    got = format_text(case["in"], duplicates=True)
    assert got == case["want"]
    assert format_text(got, duplicates=True) == got


# Behaviour observed from the real implementation (HUJSON_FORMAT.md, marked [probe]).
PROBES = [
    ('"\\ud800\\u0041"', '"\ufffdA"\n'),
    ('"\\u000F\\u000a\\/\\ud83d\\ude02"', '"\\u000f\\n/😂"\n'),
    ('"\\ud83d\\ud83d\\ude02 \\udc00"', '"\ufffd😂 \ufffd"\n'),
    ('"\\u007f\\u2028\\"\\\\"', '"\x7f\u2028\\"\\\\"\n'),
    ("1.0E+2", "1.0E+2\n"),
    ('{"a":\n 1}', '{"a":\n\t\t1}\n'),
    ("[1 //c\n, 2]", "[1 //c\n\t\t, 2]\n"),
    ('{"a": 1\n}', '{\n\t"a": 1\n}\n'),
    ('{"a": {\n"b": 1}, "c": 2}', '{"a": {\n\t"b": 1\n}, "c": 2}\n'),
    ('[{\n"a": 1}]', '[{\n\t"a": 1\n}]\n'),
    ('{"a": [\n1]}', '{"a": [\n\t1\n]}\n'),
    ("[\n1,\n[\n2]] // c\n", "[\n\t1,\n\t[\n\t\t2,\n\t],\n] // c\n"),
    ("[\n1,\n[\n2]]", "[\n\t1,\n\t[\n\t\t2\n\t]\n]\n"),
    ("{//c\n}", "{ //c\n}\n"),
    ("[ /*" + "c" * 80 + "*/ ]", "[ /*" + "c" * 80 + "*/ ]\n"),
    ("[null/**/,]", "[null /**/ ]\n"),
    ("[1, /*b*/ ]", "[1 /*b*/ ]\n"),
    ("[null /**/ , /**/ ]", "[null /**/ , /**/ ]\n"),
    ("/**//**/null", "/**/ /**/ null\n"),
    ("\n\n  null  \n\n", "null\n"),
    # alignment counts UTF-8 bytes, as upstream does
    ('{"éé": 1,\n"abc": 2}', '{\n\t"éé": 1,\n\t"abc":  2\n}\n'),
]


@pytest.mark.parametrize(("text", "want"), PROBES)
def test_probes(text: str, want: str) -> None:
    assert format_text(text) == want
    assert format_text(want) == want


def _flat(width: int) -> str:
    return '["' + "x" * (width - 4) + '"]'


def _nested(width: int) -> str:
    return '[["' + "x" * (width - 6) + '"]]'


@pytest.mark.parametrize(
    ("text", "expanded"),
    [(_flat(78), False), (_flat(79), True), (_nested(76), False), (_nested(77), True)],
)
def test_width_threshold(text: str, expanded: bool) -> None:
    assert format_text(text).startswith("[\n") is expanded


def test_standard_json_stays_standard() -> None:
    text = '{"a": [1, 2], "b": {\n"c": "d"}}'
    out = format_text(text)
    assert out == '{"a": [1, 2], "b": {\n\t"c": "d"\n}}\n'
    assert json.loads(out) == json.loads(text)


def test_format_rejects_bad_input_with_position() -> None:
    with pytest.raises(HujsonError) as info:
        format_text('{"a": 1,\n "b": 02}', "p.hujson")
    assert str(info.value) == (
        "p.hujson:2:8: error[syntax]: invalid character '2' in numeric literal "
        "(leading zeros are not allowed)"
    )


def test_format_rejects_duplicate_keys() -> None:
    with pytest.raises(HujsonError) as info:
        format_text('{"a": 1, "a": 2}', "p.hujson")
    assert str(info.value) == 'p.hujson:1:10: error[duplicate-key]: duplicate object key "a"'


def test_format_keeps_value() -> None:
    text = '// head\n{"acls": [{"action": "accept", /* x */ "src": ["*"],},],}'
    assert parse(format_text(text)).value == parse(text).value


@pytest.mark.parametrize(
    ("literal", "want"),
    [('"a\\tb"', '"a\\tb"'), ('"\\u0001"', '"\\u0001"'), ('"\\u00e9\\/"', '"é/"')],
)
def test_normalize_string(literal: str, want: str) -> None:
    assert normalize_string(literal) == want
