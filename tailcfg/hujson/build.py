"""Building the CST quickly from a text already known to be valid HuJSON.

One compiled regex reads an extra and the token after it; a small stack machine
assembles the tree. No checking happens here: callers use it only for texts the fast
path accepted (otherwise the exact scanner builds the tree and reports errors).

With ``collapse=True`` (for formatting only), an array or object that holds only
scalars on one line, with no comment and no trailing comma, becomes a single
:class:`Flat` literal already in its formatted inline form, when Format would keep it
inline. That saves building (and laying out) a node per element.
"""

from __future__ import annotations

import re

from tailcfg.hujson.cst import Arr, Member, Node, Obj
from tailcfg.hujson.extra import blen
from tailcfg.hujson.normalize import normalize_string

_EXTRA = r"(?P<x>(?:[ \t\r\n]++|//[^\n]*+\n|/\*(?s:.*?)\*/)*+)"
_STR = r'"(?:[^"\\]++|\\.)*+"'
_SCALAR = _STR + r"|[-+.0-9A-Za-z]++"
_TOKENS = (
    rf"(?P<s>{_STR})"  # string
    r"|(?P<l>[-+.0-9A-Za-z]++)"  # number, true, false, null
    r"|(?P<o>[{\[])"  # opener
    r"|(?P<c>[}\]])"  # closer
    r"|(?P<m>,)"
    r"|(?P<k>:)"
)
_ARRAY = rf"\[[ \t]*+(?:(?:{_SCALAR})[ \t]*+(?:,[ \t]*+(?:{_SCALAR})[ \t]*+)*+)?\]"
_MEMBER = rf"{_STR}[ \t]*+:[ \t]*+(?:{_SCALAR})"
_OBJECT = rf"\{{[ \t]*+(?:{_MEMBER}[ \t]*+(?:,[ \t]*+{_MEMBER}[ \t]*+)*+)?\}}"
_TOKEN = re.compile(rf"{_EXTRA}(?:{_TOKENS}|\Z)")
# The one-line composite is tried before the opener (alternatives are tried in order).
_TOKEN_FLAT = re.compile(rf"{_EXTRA}(?:(?P<f>{_ARRAY}|{_OBJECT})|{_TOKENS}|\Z)")
_ITEM = re.compile(_SCALAR)
_PAIR = re.compile(rf"({_STR})[ \t]*+:[ \t]*+({_SCALAR})")
WIDTH = 80


class Flat(str):
    """A composite already in its inline form; ``est`` is Format's width estimate for it."""

    est: int


class _Frame:
    __slots__ = ("comma", "comp", "last", "name", "node")

    def __init__(self, node: Node, comp: Obj | Arr) -> None:
        self.node = node
        self.comp = comp
        self.name: Node | None = None  # an object's member name waiting for its value
        self.last: Node | None = None  # the last value added
        self.comma = False  # a ',' came after the last value


def build(text: str, *, collapse: bool = False) -> Node:
    """The CST of a valid HuJSON text (see the module docstring for ``collapse``)."""
    stack: list[_Frame] = []
    root: Node | None = None
    top: _Frame | None = None
    for m in (_TOKEN_FLAT if collapse else _TOKEN).finditer(text):
        kind = m.lastgroup
        extra = m.group(1) or None
        if kind == "s" or kind == "l":
            node = Node(extra, m.group(kind), None, m.start(kind), m.end(kind))
        elif kind == "o":
            comp: Obj | Arr = Obj([], None) if m.group(kind) == "{" else Arr([], None)
            node = Node(extra, comp, None, m.start(kind), -1)
        elif kind == "f":
            node = _flat(m.group(kind), m.start(kind), m.end(kind))
            node.before = extra
        elif kind == "c":
            assert top is not None
            _close(top, extra, m.end(kind))
            node = top.node
            stack.pop()
            top = stack[-1] if stack else None
            if top is not None:
                top.last = node
            continue
        elif kind == "m":
            assert top is not None and top.last is not None
            top.last.after = extra
            top.comma = True
            continue
        elif kind == "k":
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
        if kind == "o":
            top = _Frame(node, node.value)  # type: ignore[arg-type]
            stack.append(top)
    assert root is not None
    return root


def _flat(raw: str, start: int, end: int) -> Node:
    """A one-line composite of scalars: a Flat literal, or nodes if Format would expand it."""
    if raw[0] == "[":
        items = [normalize_string(s) if "\\" in s else s for s in _ITEM.findall(raw)]
        est = 2 + sum(blen(s) + 2 for s in items)
        text = "[" + ", ".join(items) + "]"
    else:
        pairs = [
            (normalize_string(k) if "\\" in k else k, normalize_string(v) if "\\" in v else v)
            for k, v in _PAIR.findall(raw)
        ]
        est = 2 + sum(blen(k) + blen(v) + 4 for k, v in pairs)
        text = "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if est > WIDTH:
        node = build(raw)  # too wide: Format expands it, so it needs real nodes
        node.start, node.end = start, end
        return node
    flat = Flat(text)
    flat.est = est
    return Node(None, flat, None, start, end)


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
    last = top.last  # None for an empty composite
    if last is not None and top.comma and last.after is None:
        last.after = ""  # a trailing comma with nothing before it
    top.node.end = end
