"""The headless front end (docs/headless.md): plain prefixed lines for people and CI, or JSON lines for machines.

Both printers are EventSinks: `handle` runs on the scheduler's loop, so it stays synchronous and
cheap. Task output is the hot path (a task may print 100 MB), so lines are prefixed a chunk at a
time with bytes operations, never formatted one by one. See docs/headless.md for the format.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import signal
import sys
import time
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from .engine.durations import format_duration as format_delay  # as the pipeline file writes it: 2s, 500ms
from .engine.events import (
    ControlApplied,
    Event,
    ExecutorChanged,
    LimitChanged,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    StorageFailed,
    TaskOutput,
    TasksAdded,
    TaskStateChanged,
    event_from_dict,
)
from .engine.model import FINISHED, Pipeline, TaskSpec, TaskState
from .engine.runview import RunView, TaskView
from .engine.termsafe import ColourFilter, escape_controls
from .engine.words import SYMBOLS, format_duration

if TYPE_CHECKING:
    from .engine.scheduler import Scheduler
    from .remote.host import Served

# --------------------------------------------------------------------------- format pieces

SEP = " │ "
"""Between the task name and its output line: `HH:MM:SS task │ line`."""

HELD_LINE_LIMIT = 1024 * 1024
"""A partial line longer than this is printed without waiting for its newline, so memory stays bounded."""

# Basic ANSI (SGR 30-37 / 90-97) so it reads on 16-colour terminals. Red is left out of the task
# palette: it means failure in the state lines.
TASK_PALETTE = (b"36", b"32", b"33", b"34", b"35", b"96", b"92", b"93", b"94", b"95")
RESET = b"\x1b[0m"
DIM = b"2"
BOLD = b"1"

STATE_COLOUR: dict[TaskState, bytes] = {
    TaskState.RUNNING: b"36",
    TaskState.SUCCEEDED: b"32",
    TaskState.FAILED: b"31",
    TaskState.TIMED_OUT: b"31",
    TaskState.CANCELLED: b"33",
    TaskState.RETRYING: b"33",
    TaskState.BLOCKED: b"33",
    TaskState.SKIPPED: DIM,
    TaskState.HELD: b"33",
    TaskState.AWAITING_APPROVAL: b"35",
    TaskState.PENDING: DIM,
    TaskState.READY: DIM,
}
"""Basic ANSI colour of each state's symbol. The symbols are the TUI's (ui/status.py): one
vocabulary for both front ends, one single-cell symbol per outcome so `grep ' ✗ '` finds failures."""

CONTROL_MARK = "⚙"
RUN_MARK = "▶"
NOTE_MARK = "!"
PROBLEM_MARK = "⚠"

# Controls that already show as their own event (Paused, Resumed, LimitChanged).
_CONTROLS_SHOWN_BY_EVENT = frozenset({"pause", "resume", "set_max_parallel"})


def use_colour(stream: BinaryIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to a non-empty value (no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def is_terminal(stream: BinaryIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False


def task_colour(name: str) -> bytes:
    """A stable colour per task name (the same in every run and on every machine)."""
    return TASK_PALETTE[zlib.crc32(name.encode()) % len(TASK_PALETTE)]


def _sgr(code: bytes, text: bytes) -> bytes:
    return b"\x1b[" + code + b"m" + text + RESET


class _Clock:
    """`HH:MM:SS` of an event time, cached per second: state lines and chunks come in bursts."""

    __slots__ = ("_sec", "_text")

    def __init__(self) -> None:
        self._sec = -1
        self._text = b""

    def __call__(self, t: float) -> bytes:
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            self._text = time.strftime("%H:%M:%S", time.localtime(sec)).encode()
        return self._text


def _clean_cr(line: bytes) -> bytes:
    """What a terminal would show of a line redrawn with `\\r`: the text after the last one.

    A trailing `\\r` is a CRLF line end, not a redraw.
    """
    if line.endswith(b"\r"):
        line = line[:-1]
    i = line.rfind(b"\r")
    return line if i < 0 else line[i + 1:]


# --------------------------------------------------------------------------- the plain printer


class _Partial:
    """A task's unfinished last line, held until its newline or the end of the attempt."""

    __slots__ = ("attempt", "data", "time")

    def __init__(self, attempt: int, data: bytes, t: float) -> None:
        self.attempt = attempt
        self.data = data
        self.time = t


