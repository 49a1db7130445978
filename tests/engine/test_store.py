"""The run folder: layout and modes, byte-exact logs, log_limit, events.jsonl, coalesced atomic run.json."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.engine.fakes import contents
from tuiflow.engine import store as store_mod
from tuiflow.engine.events import (
    ControlApplied,
    LimitChanged,
    RunFinished,
    RunStarted,
    TaskInfo,
    TaskOutput,
    TaskStateChanged,
    event_from_dict,
)
from tuiflow.engine.model import Pipeline, TaskSpec, TaskState
from tuiflow.engine.runner import CommandRequest, LocalRunner
from tuiflow.engine.runs import list_runs, load_run
from tuiflow.engine.store import RunStore, encode_task, join_run_json, limit_marker, safe_name

NAMES = ["extract[region=us]", "caller/step", "a b", "a_b", 'say "hi"', "..", "A", "a"]


def pipeline(*names: str, log_limit: int = 100 * 1024 * 1024) -> Pipeline:
    return Pipeline(name="demo", file="/x/demo.yaml", max_parallel=4, source_digest="abc",
                    task_digests={n: "d" + n for n in names},
                    tasks=tuple(TaskSpec(name=n, command="true", log_limit=log_limit) for n in names))


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def state(task: str, st: TaskState, attempt: int = 1, t: float = 1.0, **kw: object) -> TaskStateChanged:
    return TaskStateChanged(time=t, task=task, state=st, attempt=attempt, **kw)  # type: ignore[arg-type]


def out(task: str, data: bytes, attempt: int = 1) -> TaskOutput:
    return TaskOutput(time=1.0, task=task, attempt=attempt, data=data)


def test_create_layout_modes_and_first_run_json(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path / ".tuiflow"), pipeline("a"), run_id="2026-11-23T14-02-11")
    again = RunStore.create(str(tmp_path / ".tuiflow"), pipeline("a"), run_id="2026-11-23T14-02-11")
    assert st.run_id == "2026-11-23T14-02-11" and again.run_id == "2026-11-23T14-02-11-2"
    assert st.run_dir == str(tmp_path / ".tuiflow" / "runs" / st.run_id)
    for d in (tmp_path / ".tuiflow", tmp_path / ".tuiflow" / "runs", Path(st.run_dir), Path(st.run_dir) / "logs"):
        assert mode(d) == 0o700, d
    run = json.loads((Path(st.run_dir) / "run.json").read_text())
    assert mode(Path(st.run_dir) / "run.json") == 0o600
    assert run["state"] == "running" and run["pid"] == os.getpid() and run["pipeline"] == "demo"
    assert run["task_digests"] == {"a": "da"} and run["source_digest"] == "abc"
    assert run["tasks"]["a"]["state"] == "pending"


def test_generated_run_id_looks_like_a_timestamp(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline("a"))
    assert len(st.run_id) == 19 and st.run_id[10] == "T" and ":" not in st.run_id


def test_safe_names_are_safe_unique_and_recorded(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline(*NAMES))
    dirs = [os.path.basename(st.log_dir(n)) for n in NAMES]
    assert len({d.casefold() for d in dirs}) == len(NAMES)
    for d in dirs:
        assert d and "/" not in d and not d.startswith(".") and all(c.isalnum() or c in "._=,+@-" for c in d)
    assert safe_name("extract[region=us]") == "extract_region=us"
    assert len(safe_name("x" * 500)) < 100
    st._write_json(st._snapshot())
    tasks = json.loads((Path(st.run_dir) / "run.json").read_text())["tasks"]
    assert {n: tasks[n]["log_dir"] for n in NAMES} == {n: f"logs/{d}" for n, d in zip(NAMES, dirs, strict=True)}
    assert st.log_path("caller/step", 2) == os.path.join(st.log_dir("caller/step"), "2.log")


async def test_logs_byte_exact_per_attempt_with_private_modes(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline(*NAMES))
    await st.start()
    payload = bytes(range(256)) * 50
    for name in NAMES:
        st.handle(state(name, TaskState.RUNNING))
        for i in range(0, len(payload), 777):
            st.handle(out(name, payload[i:i + 777]))
        st.handle(out(name, b"second attempt\n", attempt=2))
    await st.aclose()
    for name in NAMES:
        p1, p2 = st.log_path(name, 1), st.log_path(name, 2)
        assert Path(p1).read_bytes() == payload and Path(p2).read_bytes() == b"second attempt\n"
        assert mode(p1) == 0o600 and mode(os.path.dirname(p1)) == 0o700


async def test_log_limit_writes_marker_and_drops_only_the_rest(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline("a", "b", log_limit=100))
    st.handle(out("a", b"x" * 60))
    st.handle(out("a", b"y" * 60))
    st.handle(out("a", b"z" * 60))
    st.handle(out("a", b"fresh\n", attempt=2))
    st.handle(out("b", b"l\n" * 50))
    st.handle(out("b", b"more"))
    await st.aclose()
    assert Path(st.log_path("a", 1)).read_bytes() == b"x" * 60 + b"y" * 40 + b"\n" + limit_marker(100)
    assert Path(st.log_path("a", 2)).read_bytes() == b"fresh\n"
    assert Path(st.log_path("b", 1)).read_bytes() == b"l\n" * 50 + limit_marker(100)


@pytest.mark.skipif(sys.platform != "linux", reason="real process flood")
async def test_runaway_log_is_capped_at_log_limit(tmp_path: Path) -> None:
    limit = 1024 * 1024
    st = RunStore.create(str(tmp_path), pipeline("yes", log_limit=limit))
    await st.start()
    runner = LocalRunner()
    handle = await runner.start(
        CommandRequest("yes", 1, "yes | head -c 300M", str(tmp_path), {"PATH": os.environ["PATH"]}, timeout=60),
        lambda s, c: st.handle(out("yes", c)))
    result = await handle.wait()
    await runner.aclose()
    await st.aclose()
    assert result.ok
    data = Path(st.log_path("yes", 1)).read_bytes()
    assert data.endswith(limit_marker(limit))
    assert len(data) == limit + len(limit_marker(limit))
    assert data[:limit] == b"y\n" * (limit // 2)


async def test_events_jsonl_lines_parse_and_match_to_dict(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline("a"))
    events = [
        RunStarted(time=1.0, run_id=st.run_id, pipeline="demo", file="/x/demo.yaml", run_dir=st.run_dir,
                   max_parallel=4, tasks=(TaskInfo(name="a", depends_on=()),)),
        state("a", TaskState.RUNNING, pid=42, started=1.0),
        out("a", b"not in events.jsonl"),
        ControlApplied(time=2.0, control="set_max_parallel", detail="2"),
        LimitChanged(time=2.0, max_parallel=2),
        state("a", TaskState.FAILED, exit_code=3, reason="exit 3", started=1.0, ended=3.5),
        RunFinished(time=4.0, state="failed", exit_code=1),
    ]
    for e in events:
        st.handle(e)
    await st.aclose()
    lines = (Path(st.run_dir) / "events.jsonl").read_text().splitlines()
    expected = [e for e in events if not isinstance(e, TaskOutput)]
    assert [json.loads(line) for line in lines] == [json.loads(json.dumps(e.to_dict())) for e in expected]
    assert contents([event_from_dict(json.loads(line)) for line in lines]) == contents(expected)
    assert mode(Path(st.run_dir) / "events.jsonl") == 0o600
    run = load_run(st.run_dir)
    assert run["state"] == "failed" and run["exit_code"] == 1 and run["ended"] == 4.0 and run["max_parallel"] == 2
    a = run["tasks"]["a"]
    assert (a["state"], a["reason"], a["exit_code"], a["pid"], a["duration"]) == ("failed", "exit 3", 3, 42, 2.5)


async def test_state_events_coalesce_run_json_writes(tmp_path: Path) -> None:
    names = [f"t{i}" for i in range(100)]
    st = RunStore.create(str(tmp_path), pipeline(*names))
    await st.start()
    writes_before = st.json_writes
    t0 = time.monotonic()
    for i in range(10_000):
        st.handle(state(names[i % 100], TaskState.RUNNING if i % 2 else TaskState.READY, attempt=i))
        if i % 100 == 99:
            await asyncio.sleep(0.006)
    elapsed = time.monotonic() - t0
    await st.aclose()
    writes = st.json_writes - writes_before
    assert 1 <= writes <= elapsed / store_mod.FLUSH_INTERVAL + 3
    assert len((Path(st.run_dir) / "events.jsonl").read_text().splitlines()) == 10_000
    assert load_run(st.run_dir)["tasks"]["t99"]["attempt"] == 9999


async def test_run_json_is_always_complete_while_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "FLUSH_INTERVAL", 0.005)
    names = [f"task number {i}" for i in range(300)]
    st = RunStore.create(str(tmp_path), pipeline(*names))
    await st.start()
    stop = threading.Event()
    reads: list[int] = []
    bad: list[str] = []

    def reader() -> None:
        path = Path(st.run_dir) / "run.json"
        while not stop.is_set():
            try:
                json.loads(path.read_bytes())
                reads.append(1)
            except ValueError as exc:
                bad.append(str(exc))

    th = threading.Thread(target=reader)
    th.start()
    for i in range(3000):
        st.handle(state(names[i % 300], TaskState.RUNNING, attempt=i))
        if i % 50 == 0:
            await asyncio.sleep(0.01)
    await st.aclose()
    stop.set()
    th.join()
    assert not bad and len(reads) > 10 and st.json_writes > 10
    assert sorted(os.listdir(st.run_dir)) == ["events.jsonl", "logs", "run.json"]


async def test_heartbeat_refreshes_while_idle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "HEARTBEAT", 0.05)
    st = RunStore.create(str(tmp_path), pipeline("a"))
    first = json.loads((Path(st.run_dir) / "run.json").read_text())["heartbeat"]
    await st.start()
    await asyncio.sleep(0.3)
    assert json.loads((Path(st.run_dir) / "run.json").read_text())["heartbeat"] > first
    assert st.json_writes >= 3
    await st.aclose()


async def test_output_memory_stays_bounded_without_yielding(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline("a"))
    await st.start()
    chunk = b"0123456789abcdef" * 4096
    peak = 0
    for _ in range(1024):  # 64 MiB, never yielding to the flusher
        st.handle(out("a", chunk))
        peak = max(peak, st._pending)
    await st.aclose()
    assert peak <= store_mod.MAX_PENDING
    assert os.path.getsize(st.log_path("a", 1)) == 64 * 1024 * 1024


def write_run(state_dir: Path, run_id: str, **fields: object) -> None:
    d = state_dir / "runs" / run_id
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"run_id": run_id, "tasks": {}, **fields}))


def test_list_runs_newest_first_and_interrupted(tmp_path: Path) -> None:
    now = time.time()
    write_run(tmp_path, "old", started=now - 100, state="succeeded", heartbeat=now - 90)
    write_run(tmp_path, "crashed", started=now - 50, state="running", heartbeat=now - 30, pid=os.getpid())
    write_run(tmp_path, "live", started=now - 10, state="running", heartbeat=now, pid=os.getpid(),
              host=os.uname().nodename)
    (tmp_path / "runs" / "junk").mkdir()
    runs = list_runs(str(tmp_path))
    assert [(r["run_id"], r["state"]) for r in runs] == [
        ("live", "running"), ("crashed", "interrupted"), ("old", "succeeded")]
    assert runs[0]["run_dir"] == str(tmp_path / "runs" / "live")
    assert list_runs(str(tmp_path / "nothing")) == []


@pytest.mark.skipif(sys.platform != "linux", reason="uses SIGKILL on a child engine")
def test_sigkilled_engine_leaves_a_consistent_folder(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio, sys
        from tuiflow.engine import store as s
        from tuiflow.engine.events import TaskStateChanged, TaskOutput
        from tuiflow.engine.model import Pipeline, TaskSpec, TaskState
        s.FLUSH_INTERVAL = 0.01
        async def main():
            names = [f"t{{i}}" for i in range(500)]
            p = Pipeline(name="p", file="/p.yaml", tasks=tuple(TaskSpec(name=n, command="x") for n in names))
            st = s.RunStore.create({str(tmp_path)!r}, p, run_id="r")
            await st.start()
            print("ready", flush=True)
            i = 0
            while True:
                st.handle(TaskStateChanged(time=1.0, task=names[i % 500], state=TaskState.RUNNING, attempt=i))
                st.handle(TaskOutput(time=1.0, task=names[i % 500], attempt=1, data=b"line\\n"))
                i += 1
                if i % 200 == 0:
                    await asyncio.sleep(0.001)
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    events = tmp_path / "runs" / "r" / "events.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not events.exists() or events.stat().st_size < 64 * 1024):
        time.sleep(0.02)  # killed while it writes, however slow the machine is today
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = load_run(str(tmp_path / "runs" / "r"))
    assert run["state"] == "interrupted" and len(run["tasks"]) == 500
    for line in (tmp_path / "runs" / "r" / "events.jsonl").read_text().splitlines()[:-1]:
        json.loads(line)


def test_incremental_run_json_matches_a_full_encoding(tmp_path: Path) -> None:
    names = ["ünï cödé", 'q"uote', "plain"]
    st = RunStore.create(str(tmp_path), pipeline(*names))
    first = json.loads(st._snapshot())
    st.handle(state('q"uote', TaskState.SUCCEEDED, started=1.0, ended=2.0, output="ü"))
    st.handle(TaskStateChanged(time=2.0, task="late [x]", state=TaskState.RUNNING, attempt=1))
    run = json.loads(st._snapshot())
    assert list(run) == [*[k for k in first if k != "tasks"], "tasks"]
    assert list(run["tasks"]) == [*names, "late [x]"]
    assert run["tasks"]['q"uote']["output"] == "ü" and run["tasks"]['q"uote']["duration"] == 1.0
    assert run["tasks"]["late [x]"]["state"] == "running"
    assert run["tasks"]["plain"] == first["tasks"]["plain"]
    assert json.loads(RunStore.create(str(tmp_path), pipeline())._snapshot())["tasks"] == {}
    digests = {n: "d" + n for n in names}
    records = {name: st._task_record(name) for name in st._frags}   # every task, in run.json's order
    assert json.loads(st._snapshot(), object_pairs_hook=list) == plainly(st._state, digests, records)


def plainly(state: dict, digests: dict, tasks: dict) -> list:
    """run.json's value encoded the plain way, in one go, with its keys in order at every level."""
    return json.loads(json.dumps({**state, "task_digests": digests, "tasks": tasks}), object_pairs_hook=list)


