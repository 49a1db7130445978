"""LocalRunner with real processes: what only real processes can show (group kill, pipes, reaping)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from tuiflow.engine import procutil
from tuiflow.engine import runner as runner_mod
from tuiflow.engine import spawn as spawn_mod
from tuiflow.engine.runner import CommandRequest, CommandResult, LocalRunner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process-tree tests need Linux /proc")

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


class Captured:
    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes]] = []

    def __call__(self, stream: int, chunk: bytes) -> None:
        self.chunks.append((stream, chunk))

    def stream(self, n: int) -> bytes:
        return b"".join(c for s, c in self.chunks if s == n)


@pytest.fixture(autouse=True)
def in_the_tasks_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tasks here run in /tmp: from there they start as most do, by posix_spawn in the
    engine's own folder (the ones given another folder start by Popen)."""
    monkeypatch.chdir("/tmp")


@pytest.fixture(params=["inline", "threads"])
async def runner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Both ways of spawning: inline (a quiet machine) and from the spawner threads (a busy one)."""
    if request.param == "threads":
        monkeypatch.setattr(runner_mod, "SLOW_SPAWN", -1.0)
    r = LocalRunner()
    yield r
    await r.aclose()


async def run(runner: LocalRunner, command: str | tuple[str, ...], **kw: object) -> tuple[CommandResult, Captured]:
    out = Captured()
    h = await runner.start(CommandRequest(task="t", attempt=1, command=command, cwd=str(kw.pop("cwd", "/tmp")),
                                          env=kw.pop("env", ENV), **kw), out)  # type: ignore[arg-type]
    return await h.wait(), out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pids_in(text: bytes) -> list[int]:
    return [int(w) for w in text.split() if w.isdigit()]


def no_zombie_children() -> bool:
    return all((st := procutil.proc_stat(p)) is None or st.state != "Z" for p in procutil.my_children())


async def test_stdout_stderr_and_exit_code(runner: LocalRunner) -> None:
    res, out = await run(runner, "echo out; echo err >&2; exit 3")
    assert (res.exit_code, res.reason, res.ok) == (3, "exit 3", False)
    assert out.stream(1) == b"out\n" and out.stream(2) == b"err\n"


async def test_success(runner: LocalRunner) -> None:
    res, out = await run(runner, ("printf", "%s", "a b"))
    assert res.ok and res.reason == "" and res.exit_code == 0
    assert out.stream(1) == b"a b"


async def test_env_is_exactly_the_request_env_plus_the_job_tag(runner: LocalRunner) -> None:
    env = {"PATH": ENV["PATH"], "ONLY": "x\"; touch pwned; echo \""}
    res, out = await run(runner, ("env",), env=env)
    assert res.ok
    lines = out.stream(1).decode().splitlines()
    tags = [line for line in lines if line.startswith("TUIFLOW_JOB=")]
    assert len(tags) == 1 and tags[0] != "TUIFLOW_JOB="  # finds a daemon's task by its environment
    assert sorted(set(lines) - set(tags)) == sorted(f"{k}={v}" for k, v in env.items())


async def test_stdin_is_dev_null(runner: LocalRunner) -> None:
    t0 = time.monotonic()
    res, out = await run(runner, "read x; echo status=$?")
    assert out.stream(1) == b"status=1\n" and time.monotonic() - t0 < 2


async def test_both_pipes_read_concurrently(runner: LocalRunner) -> None:
    res, out = await run(runner, "head -c 1000000 /dev/zero >&2; head -c 1000000 /dev/zero", timeout=20)
    assert res.ok
    assert len(out.stream(1)) == 1_000_000 and len(out.stream(2)) == 1_000_000
    assert max(len(c) for _, c in out.chunks) <= 64 * 1024


async def test_huge_line_arrives_intact(runner: LocalRunner) -> None:
    res, out = await run(runner, "head -c 200000 /dev/zero | tr '\\0' x; echo")
    assert res.ok and out.stream(1) == b"x" * 200000 + b"\n"


async def test_killed_by_signal(runner: LocalRunner) -> None:
    res, _ = await run(runner, "kill -9 $$")
    assert (res.exit_code, res.signal, res.reason) == (None, signal.SIGKILL, "killed by SIGKILL")


async def test_cannot_start(runner: LocalRunner, tmp_path) -> None:
    res, _ = await run(runner, ("no-such-program-xyz",))
    assert res.exit_code is None and res.reason == "cannot start: no-such-program-xyz: command not found"
    missing = str(tmp_path / "gone")
    res, _ = await run(runner, "true", cwd=missing)
    assert res.reason.startswith(f"cannot start: working directory {missing}")
    assert not res.ok


async def test_cwd(runner: LocalRunner, tmp_path) -> None:
    res, out = await run(runner, "pwd", cwd=tmp_path)
    assert out.stream(1).decode().strip() == str(tmp_path)


async def test_script_runs_by_interpreter_and_is_removed(runner: LocalRunner) -> None:
    res, out = await run(runner, "sh -e", script="echo \"$0\"\nexit 4\n")
    path = out.stream(1).decode().strip()
    assert res.exit_code == 4 and "tuiflow-script-" in path
    assert not os.path.exists(path)
    res, out = await run(runner, "", script="echo via-shell")
    assert res.ok and out.stream(1) == b"via-shell\n"


async def test_cancel_kills_the_whole_group(runner: LocalRunner) -> None:
    out = Captured()
    h = await runner.start(CommandRequest("t", 1, "sleep 300 & echo $!; sleep 300", "/tmp", ENV, kill_grace=5), out)
    while not out.stream(1):
        await asyncio.sleep(0.01)
    bg = pids_in(out.stream(1))[0]
    t0 = time.monotonic()
    h.cancel()
    h.cancel()
    res = await h.wait()
    assert res.cancelled and res.reason == "cancelled" and not res.ok
    assert time.monotonic() - t0 < 2
    assert not alive(bg) and not alive(h.pid)  # type: ignore[arg-type]
    h.cancel()  # safe after the end


async def test_timeout_kills_the_whole_group(runner: LocalRunner) -> None:
    res, out = await run(runner, "sleep 300 & echo $!; sleep 300", timeout=0.3)
    assert res.timed_out and res.reason == "timed out after 300ms" and res.signal == signal.SIGTERM
    assert not alive(pids_in(out.stream(1))[0])


async def test_term_ignored_escalates_to_kill_after_grace(runner: LocalRunner) -> None:
    out = Captured()
    h = await runner.start(CommandRequest("t", 1, "trap '' TERM; sleep 300 & echo $!; sleep 300", "/tmp", ENV,
                                          kill_grace=0.4), out)
    while not out.stream(1):
        await asyncio.sleep(0.01)
    t0 = time.monotonic()
    h.cancel()
    res = await h.wait()
    waited = time.monotonic() - t0
    assert res.signal == signal.SIGKILL and res.cancelled
    assert 0.35 < waited < 2
    assert not alive(pids_in(out.stream(1))[0])


async def test_background_child_does_not_hold_the_run(runner: LocalRunner) -> None:
    t0 = time.monotonic()
    res, out = await run(runner, "(sleep 300 & echo $!); echo done")
    assert time.monotonic() - t0 < 2
    assert res.ok and b"done\n" in out.stream(1)
    assert not alive(pids_in(out.stream(1))[0])
    assert no_zombie_children()


async def test_setsid_escapee_ends_with_its_task(runner: LocalRunner) -> None:
    t0 = time.monotonic()
    res, out = await run(runner, "setsid sleep 300 & echo $!")
    assert res.ok and time.monotonic() - t0 < 2
    pid = pids_in(out.stream(1))[0]
    assert not alive(pid)
    assert no_zombie_children()


async def test_setsid_escapee_of_a_cancelled_task(runner: LocalRunner) -> None:
    out = Captured()
    h = await runner.start(CommandRequest("t", 1, "setsid sleep 300 & echo $!; sleep 300", "/tmp", ENV), out)
    while not out.stream(1):
        await asyncio.sleep(0.01)
    h.cancel()
    res = await h.wait()
    assert res.cancelled and not alive(pids_in(out.stream(1))[0])


async def test_escapee_of_a_running_task_is_left_alone(runner: LocalRunner) -> None:
    """A setsid'd child whose parent still runs belongs to that task, not to one ending beside it."""
    out = Captured()
    long = await runner.start(CommandRequest("long", 1, "setsid sleep 300 & echo $!; sleep 300", "/tmp", ENV), out)
    while not out.stream(1):
        await asyncio.sleep(0.01)
    res, _ = await run(runner, "(sleep 300 &); true")
    assert res.ok
    assert alive(pids_in(out.stream(1))[0])
    long.cancel()
    await long.wait()
    assert not alive(pids_in(out.stream(1))[0])


