"""Joining a log read from disk to the live output, exactly.

The whole log is on disk (the run store writes every byte). A pane that opens a task reads the
tail of its newest attempt through the run's logs (in process, or through the engine when the
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


__all__ = ["Joiner", "LogReader"]
