"""Every captured policy (and scenario) from Tailscale's server parses, fast and exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tailcfg.hujson import fast, format_text, parse
from tailcfg.hujson.document import scan

CAPTURES = Path(__file__).resolve().parents[1] / "conformance" / "data"
CAPTURES = CAPTURES / "tailscale-saas-captures.jsonl"


def _texts() -> list[tuple[str, str]]:
    out = []
    for line in CAPTURES.read_text("utf-8").splitlines():
        case: dict[str, Any] = json.loads(line)
        for field in ("policy", "scenario_hujson"):
            if isinstance(case.get(field), str):
                out.append((f"{case['name']}:{field}", case[field]))
    return out


TEXTS = _texts()


def test_there_are_captures() -> None:
    assert len(TEXTS) == 1202


def test_every_capture_parses_on_both_paths() -> None:
    for name, text in TEXTS:
        doc = parse(text, name)
        ok, value = fast.loads(text)
        assert ok, name
        assert scan(text, name)[1] == value == doc.value, name


@pytest.mark.parametrize("index", range(0, len(TEXTS), 60))
def test_capture_format_keeps_value(index: int) -> None:
    name, text = TEXTS[index]
    formatted = format_text(text, name)
    assert parse(formatted).value == parse(text).value
    assert format_text(formatted) == formatted
