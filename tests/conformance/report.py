"""Print the conformance table: per category, cases replayed, cases agreeing, percent.

Run: ``.venv/bin/python tests/conformance/report.py [--markdown] [--failures]``.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import Outcome, iter_outcomes

ORDER = ("acl", "grant", "routes", "ssh", "nodeattrs", "policytest", "sshtest")


def table(
    markdown: bool,
    failures: bool,
    outcomes: Iterable[tuple[dict[str, Any], Outcome]] | None = None,
) -> str:
    """The per-category table of ``outcomes`` (default: replay every capture)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    failed: list[tuple[str, str]] = []
    for case, outcome in iter_outcomes() if outcomes is None else outcomes:
        row = counts[case["category"]]
        row[0] += 1
        row[1] += int(outcome.agree)
        if not outcome.agree:
            failed.append((case["name"], outcome.reason.splitlines()[0] if outcome.reason else ""))
    cats = [c for c in ORDER if c in counts] + sorted(set(counts) - set(ORDER))
    total = [sum(counts[c][0] for c in cats), sum(counts[c][1] for c in cats)]
    lines = []
    if markdown:
        lines += ["| category | cases | agree | % |", "|---|---:|---:|---:|"]
        for c in [*cats, "total"]:
            n, a = total if c == "total" else counts[c]
            lines.append(f"| {c} | {n} | {a} | {100 * a / n:.1f} |")
    else:
        lines.append(f"{'category':<12} {'cases':>6} {'agree':>6} {'%':>7}")
        for c in [*cats, "total"]:
            n, a = total if c == "total" else counts[c]
            lines.append(f"{c:<12} {n:>6} {a:>6} {100 * a / n:>6.1f}%")
    if failures:
        lines += ["", *(f"{name}: {reason}" for name, reason in failed)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    print(table("--markdown" in argv, "--failures" in argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
