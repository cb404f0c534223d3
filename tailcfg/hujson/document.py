"""``parse(text, path) -> Document``: the plain value now, spans and the CST on demand."""

from __future__ import annotations

from typing import Any

from tailcfg.errors import HujsonError
from tailcfg.hujson import fast
from tailcfg.hujson.build import build
from tailcfg.hujson.cst import Member, Node, Obj
from tailcfg.hujson.scan import ScanError, Scanner
from tailcfg.hujson.spans import Extent, SpanIndex
from tailcfg.source import Diagnostic, LineIndex, Span

JsonPath = tuple[str | int, ...]


class Document:
    """A parsed HuJSON file: ``value`` (plain Python), positions of any value or key.

    The line index, the span lookups and the CST (with every comment) are built on
    first use, so a plain parse costs about what ``json.loads`` costs.
    """

    __slots__ = ("_index", "_root", "_spans", "path", "text", "value")

    def __init__(self, path: str, text: str, value: Any, root: Node | None = None) -> None:
        self.path = path
        self.text = text
        self.value = value
        self._root = root
        self._index: LineIndex | None = None
        self._spans: SpanIndex | None = None

    @property
    def index(self) -> LineIndex:
        if self._index is None:
            self._index = LineIndex(self.text, self.path)
        return self._index

    @property
    def root(self) -> Node:
        """The CST root (built on first use)."""
        if self._root is None:
            self._root = build(self.text)  # the fast path accepted it: it is valid
        return self._root

    def span_at(self, json_path: JsonPath) -> Span:
        """The span of the value at ``json_path`` (``()`` is the whole document).

        A path that does not exist resolves to its deepest existing ancestor.
        """
        _, (start, end) = self._locate(json_path)
        return self.index.span(start, end)

    def key_span_at(self, json_path: JsonPath) -> Span:
        """The span of the member name at ``json_path``; for an index, of the element."""
        name, value = self._locate(json_path)
        start, end = name or value
        return self.index.span(start, end)

    def _locate(self, json_path: JsonPath) -> tuple[Extent | None, Extent]:
        if self._root is None:
            if self._spans is None:
                self._spans = SpanIndex(self.text)
            return self._spans.locate(json_path)
        node, name = self._root, None
        for step in json_path:
            comp = node.value
            if isinstance(comp, Obj) and isinstance(step, str):
                member = _find_member(comp.members, step)
                if member is None:
                    break
                node, name = member.value, member.name
            elif not isinstance(comp, (str, Obj)) and isinstance(step, int):
                if not -len(comp.elements) <= step < len(comp.elements):
                    break
                node, name = comp.elements[step], None
            else:
                break
        return (None if name is None else (name.start, name.end)), (node.start, node.end)


def _find_member(members: list[Member], key: str) -> Member | None:
    for member in members:
        raw = member.name.value
        assert isinstance(raw, str)
        if (raw[1:-1] if "\\" not in raw else _decode(raw)) == key:
            return member
    return None


def _decode(raw: str) -> str:
    import json

    decoded = json.loads(raw)
    assert isinstance(decoded, str)
    return decoded


def scan(text: str, path: str = "<input>", *, duplicates: bool = False) -> tuple[Node, Any]:
    """Run the exact scanner; a syntax error becomes a positioned HujsonError.

    ``duplicates=True`` accepts repeated object names (as tailscale/hujson itself does).
    """
    try:
        return Scanner(text, duplicates=duplicates).parse()
    except ScanError as exc:
        raise error_at(text, path, exc.offset, exc.message, exc.code) from None
    except RecursionError:
        raise error_at(text, path, 0, "nesting is too deep", "syntax") from None


def error_at(text: str, path: str, offset: int, message: str, code: str) -> HujsonError:
    index = LineIndex(text, path)
    end = min(offset + 1, len(text))
    return HujsonError([Diagnostic(index.span(offset, max(end, offset)), message, code=code)])


def tree(
    text: str, path: str = "<input>", *, duplicates: bool = False, collapse: bool = False
) -> Node:
    """The CST of ``text`` (quick builder when the fast path accepts it, else the scanner).

    ``collapse`` (formatting only) lets the builder fold one-line scalar composites.
    """
    if fast.loads(text)[0]:
        return build(text, collapse=collapse)
    return scan(text, path, duplicates=duplicates)[0]


def parse(text: str, path: str = "<input>") -> Document:
    """Parse HuJSON strictly; raise HujsonError (code ``syntax`` or ``duplicate-key``)."""
    ok, value = fast.loads(text)
    if ok:
        return Document(path, text, value)
    root, value = scan(text, path)
    return Document(path, text, value, root)


def parse_bytes(data: bytes, path: str = "<input>") -> Document:
    """Decode UTF-8 (rejecting invalid bytes at their position, and a BOM), then parse."""
    return parse(decode(data, path), path)


def decode(data: bytes, path: str = "<input>") -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        raise error_at(good + "?", path, len(good), "invalid UTF-8", "syntax") from None
    return text
