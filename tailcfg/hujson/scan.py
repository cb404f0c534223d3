"""The exact HuJSON (JWCC) parser: builds the CST and the plain value, or fails at a position.

JWCC is JSON (RFC 8259) plus ``//`` line comments (which must end with a newline),
``/* */`` block comments and a trailing comma after the last member or element.
Everything else is rejected with the offset of the offending character. Duplicate
object names are rejected at the second name. Messages follow Go's encoding/json
("invalid character 'x' looking for beginning of value"), with a hint where useful.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tailcfg.hujson.cst import Arr, Member, Node, Obj

_EXTRA = re.compile(r"(?:[ \t\r\n]++|//[^\n]*+\n|/\*(?s:.*?)\*/)*+")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*+')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*+)(\.[0-9]++)?([eE][-+]?[0-9]++)?")
_WORD = re.compile(r"[A-Za-z0-9_$.+-]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_CONSTANTS: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))
_ESCAPES = frozenset('"\\/bfnrtu')


class ScanError(Exception):
    """A syntax error at ``offset`` (a character offset into the text)."""

    def __init__(self, offset: int, message: str, code: str = "syntax") -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message
        self.code = code


def quote_char(ch: str) -> str:
    """``'x'`` the way Go's encoding/json quotes a character in its messages."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    text = json.dumps(ch, ensure_ascii=False)[1:-1] if ch.isprintable() else _escape(ch)
    return f"'{text}'"


