"""The EventSink that carries engine events into the Textual app.

A task can print faster than a terminal can draw, so output is merged per task and delivered
at most ~15 times a second (~6 while output floods in), in one message together with the state events around it, in
order. Nothing is dropped: state changes always arrive, and every output byte is delivered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from textual.message import Message
from textual.message_pump import MessagePump

from tuiflow.engine.events import Event, TaskOutput

FLUSH_INTERVAL = 1 / 15
FLOOD_INTERVAL = 1 / 6     # while output floods in, fewer repaints: nobody reads 100k lines/s
FLOOD_BYTES = 256 * 1024   # output in one flush that counts as a flood


@dataclass(slots=True)
class OutputChunk:
    """Consecutive output of one task attempt, merged."""

    task: str
    attempt: int
    offset: int                      # of the first part in the attempt's log
    parts: list[bytes] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        """All of it in one piece (the app works on `parts`, to copy only what it keeps)."""
        if len(self.parts) > 1:
            self.parts[:] = [b"".join(self.parts)]
        return self.parts[0] if self.parts else b""


class EngineBatch(Message):
    """Everything the engine said since the last flush: events and merged output, in order."""

    def __init__(self, items: list[Event | OutputChunk]) -> None:
        super().__init__()
        self.items = items


class Bridge:
    """`handle` runs on the app's loop (the scheduler is an app worker), so posting is safe."""

    def __init__(self, target: MessagePump, interval: float = FLUSH_INTERVAL) -> None:
        self.target = target
        self.interval = interval
        self._items: list[Event | OutputChunk] = []
        self._open: dict[str, OutputChunk] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._pending_bytes = 0
        self._flooding = False
        self.closed = False

    def handle(self, event: Event) -> None:
        if self.closed:
            return
        if isinstance(event, TaskOutput):
            chunk = self._open.get(event.task)
            if chunk is None or chunk.attempt != event.attempt:
                chunk = self._open[event.task] = OutputChunk(event.task, event.attempt, event.offset)
                self._items.append(chunk)
            chunk.parts.append(event.data)
            self._pending_bytes += len(event.data)
        else:
            task = getattr(event, "task", None)
            if task is not None:
                self._open.pop(task, None)  # keep this task's output and states in order
            self._items.append(event)
        self._schedule()

    def _schedule(self) -> None:
        if self._handle is not None:
            return
        interval = max(self.interval, FLOOD_INTERVAL) if self._flooding else self.interval
        delay = max(0.0, self._last_flush + interval - time.monotonic())
        self._handle = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._last_flush = time.monotonic()
        self._flooding = self._pending_bytes >= FLOOD_BYTES
        self._pending_bytes = 0
        if not self._items:
            return
        items, self._items = self._items, []
        self._open.clear()
        self.target.post_message(EngineBatch(items))

    def close(self) -> None:
        """Deliver what is pending and accept nothing more."""
        self.flush()
        self.closed = True
