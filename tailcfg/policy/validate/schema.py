"""Validate a policy document against ``schemas/policy.schema.json`` with positions.

Each JSON Schema error becomes a :class:`~tailcfg.source.Diagnostic` at the
offending value (an unknown field points at its key), with a message that names
the place the way the server does (``acls[0].src``, ``groups["group:a"]``).
Errors come in document order.

Like the server (Go's JSON decoding), field names match case-insensitively:
``"ACLs"``, ``"Action"``, ``"Users"`` and ``"Ports"`` of old policy files are
``acls``, ``action``, ``users`` and ``ports``. :func:`canonical_value` renames such
fields to their schema spelling (map keys such as group or host names are data and
stay as written); :func:`original_path` maps a path of the canonical value back to
the file's spelling, for positions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tailcfg.hujson import Document, JsonPath
from tailcfg.resources import schema_path
from tailcfg.source import Diagnostic, Severity, Span

SCHEMA_NAME = "policy.schema.json"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_NAMES = {
    "array": "an array",
    "object": "an object",
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}


@lru_cache(maxsize=1)
def policy_validator() -> Draft202012Validator:
    """The compiled validator of the policy schema (loaded once)."""
    schema = json.loads(schema_path(SCHEMA_NAME).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    while isinstance(schema, Mapping) and "$ref" in schema:
        schema = root["$defs"][str(schema["$ref"]).rpartition("/")[2]]
    return schema


def _canonical(value: Any, schema: Any, root: Mapping[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if not _structured(schema, root):
        return value
    if type(value) is list:
        return [_canonical(item, schema.get("items"), root) for item in value]
    if not isinstance(value, dict):
        return value
    props: Mapping[str, Any] = schema.get("properties", {})
    folded = {name.lower(): name for name in props}
    extra = schema.get("additionalProperties")
    out: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = str(raw_key)
        name = key if key in props else folded.get(key.lower(), key)
        if name in out or (name != key and name in value):
            name = key  # the exact spelling is also present: keep both as written
        out[name] = _canonical(item, props.get(name, extra), root)
    return out


_TYPE_CHECKS: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}
_KNOWN_KEYWORDS = frozenset(
    {"$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties"}
    | {"additionalProperties", "required", "items", "propertyNames", "pattern"}
)


def _structured(schema: Any, root: Mapping[str, Any]) -> bool:
    """Whether values under ``schema`` can hold objects with named fields."""
    return id(schema) in _structured_schemas(id(root))


@lru_cache(maxsize=4)
def _structured_schemas(root_id: int) -> frozenset[int]:
    root = policy_validator().schema
    assert isinstance(root, Mapping) and id(root) == root_id
    found: set[int] = set()

    def visit(schema: Any, seen: frozenset[int]) -> bool:
        schema = _resolve(schema, root)
        if not isinstance(schema, Mapping) or id(schema) in seen:
            return False
        inner = [
            visit(schema.get(k), seen | {id(schema)}) for k in ("items", "additionalProperties")
        ]
        inner += [visit(sub, seen | {id(schema)}) for sub in schema.get("properties", {}).values()]
        inner += [visit(sub, seen | {id(schema)}) for sub in schema.get("$defs", {}).values()]
        if "properties" in schema or any(inner[:2]):
            found.add(id(schema))
            return True
        return False

    visit(root, frozenset())
    return frozenset(found)


Check = Callable[[Any], bool]


def _always(_value: Any) -> bool:
    return True


def _never(_value: Any) -> bool:
    return False


class _Compiler:
    """Turns the schema into plain-Python yes/no checks (``no`` means "ask jsonschema")."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.memo: dict[int, Check] = {}

    def compile(self, schema: Any) -> Check:
        schema = _resolve(schema, self.root)
        if schema is True or schema is None:
            return _always
        if not isinstance(schema, Mapping) or not _KNOWN_KEYWORDS.issuperset(schema):
            return _never
        if id(schema) not in self.memo:
            cell: list[Check] = []
            self.memo[id(schema)] = lambda value: cell[0](value)
            cell.append(self._build(schema))
            self.memo[id(schema)] = cell[0]
        return self.memo[id(schema)]

    def _build(self, schema: Mapping[str, Any]) -> Check:
        types = schema.get("type")
        names = [types] if isinstance(types, str) else list(types or ())
        type_checks = [_TYPE_CHECKS[name] for name in names]
        items = self.compile(schema["items"]) if "items" in schema else _always
        props = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        extra_check = _never if extra is False else self.compile(extra)
        required = tuple(schema.get("required", ()))
        key_check = self.compile(schema.get("propertyNames"))
        pattern = re.compile(schema["pattern"]) if "pattern" in schema else None

        def check(value: Any) -> bool:
            if type_checks and not any(t(value) for t in type_checks):
                return False
            if type(value) is list:
                return all(items(item) for item in value)
            if type(value) is dict:
                return (
                    all(name in value for name in required)
                    and all(key_check(key) for key in value)
                    and all(props.get(k, extra_check)(v) for k, v in value.items())
                )
            return pattern is None or type(value) is not str or pattern.search(value) is not None

        return check