async def test_aclose_ends_live_groups() -> None:
    r = LocalRunner()
    out = Captured()
    h = await r.start(CommandRequest("t", 1, "sleep 300 & echo $!; sleep 300", "/tmp", ENV, kill_grace=1), out)
    while not out.stream(1):
        await asyncio.sleep(0.01)
    await r.aclose()
    res = await h.wait()
    assert res.cancelled and not alive(h.pid) and not alive(pids_in(out.stream(1))[0])  # type: ignore[arg-type]


async def test_many_short_tasks_in_parallel_leave_no_zombies(runner: LocalRunner) -> None:
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> CommandResult:
        async with sem:
            return (await run(runner, f"echo {i}"))[0]

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert all(r.ok for r in results)
    assert no_zombie_children()


async def test_asyncio_subprocesses_are_not_taken_for_orphans(runner: LocalRunner) -> None:
    """Other engine code may use asyncio's subprocesses (own session too): a sweep leaves them be."""
    out = Captured()
    h = await runner.start(CommandRequest("t", 1, "sleep 0.2; setsid sleep 300 & echo $!", "/tmp", ENV), out)
    proc = await asyncio.create_subprocess_exec("sleep", "0.6", start_new_session=True)
    res = await h.wait()
    assert res.ok and not alive(pids_in(out.stream(1))[0])
    assert alive(proc.pid)
    assert await proc.wait() == 0


