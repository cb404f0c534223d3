"""Rewriting one "extra" (a run of whitespace and comments) the way hujson's Format does.

Lengths that decide layout are UTF-8 byte lengths, as upstream measures them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tailcfg.hujson.cst import Extra

# Go's unicode.IsSpace (not Python's str.isspace, which also takes \x1c-\x1f).
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_WS = " \t\r\n"


def blen(text: str) -> int:
    """Length in UTF-8 bytes."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def ws_len(text: str) -> int:
    """Number of leading JSON whitespace characters."""
    return len(text) - len(text.lstrip(_WS))


def comment_len(text: str) -> int:
    """Length of the comment at the start of ``text``; 0 if none, -1 if unterminated."""
    if text.startswith("//"):
        end = text.find("\n", 2)
        return -1 if end < 0 else end + 1
    if text.startswith("/*"):
        end = text.find("*/", 2)
        return -1 if end < 0 else end + 2
    return 0


@dataclass(frozen=True, slots=True)
class Options:
    leading_newline: bool = False
    trailing_newline: bool = False
    trim_leading: bool = False
    trim_trailing: bool = False
    unindent_last: bool = False
    space_if_empty: bool = False


NONE = Options()
EDGES = Options(trim_leading=True, trim_trailing=True)
AFTER_COLON = Options(trim_leading=True, trim_trailing=True, space_if_empty=True)


def format_extra(extra: Extra, depth: int, opts: Options) -> Extra:
    """The formatted extra; ``None`` stays ``None`` when nothing is written."""
    if not extra or "/" not in extra:
        return _format_blank(extra, depth, opts)
    return format_general(extra, depth, opts)


def format_general(extra: Extra, depth: int, opts: Options) -> Extra:
    """The full algorithm (any extra); ``format_extra`` short-cuts the comment-free ones."""
    text = extra or ""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\n\r", "\n").replace("\r", " ")
    out = "\n" if opts.leading_newline and "\n" not in text else ""
    pos, n = 0, len(text)
    while pos < n:
        run = ws_len(text[pos:]) if text[pos] in _WS else 0
        if run:
            out += "\n" * min(text.count("\n", pos, pos + run), 2)
            pos += run
            continue
        size = comment_len(text[pos:])
        if size <= 0:
            break  # cannot happen for parsed input
        out += "\t" * depth if out.endswith("\n") else " "
        comment = text[pos : pos + size]
        if comment.startswith("//") or "\n" not in comment:
            out += comment.rstrip(GO_SPACE)
            pos += size - 1 if comment.startswith("//") else size
            continue
        out = (out + _reindent_block(comment, depth)).rstrip("\n")
        pos += size
    if opts.trailing_newline and not out.endswith("\n"):
        out += "\n"
    if opts.trim_leading:
        while out.startswith("\n\n"):
            out = out[1:]
    if opts.trim_trailing:
        while out.endswith("\n\n"):
            out = out[:-1]
    if out.endswith("\n"):
        out += "\t" * (depth - 1 if opts.unindent_last else depth)
    elif out:
        out += " "
    if opts.space_if_empty and not out:
        out = " "
    if not out and extra is None:
        return None
    return out


def _format_blank(extra: Extra, depth: int, opts: Options) -> Extra:
    """``format_extra`` for an extra without comments: only its newline count matters."""
    if not extra:
        lines = 0
    elif "\r" in extra:
        lines = extra.replace("\r\n", "\n").replace("\n\r", "\n").count("\n")
    else:
        lines = extra.count("\n")
    count = min(lines, 2)
    if (opts.leading_newline and not lines) or (opts.trailing_newline and not count):
        count = 1
    if count == 2 and (opts.trim_leading or opts.trim_trailing):
        count = 1
    if count:
        return "\n" * count + "\t" * (depth - 1 if opts.unindent_last else depth)
    if opts.space_if_empty:
        return " "
    return None if extra is None else ""


def _reindent_block(comment: str, depth: int) -> str:
    """A multi-line block comment re-indented to ``depth`` (common prefix removed)."""
    lines = [line.rstrip(GO_SPACE) for line in comment.split("\n")]
    first = next((line for line in lines[1:] if line), "")
    has_empty = any(not line for line in lines)
    prefix = first
    for i in range(1, len(lines)):
        line = lines[i]
        if not line:
            continue
        if line.endswith("*/") and ws_len(line) + 2 == len(line):
            lines[i] = prefix[: ws_len(prefix)] + "*/"
            break
        k, limit = 0, min(len(line), len(prefix))
        while k < limit and line[k] == prefix[k]:
            k += 1
        if k < limit:
            prefix = prefix[:k]
    cut = ws_len(prefix)
    star = not has_empty and len(prefix) > cut and prefix[cut] == "*"
    indent = "\t" * depth + (" " if star else "")
    body = [lines[0]]
    body.extend(indent + line[cut:] if line else "" for line in lines[1:])
    return "\n".join(body) + "\n"


def _segment_len(text: str) -> int:
    """Estimated inline width of the comments in one line segment of an extra."""
    n = 0
    while True:
        text = text.lstrip(_WS)
        if text.startswith("//"):
            return n + 1 + blen(text)
        if text.startswith("/*"):
            size = comment_len(text)
            if size <= 0:
                return n + 1 + blen(text)
            n += 1 + blen(text[:size])
            text = text[size:]
            continue
        return n + 1 if n > 0 else n


def line_stats(extra: Extra) -> tuple[int, int, bool]:
    """(first line length, last line length, spans lines) of an extra."""
    if not extra:
        return 0, 0, False
    if "\n" not in extra:
        if "/" not in extra:
            return 0, 0, False
        n = _segment_len(extra)
        return n, n, False
    first = extra[: extra.index("\n")]
    last = extra[extra.rindex("\n") + 1 :]
    return _segment_len(first), _segment_len(last), True
