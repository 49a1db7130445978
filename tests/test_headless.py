"""The headless printers, fed engine events directly: exact lines, as a CI log shows them."""

from __future__ import annotations

import io
import json
import random
import time

import pytest

from tests.engine.fakes import contents
from tuiflow.engine.events import (
    ControlApplied,
    LimitChanged,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    TaskInfo,
    TaskOutput,
    TasksAdded,
    TaskStateChanged,
)
from tuiflow.engine.model import Pipeline, RetryPolicy, TaskSpec, TaskState
from tuiflow.headless import (
    HELD_LINE_LIMIT,
    HeadlessPrinter,
    JsonlPrinter,
    event_from_json,
    make_printer,
    task_colour,
    use_colour,
)

S = TaskState
T0 = 1_700_000_000.0


def hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


H0 = hms(T0)


def printer(pipeline: Pipeline | None = None, colour: bool = False) -> tuple[HeadlessPrinter, io.BytesIO]:
    buf = io.BytesIO()
    return HeadlessPrinter(buf, colour=colour, pipeline=pipeline), buf


def lines(buf: io.BytesIO) -> list[str]:
    return buf.getvalue().decode().splitlines()


def out(task: str, data: bytes, t: float = T0, attempt: int = 1) -> TaskOutput:
    return TaskOutput(time=t, task=task, attempt=attempt, data=data)


def st(task: str, state: TaskState, attempt: int = 1, reason: str = "", t: float = T0,
       started: float | None = None, ended: float | None = None, pid: int | None = None) -> TaskStateChanged:
    return TaskStateChanged(time=t, task=task, state=state, attempt=attempt, reason=reason,
                            started=started, ended=ended, pid=pid)


def pipeline(*specs: TaskSpec) -> Pipeline:
    return Pipeline(name="demo", file="/x/demo.yaml", tasks=specs)


# ----------------------------------------------------------------------------- output lines


def test_each_output_line_is_prefixed_with_time_and_task() -> None:
    p, buf = printer()
    p.handle(out("extract", b"fetched 10 rows\nfetched 20 rows\n"))
    assert lines(buf) == [f"{H0} extract │ fetched 10 rows", f"{H0} extract │ fetched 20 rows"]


def test_partial_line_waits_for_its_newline_and_takes_that_chunks_time() -> None:
    p, buf = printer()
    p.handle(out("a", b"hel"))
    assert buf.getvalue() == b""
    p.handle(out("a", b"lo\nwor", t=T0 + 5))
    assert lines(buf) == [f"{hms(T0 + 5)} a │ hello"]
    p.handle(out("a", b"ld\n", t=T0 + 9))
    assert lines(buf)[-1] == f"{hms(T0 + 9)} a │ world"


def test_partial_line_is_printed_when_the_attempt_ends() -> None:
    p, buf = printer()
    p.handle(out("a", b"no newline at the end", t=T0 + 1))
    p.handle(st("a", S.SUCCEEDED, started=T0, ended=T0 + 1.25, t=T0 + 2))
    assert lines(buf) == [f"{hms(T0 + 1)} a │ no newline at the end", f"{hms(T0 + 2)} ✓ a 1.2s"]


def test_partial_line_of_an_earlier_attempt_is_not_glued_to_the_next() -> None:
    p, buf = printer()
    p.handle(out("a", b"first", attempt=1))
    p.handle(out("a", b"second\n", attempt=2))
    assert lines(buf) == [f"{H0} a │ first", f"{H0} a │ second"]


def test_tasks_keep_their_partial_lines_apart() -> None:
    p, buf = printer()
    p.handle(out("a", b"a1 "))
    p.handle(out("b", b"b1 "))
    p.handle(out("a", b"a2\n"))
    p.handle(out("b", b"b2\n"))
    assert lines(buf) == [f"{H0} a │ a1 a2", f"{H0} b │ b1 b2"]


