"""Reading logs for a pane: what a terminal shows of a line, the line index, counts, lines, search."""

from __future__ import annotations

import asyncio
import random

import pytest

from tuiflow.engine import logaccess, logindex
from tuiflow.engine.logaccess import LogAccess, read_tail
from tuiflow.engine.logindex import LONG_LINE, LineIndex, read_lines
from tuiflow.engine.logsearch import Matcher, search_logs
from tuiflow.engine.termline import LineRenderer, render_line


@pytest.mark.parametrize(("raw", "shown"), [
    ("abc\bX", "abX"),                                   # a backspace, then a character over it
    ("\x1b]0;HACKED\x07after", "after"),                 # a window title: nothing shows
    ("\x1b]0;HACKED\x1b\\after", "after"),               # the same, ended by ST
    ("10%\r50%\r100%", "100%"),
    ("abcdef\rXY", "XYcdef"),                            # \r only moves the cursor
    ("abcdef\r\x1b[Kdone", "done"),                      # erase to the end of the line
    ("abc\x1b[2D!", "a!c"),                              # cursor back two columns
    ("\x1b[5Gx", "    x"),                               # cursor to column 5
    ("bell\x07! \x1b[2J\x1b[Hclear", "bell! clear"),     # a bell, clearing the screen, cursor home
    ("日本\b\bX", "日X"),                                # wide characters take two columns
    ("x\x1b[31mred\rY\x1b[0m", "\x1b[31mYred\x1b[0m"),  # colours are kept where they were written
    ("plain \x1b[31mred\x1b[0m", "plain \x1b[31mred\x1b[0m"),
    ("tab\there", "tab\there"),
    ("line\r", "line"),
])
def test_a_line_renders_as_a_terminal_shows_it(raw, shown):
    assert render_line(raw) == shown


def test_a_line_fed_in_pieces_renders_the_same_whatever_the_cut():
    raw = "ab\x1b[31mcd\x1b]0;title\x07ef\rX\x1b[0mY\bZ"
    for cut in range(len(raw) + 1):
        line = LineRenderer()
        line.feed(raw[:cut])
        line.feed(raw[cut:])
        assert line.text() == render_line(raw)


