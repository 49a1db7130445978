"""What a pane holds of a log: live lines as a terminal shows them, rows over whole files, search."""

from __future__ import annotations

from tuiflow.engine.logaccess import LogAccess
from tuiflow.ui.logtext import BLOCK, MISSING, AttemptLog, LiveLines, PaneDoc, PaneSearch
from tuiflow.ui.outputs import Joiner


def feed_all(live: LiveLines, *pieces: bytes, keep: int = 1000) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        out += live.feed(piece, keep)[0]
    return out


def test_carriage_return_progress_bar_is_one_updating_line():
    live = LiveLines()
    assert feed_all(live, b"progress 10%\rprogress 50%") == []
    assert live.open_text == "progress 50%"
    assert feed_all(live, b"\rprogress 100%\r") == []
    assert live.open_text == "progress 100%"
    assert feed_all(live, b"\ndone\r\n") == ["progress 100%", "done"]
    assert live.open_text == ""


def test_lines_show_what_a_terminal_shows():
    live = LiveLines()
    lines = feed_all(live, b"abc\bX\n\x1b]0;HACKED\x07title gone\nlong line\rshort\n\x1b[31mred\x1b[0m\n")
    assert lines == ["abX", "title gone", "shortline", "\x1b[31mred\x1b[0m"]


def test_chunk_boundaries_do_not_matter():
    whole = "a\rb\nline two\r\nthé \x1b]0;t\x07end\x1b[1mbold\x1b[0m\nthree".encode()
    for cut in range(len(whole)):
        live = LiveLines()
        assert feed_all(live, whole[:cut], whole[cut:]) == ["b", "line two", "thé end\x1b[1mbold\x1b[0m"]
        assert live.open_text == "three"


def test_a_flood_keeps_only_the_last_lines_and_counts_the_rest():
    live = LiveLines()
    live.feed(b"par", 10)
    lines, count = live.feed(b"tial\n" + b"".join(b"%d\n" % i for i in range(100_000)) + b"open", 10)
    assert count == 100_001 and lines == [str(i) for i in range(99_990, 100_000)]
    assert live.open_text == "open" and live.open_raw == b"open" and live.open_bytes == 4
    assert live.feed(b"\nnext\n", 10) == (["open", "next"], 2)


def test_very_long_line_is_capped_in_memory():
    live = LiveLines()
    (line,) = feed_all(live, b"x" * 100_000 + b"\n")
    assert len(line) < 20_000 and line.endswith("…")


def doc_with(lines: int, keep: int = 100, before: int | None = 0) -> PaneDoc:
    doc = PaneDoc(keep)
    doc.add_attempt(AttemptLog(1, before=before))
    doc.feed([b"".join(b"line %d\n" % i for i in range(lines))])
    return doc


def test_rows_beyond_the_kept_lines_are_asked_for_then_shown():
    doc = doc_with(1000)
    assert doc.rows == 1000 and doc.text(999) == "line 999" and doc.text(900) == "line 900"
    assert doc.text(5) is None and doc.wanted == {(1, 0)}
    first, count = doc.missing(doc.attempts[0], 0)
    assert (first, count) == (0, BLOCK)
    doc.store(1, 0, [f"line {i}" for i in range(BLOCK)])
    assert doc.text(5) == "line 5"
    assert doc.missing(doc.attempts[0], 7) == (7 * BLOCK, 900 - 7 * BLOCK)   # up to the kept lines


def test_a_block_shorter_than_asked_shows_its_missing_lines_as_such():
    doc = doc_with(1000)
    doc.store(1, 0, ["only"])
    assert doc.text(0) == "only" and doc.text(1) == MISSING


def test_lines_before_the_tail_are_not_asked_for_until_counted_then_appear_above():
    doc = doc_with(50, before=None)
    assert doc.rows == 50 and doc.text(0) == "line 0"
    log = doc.attempts[0]
    assert doc.set_before(log, 7000) == 0
    assert doc.rows == 7050 and doc.text(7000) == "line 0" and doc.text(10) is None