@pytest.mark.parametrize(("chunks", "expected"), [
    ([b"10%\r20%\r30%\n"], ["30%"]),
    ([b"10%\r", b"20%\r", b"100%\n"], ["100%"]),
    ([b"one\r\ntwo\r\n"], ["one", "two"]),
    ([b"one\r", b"\ntwo\r\n"], ["one", "two"]),
    ([b"a\r\nb 1%\rb 2%\r\nc\n"], ["a", "b 2%", "c"]),
    ([b"x\n\n\ny\n"], ["x", "", "", "y"]),
])
def test_carriage_return_redraws_keep_only_the_last_text(chunks: list[bytes], expected: list[str]) -> None:
    p, buf = printer()
    for c in chunks:
        p.handle(out("t", c))
    assert [line.split(" │ ", 1)[1] if " │ " in line else line for line in lines(buf)] == expected


def test_held_progress_line_does_not_grow_with_each_redraw() -> None:
    p, _ = printer()
    for i in range(1000):
        p.handle(out("t", b"\r%d%% " % i + b"#" * 100))
    assert len(p._partial["t"].data) < 200


def test_a_line_over_the_hold_limit_is_printed_without_waiting() -> None:
    p, buf = printer()
    p.handle(out("t", b"x" * (HELD_LINE_LIMIT + 1)))
    assert buf.getvalue() == f"{H0} t │ ".encode() + b"x" * (HELD_LINE_LIMIT + 1) + b"\n"
    assert "t" not in p._partial


def test_output_bytes_pass_through_unchanged_whatever_the_chunking() -> None:
    data = (b"".join(b"%099d\n" % i for i in range(3000)) + "é ünïcode \x1b[31mred\x1b[0m\n".encode()
            + b"\xff\xfe raw\n" + b"crlf\r\n" * 50 + b"".join(b"\r%d%%" % i for i in range(200)) + b"\n"
            + b"".join(b"%099d\n" % i for i in range(300)))
    whole, whole_buf = printer()
    whole.handle(out("t", data))
    rnd = random.Random(7)
    for _ in range(20):
        p, buf = printer()
        i = 0
        while i < len(data):
            n = rnd.choice([1, 2, 7, 100, 4096, 65536])
            p.handle(out("t", data[i:i + n]))
            i += n
        assert buf.getvalue() == whole_buf.getvalue()
    body = [line.split(b" \xe2\x94\x82 ", 1)[1] for line in whole_buf.getvalue().split(b"\n")[:-1]]
    expected = data.replace(b"\r\n", b"\n").split(b"\n")[:-1]
    assert body == [line.rpartition(b"\r")[2] for line in expected]
    assert b"199%" in body and b"198%" not in body


# ----------------------------------------------------------------------------- colour


