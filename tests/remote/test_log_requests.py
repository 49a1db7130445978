"""A viewer reads the run's logs through the engine: tails with their line numbers, counts, lines
by number and searches in pieces, the same as in process (engine/logaccess.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.remote.inproc import engine, t, until, viewer


async def test_a_viewer_reads_any_line_of_a_log_and_searches_it_through_the_engine(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("big", "seq:1:30000 && echo:the needle && seq:30001:30010"))
    job = asyncio.create_task(sched.run(stay_open=True))
    v, _ = await viewer(server)
    await until(lambda: v.view.state.ended)
    logs = v.logs
    tail = await logs.tail("big", 1, None, 5)
    assert tail.data == b"".join(b"line %d\n" % n for n in range(30006, 30011))
    count = await logs.count("big", 1, tail.offset, wait=5)
    assert count.lines == 30006 and (await logs.tail("big", 1, None, 5)).first_line == 30007
    assert (await logs.count("big", 1, None, wait=5)).lines == 30011
    text = await logs.lines("big", 1, 30001, 2)
    assert (text.data, text.first_line) == (b"the needle\nline 30001\n", 30001)
    size = Path(sched.log_path("big", 1)).stat().st_size
    hits, offset, line = [], 0, 1
    while offset < size:
        found = await logs.find("big", 1, "NEEDLE", offset, line, size, max_bytes=100_000)
        hits += found.lines
        offset, line = found.offset, found.line
    assert hits == [30001] and line == 30012
    many = await logs.find("big", 1, "line", 0, 1, size, max_hits=1000)    # at most so many in one reply
    assert many.lines == list(range(1, 1001)) and many.line == 1001
    with pytest.raises(OSError, match="bad lines request"):
        await v.request("lines", task="big", attempt=1, first="x", count=1, bytes=10)
    v.close()
    await asyncio.wait_for(job, 5)