FLUSH_DELAY = 0.05
"""Seconds a printed line may wait for the lines after it: one write for all of them."""


class _StreamSink:
    """Writing to a binary stream: flushed at most FLUSH_DELAY after a line, silenced when the
    reader leaves."""

    def __init__(self, stream: BinaryIO | None) -> None:
        self._stream: BinaryIO = sys.stdout.buffer if stream is None else stream
        self._dead = False
        self._flush_pending = False

    def _schedule_flush(self) -> None:
        """Flush FLUSH_DELAY after the first line that waits: a burst of events costs one write
        (and one wake-up of whoever reads the pipe), yet lines still show live. Flushing every
        loop iteration cost wide 1 000 two writes a task, each waking the reader."""
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_pending = True
        loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Write what is buffered now (the end of a run, a signal's note)."""
        self._flush_pending = False
        if self._dead:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            self._broken(exc)

    def _broken(self, exc: OSError) -> None:
        """The reader went away (`| head`) or the terminal hung up (EIO): stop printing; the run
        goes on and its logs are on disk. Any other failed write (a full disk) is said once."""
        self._dead = True
        _silence(self._stream)
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EIO:
            with contextlib.suppress(OSError, ValueError):
                print(f"tuiflow: cannot write the output: {exc.strerror or exc}; the run goes on "
                      "(its logs are in the run folder)", file=sys.stderr, flush=True)


class HeadlessPrinter(_StreamSink):
    """Prints a run for people: `HH:MM:SS task │ line` output, one line per state change, a summary.

    `pipeline` (optional) tells how many attempts each task may make, for `(attempt 2/3)` and
    the retry delay; without it attempts show as `(attempt 2)`. On a terminal (`terminal`,
    default: whether the stream is one) task output keeps only its text and colours
    (termsafe.keep_colours); piped, it is written as the task wrote it.
    """

    def __init__(self, stream: BinaryIO | None = None, *, colour: bool | None = None,
                 pipeline: Pipeline | None = None, terminal: bool | None = None,
                 view: RunView | None = None) -> None:
        """`view`: the run's RunView as a sink subscribed before this one keeps it (the run
        store's), read rather than kept twice; by default the printer keeps its own."""
        super().__init__(stream)
        self.colour = use_colour(self._stream) if colour is None else colour
        self.terminal = is_terminal(self._stream) if terminal is None else terminal
        self._filters: dict[str, tuple[int, ColourFilter]] = {}
        self._specs: dict[str, TaskSpec] = {t.name: t for t in pipeline.tasks} if pipeline else {}
        self._clock = _Clock()
        self._prefix_cache: dict[tuple[str, int], bytes] = {}
        self._partial: dict[str, _Partial] = {}
        self.view = view if view is not None else RunView()   # the run as every front end sees it
        self._own_view = view is None
        self._seen: dict[str, tuple[TaskState, int]] = {}   # each task's state and attempt before an event
        self._limit = 0
        self._pipeline_name = pipeline.name if pipeline else ""
        self._notes = pipeline.notes if pipeline else ()

    # -- EventSink

    def handle(self, event: Event) -> None:
        # The view sees every event, printed or not, first: the socket server shares it.
        kind = type(event)
        if kind is TaskStateChanged:
            before = self._seen.get(event.task, (TaskState.PENDING, -1))  # type: ignore[attr-defined]
            self._seen[event.task] = (event.state, event.attempt)  # type: ignore[attr-defined]
        elif kind is LimitChanged:
            old, self._limit = self._limit, event.max_parallel  # type: ignore[attr-defined]
        elif kind is RunStarted or kind is TasksAdded:
            for info in event.tasks:  # type: ignore[attr-defined]
                self._seen.setdefault(info.name, (TaskState.PENDING, 1))
            if kind is RunStarted:
                self._limit = event.max_parallel  # type: ignore[attr-defined]
        if self._own_view:
            self.view.apply(event)
        if self._dead:
            return
        try:
            if kind is TaskOutput:
                self._output(event)  # type: ignore[arg-type]
            elif kind is TaskStateChanged:
                self._state(event, *before)  # type: ignore[arg-type]
            elif isinstance(event, RunStarted):
                self._run_start(event)
            elif isinstance(event, TasksAdded):
                self._added(event)
            elif isinstance(event, LimitChanged):
                change = f"{old} → {event.max_parallel}" if old else str(event.max_parallel)
                self._line(event.time, f"{CONTROL_MARK} limit {change}")
            elif isinstance(event, Paused):
                self._line(event.time, f"{CONTROL_MARK} run paused: nothing new starts")
            elif isinstance(event, Resumed):
                self._line(event.time, f"{CONTROL_MARK} run resumed")
            elif isinstance(event, ControlApplied):
                self._control(event)
            elif isinstance(event, StorageFailed):
                self._line(event.time, f"{PROBLEM_MARK} {event.message}: the run goes on; "
                           "its record in the run folder is incomplete")
            elif isinstance(event, ExecutorChanged):
                self._line(event.time, f"{RUN_MARK} {event.executor}")
            elif isinstance(event, RunFinished):
                self._finish(event)
                self.flush()
                return
            self._schedule_flush()
        except OSError as exc:
            self._broken(exc)

    def note(self, text: str, t: float | None = None) -> None:
        """A line from the front end itself (a signal arrived, ...), in the same form as state lines."""
        if not self._dead:
            try:
                self._line(time.time() if t is None else t, text)
                self.flush()
            except OSError as exc:
                self._broken(exc)

    # -- output (hot path)

    def _prefix(self, task: str, t: float) -> bytes:
        key = (task, int(t))
        p = self._prefix_cache.get(key)
        if p is None:
            if len(self._prefix_cache) > 4096:
                self._prefix_cache.clear()
            head = self._clock(t) + b" " + escape_controls(task).encode() + SEP.rstrip().encode()
            p = (_sgr(task_colour(task), head) if self.colour else head) + b" "
            self._prefix_cache[key] = p
        return p

    def _output(self, ev: TaskOutput) -> None:
        data, task = ev.data, ev.task
        if self.terminal:
            data = self._filter(task, ev.attempt).feed(data)
        head = b""
        held = self._partial.pop(task, None)
        if held is not None:
            if held.attempt != ev.attempt:
                self._emit_lines(task, held.time, held.data)
            else:
                head = held.data  # never holds a newline: it is the start of this chunk's first line
        nl = data.rfind(b"\n")
        if nl < 0:
            self._hold(task, ev.attempt, ev.time, head + data)
            return
        if b"\r" in data or b"\r" in head:
            data = head + data
            nl += len(head)
            self._emit_lines(task, ev.time, data[:nl])
        else:
            # the fast path: one replace over the chunk, written up to its last newline
            prefix = self._prefix(task, ev.time)
            out = data.replace(b"\n", b"\n" + prefix)
            cut = len(out) - len(prefix) - (len(data) - nl - 1)
            self._stream.write(b"".join((prefix, head, memoryview(out)[:cut])))  # one write: one syscall
        if nl + 1 < len(data):
            self._hold(task, ev.attempt, ev.time, data[nl + 1:])

    def _filter(self, task: str, attempt: int) -> ColourFilter:
        kept = self._filters.get(task)
        if kept is None or kept[0] != attempt:
            kept = self._filters[task] = (attempt, ColourFilter())
        return kept[1]

    def _hold(self, task: str, attempt: int, t: float, rest: bytes) -> None:
        """Keep a partial last line; only its last `\\r` redraw, and never more than HELD_LINE_LIMIT."""
        cr = rest.rfind(b"\r", 0, len(rest) - 1)  # a final `\r` may start a CRLF
        if cr >= 0:
            rest = rest[cr + 1:]
        if len(rest) > HELD_LINE_LIMIT:
            self._emit_lines(task, t, rest)
        else:
            self._partial[task] = _Partial(attempt, rest, t)

    def _emit_lines(self, task: str, t: float, complete: bytes) -> None:
        """Write `complete` (lines joined by \\n, no final newline) with every line prefixed."""
        if b"\r" in complete:
            unix = complete.replace(b"\r\n", b"\n").removesuffix(b"\r")
            if b"\r" not in unix:  # only CRLF line ends: no per-line work
                complete = unix
            else:
                complete = b"\n".join([_clean_cr(line) for line in complete.split(b"\n")])
        prefix = self._prefix(task, t)
        self._stream.write(prefix + complete.replace(b"\n", b"\n" + prefix) + b"\n")

    def _flush_partial(self, task: str) -> None:
        held = self._partial.pop(task, None)
        if held is not None and held.data:
            self._emit_lines(task, held.time, held.data)

    # -- state lines

    def _spec(self, rec: TaskView) -> TaskSpec | None:
        spec = self._specs.get(rec.info.name)
        if spec is None and rec.info.parent:
            spec = self._specs.get(rec.info.parent)
        return spec

    def _attempts(self, rec: TaskView, attempt: int) -> str:
        """`2/3` when the task may retry, `2` when the limit is unknown or already passed by hand."""
        spec = self._spec(rec)
        if spec is not None and spec.retry.retries:
            total = spec.retry.retries + 1
            if attempt <= total:
                return f"{attempt}/{total}"
        return str(attempt)

    def _attempt_note(self, rec: TaskView, attempt: int) -> str:
        spec = self._spec(rec)
        if attempt <= 1 and (spec is None or spec.retry.retries == 0):
            return ""
        return f" (attempt {self._attempts(rec, attempt)})"

    def _state(self, ev: TaskStateChanged, prev: TaskState, prev_attempt: int) -> None:
        if prev is ev.state and prev_attempt == ev.attempt:
            return  # the same state again with more detail (the scheduler re-announces a start with its pid)
        rec = self.view.tasks[ev.task]
        if ev.state is not TaskState.RUNNING:
            self._flush_partial(ev.task)
        for state, text in self._state_texts(rec, prev, ev):
            self._state_line(ev.time, state, text)

    def _state_texts(self, rec: TaskView, prev: TaskState,
                     ev: TaskStateChanged) -> list[tuple[TaskState, str]]:
        """The state lines of one change (none for transitions nobody needs to read).

        A failed attempt that will be retried arrives as one change (running -> retrying) but
        prints two lines, so `grep ✗` finds every failed attempt.
        """
        name, st, reason = ev.task, ev.state, ev.reason
        if st is TaskState.RUNNING:
            pid = f" pid {ev.pid}" if ev.pid else ""
            where = f" on {ev.worker}" if ev.worker else ""
            return [(st, f"{name} started{self._attempt_note(rec, ev.attempt)}{pid}{where}")]
        if st is TaskState.SUCCEEDED:
            dur = _duration(rec)
            return [(st, name if dur is None else f"{name} {format_duration(dur)}")]
        if st in (TaskState.FAILED, TaskState.TIMED_OUT):
            default = "failed" if st is TaskState.FAILED else "timed out"
            return [(st, f"{name} {reason or default}{self._attempt_note(rec, ev.attempt)}")]
        if st is TaskState.CANCELLED:
            return [(st, f"{name} {reason or 'cancelled'}")]
        if st is TaskState.RETRYING:
            lines: list[tuple[TaskState, str]] = []
            nxt = ev.attempt
            if prev is TaskState.RUNNING:  # the attempt that just failed, then the wait
                failed = TaskState.TIMED_OUT if reason.startswith("timed out") else TaskState.FAILED
                lines.append((failed, f"{name} {reason or 'failed'}{self._attempt_note(rec, ev.attempt)}"))
                nxt = ev.attempt + 1
            spec = self._spec(rec)
            delay = f" in {format_delay(spec.retry.delay_before(nxt))}" if spec is not None else ""
            lines.append((st, f"{name} retrying{delay} (attempt {self._attempts(rec, nxt)})"))
            return lines
        if st is TaskState.BLOCKED:
            return [(st, f"{name} blocked" + (f": {reason}" if reason else ""))]
        if st is TaskState.SKIPPED:
            return [(st, f"{name} skipped" + (f": {reason}" if reason else ""))]
        if st is TaskState.HELD:
            return [(st, f"{name} held")]
        if st is TaskState.AWAITING_APPROVAL:
            return [(st, f"{name} awaits approval (tuiflow attach: A approves or rejects it)")]
        if prev is TaskState.AWAITING_APPROVAL and st is not TaskState.FAILED:
            return [(st, f"{name} approved")]
        # pending / ready: silent, except when a task comes back (released, retried, rerun)
        if prev is TaskState.HELD:
            return [(st, f"{name} released")]
        if prev in FINISHED or prev in (TaskState.BLOCKED, TaskState.RUNNING):
            return [(st, f"{name} pending again" + (f": {reason}" if reason else ""))]
        return []

    def _state_line(self, t: float, state: TaskState, text: str) -> None:
        head = self._clock(t) + b" "
        mark = SYMBOLS[state].encode()
        if self.colour:
            mark = _sgr(STATE_COLOUR[state], mark)
        self._stream.write(head + mark + b" " + escape_controls(text).encode() + b"\n")

    def _line(self, t: float, text: str) -> None:
        self._stream.write(self._clock(t) + b" " + escape_controls(text).encode() + b"\n")

    # -- run-level events

    def _run_start(self, ev: RunStarted) -> None:
        self._pipeline_name = ev.pipeline
        count = sum(1 for info in ev.tasks if not info.virtual)   # what runs a command, as validate counts
        parts = [ev.pipeline, f"run {ev.run_id}" if ev.run_id else "", f"{count} task{'s' if count != 1 else ''}",
                 f"limit {ev.max_parallel}", ev.executor, ev.run_dir]
        self._line(ev.time, f"{RUN_MARK} " + " · ".join(p for p in parts if p))
        for note in self._notes:   # what differs from what the file's author may expect, first
            self._line(ev.time, f"{NOTE_MARK} {note}")

    def _added(self, ev: TasksAdded) -> None:
        if ev.tasks:
            names = [t.name for t in ev.tasks]
            shown = ", ".join(names[:8]) + (f", … ({len(names) - 8} more)" if len(names) > 8 else "")
            self._line(ev.time, f"+ {len(names)} tasks added: {shown}")

    def _control(self, ev: ControlApplied) -> None:
        if ev.control in _CONTROLS_SHOWN_BY_EVENT:
            return
        target = f" {ev.task}" if ev.task else ""
        detail = f": {ev.detail}" if ev.detail else ""
        effect = "" if ev.applied else " (no effect)"
        self._line(ev.time, f"{CONTROL_MARK} {ev.control}{target}{effect}{detail}")

    # -- the summary

    def _finish(self, ev: RunFinished) -> None:
        for task in list(self._partial):
            self._flush_partial(task)
        self._stream.write(self.summary(ev).encode())

    def summary(self, ev: RunFinished) -> str:
        """The end-of-run table: each task's result, duration, attempts and reason, then totals."""
        # fan-in and sub-pipeline rows are structure: shown only when they did not succeed, never counted
        recs = [self.view.tasks[n] for n in self.view.order]
        recs = [r for r in recs if not r.info.virtual or r.state is not TaskState.SUCCEEDED]
        rows = [(escape_controls(r.info.name), r.state, format_duration(_duration(r)),
                 self._attempts(r, r.attempt) if r.attempts or r.started is not None else "-",
                 escape_controls(r.reason)) for r in recs]
        header = ("task", "result", "duration", "attempts", "reason")
        wname = max([len(header[0])] + [len(r[0]) for r in rows])
        wres = max([len(header[1])] + [len(r[1].value) for r in rows])
        wdur = max([len(header[2])] + [len(r[2]) for r in rows])
        watt = max([len(header[3])] + [len(r[3]) for r in rows])
        started = self.view.started_at
        elapsed = ev.time - started if started is not None else None
        title = f"── summary: {escape_controls(self._pipeline_name or 'run')} {ev.state.upper()}"
        if elapsed is not None:
            title += f" in {format_duration(elapsed)}"
        out = ["", self._bold(title),
               self._bold(f"{header[0]:<{wname}}  {header[1]:<{wres}}  {header[2]:>{wdur}}  "
                          f"{header[3]:>{watt}}  {header[4]}").rstrip()]
        for name, st, dur, att, reason in rows:
            res = f"{st.value:<{wres}}"
            if self.colour:
                res = _sgr(STATE_COLOUR[st], res.encode()).decode()
            out.append(f"{name:<{wname}}  {res}  {dur:>{wdur}}  {att:>{watt}}  {reason}".rstrip())
        counts: dict[str, int] = {}
        tasks = [r for r in recs if not r.info.virtual]
        for r in tasks:
            counts[r.state.value] = counts.get(r.state.value, 0) + 1
        order = [s.value for s in TaskState]
        parts = ", ".join(f"{counts[s]} {s}" for s in order if s in counts)
        total = f"{len(tasks)} tasks: {parts}" if tasks else "0 tasks"
        if elapsed is not None:
            total += f" · {format_duration(elapsed)}"
        out.append(self._bold(f"{total} · exit {ev.exit_code}"))
        if ev.problem:
            out.append(escape_controls(f"{PROBLEM_MARK} the run folder is incomplete: {ev.problem}"))
        return "\n".join(out) + "\n"

    def _bold(self, text: str) -> str:
        return _sgr(BOLD, text.encode()).decode() if self.colour else text


def _duration(view: TaskView) -> float | None:
    """The last attempt's time, as the summary shows it (none for a folder or what never ran)."""
    if view.started is None or view.info.virtual:
        return None
    return (view.ended if view.ended is not None else view.started) - view.started


def _silence(stream: BinaryIO) -> None:
    """Point a closed pipe's fd at /dev/null so the interpreter's exit flush does not complain."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


# --------------------------------------------------------------------------- JSON lines


class JsonlPrinter(_StreamSink):
    """`--events jsonl`: one JSON object per event, `event.to_dict()` on one line.

    Output events get a `text` field (UTF-8, invalid bytes replaced) instead of base64 `data`,
    so `jq` can read them; `data` (base64) is added only when `text` would not give the bytes back.
    `event_from_json` rebuilds the event either way.
    """

    def __init__(self, stream: BinaryIO | None = None, pipeline: Pipeline | None = None) -> None:
        super().__init__(stream)
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._notes = pipeline.notes if pipeline else ()

    def handle(self, event: Event) -> None:
        if self._dead:
            return
        if type(event) is TaskOutput:
            d: dict[str, Any] = {"event": event.kind, "time": event.time, "task": event.task,
                                 "attempt": event.attempt, "offset": event.offset}
            try:
                d["text"] = event.data.decode("utf-8")
            except UnicodeDecodeError:
                d["text"] = event.data.decode("utf-8", errors="replace")
                d["data"] = base64.b64encode(event.data).decode("ascii")
        else:
            d = event.to_dict()
            if isinstance(event, RunStarted):
                for note in self._notes:
                    self.note(note)
        try:
            self._stream.write(self._encode(d).encode("utf-8", errors="surrogateescape") + b"\n")
            if isinstance(event, RunFinished):
                self.flush()
            else:
                self._schedule_flush()
        except OSError as exc:
            self._broken(exc)

    def note(self, text: str, t: float | None = None) -> None:
        """Front-end messages go to stderr: stdout stays pure JSON lines."""
        with contextlib.suppress(OSError, ValueError):   # a terminal that hung up: the run goes on
            print(text, file=sys.stderr, flush=True)


def event_from_json(d: dict[str, Any]) -> Event:
    """Rebuild an event from one `--events jsonl` line (output events carry `text`, maybe `data`)."""
    if d.get("event") == TaskOutput.kind and "data" not in d:
        d = {**d, "data": base64.b64encode(d.get("text", "").encode("utf-8")).decode("ascii")}
    return event_from_dict(d)


# --------------------------------------------------------------------------- running


class _Printer(Protocol):
    def handle(self, event: Event) -> None: ...

    def flush(self) -> None: ...

    def note(self, text: str, t: float | None = None) -> None: ...


def make_printer(events: str | None, stream: BinaryIO | None = None,
                 pipeline: Pipeline | None = None, view: RunView | None = None) -> _Printer:
    """The sink for `--events FORMAT` (None: the plain printer); `view`: see HeadlessPrinter."""
    if events is None or events == "text":
        return HeadlessPrinter(stream, pipeline=pipeline, view=view)
    if events == "jsonl":
        return JsonlPrinter(stream, pipeline)
    raise ValueError(f"unknown events format {events!r} (expected jsonl)")


async def run_headless(scheduler: Scheduler, *, events: str | None, stream: BinaryIO | None = None,
                       served: Served | None = None) -> int:
    """Run `scheduler` to the end with a printer subscribed (and its socket served, when given);
    return the process exit code.

    Every stop signal (engine/stopsignals.py: SIGINT, SIGTERM, SIGHUP, SIGQUIT, ...) cancels the
    run — every task's process group ends, state and logs are flushed — and the exit code is
    128 + the first signal's number.
    """
    from .remote.host import serve

    shared = getattr(getattr(scheduler, "store", None), "view", None)   # the run store's: applied first
    printer = make_printer(events, stream, getattr(scheduler, "pipeline", None), view=shared)
    scheduler.subscribe(printer)

    def on_stop(sig: int) -> None:
        printer.note(f"{CONTROL_MARK} {signal.Signals(sig).name} received: cancelling the run")

    try:
        return await serve(scheduler, served, linger=False, on_stop=on_stop,
                           view=shared if shared is not None else getattr(printer, "view", None))
    finally:
        printer.flush()   # a line said after the run's end (its last write failed) is not left waiting