class FakeTty(io.BytesIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert use_colour(FakeTty(), {}) is True
    assert use_colour(FakeTty(), {"NO_COLOR": "1"}) is False
    assert use_colour(FakeTty(), {"TERM": "dumb"}) is False
    assert use_colour(io.BytesIO(), {}) is False
    assert HeadlessPrinter(io.BytesIO()).colour is False


def test_no_color_env_turns_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert HeadlessPrinter(FakeTty()).colour is False
    monkeypatch.delenv("NO_COLOR")
    assert HeadlessPrinter(FakeTty()).colour is True


def test_coloured_prefix_uses_basic_ansi_and_a_stable_colour_per_task() -> None:
    p, buf = printer(colour=True)
    p.handle(out("extract", b"row\n"))
    code = task_colour("extract")
    assert buf.getvalue() == b"\x1b[" + code + b"m" + f"{H0} extract │".encode() + b"\x1b[0m row\n"
    assert int(code) in set(range(30, 38)) | set(range(90, 98))
    assert task_colour("extract") == code  # stable across calls and runs (crc32, not order)
    assert len({task_colour(f"t{i}") for i in range(50)}) > 5


def test_coloured_state_line_colours_only_the_symbol() -> None:
    p, buf = printer(colour=True)
    p.handle(st("load", S.FAILED, reason="exit 1"))
    assert buf.getvalue() == f"{H0} ".encode() + b"\x1b[31m\xe2\x9c\x97\x1b[0m load exit 1\n"


# ----------------------------------------------------------------------------- state lines


def test_state_lines() -> None:
    p, buf = printer(pipeline(TaskSpec("load", "x", retry=RetryPolicy(retries=2, delay=2, backoff=2.0)),
                              TaskSpec("extract", "x")))
    p.handle(st("extract", S.RUNNING, started=T0, pid=42))
    p.handle(st("extract", S.SUCCEEDED, started=T0, ended=T0 + 1.2))
    p.handle(st("load", S.RUNNING, started=T0))
    p.handle(st("load", S.RETRYING, attempt=1, reason="exit 1", started=T0, ended=T0 + 1))
    p.handle(st("load", S.PENDING, attempt=1))
    p.handle(st("load", S.READY, attempt=1))
    p.handle(st("load", S.RUNNING, attempt=2, started=T0 + 3))
    p.handle(st("load", S.RETRYING, attempt=2, reason="timed out after 30s"))
    p.handle(st("load", S.RUNNING, attempt=3, started=T0 + 3))
    p.handle(st("load", S.FAILED, attempt=3, reason="exit 1", started=T0 + 3, ended=T0 + 4))
    p.handle(st("report", S.BLOCKED, reason="upstream load failed"))
    p.handle(st("y", S.CANCELLED, reason="cancelled"))
    p.handle(st("w", S.SKIPPED, reason="precondition not met"))
    p.handle(st("x", S.TIMED_OUT, reason="timed out after 30s"))
    assert lines(buf) == [
        f"{H0} ● extract started pid 42",
        f"{H0} ✓ extract 1.2s",
        f"{H0} ● load started (attempt 1/3)",
        f"{H0} ✗ load exit 1 (attempt 1/3)",
        f"{H0} ↻ load retrying in 2s (attempt 2/3)",
        f"{H0} ● load started (attempt 2/3)",
        f"{H0} ◷ load timed out after 30s (attempt 2/3)",
        f"{H0} ↻ load retrying in 4s (attempt 3/3)",
        f"{H0} ● load started (attempt 3/3)",
        f"{H0} ✗ load exit 1 (attempt 3/3)",
        f"{H0} ⊖ report blocked: upstream load failed",
        f"{H0} ⊘ y cancelled",
        f"{H0} ↷ w skipped: precondition not met",
        f"{H0} ◷ x timed out after 30s",
    ]


def test_hold_release_and_manual_retry_lines() -> None:
    p, buf = printer()
    p.handle(st("a", S.HELD))
    p.handle(st("a", S.PENDING))
    p.handle(st("a", S.READY))
    p.handle(st("b", S.FAILED, reason="exit 2"))
    p.handle(st("b", S.PENDING, attempt=2))
    p.handle(st("b", S.RUNNING, attempt=2))
    assert lines(buf) == [f"{H0} ‖ a held", f"{H0} ◌ a released", f"{H0} ✗ b exit 2",
                          f"{H0} ◌ b pending again", f"{H0} ● b started (attempt 2)"]


def test_run_header_controls_and_limit_lines() -> None:
    p, buf = printer()
    p.handle(RunStarted(time=T0, run_id="r1", pipeline="demo", file="/x/demo.yaml", run_dir="/x/.tuiflow/runs/r1",
                        max_parallel=4, tasks=(TaskInfo("a", ()),)))
    p.handle(LimitChanged(time=T0, max_parallel=8))
    p.handle(Paused(time=T0))
    p.handle(Resumed(time=T0))
    p.handle(ControlApplied(time=T0, control="pause"))
    p.handle(ControlApplied(time=T0, control="cancel", task="a"))
    p.handle(ControlApplied(time=T0, control="retry", task="a", applied=False))
    p.handle(TasksAdded(time=T0, tasks=(TaskInfo("p[x]", ("l",), parent="p"), TaskInfo("p[y]", ("l",), parent="p"))))
    assert lines(buf) == [
        f"{H0} ▶ demo · run r1 · 1 task · limit 4 · /x/.tuiflow/runs/r1",
        f"{H0} ⚙ limit 4 → 8",
        f"{H0} ⚙ run paused: nothing new starts",
        f"{H0} ⚙ run resumed",
        f"{H0} ⚙ cancel a",
        f"{H0} ⚙ retry a (no effect)",
        f"{H0} + 2 tasks added: p[x], p[y]",
    ]


# ----------------------------------------------------------------------------- summary


def test_summary_table_lists_every_task_then_totals() -> None:
    p, buf = printer(pipeline(TaskSpec("extract", "x"), TaskSpec("load", "x", retry=RetryPolicy(retries=2)),
                              TaskSpec("report", "x"), TaskSpec("all", None)))
    p.handle(RunStarted(time=T0, run_id="r1", pipeline="demo", file="f", run_dir="d", max_parallel=2,
                        tasks=(TaskInfo("extract", ()), TaskInfo("load", ("extract",)),
                               TaskInfo("report", ("load",)), TaskInfo("all", ("report",), virtual=True))))
    p.handle(st("extract", S.SUCCEEDED, started=T0, ended=T0 + 0.4))
    p.handle(st("load", S.FAILED, attempt=3, reason="exit 1", started=T0 + 1, ended=T0 + 73))
    p.handle(st("report", S.BLOCKED, attempt=0, reason="upstream load failed"))
    p.handle(out("extract", b"dangling"))
    buf.seek(0)
    buf.truncate()
    p.handle(RunFinished(time=T0 + 75, state="failed", exit_code=1))
    assert lines(buf) == [
        f"{H0} extract │ dangling",
        "",
        "── summary: demo FAILED in 1m15s",
        "task     result     duration  attempts  reason",
        "extract  succeeded      0.4s         1",
        "load     failed        1m12s       3/3  exit 1",
        "report   blocked                     -  upstream load failed",
        "all      pending                     -",
        "3 tasks: 1 succeeded, 1 failed, 1 blocked · 1m15s · exit 1",  # the fan-in row is structure
    ]


# ----------------------------------------------------------------------------- robustness


class ClosedPipe(io.BytesIO):
    def write(self, b: object) -> int:
        raise BrokenPipeError

    def flush(self) -> None:
        raise BrokenPipeError


def test_a_closed_pipe_stops_printing_but_never_raises() -> None:
    for p in (HeadlessPrinter(ClosedPipe(), colour=False), JsonlPrinter(ClosedPipe())):
        p.handle(out("a", b"x\n"))
        p.handle(st("a", S.SUCCEEDED))
        p.handle(RunFinished(time=T0, state="succeeded", exit_code=0))
        assert p._dead


def test_make_printer() -> None:
    assert isinstance(make_printer(None, io.BytesIO()), HeadlessPrinter)
    assert isinstance(make_printer("jsonl", io.BytesIO()), JsonlPrinter)
    with pytest.raises(ValueError, match="jsonl"):
        make_printer("xml", io.BytesIO())


# ----------------------------------------------------------------------------- JSON lines


def test_jsonl_one_object_per_event_with_text_for_output() -> None:
    buf = io.BytesIO()
    p = JsonlPrinter(buf)
    events = [
        RunStarted(time=T0, run_id="r1", pipeline="demo", file="f", run_dir="d", max_parallel=2,
                   tasks=(TaskInfo("a", ()),)),
        st("a", S.RUNNING, pid=7),
        out("a", "héllo\n".encode()),
        out("a", b"\xff\xfebad\n"),
        st("a", S.SUCCEEDED, started=T0, ended=T0 + 1),
        RunFinished(time=T0 + 1, state="succeeded", exit_code=0),
    ]
    for e in events:
        p.handle(e)
    rows = [json.loads(line) for line in buf.getvalue().decode().splitlines()]
    assert [r["event"] for r in rows] == ["run_started", "task_state", "task_output", "task_output",
                                          "task_state", "run_finished"]
    assert rows[1]["state"] == "running" and rows[1]["pid"] == 7
    assert rows[2]["text"] == "héllo\n" and "data" not in rows[2]
    assert rows[3]["text"] == "\ufffd\ufffdbad\n" and "data" in rows[3]
    assert contents([event_from_json(r) for r in rows]) == contents(events)


def test_a_repeated_state_prints_once() -> None:
    p, buf = printer()
    p.handle(st("a", S.FAILED, reason="exit 1"))
    p.handle(st("a", S.PENDING, attempt=1))
    p.handle(st("a", S.RUNNING, attempt=2))
    p.handle(st("a", S.RUNNING, attempt=2, pid=99))
    p.handle(st("a", S.SUCCEEDED, attempt=2))
    assert lines(buf) == [f"{H0} ✗ a exit 1", f"{H0} ◌ a pending again", f"{H0} ● a started (attempt 2)",
                          f"{H0} ✓ a 0.0s"]   # a start without its time started when it was said


# ----------------------------------------------------------------------------- run_headless


class StubScheduler:
    """Just enough of the Scheduler API for run_headless: runs until cancel_run() is called."""

    pipeline = None

    def __init__(self, code: int = 0, wait_for_cancel: bool = False) -> None:
        self.sinks: list[object] = []
        self.cancels = 0
        self.code = code
        self.wait_for_cancel = wait_for_cancel
        self._cancelled = None

    def subscribe(self, sink: object) -> None:
        self.sinks.append(sink)

    def cancel_run(self, exit_code: int | None = None) -> None:
        self.cancels += 1
        if self._cancelled is not None:
            self._cancelled.set()

    async def run(self) -> int:
        import asyncio

        self._cancelled = asyncio.Event()
        for sink in self.sinks:
            sink.handle(st("a", S.RUNNING, t=T0))  # type: ignore[attr-defined]
        if self.wait_for_cancel:
            await self._cancelled.wait()
            code = 1
        else:
            code = self.code
        for sink in self.sinks:
            sink.handle(RunFinished(time=T0, state="cancelled" if code else "succeeded", exit_code=code))  # type: ignore[attr-defined]
        return code


@pytest.mark.parametrize("code", [0, 1])
async def test_run_headless_returns_the_schedulers_exit_code(code: int) -> None:
    from tuiflow.headless import run_headless

    buf = io.BytesIO()
    sched = StubScheduler(code)
    assert await run_headless(sched, events=None, stream=buf) == code  # type: ignore[arg-type]
    assert isinstance(sched.sinks[0], HeadlessPrinter)
    assert f"{H0} ● a started" in lines(buf)


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129), ("SIGQUIT", 131),
                                           ("SIGUSR2", 140)])
