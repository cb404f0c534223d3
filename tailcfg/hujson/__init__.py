"""HuJSON (JWCC): a strict parser with positions, a CST that keeps comments, and a formatter.

Public API::

    parse(text, path="<input>") -> Document      # .value, .span_at(), .key_span_at()
    parse_bytes(data, path="<input>") -> Document
    format_text(text, path="<input>") -> str     # tailscale/hujson's Format, byte for byte
    standardize(text) -> str                     # comments and trailing commas -> spaces
    minimize(text) -> str                        # no extras, no trailing commas

Every error is a :class:`tailcfg.errors.HujsonError` with a positioned Diagnostic
(code ``syntax`` or ``duplicate-key``). Columns count code points.
"""

from tailcfg.hujson.document import Document, JsonPath, parse, parse_bytes
from tailcfg.hujson.fmt import format_text
from tailcfg.hujson.standard import minimize, standardize

__all__ = [
    "Document",
    "JsonPath",
    "format_text",
    "minimize",
    "parse",
    "parse_bytes",
    "standardize",
]