def test_run_json_joined_from_parts_is_the_plain_encoding_of_the_state() -> None:
    tasks = {'q"uote\\': {"state": "succeeded", "output": "ü\n\x1b[31m", "exit_code": 0, "pid": None},
             "ünï cödé": {"state": "pending", "duration": 1.5, "started": None, "nested": {"a": [1, 2.0]}},
             "late [x]": {}}
    digests = {name: "d" + name for name in tasks}
    state = {"version": 1, "run_id": "r", "pipeline": 'p "one"', "ended": None, "paused": False,
             "started": 1795000000.123456}
    frags = [encode_task(name, rec) for name, rec in tasks.items()]
    for s, t in ((state, tasks), ({}, tasks), (state, {}), ({}, {})):
        text = join_run_json(s, store_mod._ENCODE(digests), frags[:len(t)])
        assert json.loads(text, object_pairs_hook=list) == plainly(s, digests, t)
        assert json.loads(text) == json.loads(json.dumps({**s, "task_digests": digests, "tasks": t}))


async def test_a_failing_write_is_recorded_not_raised(tmp_path: Path) -> None:
    st = RunStore.create(str(tmp_path), pipeline("a", "b"))
    await st.start()
    os.makedirs(st.log_path("a", 1))  # a folder where the log file should go: open() fails
    st.handle(out("a", b"lost\n"))
    st.handle(out("b", b"kept\n"))
    st.handle(state("b", TaskState.SUCCEEDED))
    await st.aclose()
    assert isinstance(st.error, OSError)
    assert Path(st.log_path("b", 1)).read_bytes() == b"kept\n"
    assert load_run(st.run_dir)["tasks"]["b"]["state"] == "succeeded"