async def test_a_signal_cancels_the_run_and_sets_the_exit_code(sig: str, code: int) -> None:
    import asyncio
    import os
    import signal

    from tuiflow.headless import run_headless

    buf = io.BytesIO()
    sched = StubScheduler(wait_for_cancel=True)
    loop = asyncio.get_running_loop()
    handle = loop.call_later(0.05, os.kill, os.getpid(), getattr(signal, sig))
    try:
        assert await asyncio.wait_for(run_headless(sched, events=None, stream=buf), 5) == code  # type: ignore[arg-type]
    finally:
        handle.cancel()
    assert sched.cancels == 1
    assert any(line.endswith(f"⚙ {sig} received: cancelling the run") for line in lines(buf))
    # handlers are removed afterwards: the default disposition is back
    assert signal.getsignal(getattr(signal, sig)) in (signal.SIG_DFL, signal.default_int_handler)


async def test_run_headless_jsonl() -> None:
    from tuiflow.headless import run_headless

    buf = io.BytesIO()
    assert await run_headless(StubScheduler(0), events="jsonl", stream=buf) == 0  # type: ignore[arg-type]
    assert [json.loads(x)["event"] for x in lines(buf)] == ["task_state", "run_finished"]


async def test_a_second_signal_cancels_again_and_the_first_decides_the_exit_code() -> None:
    import asyncio
    import os
    import signal

    from tuiflow.headless import run_headless

    class TwoSignals(StubScheduler):
        def cancel_run(self, exit_code: int | None = None) -> None:
            self.cancels += 1
            if self.cancels == 1:
                os.kill(os.getpid(), signal.SIGTERM)  # arrives while the run is still cancelling
            elif self._cancelled is not None:
                self._cancelled.set()

    buf = io.BytesIO()
    sched = TwoSignals(wait_for_cancel=True)
    asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(run_headless(sched, events=None, stream=buf), 5) == 130  # type: ignore[arg-type]
    assert sched.cancels == 2
    assert sum("received: cancelling the run" in line for line in lines(buf)) == 1


