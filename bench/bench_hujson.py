"""Benchmark: parse and format a generated ~1 MB HuJSON policy, as ratios to json.loads.

The baseline is ``json.loads`` of the same text with comments and trailing commas
blanked out (``standardize``). Run: ``.venv/bin/python bench/bench_hujson.py [--mb 1]``.
Figures only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from tailcfg.hujson import format_text, parse, standardize
from tailcfg.hujson.document import scan


def generate_policy(target_bytes: int, seed: int = 7) -> str:
    """A realistic policy: groups, hosts, tagOwners and ACLs, with comments and trailing commas."""
    rng = random.Random(seed)
    out: list[str] = ["// Generated benchmark policy.\n{\n"]
    size = 0
    out.append('\t// Groups of people.\n\t"groups": {\n')
    for i in range(200):
        members = ", ".join(f'"user{rng.randrange(5000)}@example.com"' for _ in range(4))
        out.append(f'\t\t"group:team{i}": [{members}],\n')
    out.append('\t},\n\t/* Named hosts\n\t * and subnets. */\n\t"hosts": {\n')
    for i in range(200):
        out.append(f'\t\t"host{i}": "10.{i // 250}.{i % 250}.0/24", // subnet {i}\n')
    out.append('\t},\n\t"tagOwners": {\n')
    for i in range(100):
        out.append(f'\t\t"tag:svc{i}": ["group:team{i}"],\n')
    out.append('\t},\n\t"acls": [\n')
    size = sum(len(part) for part in out)
    i = 0
    while size < target_bytes:
        src = ", ".join(f'"group:team{rng.randrange(200)}"' for _ in range(2))
        ports = [rng.randrange(1, 65535) for _ in range(3)]
        dst = ", ".join(f'"tag:svc{rng.randrange(100)}:{port}"' for port in ports)
        rule = (
            f"\t\t// rule {i}: access for team\n"
            f'\t\t{{\n\t\t\t"action": "accept",\n\t\t\t"src":    [{src}],\n'
            f'\t\t\t"dst":    [{dst}],\n\t\t}},\n'
        )
        out.append(rule)
        size += len(rule)
        i += 1
    out.append("\t],\n}\n")
    return "".join(out)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best CPU time of ``repeat`` runs (CPU time: steadier than wall time on a busy box)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    text = generate_policy(int(args.mb * 1_000_000))
    std = standardize(text)
    assert json.loads(std) == parse(text).value
    base = best_of(lambda: json.loads(std), args.repeat)
    print(f"policy: {len(text.encode()):,} bytes, {text.count(chr(10)):,} lines")
    print(f"json.loads(standardized)      {base * 1e3:8.2f} ms   1.00x")

    def parse_with_position() -> None:
        doc = parse(text)
        doc.span_at(("acls", 0, "dst", 0))

    rows = [
        ("parse (value)", lambda: parse(text)),
        ("parse + a span (lazy index)", parse_with_position),
        ("exact scanner (CST)", lambda: scan(text)),
        ("format_text", lambda: format_text(text)),
    ]
    for label, fn in rows:
        took = best_of(fn, args.repeat)
        print(f"{label:<30}{took * 1e3:8.2f} ms {took / base:6.2f}x")


if __name__ == "__main__":
    main()
