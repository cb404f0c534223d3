"""Rewriting extras: the comment-free shortcut agrees with the full algorithm."""

from __future__ import annotations

import itertools

import pytest

from tailcfg.hujson.extra import Options, format_extra, format_general, line_stats

BLANKS = [None, "", " ", "\t", "\n", "\n\n", "\n\n\n", " \n \t\n ", "\r\n", "\r", "\n\r\n", "\r\r"]
FLAGS = list(itertools.product([False, True], repeat=6))


@pytest.mark.parametrize("extra", BLANKS)
def test_blank_shortcut_matches_full_algorithm(extra: str | None) -> None:
    for flags in FLAGS:
        opts = Options(*flags)
        for depth in (1, 2, 3):
            assert format_extra(extra, depth, opts) == format_general(extra, depth, opts)


@pytest.mark.parametrize(
    ("extra", "depth", "opts", "want"),
    [
        ("  // c  \n\n\n  ", 1, Options(), " // c\n\n\t"),
        ("/**//**/", 0, Options(), " /**/ /**/ "),
        (
            "\n/*\n   * a\n   * b\n   */\n",
            2,
            Options(),
            "\n\t\t/*\n\t\t * a\n\t\t * b\n\t\t */\n\t\t",
        ),
        ("//\u00a0x\u2003\n", 0, Options(), " //\u00a0x\n"),
        ("//x\x1f\n", 0, Options(), " //x\x1f\n"),
    ],
)
def test_format_extra(extra: str, depth: int, opts: Options, want: str) -> None:
    assert format_extra(extra, depth, opts) == want


@pytest.mark.parametrize(
    ("extra", "want"),
    [
        (None, (0, 0, False)),
        ("  ", (0, 0, False)),
        (" /*ab*/ ", (8, 8, False)),
        ("//c\n /*x*/", (4, 7, True)),
        ("/* a\n b */ ", (5, 0, True)),
        ("/*é*/", (8, 8, False)),
    ],
)
def test_line_stats(extra: str | None, want: tuple[int, int, bool]) -> None:
    assert line_stats(extra) == want
