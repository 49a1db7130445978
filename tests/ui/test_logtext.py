"""Lines from raw output: carriage returns, the bounded window, tails of log files."""

from __future__ import annotations

from tuiflow.engine.logaccess import LogAccess, count_lines_before, read_tail, read_window
from tuiflow.ui.logtext import LineAssembler, LogDocument
from tuiflow.ui.outputs import Joiner, load_tail


def test_carriage_return_progress_bar_is_one_updating_line():
    asm = LineAssembler()
    assert asm.feed("progress 10%\rprogress 50%") == ([], 0)
    assert asm.open_line == "progress 50%"
    assert asm.feed("\rprogress 100%\r") == ([], 0)
    assert asm.open_line == "progress 100%"
    assert asm.feed("\ndone\r\n") == (["progress 100%", "done"], 0)
    assert asm.open_line == ""


def test_chunk_boundaries_do_not_matter():
    whole = "a\rb\nline two\r\nthree"
    for cut in range(len(whole)):
        asm = LineAssembler()
        out = asm.feed(whole[:cut])[0] + asm.feed(whole[cut:])[0]
        assert out == ["b", "line two"] and asm.open_line == "three"


def test_a_flood_keeps_only_the_last_lines_and_counts_the_rest():
    asm = LineAssembler()
    asm.feed("par")
    lines, dropped = asm.feed("tial\n" + "".join(f"{i}\n" for i in range(100_000)) + "open", keep=10)
    assert dropped == 100_001 - 10 and lines == [str(i) for i in range(99_990, 100_000)]
    assert asm.open_line == "open"
    lines, dropped = asm.feed("\nnext\n", keep=10)
    assert lines == ["open", "next"] and dropped == 0


def test_document_keeps_a_bounded_window_with_absolute_indexes():
    doc = LogDocument(max_lines=100)
    for i in range(1000):
        doc.feed(f"line {i}\n".encode())
    assert len(doc) == 100 and doc.base == 900 and doc.line(0) == "line 900"
    doc.feed(b"".join(f"bulk {i}\n".encode() for i in range(250)))
    assert doc.base > 900 and doc.line(0) == "bulk 150" and doc.line(99) == "bulk 249"


def test_utf8_split_across_chunks_decodes():
    doc = LogDocument()
    data = "héllo ✓\n".encode()
    for i in range(len(data)):
        doc.feed(data[i:i + 1])
    assert doc.line(0) == "héllo ✓"


def test_very_long_line_is_capped_in_memory():
    doc = LogDocument()
    doc.feed(b"x" * 100_000 + b"\n")
    assert len(doc.line(0)) < 20_000 and doc.line(0).endswith("…")


async def test_read_tail_returns_whole_last_lines(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"".join(f"{i}\n".encode() for i in range(100_000)))
    data, offset = read_tail(path, None, 10)
    assert data == b"".join(f"{i}\n".encode() for i in range(99_990, 100_000))
    assert await count_lines_before(path, offset) == 99_990
    data, offset = read_tail(path, offset, 3)  # the lines before a byte offset
    assert data == b"99987\n99988\n99989\n"


async def test_read_window_around_a_line(tmp_path, monkeypatch):
    from tuiflow.engine import logaccess as logtext

    path = tmp_path / "log"
    path.write_bytes(b"".join(f"{i}\n".encode() for i in range(1, 1001)) + b"unfinished")
    for block in (1 << 20, 7):   # lines inside one read, and lines across many reads
        monkeypatch.setattr(logtext, "_BLOCK", block)
        data, offset, first = await read_window(path, 500, 5, 11)
        assert first == 495 and data.splitlines() == [str(i).encode() for i in range(495, 506)]
        assert path.read_bytes()[offset:].startswith(b"495\n")
        assert await read_window(path, 1000, 2, 5) == (b"998\n999\n1000\nunfinished", path.read_bytes().index(b"\n998\n") + 1, 998)
        assert await read_window(path, 5000, 0, 3) == (b"", path.stat().st_size, 5000)
        assert await count_lines_before(path, path.stat().st_size) == 1000


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
    (seg,) = await load_tail(logs, "t", [1], max_lines=1000)
    assert len(seg.data.split(b"\n")) == 1000 and seg.data.startswith(b"line ")  # the last one unfinished
    joiner.attempt, joiner.end, joiner.loading = 1, seg.end, False
    shown = seg.data + b"".join(joiner.take(a, o, d) for a, o, d in joiner.pending)
    assert shown == data[-len(shown):] and joiner.end == len(data)
    assert joiner.take(1, len(data) + 5, b"x") is None      # a gap: the pane must read again
    assert joiner.take(2, 0, b"new attempt\n") == b"new attempt\n" and joiner.attempt == 2


async def test_load_tail_reads_earlier_attempts_oldest_first(tmp_path):
    (tmp_path / "1.log").write_bytes(b"first try\nboom\n")
    (tmp_path / "2.log").write_bytes(b"second try\n")
    logs = LogAccess(lambda task, attempt: str(tmp_path / f"{attempt}.log"))
    segs = await load_tail(logs, "t", [1, 2], 100)
    assert [(s.attempt, s.data) for s in segs] == [(1, b"first try\nboom\n"), (2, b"second try\n")]


def test_a_flood_in_many_parts_keeps_the_window_exact():
    doc = LogDocument(max_lines=100)
    doc.start_attempt(1)
    first = b"head\npart"
    doc.feed(first)
    parts = [b"".join(b"l%d\n" % i for i in range(k * 1000, (k + 1) * 1000)) for k in range(50)]
    parts[-1] += "tail é".encode()[:-1]  # ends inside a UTF-8 character
    doc.feed_parts(parts)
    assert [doc.line(i) for i in (0, 99)] == ["l49900", "l49999"]
    doc.feed("é".encode()[1:] + b"!\n")
    assert doc.line(len(doc) - 1) == "tail é!" and len(doc) == 100
    # the window's mark knows where it starts in the log; its line number comes from the file
    log = first + b"".join(parts) + "é".encode()[1:] + b"!\n"
    mark = doc.marks[-1]
    assert log[mark.file_offset:].startswith(b"l49900\n")
    assert doc.attempt_row(1, 49_903) is None  # not known yet
    mark.first_line = log[: mark.file_offset].count(b"\n") + 1
    assert doc.line(doc.attempt_row(1, 49_903)) == "l49901"  # line 1 is head, line 2 partl0


def test_a_flood_with_carriage_returns_still_sees_every_line():
    doc = LogDocument(max_lines=10)
    parts = [b"x\r" * 5 + b"".join(b"%d\n" % i for i in range(100)), b"a\rb\n"]
    doc.feed_parts(parts)
    assert [doc.line(i) for i in range(len(doc))] == [str(i) for i in range(91, 100)] + ["b"]


async def test_read_window_reads_at_most_max_bytes(tmp_path):
    path = tmp_path / "log"
    path.write_bytes(b"first\n" + b"\r" * (3 << 20) + b"\nlast\n")   # one huge progress line
    data, offset, first = await read_window(path, 2, 0, 10, max_bytes=1 << 20)
    assert (offset, first, len(data)) == (6, 2, 1 << 20)
