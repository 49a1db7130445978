"""What a log pane shows of a task: the tail of its log, joined exactly to the live output.

The whole log is on disk (the run store writes every byte). A pane that opens a task reads the
last lines of each attempt through the run's logs (in process, or through the engine when the
viewer is attached), then takes live output from the byte where that read ended: every output
event says where its bytes start in the attempt's log, so nothing is shown twice and nothing is
missed, however the read and the live stream interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tuiflow.engine.logaccess import LogText


class LogReader(Protocol):
    async def tail(self, task: str, attempt: int, end: int | None = None, max_lines: int = ...,
                   max_bytes: int = ...) -> LogText: ...


TAIL_BYTES = 4 * 1024 * 1024     # at most this much of a log is read when a pane opens a task


@dataclass(slots=True)
class Segment:
    attempt: int
    data: bytes
    offset: int                  # byte offset of `data` in the attempt's log
    first_line: int | None       # its line number when known (a read from the start)

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


async def load_tail(logs: LogReader, task: str, attempts: list[int], max_lines: int,
                    max_bytes: int = TAIL_BYTES) -> list[Segment]:
    """The last `max_lines` lines of a task's attempts, oldest first (the newest attempt last)."""
    segments: list[Segment] = []
    budget = max_lines
    for attempt in sorted(set(attempts), reverse=True):
        if budget <= 0:
            break
        text = await logs.tail(task, attempt, None, budget, max_bytes)
        budget -= text.data.count(b"\n")
        segments.append(Segment(attempt, text.data, text.offset, text.first_line))
    segments.reverse()
    return segments


@dataclass(slots=True)
class Joiner:
    """Where a pane stands in the live output of its task: which attempt, up to which byte.

    While the pane is loading, live pieces wait in `pending`; `take` then keeps what lies past
    the loaded part. A piece that starts past `end` means bytes were missed (a viewer that fell
    behind): the pane must load again.
    """

    attempt: int = 0
    end: int = 0
    loading: bool = False
    pending: list[tuple[int, int, bytes]] = field(default_factory=list)

    def take(self, attempt: int, offset: int, data: bytes) -> bytes | None:
        """The part of a live piece to show: b"" when already shown, None when there is a gap."""
        if attempt != self.attempt:
            if offset != 0:
                return None
            self.attempt, self.end = attempt, 0
        if offset > self.end:
            return None
        if offset + len(data) <= self.end:
            return b""
        piece = data[self.end - offset:]
        self.end = offset + len(data)
        return piece


__all__ = ["Joiner", "LogReader", "Segment", "load_tail"]