def write(tmp_path, data: bytes, name: str = "1.log"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_the_index_finds_every_line_whatever_the_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(logindex, "BLOCK", 64)       # many blocks, lines across their edges
    rng = random.Random(7)
    lines = [bytes(rng.choice(b"ab\r") for _ in range(rng.choice([0, 3, 63, 64, 65, 300]))) for _ in range(400)]
    data = b"\n".join(lines) + b"\nunfinished"
    path = write(tmp_path, data)
    index = LineIndex()
    with open(path, "rb") as f:
        index.extend(f, limit=len(data) // 3)    # counted in two goes, as a growing log is
        index.extend(f)
        assert index.newlines == 400 and index.lines() == 401
        for offset in range(0, len(data) + 1, 97):
            assert index.lines_before(f, offset) == len(data[:offset].split(b"\n")) - (data[:offset].endswith(b"\n") or offset == 0)
        for first in (0, 1, 199, 399, 400):
            got, start = read_lines(f, index, first, 5, 1 << 20)
            assert start == len(b"\n".join(lines[:first])) + (1 if first else 0)
            assert got == (lines + [b"unfinished"])[first:first + 5]


def test_a_line_longer_than_16k_comes_cut_to_what_it_shows(tmp_path):
    bar = b"".join(b"\r%d%%" % (i % 100) for i in range(20_000)) + b"\rdone 100%"
    path = write(tmp_path, b"first\n" + b"y" * 100_000 + b"\n" + bar + b"\nlast\n")
    index = LineIndex()
    with open(path, "rb") as f:
        index.extend(f)
        got, _ = read_lines(f, index, 0, 10, 1 << 20)
    assert got[0] == b"first" and got[1] == b"y" * LONG_LINE and got[3] == b"last"
    assert render_line(got[2].decode()) == "done 100%"


def test_a_shrunk_file_is_counted_again(tmp_path):
    path = write(tmp_path, b"a\nb\nc\n")
    index = LineIndex()
    with open(path, "rb") as f:
        index.extend(f)
    path.write_bytes(b"x\n")
    with open(path, "rb") as f:
        index.extend(f)
    assert index.lines() == 1


async def test_a_tail_carries_its_line_number_once_counted(tmp_path):
    path = write(tmp_path, b"".join(b"%d\n" % i for i in range(100_000)) + b"open")
    logs = LogAccess(lambda task, attempt: str(path))
    tail = await logs.tail("t", 1, None, 10)
    assert tail.data.startswith(b"99991\n") and tail.data.endswith(b"open")
    count = await logs.count("t", 1, tail.offset, wait=10)
    assert count.lines == 99_991 and count.counted == count.offset == tail.offset
    assert (await logs.tail("t", 1, None, 10)).first_line == 99_992
    assert (await logs.count("t", 1, None, wait=10)).lines == 100_001
    text = await logs.lines("t", 1, 50_001, 3)
    assert (text.data, text.first_line) == (b"50000\n50001\n50002\n", 50_001)
    assert path.read_bytes()[text.offset:].startswith(b"50000\n")
    assert (await logs.lines("t", 1, 100_001, 5)).data == b"open\n"


async def test_the_index_grows_with_the_log_while_it_is_read(tmp_path):
    path = write(tmp_path, b"one\n")
    logs = LogAccess(lambda task, attempt: str(path))
    assert (await logs.count("t", 1, None, wait=5)).lines == 1
    with open(path, "ab") as f:
        f.write(b"two\nthree\n")
    assert (await logs.lines("t", 1, 3, 5)).data == b"three\n"   # past what was counted: counted again
    assert (await logs.count("t", 1, None, wait=5)).lines == 3


async def test_find_goes_through_a_log_in_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(logaccess, "FIND_READ", 7_000)     # each request reads in several pieces
    lines = [b"ok %d" % i if i % 1000 else b"\x1b[31mERROR\x1b[0m at %d" % i for i in range(1, 20_001)]
    lines[4999] = b"error: 50%\rredrawn"      # the match is drawn over: not shown, not found
    data = b"\n".join(lines) + b"\n"
    path = write(tmp_path, data)
    logs = LogAccess(lambda task, attempt: str(path))
    hits, offset, line, pieces = [], 0, 1, 0
    while offset < len(data):
        found = await logs.find("t", 1, "error", offset, line, len(data), max_bytes=50_000, max_hits=7)
        hits += found.lines
        offset, line, pieces = found.offset, found.line, pieces + 1
    assert hits == [n for n in range(1000, 20_001, 1000) if n != 5000] and line == 20_001 and pieces > 3


async def test_search_across_logs_finds_what_shows(tmp_path):
    write(tmp_path, b"first\n\x1b[1mNeedle\x1b[0m here\nneedle\bX\n", "a-1.log")
    write(tmp_path, b"no\n" * 5 + b"a needle\n", "b-2.log")
    hits = await asyncio.to_thread(search_logs, "needle", [("a", [1]), ("b", [2])],
                                   lambda task, attempt: str(tmp_path / f"{task}-{attempt}.log"))
    assert [(h.task, h.attempt, h.line, h.text) for h in hits] == [("a", 1, 2, "Needle here"), ("b", 2, 6, "a needle")]


def test_a_query_with_letters_other_than_ascii_matches_any_case():
    assert Matcher("été").scan("ÉTÉ\nnon\nl'été\n".encode(), 0, 10) == ([0, 2], None)


def test_read_tail_returns_whole_last_lines(tmp_path):
    path = write(tmp_path, b"".join(f"{i}\n".encode() for i in range(100_000)))
    data, offset = read_tail(path, None, 10)
    assert data == b"".join(f"{i}\n".encode() for i in range(99_990, 100_000))
    data, offset = read_tail(path, offset, 3)  # the lines before a byte offset
    assert data == b"99987\n99988\n99989\n"
