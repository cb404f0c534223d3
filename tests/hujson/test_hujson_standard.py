"""standardize / minimize / round trip, with tailscale/hujson json_test.go vectors.

Vectors (in, minimized, standardized) are from tailscale/hujson's json_test.go
(Copyright (c) 2021 Tailscale Inc & AUTHORS, BSD-3-Clause), used as data.
"""

from __future__ import annotations

import json

import pytest

from tailcfg.hujson import minimize, parse, standardize
from tailcfg.hujson.cst import is_standard, pack
from tailcfg.hujson.document import scan

UPSTREAM = [
    (" null ", "null", " null "),
    (
        "//😊 \r\t\n/*\r\t\n*/null//😊 \r\t\n/*\r\t\n*/",
        "null",
        "       \r\t\n  \r\t\n  null       \r\t\n  \r\t\n  ",
    ),
    ("null//\n", "null", "null  \n"),
    ('"\\"\\\\\\u0022😊"', '"\\"\\\\\\u0022😊"', '"\\"\\\\\\u0022😊"'),
    ("3.14159E+435", "3.14159E+435", "3.14159E+435"),
    (' { "k" : "v" } ', '{"k":"v"}', ' { "k" : "v" } '),
    (' { "k" : "v" , } ', '{"k":"v"}', ' { "k" : "v"   } '),
    (' [ "s" ] ', '["s"]', ' [ "s" ] '),
    (' [ "s" , ] ', '["s"]', ' [ "s"   ] '),
    (
        ' /**/ [ /**/ null /**/ , /**/ false /**/ , /**/ true /**/ , /**/ "string" /**/ , '
        "/**/ 0 /**/ , /**/ {} /**/ , /**/ [] /**/ ] /**/ ",
        '[null,false,true,"string",0,{},[]]',
        '      [      null      ,      false      ,      true      ,      "string"      , '
        "     0      ,      {}      ,      []      ]      ",
    ),
]


@pytest.mark.parametrize(("text", "minimized", "standardized"), UPSTREAM)
def test_upstream_vectors(text: str, minimized: str, standardized: str) -> None:
    assert pack(scan(text)[0]) == text
    assert minimize(text) == minimized
    assert standardize(text) == standardized
    assert is_standard(scan(text)[0]) is (text == standardized)
    assert json.loads(standardized) == parse(text).value


def test_standardize_keeps_byte_length_and_lines() -> None:
    text = '{\n  // é comment\n  "a": [1, 2, /* x\n y */],\n}\n'
    out = standardize(text)
    assert len(out.encode()) == len(text.encode())
    assert [i for i, c in enumerate(out) if c == "\n"] == [
        i for i, c in enumerate(text.replace("é", "  ")) if c == "\n"
    ]
    assert json.loads(out) == {"a": [1, 2]}