async def test_an_attempt_that_printed_nothing_gets_an_empty_log_never_opened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made with one system call, not opened and closed (1 000 silent tasks: 1 000 opens fewer);
    a log the task wrote itself ($TUIFLOW_TASK_LOG) is kept as it is."""
    st = RunStore.create(str(tmp_path), pipeline("quiet", "own", "loud"))
    await st.start()
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: (opened.append(str(path)), real_open(path, *a, **k))[1])
    for name in ("quiet", "own", "loud"):
        st.handle(state(name, TaskState.RUNNING))
    os.makedirs(st.log_dir("own"))
    Path(st.log_path("own", 1)).write_bytes(b"written by the task\n")
    st.handle(out("loud", b"printed\n"))
    for name in ("quiet", "own", "loud"):
        st.handle(state(name, TaskState.SUCCEEDED))
    await st.aclose()
    assert Path(st.log_path("quiet", 1)).read_bytes() == b"" and mode(st.log_path("quiet", 1)) == 0o600
    assert Path(st.log_path("own", 1)).read_bytes() == b"written by the task\n"
    assert Path(st.log_path("loud", 1)).read_bytes() == b"printed\n"
    logs = [p for p in opened if p.endswith(".log")]
    assert logs == ["loud/1.log"]      # the one that has bytes to write


async def test_empty_logs_are_made_while_the_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not left for the last batch, after the last task: a run shorter than the flush interval
    (chain 200) made every one of them there, one after the other (~20 ms of its end)."""
    monkeypatch.setattr(store_mod, "FLUSH_INTERVAL", 3600.0)   # nothing else would write them before the end
    names = [f"t{i}" for i in range(50)]
    st = RunStore.create(str(tmp_path), pipeline(*names))
    await st.start()
    for name in names:
        st.handle(state(name, TaskState.RUNNING))
    events = Path(st.run_dir) / "events.jsonl"
    for _ in range(200):                    # the first batch goes at once: from now on the rhythm holds
        if events.exists():
            break
        await asyncio.sleep(0.05)
    for name in names:
        st.handle(state(name, TaskState.SUCCEEDED))
    made = lambda: [n for n in names if os.path.exists(st.log_path(n, 1))]  # noqa: E731
    for _ in range(200):                    # up to 10 s on a loaded machine; ~0.05 s when idle
        if len(made()) == len(names):
            break
        await asyncio.sleep(0.05)
    assert made() == names                  # before the store is closed
    await st.aclose()


