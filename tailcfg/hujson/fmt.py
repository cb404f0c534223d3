"""``format_text``: tailscale/hujson's Format, byte for byte (see docs/hujson.md).

Steps: normalize strings and whitespace-only extras, decide which composites expand
(a newline after ``{``/``[``/``,`` or before the closer, or an estimated line over 80
bytes), rewrite every extra with tab indentation, fix trailing commas, align values.
"""

from __future__ import annotations

from tailcfg.hujson.build import Flat
from tailcfg.hujson.cst import (
    Composite,
    Member,
    Node,
    Obj,
    has_comment,
    has_newline,
    is_standard,
    last_node,
    pack,
    set_trailing_comma,
)
from tailcfg.hujson.document import tree
from tailcfg.hujson.extra import (
    AFTER_COLON,
    EDGES,
    GO_SPACE,
    NONE,
    Options,
    blen,
    format_extra,
    line_stats,
)
from tailcfg.hujson.normalize import normalize_string

WIDTH = 80
Stats = tuple[int, int, bool]


def format_text(text: str, path: str = "<input>", *, duplicates: bool = False) -> str:
    """The canonical layout of ``text``; raises HujsonError when it does not parse."""
    root = tree(text, path, duplicates=duplicates, collapse=True)
    format_node(root)
    return pack(root)


def format_node(root: Node) -> None:
    """Format a whole document tree in place."""
    before = format_extra(root.before, 0, NONE) or ""
    root.before = before.lstrip(" \t\r\n")
    standard = is_standard(root)
    _normalize(root)
    expanded: set[int] = set()
    _expand(root, expanded)
    _whitespace(root, 0, expanded, standard)
    _align(root)
    after = format_extra(root.after, 0, NONE) or ""
    root.after = after.rstrip(GO_SPACE) + "\n"


def _normalize(node: Node) -> None:
    comp = node.value
    if isinstance(comp, str):
        if comp[0] == '"' and "\\" in comp:
            node.value = normalize_string(comp)
        return
    if not (comp.members if isinstance(comp, Obj) else comp.elements):
        if not has_comment(comp.after):
            comp.after = None
        return
    for child in comp.children():
        if not has_comment(child.after):
            child.after = None
        _normalize(child)


def _items_before(comp: Composite) -> list[Node]:
    return [m.name for m in comp.members] if isinstance(comp, Obj) else comp.elements


def _expand(node: Node, expanded: set[int]) -> Stats:
    """Decide (children first) which composites are laid out one item per line."""
    comp = node.value
    if isinstance(comp, str):
        n = blen(comp)
        return n, n, False
    lines: list[int] = []
    length = 1
    expand = False
    for item in comp.members if isinstance(comp, Obj) else comp.elements:
        if isinstance(item, Member):
            name, value = item.name, item.value
            if name.before:
                expand = expand or "\n" in name.before
                length = _add(line_stats(name.before), length, lines)
            length += blen(name.value)  # type: ignore[arg-type]
            if name.after:
                length = _add(line_stats(name.after), length, lines)
            length += 2
        else:
            value = item
            if value.before:
                expand = expand or "\n" in value.before
        if value.before:
            length = _add(line_stats(value.before), length, lines)
        literal = value.value
        if isinstance(literal, str):
            if type(literal) is Flat:
                length += literal.est
            else:
                length += len(literal) if literal.isascii() else blen(literal)
        else:
            length = _add(_expand(value, expanded), length, lines)
        if value.after:
            length = _add(line_stats(value.after), length, lines)
        length += 2
    length += 1
    last = last_node(comp)
    expand = expand or (last is not None and has_newline(last.after)) or has_newline(comp.after)
    lines.append(length)
    expand = expand or any(n > WIDTH for n in lines)
    if expand:
        items = _items_before(comp)
        first = line_stats(items[0].before if items else comp.after)[0]
        expanded.add(id(comp))
        return 1 + first, 1, True
    return lines[0], lines[-1], len(lines) > 1


def _add(stats: Stats, length: int, lines: list[int]) -> int:
    """The running line length after a piece with these stats (closing lines it ends)."""
    length += stats[0]
    if stats[2]:
        lines.append(length)
        return stats[1]
    return length


def _whitespace(node: Node, depth: int, expanded: set[int], standard: bool) -> None:
    comp = node.value
    if isinstance(comp, str):
        return
    expand = id(comp) in expanded
    if isinstance(comp, Obj):
        for i, m in enumerate(comp.members):
            name, value = m.name, m.value
            name.before = format_extra(name.before, depth + 1, _item_options(expand, i))
            broken = False  # a line break around the ':' indents the value one more level
            if name.after:  # (an empty extra formats to itself, so it is skipped)
                name.after = format_extra(name.after, depth + 2, EDGES)
                broken = has_newline(name.after)
            if value.before:
                value.before = format_extra(value.before, depth + 2, AFTER_COLON)
                broken = broken or has_newline(value.before)
            else:
                value.before = " "
            if not isinstance(value.value, str):
                _whitespace(value, depth + expand + broken, expanded, standard)
            if value.after:
                value.after = format_extra(value.after, depth + 2, EDGES)
        count = len(comp.members)
    else:
        for i, e in enumerate(comp.elements):
            e.before = format_extra(e.before, depth + 1, _item_options(expand, i))
            if not isinstance(e.value, str):
                _whitespace(e, depth + (1 if expand else 0), expanded, standard)
            if e.after:
                e.after = format_extra(e.after, depth + 2, EDGES)
        count = len(comp.elements)
    comp.after = format_extra(
        comp.after,
        depth + 1,
        Options(
            trailing_newline=expand,
            trim_leading=count == 0,
            trim_trailing=True,
            unindent_last=True,
        ),
    )
    last = last_node(comp)
    surrounded = last is not None and bool(last.after) and bool(comp.after)
    if not expand and not surrounded:
        set_trailing_comma(comp, False)
    elif expand and not standard:
        set_trailing_comma(comp, True)


_FIRST = {True: Options(leading_newline=True, trim_leading=True), False: Options(trim_leading=True)}
_LATER = {
    True: Options(leading_newline=True, space_if_empty=True),
    False: Options(space_if_empty=True),
}


def _item_options(expand: bool, index: int) -> Options:
    return _FIRST[expand] if index == 0 else _LATER[expand]


def _has_newline(node: Node, with_extras: bool) -> bool:
    if with_extras and (has_newline(node.before) or has_newline(node.after)):
        return True
    comp = node.value
    if isinstance(comp, str):
        return False
    return any(_has_newline(child, True) for child in comp.children())


def _align(node: Node) -> None:
    comp = node.value
    if isinstance(comp, str):
        return
    if isinstance(comp, Obj):
        rows: list[tuple[Node, int]] = []
        for m in comp.members:
            name, value = m.name, m.value
            if (
                not has_newline(name.before)
                or has_newline(name.after)
                or has_newline(value.before)
                or _has_newline(value, False)
                or has_newline(value.after)
            ):
                _flush(rows)
                continue
            if (name.before or "").count("\n") > 1:
                _flush(rows)
            assert isinstance(name.value, str)
            width = blen(name.value) + blen(name.after or "") + 1 + blen(value.before or "")
            rows.append((value, width))
        _flush(rows)
    for child in comp.children():
        _align(child)


def _flush(rows: list[tuple[Node, int]]) -> None:
    if rows:
        widest = max(width for _, width in rows)
        for value, width in rows:
            if widest > width:
                value.before = (value.before or "") + " " * (widest - width)
    rows.clear()


__all__ = ["format_node", "format_text", "normalize_string"]
