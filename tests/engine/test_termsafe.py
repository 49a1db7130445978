"""termsafe: messages with control characters escaped, task output for a terminal (colours only)."""

from __future__ import annotations

from tuiflow.engine.termsafe import ColourFilter, escape_controls, keep_colours


def test_escape_controls() -> None:
    assert escape_controls("ok\ttab") == "ok\ttab"
    assert escape_controls("a\x1b]0;T\x07\nb\x9b\x7f") == "a\\e]0;T\\x07\\nb\\x9b\\x7f"
    assert escape_controls("line 1\nline \x1b2", keep_newlines=True) == "line 1\nline \\e2"


def test_the_filter_judges_a_sequence_split_between_chunks_whole() -> None:
    data = b"x\x1b[1;31mbold red\x1b[0m \x1b]2;title\x1b\\ \x1b[12;1H\xc2\x9b6n end\n" * 3
    whole = keep_colours(data)
    assert whole == b"x\x1b[1;31mbold red\x1b[0m  6n end\n" * 3
    for size in (1, 2, 3, 7):
        f = ColourFilter()
        assert b"".join(f.feed(data[i:i + size]) for i in range(0, len(data), size)) == whole