def test_list_runs_limit_reads_the_newest_by_folder_name(tmp_path: Path) -> None:
    now = time.time()
    ids = ["2026-11-23T14-02-09", "2026-11-23T14-02-11", "2026-11-23T14-02-11-2", "2026-11-23T14-02-11-10"]
    for i, rid in enumerate(ids):
        write_run(tmp_path, rid, started=now + i, state="succeeded", heartbeat=now)
    assert [r["run_id"] for r in list_runs(str(tmp_path), limit=2)] == ids[:1:-1]
    assert [r["run_id"] for r in list_runs(str(tmp_path))] == ids[::-1]


async def test_only_the_first_run_json_skips_the_disk_flush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start is spared an fsync; the state a run ends in is on disk (file and folder) at close."""
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    st = RunStore.create(str(tmp_path), pipeline("a"))
    ours = lambda: [p for p in synced if p.startswith(str(tmp_path))]  # noqa: E731 - not another test's thread
    assert json.loads((Path(st.run_dir) / "run.json").read_text())["state"] == "running" and ours() == []
    await st.start()
    st.handle(RunFinished(time=2.0, state="succeeded", exit_code=0))
    await st.aclose()
    assert json.loads((Path(st.run_dir) / "run.json").read_text())["state"] == "succeeded"
    assert ours()[-2:] == [str(Path(st.run_dir) / ".run.json.tmp"), st.run_dir]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_stopped_engine_is_live_and_a_recycled_pid_is_not(tmp_path: Path) -> None:
    """Liveness is pid + start time: a SIGSTOPped engine stays live whatever its heartbeat says."""
    from tuiflow.engine import procutil
    from tuiflow.engine.runs import boot_id

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        child.send_signal(signal.SIGSTOP)
        start = procutil.proc_stat(child.pid).start
        host = os.uname().nodename
        old = time.time() - 3600
        write_run(tmp_path, "stopped", started=1, state="running", heartbeat=old, pid=child.pid,
                  pid_start=start, boot_id=boot_id(), host=host, tasks={"a": {"state": "running"}})
        write_run(tmp_path, "recycled", started=2, state="running", heartbeat=time.time(), pid=child.pid,
                  pid_start=start + 1, boot_id=boot_id(), host=host, tasks={"a": {"state": "running"}})
        runs = {r["run_id"]: r for r in list_runs(str(tmp_path))}
        assert runs["stopped"]["state"] == "running"
        assert runs["recycled"]["state"] == "interrupted"
        assert runs["recycled"]["tasks"]["a"]["state"] == "interrupted"
    finally:
        child.kill()
        child.wait()
