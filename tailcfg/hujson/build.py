"""Building the CST quickly from a text already known to be valid HuJSON.

One compiled regex reads an extra and the token after it; a small stack machine
assembles the tree. No checking happens here: callers use it only for texts the fast
path accepted (otherwise the exact scanner builds the tree and reports errors).
"""

from __future__ import annotations

import re

from tailcfg.hujson.cst import Arr, Member, Node, Obj

_TOKEN = re.compile(
    r"((?:[ \t\r\n]++|//[^\n]*+\n|/\*(?s:.*?)\*/)*+)"  # 1: the extra before the token
    r'(?:("(?:[^"\\]++|\\.)*+")'  # 2: string
    r"|([-+.0-9A-Za-z]++)"  # 3: number, true, false, null
    r"|([{\[])"  # 4: opener
    r"|([}\]])"  # 5: closer
    r"|(,)"  # 6
    r"|(:)"  # 7
    r"|\Z)"
)
_STRING, _LITERAL, _OPEN, _CLOSE, _COMMA, _COLON = 2, 3, 4, 5, 6, 7


class _Frame:
    __slots__ = ("comma", "comp", "last", "name", "node")

    def __init__(self, node: Node, comp: Obj | Arr) -> None:
        self.node = node
        self.comp = comp
        self.name: Node | None = None  # an object's member name waiting for its value
        self.last: Node | None = None  # the last value added
        self.comma = False  # a ',' came after the last value


def build(text: str) -> Node:
    """The CST of a valid HuJSON text."""
    stack: list[_Frame] = []
    root: Node | None = None
    top: _Frame | None = None
    for m in _TOKEN.finditer(text):
        kind = m.lastindex
        extra = m.group(1) or None
        if kind in (_STRING, _LITERAL):
            node = Node(extra, m.group(kind), None, m.start(kind), m.end(kind))
        elif kind == _OPEN:
            comp: Obj | Arr = Obj([], None) if m.group(4) == "{" else Arr([], None)
            node = Node(extra, comp, None, m.start(4), -1)
        elif kind == _CLOSE:
            assert top is not None
            _close(top, extra, m.end(5))
            node = top.node
            stack.pop()
            top = stack[-1] if stack else None
            if top is not None:
                top.last = node
            continue
        elif kind == _COMMA:
            assert top is not None and top.last is not None
            top.last.after = extra
            top.comma = True
            continue
        elif kind == _COLON:
            assert top is not None and top.name is not None
            top.name.after = extra
            continue
        else:
            assert root is not None
            root.after = extra
            break
        if top is None:
            root = node
        else:
            _attach(top, node)
        if kind == _OPEN:
            top = _Frame(node, node.value)  # type: ignore[arg-type]
            stack.append(top)
    assert root is not None
    return root


def _attach(top: _Frame, node: Node) -> None:
    comp = top.comp
    top.comma = False
    if isinstance(comp, Arr):
        comp.elements.append(node)
        top.last = node
    elif top.name is None:
        top.name = node
    else:
        comp.members.append(Member(top.name, node))
        top.name = None
        top.last = node


def _close(top: _Frame, extra: str | None, end: int) -> None:
    top.comp.after = extra
    last = (
        top.last if (top.comp.members if isinstance(top.comp, Obj) else top.comp.elements) else None
    )
    if last is not None and top.comma and last.after is None:
        last.after = ""  # a trailing comma with nothing before it
    top.node.end = end