class CountingStream(io.BytesIO):
    """A stream that counts its flushes: each is a write to the pipe and a wake-up of its reader."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


async def test_a_burst_of_lines_is_one_flush_and_a_lone_line_still_shows() -> None:
    import asyncio

    from tuiflow.headless import FLUSH_DELAY

    for make in (lambda s: HeadlessPrinter(s, colour=False), JsonlPrinter):
        stream = CountingStream()
        p = make(stream)
        for i in range(200):              # 200 tasks start and end, over many loop iterations
            p.handle(st(f"t{i}", S.RUNNING, pid=100 + i))
            await asyncio.sleep(0)
            p.handle(st(f"t{i}", S.SUCCEEDED, started=T0, ended=T0))
            await asyncio.sleep(0)
        assert stream.flushes == 0        # nothing written to the pipe yet: all of it waits together
        await asyncio.sleep(FLUSH_DELAY * 2)   # a timer set before this sleep's: it has run by then
        assert stream.flushes == 1
        assert len(lines(stream)) == 400
        p.handle(st("late", S.RUNNING, pid=1))  # one line alone, no event after it
        await asyncio.sleep(FLUSH_DELAY * 2)
        assert stream.flushes == 2
        p.handle(RunFinished(time=T0, state="succeeded", exit_code=0))
        assert stream.flushes == 3        # the end is written at once


# ----------------------------------------------------------------------------- through the real Scheduler


def _fake_pipeline() -> Pipeline:
    return Pipeline(name="demo", file="/x/demo.yaml", max_parallel=4, tasks=(
        TaskSpec("extract", "echo:fetched 10 rows && echo:fetched 20 rows"),
        TaskSpec("flaky", "flaky:2", retry=RetryPolicy(retries=2, delay=0.01)),
        TaskSpec("load", "fail:3", depends_on=("extract",)),
        TaskSpec("report", "ok", depends_on=("load",)),
        TaskSpec("spam", "spam:5000"),
    ))


async def test_scheduler_run_prints_output_states_and_summary() -> None:
    from tests.engine.fakes import FakeRunner
    from tuiflow.engine.scheduler import Scheduler
    from tuiflow.headless import run_headless

    buf = io.BytesIO()
    sched = Scheduler(_fake_pipeline(), runner=FakeRunner())
    assert await run_headless(sched, events=None, stream=buf) == 1
    text = lines(buf)
    body = [line[9:] for line in text]  # without HH:MM:SS
    assert body[0] == "▶ demo · 5 tasks · limit 4"
    assert "extract │ fetched 10 rows" in body and "extract │ fetched 20 rows" in body
    assert body.index("extract │ fetched 20 rows") > body.index("extract │ fetched 10 rows")
    assert body.count("spam │ " + "x" * 60) == 5000
    assert any(b.startswith("● flaky started (attempt 1/3) pid ") for b in body)
    assert "✗ flaky exit 1 (attempt 1/3)" in body
    assert "↻ flaky retrying in 10ms (attempt 2/3)" in body
    assert any(b.startswith("● flaky started (attempt 2/3) pid ") for b in body)
    assert any(b.startswith("✓ flaky ") for b in body)
    assert "✗ load exit 3" in body
    assert "⊖ report blocked: upstream load failed" in body
    assert sum(b.startswith("● extract started") for b in body) == 1  # the pid re-announce is not a second line
    start = next(i for i, t in enumerate(text) if t.startswith("── summary: demo FAILED in "))
    summary = text[start:]
    rows = {row.split()[0]: row.split() for row in summary[2:-1]}
    assert rows["flaky"][1:2] == ["succeeded"] and rows["flaky"][3] == "2/3"
    assert rows["load"][1] == "failed" and rows["load"][-2:] == ["exit", "3"]
    assert rows["report"][1] == "blocked"
    assert summary[-1].startswith("5 tasks: ") and summary[-1].endswith("· exit 1")


async def test_scheduler_run_as_json_lines_rebuilds_every_event() -> None:
    from tests.engine.fakes import FakeRunner, Recorder
    from tuiflow.engine.scheduler import Scheduler
    from tuiflow.headless import run_headless

    buf = io.BytesIO()
    rec = Recorder()
    sched = Scheduler(_fake_pipeline(), runner=FakeRunner(), sinks=[rec])
    assert await run_headless(sched, events="jsonl", stream=buf) == 1
    rebuilt = [event_from_json(json.loads(line)) for line in buf.getvalue().splitlines()]
    assert contents(rebuilt) == contents(rec.events)
    assert b"".join(e.data for e in rebuilt if isinstance(e, TaskOutput) and e.task == "spam") == (b"x" * 60 + b"\n") * 5000


async def test_real_processes_partial_lines_and_progress_redraws(tmp_path) -> None:
    from tuiflow.engine.scheduler import Scheduler
    from tuiflow.headless import run_headless

    pipe = Pipeline(name="real", file=str(tmp_path / "p.yaml"), workdir=str(tmp_path), max_parallel=2, tasks=(
        TaskSpec("progress", r"printf 'step 1\r'; sleep 0.05; printf 'step 2\r'; sleep 0.05; printf 'done\n'",
                 cwd=str(tmp_path)),
        TaskSpec("partial", "printf 'no newline'; printf 'err line\n' >&2", cwd=str(tmp_path),
                 depends_on=("progress",)),
        TaskSpec("bad", "exit 4", cwd=str(tmp_path)),
    ))
    buf = io.BytesIO()
    assert await run_headless(Scheduler(pipe), events=None, stream=buf) == 1
    body = [line[9:] for line in lines(buf)]
    assert "progress │ done" in body
    assert not any("step 1" in b or "step 2" in b for b in body)
    assert "partial │ no newlineerr line" in body or {"partial │ no newline", "partial │ err line"} <= set(body)
    assert "✗ bad exit 4" in body


# ----------------------------------------------------------------------------- the real command, signalled


def _descendants(root: int) -> set[int]:
    """Every live process under `root` (from /proc), so the test can check none survives."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    stack = [root]
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129), ("SIGQUIT", 131),
                                           ("SIGUSR1", 138), ("SIGALRM", 142)])
