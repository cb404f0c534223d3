"""``standardize`` and ``minimize``, as tailscale/hujson's Standardize and Minimize do them."""

from __future__ import annotations

import re

from tailcfg.hujson.cst import Extra, Node, last_node, pack
from tailcfg.hujson.document import scan

_NOT_WS = re.compile(r"[^ \t\r\n]")


def _blank(extra: Extra) -> Extra:
    """Every non-whitespace character becomes one space per UTF-8 byte."""
    if not extra or "/" not in extra:
        return extra
    return _NOT_WS.sub(lambda m: " " * len(m.group().encode("utf-8", "surrogatepass")), extra)


def _standardize(node: Node) -> None:
    node.before = _blank(node.before)
    node.after = _blank(node.after)
    comp = node.value
    if isinstance(comp, str):
        return
    for child in comp.children():
        _standardize(child)
    comp.after = _blank(comp.after)
    last = last_node(comp)
    if last is not None and last.after is not None:
        comp.after = last.after + " " + (comp.after or "")
        last.after = None


def _minimize(node: Node) -> None:
    node.before = None
    node.after = None
    comp = node.value
    if isinstance(comp, str):
        return
    for child in comp.children():
        _minimize(child)
    comp.after = None


def standardize(text: str, path: str = "<input>") -> str:
    """Same length in bytes and same newlines; comments and trailing commas become spaces."""
    root, _ = scan(text, path)
    _standardize(root)
    return pack(root)


def minimize(text: str, path: str = "<input>") -> str:
    """The value without any whitespace, comments or trailing commas."""
    root, _ = scan(text, path)
    _minimize(root)
    return pack(root)


__all__ = ["minimize", "standardize"]