async def test_leftover_ignoring_term_is_killed_shortly_after_exit(runner: LocalRunner) -> None:
    t0 = time.monotonic()
    res, out = await run(runner, "trap '' TERM; (sleep 300 & echo $!); echo done")
    assert res.ok and b"done\n" in out.stream(1) and time.monotonic() - t0 < 1.5
    assert not alive(pids_in(out.stream(1))[0])


async def test_job_control_groups_and_nested_sessions_are_ended(runner: LocalRunner) -> None:
    script = "set -m; sleep 300 & echo $!; (setsid sh -c 'sleep 300 & echo $!; sleep 300' &); sleep 0.2"
    out = Captured()
    h = await runner.start(CommandRequest("t", 1, script, "/tmp", ENV, shell="bash"), out)
    while len(pids_in(out.stream(1))) < 2:
        await asyncio.sleep(0.01)
    pids = pids_in(out.stream(1))
    job, escaped = (procutil.proc_stat(p) for p in pids)
    assert job and escaped and job.pgid == job.pid != h.pid and job.sid == h.pid and escaped.sid != h.pid
    res = await h.wait()
    assert res.ok
    assert not any(alive(p) for p in pids)
    assert no_zombie_children()


async def test_pipe_held_by_an_unreachable_process_is_drained_for_a_bounded_time(
        runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "_orphans_of", lambda owner: [])  # as if the escapee could not be found
    t0 = time.monotonic()
    res, out = await run(runner, "setsid sh -c 'echo $$; exec sleep 300' & sleep 0.1")
    took = time.monotonic() - t0
    holder = pids_in(out.stream(1))[0]
    try:
        assert res.exit_code == 0 and took < runner_mod.DRAIN_BOUND + 1
        assert alive(holder)
    finally:
        os.kill(holder, signal.SIGKILL)


async def test_bad_request_is_a_failed_start_not_an_exception(runner: LocalRunner) -> None:
    res, _ = await run(runner, "true", env={"PATH": ENV["PATH"], "BAD": None})
    assert res.exit_code is None and res.reason.startswith("cannot start: ")