@lru_cache(maxsize=1)
def _section_checks() -> dict[str, Check]:
    root = policy_validator().schema
    assert isinstance(root, Mapping)
    compiler = _Compiler(root)
    return {name: compiler.compile(sub) for name, sub in root["properties"].items()}


def canonical_value(value: Any) -> Any:
    """``value`` with struct field names in the schema's spelling (matched ignoring case)."""
    root = policy_validator().schema
    assert isinstance(root, Mapping)
    return _canonical(value, root, root)


def original_path(value: Any, path: Sequence[str | int]) -> JsonPath:
    """The path of ``value`` (as written) that a canonical-value ``path`` names."""
    out: list[str | int] = []
    node = value
    for part in path:
        if isinstance(node, Mapping) and isinstance(part, str) and part not in node:
            part = next((k for k in node if k.lower() == part.lower()), part)
        out.append(part)
        node = _child(node, part)
    return tuple(out)


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def format_path(path: Iterable[str | int]) -> str:
    """``acls[0].src[1]``, ``groups["group:a"]`` — how the server names a place."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(name, name) for name in names)


def _at(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


class _Spans:
    """Spans of canonical paths, looked up under the file's own spelling of each key."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def span_at(self, path: JsonPath) -> Span:
        return self.doc.span_at(original_path(self.doc.value, path))

    def key_span_at(self, path: JsonPath) -> Span:
        return self.doc.key_span_at(original_path(self.doc.value, path))


def _diagnostics(doc: _Spans, error: ValidationError) -> list[tuple[JsonPath, Diagnostic]]:
    path: JsonPath = tuple(error.absolute_path)
    where = format_path(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        out = []
        for key in error.instance:
            if key not in allowed:
                key_path = (*path, key)
                span = doc.key_span_at(key_path)
                message = _at(where, f"unknown field {json.dumps(key)}")
                out.append((key_path, Diagnostic(span, message, "unknown-field", Severity.ERROR)))
        return out
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        key_path = (*path, error.instance)
        pattern = str(error.validator_value).lstrip("^")
        message = _at(where, f"{json.dumps(error.instance)} must start with {json.dumps(pattern)}")
        span = doc.key_span_at(key_path)
        return [(key_path, Diagnostic(span, message, "schema", Severity.ERROR))]
    if error.validator == "type":
        expected = _expected(error.validator_value)
        message = _at(where, f"expected {expected}, got {json_type(error.instance)}")
    elif error.validator == "required":
        missing = re.findall(r"'([^']*)' is a required property", error.message)
        field = missing[0] if missing else str(error.validator_value)
        message = _at(where, f"missing required field {json.dumps(field)}")
    else:
        message = _at(where, error.message)
    return [(path, Diagnostic(doc.span_at(path), message, "schema", Severity.ERROR))]


def document_order(value: Any, path: Sequence[str | int]) -> tuple[int, ...]:
    """A sort key placing ``path`` where it appears in ``value`` (keys in file order)."""
    key: list[int] = []
    node = value
    for part in path:
        if isinstance(node, Mapping) and part in node:
            key.append(list(node).index(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            key.append(part)
            node = node[part]
        else:
            break
    return tuple(key)


def schema_findings(doc: Document, value: Any | None = None) -> list[tuple[JsonPath, Diagnostic]]:
    """Schema errors (of ``value``, the canonical value) with their paths, in file order."""
    canonical = canonical_value(doc.value) if value is None else value
    if isinstance(canonical, dict):
        # jsonschema is slow on big files: only sections that fail the fast check go to it.
        checks = _section_checks()
        canonical = {k: v for k, v in canonical.items() if not checks.get(k, _never)(v)}
    spans = _Spans(doc)
    found: list[tuple[JsonPath, Diagnostic]] = []
    for error in policy_validator().iter_errors(canonical):
        found.extend(_diagnostics(spans, error))
    found.sort(key=lambda item: document_order(canonical, item[0]))
    return found


def check_schema(doc: Document) -> list[Diagnostic]:
    """Every schema error of the document, positioned, in document order."""
    return [diag for _path, diag in schema_findings(doc)]
