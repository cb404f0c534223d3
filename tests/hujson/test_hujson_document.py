"""Document API: values, spans of values and keys."""

from __future__ import annotations

import pytest

from tailcfg.hujson import parse

TEXT = '{\n  // c\n  "acls": [\n    {"src": ["a"], "dst": ["b:1"],},\n  ],\n  "x\\u0041": 1.5,\n}\n'


def test_value_is_plain_python() -> None:
    doc = parse(TEXT, "p.hujson")
    assert doc.value == {"acls": [{"src": ["a"], "dst": ["b:1"]}], "xA": 1.5}
    assert doc.path == "p.hujson"
    assert doc.text == TEXT


@pytest.mark.parametrize(
    ("path", "value_at", "key_at"),
    [
        ((), (1, 1, 7, 2), (1, 1, 7, 2)),
        (("acls",), (3, 11, 5, 4), (3, 3, 3, 9)),
        (("acls", 0), (4, 5, 4, 36), (4, 5, 4, 36)),
        (("acls", 0, "dst", 0), (4, 28, 4, 33), (4, 28, 4, 33)),
        (("acls", 0, "dst"), (4, 27, 4, 34), (4, 20, 4, 25)),
        (("xA",), (6, 14, 6, 17), (6, 3, 6, 12)),
        (("acls", 7), (3, 11, 5, 4), (3, 3, 3, 9)),
    ],
)
def test_spans(
    path: tuple[str | int, ...],
    value_at: tuple[int, int, int, int],
    key_at: tuple[int, int, int, int],
) -> None:
    doc = parse(TEXT, "p.hujson")
    span = doc.span_at(path)
    assert (span.line, span.col, span.end_line, span.end_col) == value_at
    key = doc.key_span_at(path)
    assert (key.line, key.col, key.end_line, key.end_col) == key_at
    assert span.path == "p.hujson"


def test_public_api() -> None:
    import tailcfg.hujson as hujson

    assert hujson.__all__ == [
        "Document",
        "JsonPath",
        "format_text",
        "minimize",
        "parse",
        "parse_bytes",
        "standardize",
    ]
    for name in hujson.__all__:
        assert hasattr(hujson, name), name


def test_document_index_and_root_are_lazy() -> None:
    doc = parse('{"a": [1, 2]} // tail\n', "x.hujson")
    assert doc.index.position(6) == (1, 7)
    assert doc.root.after == " // tail\n"
    assert doc.span_at(("a", -1)).render() == "x.hujson:1:11"
