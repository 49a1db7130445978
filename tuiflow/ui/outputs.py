"""What the UI keeps of each task's output: a byte count and a short tail per attempt.

The whole log is on disk (the run store writes every byte); the tail covers what the store
may not have flushed yet, and the last lines the summary prints. A pane that opens a task
reads the earlier part from the log file and joins it to the tail at the exact byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tuiflow.ui.logtext import read_tail

TAIL_BYTES = 256 * 1024       # per running attempt
FINISHED_TAIL_BYTES = 8 * 1024


@dataclass(slots=True)
class AttemptOutput:
    attempt: int
    total: int = 0
    tail: bytearray = field(default_factory=bytearray)

    def add(self, data: bytes, cap: int) -> None:
        self.add_parts([data], cap)

    def add_parts(self, parts: list[bytes], cap: int) -> None:
        """Count every byte; copy only the last `cap` of them."""
        self.total += sum(map(len, parts))
        take: list[bytes] = []
        size = 0
        for part in reversed(parts):
            take.append(part)
            size += len(part)
            if size >= cap:
                break
        data = b"".join(reversed(take))
        if len(data) >= cap:
            self.tail[:] = data[-cap:]
        else:
            self.tail += data
            if len(self.tail) > cap:
                del self.tail[: len(self.tail) - cap]


class OutputStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.current: dict[str, AttemptOutput] = {}
        self.earlier: dict[tuple[str, int], AttemptOutput] = {}   # small tails of past attempts
        self.last_output: dict[str, float] = {}
        self.clock = clock

    def add(self, task: str, attempt: int, data: bytes) -> None:
        self.add_parts(task, attempt, [data])

    def add_parts(self, task: str, attempt: int, parts: list[bytes]) -> None:
        out = self.current.get(task)
        if out is None or out.attempt != attempt:
            if out is not None:
                self._retire(task, out)
            out = self.current[task] = AttemptOutput(attempt)
        out.add_parts(parts, TAIL_BYTES)
        self.last_output[task] = self.clock()

    def _retire(self, task: str, out: AttemptOutput) -> None:
        if len(out.tail) > FINISHED_TAIL_BYTES:
            del out.tail[: len(out.tail) - FINISHED_TAIL_BYTES]
        self.earlier[(task, out.attempt)] = out

    def finished(self, task: str) -> None:
        """Keep only a small tail once a task is done (10 000 tasks must stay cheap)."""
        out = self.current.get(task)
        if out is not None and len(out.tail) > FINISHED_TAIL_BYTES:
            del out.tail[: len(out.tail) - FINISHED_TAIL_BYTES]

    def get(self, task: str, attempt: int | None = None) -> AttemptOutput | None:
        out = self.current.get(task)
        if attempt is None or (out is not None and out.attempt == attempt):
            return out
        return self.earlier.get((task, attempt))


@dataclass(slots=True)
class Segment:
    attempt: int
    data: bytes
    offset: int          # byte offset of `data` in the attempt's log file
    gap: str = ""        # a note when the file did not (yet) hold what was expected


def collect(task: str, attempts: list[int], store: OutputStore,
            log_path: Callable[[str, int], str | None], max_lines: int) -> list[Segment]:
    """The last `max_lines` lines of a task's attempts, oldest first: file prefix + memory tail."""
    segments: list[Segment] = []
    budget = max_lines
    current = store.get(task)
    for attempt in sorted(set(attempts), reverse=True):
        if budget <= 0:
            break
        path = log_path(task, attempt)
        if current is not None and current.attempt == attempt:
            tail = bytes(current.tail)
            prefix_end = current.total - len(tail)
            data, offset, gap = b"", prefix_end, ""
            if prefix_end > 0 and tail.count(b"\n") < budget:
                if path:
                    data, offset = read_tail(path, prefix_end, budget - tail.count(b"\n"))
                    if offset + len(data) < prefix_end:
                        missing = prefix_end - offset - len(data)
                        gap = f"… {missing} bytes not yet on disk …"
                        data, offset = b"", prefix_end
                else:
                    gap = f"… {prefix_end} earlier bytes (no log file) …"
            elif prefix_end > 0:
                # the memory tail alone fills the window: start it on a line boundary
                cut = tail.find(b"\n")
                tail = tail[cut + 1:] if cut >= 0 else tail
                offset = current.total - len(tail)
            seg = Segment(attempt, data + tail, offset, gap)
        elif path:
            data, offset = read_tail(path, None, budget)
            seg = Segment(attempt, data, offset)
        elif (old := store.get(task, attempt)) is not None:  # no log file: what memory kept
            data = bytes(old.tail)
            seg = Segment(attempt, data, old.total - len(data),
                          f"… {old.total - len(data)} earlier bytes (no log file) …" if old.total > len(data) else "")
        else:
            continue
        budget -= seg.data.count(b"\n")
        segments.append(seg)
    segments.reverse()
    return segments
