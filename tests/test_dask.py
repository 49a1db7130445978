"""The Dask executor on a real cluster: `distributed.LocalCluster(processes=True)`, two workers.

What a user sees: the same logs as locally, output while a task runs, a cancel or a timeout that
leaves no process on the worker, a killed worker's attempt failed naming it and retried elsewhere
(never re-run by Dask), pools as worker resources, and clear refusals with exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason='the Dask executor\'s tests need the extra: pip install -e ".[test,dask]"')

from distributed import Client, LocalCluster

from tests.engine.fakes import Recorder
from tuiflow.engine.daskrunner import DaskRunner
from tuiflow.engine.events import TaskStateChanged
from tuiflow.engine.model import Executor, Pipeline, TaskSpec, TaskState
from tuiflow.engine.runner import CommandRequest
from tuiflow.engine.scheduler import Scheduler

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_pipelines" / "dask_report.yaml"


@pytest.fixture(scope="module")
def cluster():
    cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def address(cluster) -> str:
    return cluster.scheduler_address


def tuiflow(*argv: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess[str]:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "tuiflow", *argv], stderr=subprocess.PIPE, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def start_tuiflow(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tuiflow", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def pipeline_file(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_dir(state: Path) -> Path:
    (run,) = (state / "runs").iterdir()
    return run


def run_json(state: Path) -> dict:
    return json.loads((run_dir(state) / "run.json").read_text())


def logs(state: Path) -> dict[str, bytes]:
    base = run_dir(state) / "logs"
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*.log"))}


def processes_with(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (what `pgrep -f` finds), zombies aside."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:g} s")
        time.sleep(0.05)


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def marker(tmp_path: Path) -> str:
    """A number `sleep` accepts that no other test's process has in its command line."""
    return f"300.{abs(hash(str(tmp_path))) % 10**8:08d}"


# ---------------------------------------------------------------------------- same as locally