async def test_aclose_during_a_spawn_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "SLOW_SPAWN", -1.0)
    r = LocalRunner()
    starting = asyncio.create_task(r.start(CommandRequest("t", 1, "sleep 300", "/tmp", ENV), Captured()))
    await asyncio.sleep(0)
    await r.aclose()
    h = await starting
    res = await h.wait()
    assert not res.ok and not alive(h.pid)  # type: ignore[arg-type]


async def test_start_cancelled_mid_spawn_still_ends_the_process(runner: LocalRunner) -> None:
    if runner_mod.SLOW_SPAWN >= 0:
        pytest.skip("spawning inline: start() has no await to cancel")
    starting = asyncio.create_task(runner.start(CommandRequest("t", 1, "sleep 300", "/tmp", ENV), Captured()))
    await asyncio.sleep(0)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    (cmd,) = [c for c in runner._commands if c.pid is not None] or [None]
    if cmd is not None:  # the spawn got far enough to create the process: it must be ended
        res = await cmd.wait()
        assert res.cancelled and not alive(cmd.pid)


async def test_a_chatty_task_gets_a_big_pipe_and_every_byte(runner: LocalRunner, monkeypatch) -> None:
    """Past CHATTY bytes a pipe is grown, so reads gather (fewer wake-ups); within the budget only."""
    import fcntl

    monkeypatch.setattr(runner_mod, "MAX_BIG_PIPES", 1)
    sizes: list[int] = []
    real_set = procutil.set_pipe_size

    def watch(fd: int, size: int) -> bool:
        ok = real_set(fd, size)
        sizes.append(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))
        return ok

    monkeypatch.setattr(procutil, "set_pipe_size", watch)
    lines = "seq -f '%099.0f' 1 40000; sleep 0.5"  # 4 MB each in 4 KiB writes; pipes open together
    (r1, out1), (r2, out2), (r3, out3) = await asyncio.gather(
        run(runner, lines), run(runner, lines), run(runner, "echo quiet"))
    expected = b"".join(b"%099d\n" % i for i in range(1, 40001))
    assert r1.ok and r2.ok and r3.ok
    assert out1.stream(1) == expected and out2.stream(1) == expected and out3.stream(1) == b"quiet\n"
    assert sizes and sizes[0] == runner_mod.PIPE_SIZE   # the first chatty pipe grew...
    assert len(sizes) == 1                             # ...and the budget of one kept the other small
    assert not runner_mod._BIG_PIPES                   # handed back when the pipes closed


async def test_only_the_chatty_pipe_of_a_task_grows(runner: LocalRunner, monkeypatch) -> None:
    grown: list[int] = []
    real_set = procutil.set_pipe_size
    monkeypatch.setattr(procutil, "set_pipe_size", lambda fd, size: grown.append(fd) or real_set(fd, size))
    result, out = await run(runner, "head -c 3000000 /dev/zero; echo err >&2", separate_streams=True)
    assert result.ok and out.stream(1) == bytes(3000000) and out.stream(2) == b"err\n"
    assert len(grown) == 1 and not runner_mod._BIG_PIPES


async def test_slow_spawns_move_to_threads_and_a_quick_probe_brings_them_back(monkeypatch) -> None:
    import threading

    where: list[str] = []
    real_spawn = spawn_mod.start

    def spawn(*args, **kw):
        where.append("thread" if threading.current_thread() is not threading.main_thread() else "loop")
        return real_spawn(*args, **kw)

    monkeypatch.setattr(spawn_mod, "start", spawn)
    monkeypatch.setattr(runner_mod, "SLOW_SPAWN", 0.05)
    runner = LocalRunner()
    try:
        runner._spawn_time = 1.0            # as after spawns that stalled the loop for a second
        for _ in range(runner_mod.PROBE_EVERY):
            result, _out = await run(runner, "true")
            assert result.ok
        assert where == ["thread"] * (runner_mod.PROBE_EVERY - 1) + ["loop"]   # then one inline probe...
        assert runner._spawn_time < 1.0                                       # ...measured, not the threads
        runner._spawn_time = 0.0            # quick again: inline from now on
        await run(runner, "true")
        assert where[-1] == "loop"
    finally:
        await runner.aclose()