def test_attempts_and_markers_make_the_rows():
    doc = PaneDoc()
    doc.add_attempt(AttemptLog(1, "── attempt 1 ──", before=3))
    doc.add_attempt(AttemptLog(2, "── attempt 2 ──"))
    doc.feed([b"two\n"])
    assert doc.rows == 6
    assert [doc.text(r) for r in (0, 4, 5)] == ["\x00MARK── attempt 1 ──", "\x00MARK── attempt 2 ──", "two"]
    assert doc.row_of(1, 2) == 3 and doc.row_of(2, 0) == 5
    assert doc.locate(2) == (doc.attempts[0], 1)


def test_a_flood_in_many_parts_keeps_the_count_exact():
    doc = PaneDoc(100)
    doc.add_attempt(AttemptLog(1))
    doc.feed([b"head\npart"])
    parts = [b"".join(b"l%d\n" % i for i in range(k * 1000, (k + 1) * 1000)) for k in range(50)]
    parts[-1] += "tail é".encode()[:-1]  # ends inside a UTF-8 character
    doc.feed(parts)
    doc.feed(["é".encode()[1:] + b"!\n"])
    log = doc.attempts[0]
    assert doc.rows == 50_002 and log.end == len(b"head\npart") + sum(map(len, parts)) + len(b"\xa9!\n")
    assert doc.text(doc.rows - 1) == "tail é!" and doc.text(doc.rows - 2) == "l49999"


def test_the_pane_search_numbers_live_lines_and_steps_through_attempts():
    search = PaneSearch("Err")
    search.add(1, [3, 9])
    search.start_live(2, 4, b"par")
    search.feed(2, b"tial error\nfine\nERROR again\nerr")   # lines 4 and 6 of attempt 2
    search.add(2, [1])          # the engine's answer for the lines before, after those came
    assert search.hits[2].tolist() == [1, 4, 6] and search.live_carry == b"err"
    order = [1, 2]
    assert search.step(order, 1, 3, forward=True) == (1, 9)
    assert search.step(order, 1, 9, forward=True) == (2, 1)
    assert search.step(order, 2, 1, forward=True) == (2, 4)
    assert search.step(order, 2, 6, forward=True) == (1, 3)        # wraps around
    assert search.step(order, 1, 3, forward=False) == (2, 6)
    assert search.step(order, 2, 5, forward=False, inclusive=True) == (2, 4)
    search.current = (2, 4)
    assert search.ordinal() == 4 and search.count == 5


async def test_a_pane_joins_the_log_tail_to_live_output_at_the_exact_byte(tmp_path):
    """Live pieces that arrive while the tail is read overlap it: each byte shows exactly once."""
    lines = [f"line {i}\n".encode() for i in range(50_000)]
    data = b"".join(lines)
    (tmp_path / "1.log").write_bytes(data[:-1000])   # what the engine had written when the pane read
    logs = LogAccess(lambda task, attempt: str(tmp_path / f"{attempt}.log"))
    joiner = Joiner(loading=True)
    # live output the pane received meanwhile: the last 3000 bytes, in two pieces
    cut = len(data) - 3000
    joiner.pending = [(1, cut, data[cut:cut + 1500]), (1, cut + 1500, data[cut + 1500:])]
    tail = await logs.tail("t", 1, None, 1000)
    assert len(tail.data.split(b"\n")) == 1000 and tail.data.startswith(b"line ")  # the last one unfinished
    joiner.attempt, joiner.end, joiner.loading = 1, tail.offset + len(tail.data), False
    shown = tail.data + b"".join(joiner.take(a, o, d) for a, o, d in joiner.pending)
    assert shown == data[-len(shown):] and joiner.end == len(data)
    assert joiner.take(1, len(data) + 5, b"x") is None      # a gap: the pane must read again
    assert joiner.take(2, 0, b"new attempt\n") == b"new attempt\n" and joiner.attempt == 2