def _escape(ch: str) -> str:
    short = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
    if ch in short:
        return short[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _value_hint(text: str, pos: int) -> str:
    ch = text[pos]
    if ch == "'":
        return " (strings use double quotes)"
    if ch == "+":
        return " (a number cannot start with '+')"
    if ch == ".":
        return " (a number needs a digit before '.')"
    word = _WORD.match(text, pos)
    token = word.group() if word else ""
    if token in ("NaN", "Infinity", "-Infinity", "undefined"):
        return f" ({token} is not JSON)"
    if token.lower() in ("true", "false", "null"):
        return " (true, false and null are lowercase)"
    if ch == "\ufeff":
        return " (a byte order mark is not allowed)"
    if ch.isalpha() or ch == "_":
        return " (strings must be double-quoted)"
    if ch == "/":
        return " (a comment starts with // or /*)"
    return ""


class Scanner:
    """Recursive descent over one text; ``parse()`` returns (root node, plain value)."""

    __slots__ = ("duplicates", "n", "text")

    def __init__(self, text: str, *, duplicates: bool = False) -> None:
        self.text = text
        self.n = len(text)
        self.duplicates = duplicates

    def parse(self) -> tuple[Node, Any]:
        node, value, pos = self._next(0)
        if pos < self.n:
            raise ScanError(
                pos, f"invalid character {quote_char(self.text[pos])} after top-level value"
            )
        return node, value

    def _extra(self, pos: int) -> int:
        text = self.text
        end = _EXTRA.match(text, pos).end()  # type: ignore[union-attr]
        if end < self.n and text[end] == "/":
            follow = text[end + 1 : end + 2]
            if follow == "/":
                raise ScanError(
                    end, "unterminated line comment (a // comment must end with a newline)"
                )
            if follow == "*":
                raise ScanError(end, "unterminated block comment (missing */)")
        return end

    def _next(self, pos: int) -> tuple[Node, Any, int]:
        """A value with its before- and after-extra."""
        start = self._extra(pos)
        before = self.text[pos:start] if start > pos else None
        trimmed, value, end = self._trimmed(start)
        stop = self._extra(end)
        after = self.text[end:stop] if stop > end else None
        return Node(before, trimmed, after, start, end), value, stop

    def _trimmed(self, pos: int) -> tuple[str | Obj | Arr, Any, int]:
        text = self.text
        if pos >= self.n:
            raise ScanError(pos, "unexpected end of input (expecting a value)")
        ch = text[pos]
        if ch == '"':
            end, value = self._string(pos)
            return text[pos:end], value, end
        if ch == "{":
            return self._object(pos)
        if ch == "[":
            return self._array(pos)
        if ch == "-" or "0" <= ch <= "9":
            return self._number(pos)
        for word, constant in _CONSTANTS:
            if text.startswith(word, pos):
                return word, constant, pos + len(word)
        if ch in "tfn":
            word = ("true", "false", "null")["tfn".index(ch)]
            i = 1
            while pos + i < self.n and text[pos + i] == word[i]:
                i += 1
            if pos + i >= self.n:
                raise ScanError(pos + i, f"unexpected end of input in literal {word}")
            raise ScanError(
                pos + i,
                f"invalid character {quote_char(text[pos + i])} in literal "
                f"{word} (expecting {quote_char(word[i])})",
            )
        raise ScanError(
            pos,
            f"invalid character {quote_char(ch)} looking for beginning of "
            f"value{_value_hint(text, pos)}",
        )

    def _string(self, pos: int) -> tuple[int, str]:
        """End offset and decoded value of the string starting at ``pos``."""
        text = self.text
        i = pos + 1
        escaped = False
        while True:
            i = _STRING_RUN.match(text, i).end()  # type: ignore[union-attr]
            if i >= self.n:
                raise ScanError(pos, "unterminated string (missing closing '\"')")
            ch = text[i]
            if ch == '"':
                break
            if ch != "\\":
                raise ScanError(
                    i,
                    f"invalid character {quote_char(ch)} in string literal "
                    "(control characters must be escaped)",
                )
            esc = text[i + 1 : i + 2]
            if not esc:
                raise ScanError(pos, "unterminated string (missing closing '\"')")
            if esc not in _ESCAPES:
                raise ScanError(i + 1, f"invalid character {quote_char(esc)} in string escape code")
            if esc == "u":
                if not _HEX4.match(text, i + 2):
                    j = i + 2
                    while j < self.n and j < i + 6 and text[j] in "0123456789abcdefABCDEF":
                        j += 1
                    if j >= self.n:
                        raise ScanError(pos, "unterminated string (missing closing '\"')")
                    raise ScanError(
                        j,
                        f"invalid character {quote_char(text[j])} in \\u "
                        "hexadecimal character escape",
                    )
                i += 6
            else:
                i += 2
            escaped = True
        end = i + 1
        raw = text[pos:end]
        return end, (json.loads(raw) if escaped else raw[1:-1])

    def _number(self, pos: int) -> tuple[str, Any, int]:
        text = self.text
        m = _NUMBER.match(text, pos)
        if m is None:  # a lone '-' or '-' followed by a non-digit
            at = pos + 1
            if at >= self.n:
                raise ScanError(at, "unexpected end of input in numeric literal")
            hint = " (Infinity is not JSON)" if text.startswith("Infinity", at) else ""
            raise ScanError(
                at, f"invalid character {quote_char(text[at])} in numeric literal{hint}"
            )
        end = m.end()
        if end < self.n:
            self._check_number_end(m, end)
        raw = m.group()
        try:
            value: Any = float(raw) if m.group(1) or m.group(2) else int(raw)
        except ValueError:
            raise ScanError(pos, "number literal is too long") from None
        return raw, value, end

    def _check_number_end(self, m: re.Match[str], end: int) -> None:
        ch = self.text[end]
        raw = m.group()
        if ch in "0123456789" and raw.lstrip("-") == "0":
            raise ScanError(
                end,
                f"invalid character {quote_char(ch)} in numeric literal "
                "(leading zeros are not allowed)",
            )
        if ch == "." and not m.group(1) and not m.group(2):
            self._fail_after(end + 1, "after decimal point in numeric literal")
        if ch in "eE" and not m.group(2):
            at = end + 1
            if at < self.n and self.text[at] in "+-":
                at += 1
            self._fail_after(at, "in exponent of numeric literal")
        if ch.isalnum() or ch in "_.":
            hint = (
                " (hexadecimal numbers are not allowed)"
                if raw.lstrip("-") == "0" and ch in "xX"
                else ""
            )
            raise ScanError(end, f"invalid character {quote_char(ch)} in numeric literal{hint}")

    def _fail_after(self, at: int, where: str) -> None:
        if at >= self.n:
            raise ScanError(at, f"unexpected end of input {where}")
        raise ScanError(at, f"invalid character {quote_char(self.text[at])} {where}")

    def _object(self, pos: int) -> tuple[Obj, dict[str, Any], int]:
        text = self.text
        obj = Obj([], None)
        out: dict[str, Any] = {}
        i = pos + 1
        start = self._extra(i)
        if start < self.n and text[start] == "}":
            obj.after = text[i:start] if start > i else None
            return obj, out, start + 1
        while True:
            name, key, i = self._name(i)
            if key in out and not self.duplicates:
                raise ScanError(
                    name.start, f"duplicate object key {json.dumps(key)}", code="duplicate-key"
                )
            node, value, i = self._next(i)
            out[key] = value
            obj.members.append(Member(name, node))
            if i >= self.n:
                raise ScanError(
                    i, "unexpected end of input after object value (expecting ',' or '}')"
                )
            ch = text[i]
            if ch == "}":
                obj.after, node.after = node.after, None
                return obj, out, i + 1
            if ch != ",":
                raise ScanError(
                    i,
                    f"invalid character {quote_char(ch)} after object key:value "
                    f"pair (expecting ',' or '}}'){_comma_hint(ch)}",
                )
            i += 1
            start = self._extra(i)
            if start < self.n and text[start] == "}":
                node.after = node.after or ""
                obj.after = text[i:start] if start > i else None
                return obj, out, start + 1

    def _name(self, i: int) -> tuple[Node, str, int]:
        """A member name with its extras; returns the offset just past the ':'."""
        text = self.text
        start = self._extra(i)
        if start >= self.n:
            raise ScanError(start, "unexpected end of input (expecting an object key)")
        if text[start] != '"':
            ch = text[start]
            raise ScanError(
                start,
                f"invalid character {quote_char(ch)} looking for "
                f"beginning of object key string{_key_hint(ch)}",
            )
        end, key = self._string(start)
        stop = self._extra(end)
        if stop >= self.n:
            raise ScanError(stop, "unexpected end of input after object key (expecting ':')")
        if text[stop] != ":":
            raise ScanError(
                stop, f"invalid character {quote_char(text[stop])} after object key (expecting ':')"
            )
        before = text[i:start] if start > i else None
        after = text[end:stop] if stop > end else None
        return Node(before, text[start:end], after, start, end), key, stop + 1

    def _array(self, pos: int) -> tuple[Arr, list[Any], int]:
        text = self.text
        arr = Arr([], None)
        out: list[Any] = []
        i = pos + 1
        start = self._extra(i)
        if start < self.n and text[start] == "]":
            arr.after = text[i:start] if start > i else None
            return arr, out, start + 1
        while True:
            node, value, i = self._next(i)
            arr.elements.append(node)
            out.append(value)
            if i >= self.n:
                raise ScanError(
                    i, "unexpected end of input after array element (expecting ',' or ']')"
                )
            ch = text[i]
            if ch == "]":
                arr.after, node.after = node.after, None
                return arr, out, i + 1
            if ch != ",":
                raise ScanError(
                    i,
                    f"invalid character {quote_char(ch)} after array element "
                    f"(expecting ',' or ']'){_comma_hint(ch)}",
                )
            i += 1
            start = self._extra(i)
            if start < self.n and text[start] == "]":
                node.after = node.after or ""
                arr.after = text[i:start] if start > i else None
                return arr, out, start + 1


def _key_hint(ch: str) -> str:
    if ch == "'":
        return " (object keys use double quotes)"
    if ch.isalpha() or ch in "_$":
        return " (object keys must be double-quoted)"
    return ""


def _comma_hint(ch: str) -> str:
    return " (missing comma?)" if ch in '"{[-0123456789tfn' else ""
