"""The concrete syntax tree: every value with its surrounding whitespace and comments.

The shape follows tailscale/hujson's model. A :class:`Node` is ``before`` (the "extra":
raw whitespace and comments), the trimmed value, then ``after``. ``None`` and ``""``
differ for ``after``: on the last item of a composite, a non-``None`` ``after`` means a
trailing comma is present. :func:`pack` writes a tree back; ``pack(parse_cst(x)) == x``.
"""

from __future__ import annotations

from collections.abc import Iterator

Extra = str | None


class Member:
    """One ``name: value`` pair of an object."""

    __slots__ = ("name", "value")

    def __init__(self, name: Node, value: Node) -> None:
        self.name = name
        self.value = value


class Obj:
    """An object: members and the extra before the closing ``}``."""

    __slots__ = ("after", "members")

    def __init__(self, members: list[Member], after: Extra) -> None:
        self.members = members
        self.after = after

    def items(self) -> list[Node]:
        return [m.value for m in self.members]

    def children(self) -> Iterator[Node]:
        for m in self.members:
            yield m.name
            yield m.value


class Arr:
    """An array: elements and the extra before the closing ``]``."""

    __slots__ = ("after", "elements")

    def __init__(self, elements: list[Node], after: Extra) -> None:
        self.elements = elements
        self.after = after

    def items(self) -> list[Node]:
        return self.elements

    def children(self) -> Iterator[Node]:
        yield from self.elements


Composite = Obj | Arr


class Node:
    """A value with its extras; ``value`` is the literal's source text or a composite."""

    __slots__ = ("after", "before", "end", "start", "value")

    def __init__(self, before: Extra, value: str | Obj | Arr, after: Extra, start: int, end: int):
        self.before = before
        self.value = value
        self.after = after
        self.start = start
        self.end = end


def has_comment(extra: Extra) -> bool:
    return bool(extra) and "/" in extra  # type: ignore[operator]


def has_newline(extra: Extra) -> bool:
    return bool(extra) and "\n" in extra  # type: ignore[operator]


def last_node(comp: Composite) -> Node | None:
    items = comp.members if isinstance(comp, Obj) else comp.elements
    if not items:
        return None
    last = items[-1]
    return last.value if isinstance(last, Member) else last


def set_trailing_comma(comp: Composite, present: bool) -> None:
    """Add or remove the trailing comma, moving extras as tailscale/hujson does."""
    last = last_node(comp)
    if last is None:
        return
    if present and last.after is None:
        last.after = ""
    elif not present and last.after is not None:
        comp.after = last.after + (comp.after or "")
        last.after = None


def is_standard(node: Node) -> bool:
    """True when there is no comment and no trailing comma anywhere."""
    if has_comment(node.before) or has_comment(node.after):
        return False
    comp = node.value
    if isinstance(comp, str):
        return True
    if has_comment(comp.after):
        return False
    last = last_node(comp)
    if last is not None and last.after is not None:
        # a trailing comma (the last value's after-extra is set only when one exists)
        return False
    return all(is_standard(child) for child in comp.children())


def pack(node: Node) -> str:
    """The exact text of a tree (the inverse of parsing)."""
    out: list[str] = []
    _pack(node, out)
    return "".join(out)


def _pack(node: Node, out: list[str]) -> None:
    if node.before:
        out.append(node.before)
    comp = node.value
    if isinstance(comp, str):
        out.append(comp)
    elif isinstance(comp, Obj):
        out.append("{")
        for i, member in enumerate(comp.members):
            if i:
                out.append(",")
            _pack(member.name, out)
            out.append(":")
            _pack(member.value, out)
        if comp.members and comp.members[-1].value.after is not None:
            out.append(",")
        if comp.after:
            out.append(comp.after)
        out.append("}")
    else:
        out.append("[")
        for i, element in enumerate(comp.elements):
            if i:
                out.append(",")
            _pack(element, out)
        if comp.elements and comp.elements[-1].after is not None:
            out.append(",")
        if comp.after:
            out.append(comp.after)
        out.append("]")
    if node.after:
        out.append(node.after)