def test_signal_to_a_headless_run_ends_every_process_and_records_cancelled(tmp_path, sig: str, code: int) -> None:
    import os
    import select
    import signal
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("tuiflow.cli", reason="the tuiflow command is not there yet")
    (tmp_path / "p.yaml").write_text(
        "name: sig\nmax_parallel: 4\nkill_grace: 2s\ntasks:\n"
        "  - name: sleeper\n    command: sleep 300\n"
        "  - name: group\n    command: \"sleep 300 & sleep 300\"\n"
        "  - name: later\n    command: \"true\"\n    depends_on: [sleeper]\n")
    tuiflow = str(Path(sys.executable).with_name("tuiflow"))
    proc = subprocess.Popen([tuiflow, str(tmp_path / "p.yaml"), "--headless", "--state-dir", str(tmp_path / "st")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 20
    while not (b"sleeper started" in seen and b"group started" in seen):
        assert time.monotonic() < deadline, seen.decode()
        if select.select([proc.stdout], [], [], 0.2)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, seen.decode()
            seen += chunk
    deadline = time.monotonic() + 10
    while len(_descendants(proc.pid)) < 3:  # sleep, sh + 2 sleeps (sh may exec the last one)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tree = _descendants(proc.pid)
    os.kill(proc.pid, getattr(signal, sig))
    rest, _ = proc.communicate(timeout=30)
    text = (seen + rest).decode()
    assert proc.returncode == code, text
    assert f"⚙ {sig} received: cancelling the run" in text
    assert "⊘ sleeper cancelled" in text and "⊘ group cancelled" in text
    assert "── summary: sig CANCELLED" in text
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in tree):
        assert time.monotonic() < deadline, [p for p in tree if _alive(p)]
        time.sleep(0.05)
    (run_json,) = (tmp_path / "st").rglob("run.json")
    run = json.loads(run_json.read_text())
    assert run["state"] == "cancelled"
    assert run["tasks"]["sleeper"]["state"] == "cancelled"
    assert run["tasks"]["group"]["state"] == "cancelled"


def test_the_headless_path_never_loads_textual() -> None:
    """headless borrows the TUI's textual-free vocabulary (ui/status.py); that must stay textual-free."""
    import subprocess
    import sys

    code = ("import sys, tuiflow.headless, tuiflow.engine.scheduler; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_one_run_view_per_process_applied_once_per_event(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a headless run the run store, the printer and the socket server read one RunView, which
    sees each event once (issue 9: one run model), and run.json is written from it."""
    from pathlib import Path

    from tests.engine.fakes import FakeRunner, Recorder
    from tuiflow.engine import runview
    from tuiflow.engine.scheduler import Scheduler
    from tuiflow.engine.store import RunStore
    from tuiflow.headless import run_headless
    from tuiflow.remote.host import open_socket

    applied: list[object] = []
    real_apply = runview.RunView.apply
    monkeypatch.setattr(runview.RunView, "apply",
                        lambda self, event, changes=None: applied.append(event) or real_apply(self, event, changes))
    pipe = pipeline(TaskSpec(name="a", command="spam:3000"), TaskSpec(name="b", command="fail:3", depends_on=("a",)),
                    TaskSpec(name="c", command="ok"))
    store = RunStore.create(str(tmp_path), pipe)
    sched = Scheduler(pipe, runner=FakeRunner(), store=store)
    seen = Recorder()
    sched.subscribe(seen)
    buf = io.BytesIO()
    assert await run_headless(sched, events=None, stream=buf, served=open_socket(store.run_dir, store.run_id)) == 1
    assert len(seen.events) > 5 and applied == seen.events      # every event, once, in order
    run = json.loads((Path(store.run_dir) / "run.json").read_text())
    assert (run["state"], run["exit_code"]) == ("failed", 1)
    assert {name: (t["state"], t["attempt"], t["exit_code"]) for name, t in run["tasks"].items()} == {
        "a": ("succeeded", 1, 0), "b": ("failed", 1, 3), "c": ("succeeded", 1, 0)}
    printed = lines(buf)
    assert any(line.endswith("✗ b exit 3") for line in printed)   # the printer read the same view
    assert any(" ✓ a " in line for line in printed)
