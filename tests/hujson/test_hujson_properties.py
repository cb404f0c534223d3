"""Hypothesis properties: format keeps the value and is idempotent; mutations only ever
raise HujsonError; the fast path and the exact scanner accept the same texts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailcfg.errors import HujsonError
from tailcfg.hujson import Document, fast, format_text, parse, parse_bytes
from tailcfg.hujson.build import build
from tailcfg.hujson.cst import Node, Obj, pack
from tailcfg.hujson.document import scan
from tailcfg.hujson.fmt import format_node

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ws = st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \n\n  "])
comment = st.sampled_from(
    [
        "",
        "// c\n",
        "/* b */",
        "/*\n * x\n */",
        "//\n",
        "/**/",
        "// ünïcode 😊  \n",
        "/* é\n\t\t  * x\n\t   */",
        "/*\n\n  a\n    b\n*/",
        "// " + "w" * 70 + "\n",
        "/* \r\n */",
    ]
)
extra = st.builds(lambda a, b, c: a + b + c, ws, comment, ws)
text_chars = st.text(st.characters(blacklist_categories=("Cs",), max_codepoint=0x1F600), max_size=8)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    text_chars,
    st.text("abc", min_size=30, max_size=60),  # long strings push lines past 80 bytes
)
plain: st.SearchStrategy[Any] = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(text_chars, inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def hujson_text(draw: st.DrawFn, value: Any = None) -> tuple[str, Any]:
    """A HuJSON rendering of a random value with random extras and trailing commas."""
    value = draw(plain) if value is None else value

    def render(v: Any) -> str:
        if isinstance(v, dict):
            items = [
                draw(extra)
                + json.dumps(k, ensure_ascii=draw(st.booleans()))
                + draw(extra)
                + ":"
                + draw(extra)
                + render(x)
                + draw(extra)
                for k, x in v.items()
            ]
            comma = "," if items and draw(st.booleans()) else ""
            return "{" + ",".join(items) + comma + draw(extra) + "}"
        if isinstance(v, list):
            items = [draw(extra) + render(x) + draw(extra) for x in v]
            comma = "," if items and draw(st.booleans()) else ""
            return "[" + ",".join(items) + comma + draw(extra) + "]"
        return json.dumps(v, ensure_ascii=draw(st.booleans()))

    return draw(extra) + render(value) + draw(extra) + "\n", value


@SETTINGS
@given(hujson_text())
def test_parse_value_and_roundtrip(case: tuple[str, Any]) -> None:
    text, value = case
    doc = parse(text)
    assert doc.value == value
    assert pack(scan(text)[0]) == text


@SETTINGS
@given(hujson_text())
def test_format_keeps_value_and_is_idempotent(case: tuple[str, Any]) -> None:
    text, value = case
    once = format_text(text)
    assert parse(once).value == value
    assert format_text(once) == once


def _go_strings(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub("[\ud800-\udfff]", "\ufffd", value)
    if isinstance(value, list):
        return [_go_strings(v) for v in value]
    if isinstance(value, dict):
        return {_go_strings(k): _go_strings(v) for k, v in value.items()}
    return value


def _accepts(fn: Any, text: str) -> tuple[bool, Any]:
    try:
        return True, fn(text)
    except HujsonError:
        return False, None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hujson_text(), st.data())
def test_mutations_raise_only_hujson_error(case: tuple[str, Any], data: st.DataObject) -> None:
    text, _ = case
    alphabet = st.sampled_from([*"{}[],:\"'/*\\\n tfnu0-+.eE", "\x00", "é", "NaN"])
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(alphabet)
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1 :]
        else:
            text = text[:pos] + piece + text[pos + 1 :]
    parse_ok, parse_value = _accepts(lambda t: parse(t).value, text)
    exact_ok, exact_value = _accepts(lambda t: scan(t)[1], text)
    assert (parse_ok, parse_value) == (exact_ok, exact_value)
    # The fast path may give up (the exact scanner then decides) but never accepts more.
    fast_ok, fast_value = fast.loads(text)
    if fast_ok:
        assert exact_ok
        assert fast_value == exact_value
    if exact_ok:
        assert pack(scan(text)[0]) == text
        # Format re-encodes escaped strings as Go does: a lone surrogate becomes U+FFFD.
        assert parse(format_text(text)).value == _go_strings(exact_value)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*prefix, i)))
    return out


@SETTINGS
@given(hujson_text())
def test_span_index_agrees_with_cst(case: tuple[str, Any]) -> None:
    text, value = case
    quick = parse(text)  # spans from the json-scanner index (fast path)
    root, _ = scan(text)
    exact = Document(quick.path, text, value, root)  # spans from the CST
    for path in [*_paths(value), ("no such key",), (99,)]:
        assert quick.span_at(path) == exact.span_at(path), path
        assert quick.key_span_at(path) == exact.key_span_at(path), path


def _shape(node: Node) -> Any:
    """Everything a CST node holds, as plain data (None and "" stay distinct)."""
    comp = node.value
    if isinstance(comp, str):
        inner: Any = comp
    elif isinstance(comp, Obj):
        inner = ("{", [(_shape(m.name), _shape(m.value)) for m in comp.members], comp.after)
    else:
        inner = ("[", [_shape(e) for e in comp.elements], comp.after)
    return (node.before, inner, node.after, node.start, node.end)


@SETTINGS
@given(hujson_text())
def test_quick_builder_matches_scanner(case: tuple[str, Any]) -> None:
    text, _ = case
    if fast.loads(text)[0]:
        assert _shape(build(text)) == _shape(scan(text)[0])


@SETTINGS
@given(hujson_text())
def test_collapsed_tree_formats_like_the_full_tree(case: tuple[str, Any]) -> None:
    text, _ = case
    root, _ = scan(text)
    format_node(root)
    assert format_text(text) == pack(root)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": ["x", "y"], "b": {"k": 1, "j": "\\u0041"}, "c": []}',
        '{"a": [' + ", ".join(f'"item{i}"' for i in range(12)) + "]}",
        '{"a": [' + ", ".join(f'"item{i}"' for i in range(9)) + '], "b": {"k": [1, 2]}}',
        '[{"k": "' + "v" * 70 + '"}]',
        '[{"k": "' + "v" * 69 + '"}]',
        '{"a": {"b": "\\u00e9"}, "c": ["\\ud800"]}',
    ],
)
def test_collapsed_tree_formats_like_the_full_tree_examples(text: str) -> None:
    root, _ = scan(text)
    format_node(root)
    assert format_text(text) == pack(root)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "homelab" / "policy.hujson"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_byte_mutations_of_a_real_policy(data: st.DataObject) -> None:
    """Random byte edits (including invalid UTF-8) never raise anything but HujsonError."""
    if not EXAMPLE.exists():
        pytest.skip("examples/homelab/policy.hujson is not in this checkout")
    raw = bytearray(EXAMPLE.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        byte = data.draw(st.integers(0, 255))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        if op == "insert":
            raw.insert(pos, byte)
        elif op == "delete":
            del raw[pos]
        else:
            raw[pos] = byte
    try:
        doc = parse_bytes(bytes(raw), "policy.hujson")
    except HujsonError as exc:
        assert exc.diagnostic.span.path == "policy.hujson"
        return
    once = format_text(doc.text)
    assert format_text(once) == once
    assert doc.span_at(()).line >= 1
