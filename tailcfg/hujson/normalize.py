"""String normalization as tailscale/hujson's Format does it (decode as Go, re-encode)."""

from __future__ import annotations

import json
import re

_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def normalize_string(literal: str) -> str:
    """Decode as Go's encoding/json would and re-encode as hujson.String does.

    ``"`` and ``\\`` and control characters are escaped (short forms, else ``\\u00xx``);
    everything else is raw UTF-8; an unpaired surrogate escape becomes U+FFFD.
    """
    value = json.loads(literal)
    value = _SURROGATE.sub("\ufffd", value)  # json.loads keeps lone surrogates; Go does not
    return '"' + _NEEDS_ESCAPE.sub(_escape, value) + '"'


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    return _SHORT.get(ch) or f"\\u{ord(ch):04x}"
