"""HuJSON (JWCC) front end — INTERIM placeholder with the final API.

The real tokenizer/CST/formatter replaces this module; its API stays:
``parse(text, path) -> Document``, ``Document.value`` (plain Python),
``Document.span_at(path)``, ``Document.key_span_at(path)``, ``format_text(text, path)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tailcfg.errors import HujsonError
from tailcfg.source import Diagnostic, LineIndex, Span

JsonPath = tuple[str | int, ...]


@dataclass
class Document:
    path: str
    text: str
    value: Any
    index: LineIndex

    def span_at(self, path: JsonPath) -> Span:
        return self.index.span(0)

    def key_span_at(self, path: JsonPath) -> Span:
        return self.index.span(0)


def _strip(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    s = "".join(out)
    import re

    return re.sub(r",(\s*[\]}])", r" \1", s)


def parse(text: str, path: str = "<input>") -> Document:
    index = LineIndex(text, path)
    try:
        value = json.loads(_strip(text))
    except json.JSONDecodeError as exc:
        raise HujsonError([Diagnostic(index.span(exc.pos), exc.msg, code="syntax")]) from None
    return Document(path, text, value, index)


def format_text(text: str, path: str = "<input>") -> str:
    parse(text, path)
    return text