def test_sample_runs_on_the_cluster_with_the_same_results_and_logs_as_locally(tmp_path: Path, address: str) -> None:
    local = tuiflow(str(SAMPLE), "--headless", "--executor", "local", "--state-dir", str(tmp_path / "local"))
    remote = tuiflow(str(SAMPLE), "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "dask"))
    assert local.returncode == 0, local.stdout + local.stderr
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert f"dask {address}: 2 workers, 4 threads" in remote.stdout
    assert "report: 30000 rows, sum 450015000" in remote.stdout
    states = {name: (t["state"], t["attempt"]) for name, t in run_json(tmp_path / "dask")["tasks"].items()}
    assert states == {name: (t["state"], t["attempt"]) for name, t in run_json(tmp_path / "local")["tasks"].items()}
    assert states["flaky_upload"] == ("succeeded", 2)
    local_logs, remote_logs = logs(tmp_path / "local"), logs(tmp_path / "dask")
    assert set(remote_logs) == set(local_logs) and len(local_logs) == 7
    for name, data in local_logs.items():
        assert remote_logs[name] == data, name
    workers = {t.get("worker") for t in run_json(tmp_path / "dask")["tasks"].values()}
    assert len(workers - {None}) == 2   # both workers ran some (the virtual `checksum` ran nowhere)


def test_a_detached_run_s_engine_process_runs_on_the_cluster(tmp_path: Path, address: str) -> None:
    """The TUI's and --detach's engine runs in a process of its own, which connects at its first task."""
    p = pipeline_file(tmp_path, "tasks:\n  - {name: a, command: echo from a worker}\n")
    result = tuiflow(p, "--detach", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    assert result.returncode == 0, result.stderr
    done = wait_for(lambda: run_json(tmp_path / "st")["state"] != "running" and run_json(tmp_path / "st"), 60,
                    "end of the detached run")
    assert done["state"] == "succeeded"
    assert done["executor"] == f"dask {address}: 2 workers, 4 threads"
    assert done["tasks"]["a"]["worker"].startswith("tcp://127.0.0.1:")
    assert logs(tmp_path / "st")["a/1.log"] == b"from a worker\n"


def test_output_reaches_the_log_while_the_task_still_runs(tmp_path: Path, address: str) -> None:
    go = tmp_path / "go"
    p = pipeline_file(tmp_path, f"""
tasks:
  - name: talk
    command: |
      echo first line
      while [ ! -e {go} ]; do sleep 0.05; done
      echo second line
""")
    proc = start_tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    try:
        log = wait_for(lambda: list((tmp_path / "st").glob("runs/*/logs/talk/1.log")), 60, "log file")[0]
        wait_for(lambda: log.read_bytes() == b"first line\n", 30, "first line in the log before the task ends")
        assert proc.poll() is None
        go.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert log.read_bytes() == b"first line\nsecond line\n"


def test_the_pipeline_s_variables_travel_with_the_task_and_this_machine_s_own_do_not(tmp_path: Path,
                                                                                    address: str) -> None:
    p = pipeline_file(tmp_path, """
params: {REGION: eu}
env: {STAGE: test}
secrets: [API_TOKEN]
tasks:
  - name: up
    command: echo 42
    output: ANSWER
  - name: down
    depends_on: up
    command: echo "$REGION $STAGE $ANSWER token=$API_TOKEN home=${ONLY_HERE:-not here} cwd=$(pwd)"
""")
    env = {**os.environ, "API_TOKEN": "s3cr3t-value", "ONLY_HERE": "engine's own"}
    result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"), env=env)
    assert result.returncode == 0, result.stderr
    assert logs(tmp_path / "st")["down/1.log"] == f"eu test 42 token=*** home=not here cwd={tmp_path}\n".encode()


def test_every_byte_of_a_binary_flood_arrives_in_order(tmp_path: Path, address: str) -> None:
    p = pipeline_file(tmp_path, """
tasks:
  - name: flood
    command: python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * 8192)"
""")
    result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"),
                     stdout=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert logs(tmp_path / "st")["flood/1.log"] == bytes(range(256)) * 8192   # 2 MiB, every byte value


# ---------------------------------------------------------------------------- stopping


def test_cancel_leaves_no_process_on_the_worker_and_keeps_the_grace(tmp_path: Path, address: str) -> None:
    """A task that ignores SIGTERM: cancelled, SIGKILLed after the grace, nothing of it left."""
    mark = marker(tmp_path)
    spec = TaskSpec(name="stubborn", command=f"trap '' TERM; sleep {mark} & sleep {mark}; wait", cwd=str(tmp_path))
    pipeline = Pipeline(name="p", file=str(tmp_path / "p.yaml"), tasks=(spec,), kill_grace=1.0)
    recorder = Recorder()

    async def scenario() -> int:
        runner = DaskRunner(Executor("dask", address))
        await runner.open()
        scheduler = Scheduler(pipeline, runner=runner, sinks=[recorder])
        run = asyncio.get_running_loop().create_task(scheduler.run())
        while len(processes_with(mark)) < 3:   # sh and its two sleeps
            await asyncio.sleep(0.05)
        t0 = time.monotonic()
        scheduler.cancel("stubborn")
        code = await asyncio.wait_for(run, 60)
        assert time.monotonic() - t0 >= 1.0    # SIGTERM was ignored: SIGKILL came after the grace
        return code

    assert asyncio.run(scenario()) == 1
    last = recorder.of(TaskStateChanged)[-1]
    assert last.state is TaskState.CANCELLED
    assert last.reason == "cancelled; killed by SIGKILL after 1 s grace"
    assert processes_with(mark) == []


def start_sleeper(tmp_path: Path, address: str, mark: str, command: str) -> subprocess.Popen[str]:
    """A headless run of one task `sleeper` running `command`, once the processes with `mark` run."""
    p = pipeline_file(tmp_path, f"tasks:\n  - name: sleeper\n    command: {command}\n")
    proc = start_tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    wait_for(lambda: len(processes_with(mark)) >= command.count("sleep"), 60, "remote sleeps")
    return proc


def test_cancelling_the_run_ends_the_remote_process_group(tmp_path: Path, address: str) -> None:
    mark = marker(tmp_path)
    proc = start_sleeper(tmp_path, address, mark, f"sh -c 'sleep {mark} & sleep {mark}'")
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert run_json(tmp_path / "st")["tasks"]["sleeper"]["state"] == "cancelled"
    wait_for(lambda: processes_with(mark) == [], 10, "end of every remote process")


def test_a_cancel_reaches_attempts_still_queued_on_a_busy_worker_and_they_never_run(tmp_path: Path,
                                                                                     address: str) -> None:
    """Six tasks on four worker threads: two wait in their worker's queue; cancelled with the run, they never
    start, not even on the thread that stopping a running one frees before their own cancel would arrive."""
    mark = marker(tmp_path)
    ran = tmp_path / "ran.txt"
    p = pipeline_file(tmp_path, "max_parallel: 6\ntasks:\n" + "".join(
        f"  - {{name: t{i}, command: 'echo t{i} >> {ran}; sleep {mark}'}}\n" for i in range(6)))
    proc = start_tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    try:
        wait_for(lambda: len(processes_with(f"sleep\0{mark}")) == 4, 60, "four remote sleeps")   # not their sh
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert {t["state"] for t in run_json(tmp_path / "st")["tasks"].values()} == {"cancelled"}
    wait_for(lambda: processes_with(mark) == [], 10, "end of every remote process")
    time.sleep(1)   # the worker threads are free again: a queued attempt that was not dropped would start now
    assert len(ran.read_text().splitlines()) == 4


def test_a_timeout_ends_the_remote_process_group(tmp_path: Path, address: str) -> None:
    mark = marker(tmp_path)
    p = pipeline_file(tmp_path, f"""
kill_grace: 1s
tasks:
  - name: slow
    timeout: 1s
    command: sleep {mark} & sleep {mark}
""")
    result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    assert result.returncode == 1, result.stdout + result.stderr
    task = run_json(tmp_path / "st")["tasks"]["slow"]
    assert (task["state"], task["reason"]) == ("timed_out", "timed out after 1s")
    assert processes_with(mark) == []


def test_a_killed_engine_leaves_no_remote_process(tmp_path: Path, address: str) -> None:
    """The engine's client is gone: Dask lets its tasks go, and each worker ends their commands."""
    mark = marker(tmp_path)
    proc = start_sleeper(tmp_path, address, mark, f"sleep {mark} & sleep {mark}")
    try:
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    wait_for(lambda: processes_with(mark) == [], 15, "end of the remote processes of a killed engine")


# ---------------------------------------------------------------------------- workers


def test_a_killed_worker_fails_its_attempt_naming_it_and_the_retry_runs_elsewhere(tmp_path: Path,
                                                                                   address: str) -> None:
    mark = marker(tmp_path)
    runs = tmp_path / "runs.txt"
    p = pipeline_file(tmp_path, f"""
tasks:
  - name: fragile
    retries: 1
    command: |
      echo "attempt $TUIFLOW_ATTEMPT" >> {runs}
      if [ "$TUIFLOW_ATTEMPT" = 1 ]; then setsid sleep {mark} & sleep {mark}; fi
      echo "done on attempt $TUIFLOW_ATTEMPT"
""")
    proc = start_tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    try:
        found = wait_for(lambda: len(processes_with(mark)) >= 3 and processes_with(mark), 60, "remote sleeps")
        agent = next(parent_of(pid) for pid in found if "tuiflow.engine.daskagent" in cmdline(parent_of(pid)))
        worker = parent_of(agent)
        os.kill(worker, signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    events = [json.loads(line) for line in (run_dir(tmp_path / "st") / "events.jsonl").read_text().splitlines()]
    attempts = [e for e in events if e.get("event") == "task_state" and e["task"] == "fragile"]
    first = next(e for e in attempts if e["attempt"] == 1 and e["state"] == "running")["worker"]
    failed = next(e for e in attempts if e["state"] in ("retrying", "failed") and e["attempt"] == 1)
    assert failed["reason"] == f"Dask worker {first} died"
    second = next(e for e in attempts if e["attempt"] == 2 and e["state"] == "running")["worker"]
    assert second and second != first
    assert f"✗ fragile Dask worker {first} died (attempt 1/2)" in out
    assert runs.read_text() == "attempt 1\nattempt 2\n"   # Dask did not run attempt 1 again anywhere
    wait_for(lambda: processes_with(mark) == [], 15, "end of the killed worker's processes (setsid too)")


def test_a_killed_agent_fails_its_attempt_and_its_worker_starts_another(tmp_path: Path, address: str) -> None:
    """The worker's tuiflow agent is SIGKILLed mid-task: the attempt fails saying so (it does not wait
    forever), and the next attempt on that worker runs under a new agent."""
    mark = marker(tmp_path)

    def request(task: str, command: str) -> CommandRequest:
        return CommandRequest(task=task, attempt=1, command=command, cwd=str(tmp_path), env=dict(os.environ))

    async def scenario() -> None:
        runner = DaskRunner(Executor("dask", address))
        await runner.open()
        try:
            cmd = await runner.start(request("t", f"sleep {mark}"), lambda stream, data: None)
            while not processes_with(mark):
                await asyncio.sleep(0.05)
            (pid,) = processes_with(mark)
            while "tuiflow.engine.daskagent" not in cmdline(pid):
                pid = parent_of(pid)
            os.kill(pid, signal.SIGKILL)
            result = await asyncio.wait_for(cmd.wait(), 30)
            assert (result.exit_code, result.reason) == (None, "the tuiflow agent of this worker ended before the command")
            said: dict[str, bytes] = {}
            # one on each worker (the least busy): the one whose agent died too
            cmds = [await runner.start(request(f"u{i}", f"echo u{i}"),
                                       lambda stream, data, i=i: said.__setitem__(f"u{i}", data)) for i in range(2)]
            results = await asyncio.wait_for(asyncio.gather(*(c.wait() for c in cmds)), 60)
            assert [r.exit_code for r in results] == [0, 0]
            assert said == {"u0": b"u0\n", "u1": b"u1\n"}
            assert {c.worker for c in cmds} == {cmd.worker, *runner.workers}
        finally:
            await runner.aclose()

    try:
        asyncio.run(scenario())
    finally:   # a SIGKILLed agent cannot end its commands: this test does
        for pid in processes_with(mark):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_a_pool_runs_only_on_the_worker_with_that_resource(tmp_path: Path, address: str) -> None:
    dask = Path(sys.executable).with_name("dask")
    worker = subprocess.Popen([str(dask), "worker", address, "--resources", "db=1", "--nthreads", "1",
                               "--no-dashboard", "--name", "db-worker"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        with Client(address, timeout=10) as client:
            client.wait_for_workers(3, timeout=60)
            db = next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if w["resources"])
        p = pipeline_file(tmp_path, """
max_parallel: 4
pools: {db: 1}
tasks:
  - {name: load_a, pool: db, command: echo a}
  - {name: load_b, pool: db, command: echo b}
  - {name: load_c, pool: db, command: echo c}
  - {name: plain, command: echo plain}
""")
        result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"dask {address}: 3 workers, 5 threads" in result.stdout
        tasks = run_json(tmp_path / "st")["tasks"]
        assert {tasks[n]["worker"] for n in ("load_a", "load_b", "load_c")} == {db}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def test_a_worker_without_tuiflow_is_left_out_and_said_so(tmp_path: Path, address: str) -> None:
    code = ("import sys; sys.modules['tuiflow'] = None\n"   # a worker whose Python has no tuiflow
            "from distributed.cli.dask_worker import main\n"
            f"sys.argv = ['dask-worker', {address!r}, '--no-nanny', '--nthreads', '1', '--no-dashboard']\n"
            "main()")
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL)
    try:
        with Client(address, timeout=10) as client:
            client.wait_for_workers(3, timeout=60)
        p = pipeline_file(tmp_path, "tasks:\n" + "".join(f"  - {{name: t{i}, command: 'true'}}\n" for i in range(6)))
        result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
        assert result.returncode == 0, result.stdout + result.stderr
        from tuiflow import __version__
        assert f"dask {address}: 2 workers, 4 threads (1 more without tuiflow {__version__}: not used)" in result.stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def test_a_pool_no_worker_offers_is_an_error_before_the_run(tmp_path: Path, address: str) -> None:
    p = pipeline_file(tmp_path, """pools: {gpu: 1}
tasks:
  - name: train
    pool: gpu
    command: echo never
""")
    result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"tuiflow: {p}:3:5: task 'train': pool 'gpu' is a resource no worker of the "
                                    f"Dask cluster at {address} offers")
    assert "--resources \"gpu=1\"" in result.stderr
    assert list(tmp_path.glob("st/runs/*")) == []   # no run folder for a run that never started


CLUSTER_SCRIPT = """
import signal, sys
from distributed import LocalCluster
if __name__ == "__main__":
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0")
    print(cluster.scheduler_address, flush=True)
    signal.sigwait([signal.SIGTERM])
"""


def test_a_lost_scheduler_fails_the_running_attempt_and_the_run_ends(tmp_path: Path) -> None:
    script = tmp_path / "cluster.py"
    script.write_text(CLUSTER_SCRIPT)
    cluster = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        address = cluster.stdout.readline().strip()
        mark = marker(tmp_path)
        proc = start_sleeper(tmp_path, address, mark, f"sleep {mark}")
        os.killpg(cluster.pid, signal.SIGKILL)   # the scheduler, its nanny and worker: the agent is left
        out, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()
    assert proc.returncode == 1, out + err
    assert f"✗ sleeper lost the Dask scheduler at {address}" in out
    assert err == ""
    wait_for(lambda: processes_with(mark) == [], 15, "end of the command whose worker went with its scheduler")


# ---------------------------------------------------------------------------- refusals


def test_an_unreachable_scheduler_is_said_at_once_with_exit_code_2(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # closed again: nothing listens there
    p = pipeline_file(tmp_path, f"executor: dask\nscheduler: tcp://127.0.0.1:{port}\ntasks:\n  - {{name: a, command: 'true'}}\n")
    t0 = time.monotonic()
    result = tuiflow(p, "--headless", "--state-dir", str(tmp_path / "st"))
    assert time.monotonic() - t0 < 5    # said at once: nothing listens there
    assert result.returncode == 2
    assert result.stderr == (f"tuiflow: {p}:2:12: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: "
                             "Connection refused (is `dask scheduler` running there, and is the address right?)\n")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.glob("st/runs/*")) == []
    detached = tuiflow(p, "--detach", "--state-dir", str(tmp_path / "st"))   # the engine's own process: not started
    assert (detached.returncode, detached.stderr) == (2, result.stderr)
    assert list(tmp_path.glob("st/runs/*")) == []


def test_a_scheduler_that_never_answers_is_given_up_within_10_seconds(tmp_path: Path) -> None:
    with socket.socket() as silent:   # accepts connections (the kernel does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        p = pipeline_file(tmp_path, "tasks:\n  - {name: a, command: 'true'}\n")
        t0 = time.monotonic()
        result = tuiflow(p, "--headless", "--scheduler", address, "--state-dir", str(tmp_path / "st"))
        took = time.monotonic() - t0
    assert result.returncode == 2, result.stderr
    assert took < 10
    assert result.stderr == (f"tuiflow: cannot reach the Dask scheduler at {address}: no answer within 5 s "
                             "(is `dask scheduler` running there, and is the address right?)\n")


def test_without_distributed_the_dask_executor_says_how_to_install_it(tmp_path: Path) -> None:
    p = pipeline_file(tmp_path, "tasks:\n  - {name: a, command: 'true'}\n")
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from tuiflow.cli import main\n"
            f"sys.exit(main([{p!r}, '--headless', '--scheduler', 'tcp://127.0.0.1:8786', "
            f"'--state-dir', {str(tmp_path / 'st')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == 'tuiflow: executor dask needs the `distributed` package: pip install "tuiflow[dask]"\n'


@pytest.mark.parametrize(("argv", "message"), [
    (["--executor", "dask"], "executor dask needs the scheduler's address: --scheduler tcp://HOST:PORT, "
                             "`scheduler:` in the pipeline file, or DASK_SCHEDULER_ADDRESS"),
    (["--scheduler", "tcp//nowhere"], "--scheduler 'tcp//nowhere' is not a Dask scheduler address: "
                                      "use tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"),
    (["--executor", "local", "--scheduler", "tcp://h:1"], "--scheduler is for --executor dask, not --executor local"),
])
def test_command_line_mistakes_are_usage_errors(tmp_path: Path, argv: list[str], message: str) -> None:
    p = pipeline_file(tmp_path, "tasks:\n  - {name: a, command: 'true'}\n")
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    result = tuiflow(p, "--headless", *argv, "--state-dir", str(tmp_path / "st"), env=env)
    assert (result.returncode, result.stderr) == (2, f"tuiflow: {message}\n")


# ---------------------------------------------------------------------------- the TUI


async def test_the_tui_shows_where_tasks_run_and_the_worker_of_each_attempt(tmp_path: Path, address: str) -> None:
    from tests.ui.helpers import FileStore, screen_text, until
    from tuiflow.ui.app import TuiflowApp

    go = tmp_path / "go"
    spec = TaskSpec(name="remote", command=f"echo working; while [ ! -e {go} ]; do sleep 0.05; done",
                    cwd=str(tmp_path))
    pipeline = Pipeline(name="demo", file=str(tmp_path / "p.yaml"), tasks=(spec,), max_parallel=2)
    runner = DaskRunner(Executor("dask", address))
    await runner.open()
    scheduler = Scheduler(pipeline, runner=runner, store=FileStore(tmp_path))
    app = TuiflowApp(scheduler, terminal_alerts=False, title="demo")
    async with app.run_test(size=(140, 30)) as pilot:
        await until(pilot, lambda: "working" in screen_text(app), timeout=60)
        text = screen_text(app)
        assert f"dask {address}: 2 workers, 4 threads" in text
        worker = app.model.tasks["remote"].worker
        assert worker.startswith("tcp://127.0.0.1:") and f"on {worker}" in text
        go.touch()
        await until(pilot, lambda: app.model.result is not None, timeout=60)
        assert "SUCCEEDED" in screen_text(app)
        await pilot.press("q")   # the run's end: the scheduler closes its runner, and the client
        await until(pilot, lambda: not app.is_running, timeout=30)
    assert app.return_code == 0
    assert runner.client is None


def test_executor_and_scheduler_mistakes_in_the_file_are_positioned(tmp_path: Path) -> None:
    p = pipeline_file(tmp_path, "executor: daks\nscheduler: ${ADDR:-localhost}\ntasks:\n  - {name: a, command: 'true'}\n")
    result = tuiflow("validate", p)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{p}:1:11: executor 'daks' is not an executor: use local or dask (did you mean 'dask'?)",
        f"{p}:2:12: scheduler: '${{ADDR:-localhost}}' gives 'localhost', not a Dask scheduler address: "
        "use tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786",
    ]
    good = pipeline_file(tmp_path, "executor: dask\nscheduler: 10.0.0.5:8786\ntasks:\n  - {name: a, command: 'true'}\n",
                         "good.yaml")
    assert tuiflow("validate", good).returncode == 0
