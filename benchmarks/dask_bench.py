#!/usr/bin/env python3
"""The Dask executor's costs, against the local runner, on a 2-worker LocalCluster (issue 14).

    .venv/bin/python benchmarks/dask_bench.py [--runs 3] [--threads 4] [--only wide,latency,flood]

* wide: `tuiflow FILE --headless` on 1 000 no-op tasks (`true`) at limit 8 and at limit 64
  (submitted together), Dask vs local. Per task = (wall of 1 000 - wall of 1) / 999: the
  marginal cost of a task, without the start-up (Dask: importing distributed, connecting).
* latency: one task writes a line every 300 ms (as a progress report does), each line holding
  the time it was written; the engine runs in this process with the real run store, and a
  thread polls the log file every 2 ms: write -> the engine's TaskOutput, write -> the log file.
* flood: one task writes 100 MiB (every byte value); the log must be byte-exact; the tuiflow
  process's peak RSS (GNU time), and the workers' own peak RSS afterwards.
* death: the worker of a running attempt is SIGKILLed: how soon the attempt fails, naming it.

The cluster lives in this process (its scheduler too); tuiflow runs as a separate command, as a
user runs it. Prints a markdown table; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FLOOD_BLOCK = bytes(range(256)) * 4096          # 1 MiB
FLOOD_MIB = 100
LATENCY_LINES = 30
LATENCY_EVERY = 0.3


def tuiflow_cmd() -> list[str]:
    return [sys.executable, "-m", "tuiflow"]


def write_wide(folder: Path, n: int, limit: int) -> Path:
    path = folder / f"wide_{n}_{limit}.yaml"
    lines = [f"name: wide_{n}", f"max_parallel: {limit}", "tasks:"]
    lines += [f"  - {{name: t{i}, command: 'true'}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


_states = 0


def new_state(work: Path) -> Path:
    """A new state folder for every run, all deleted with the work folder at the end: ext4 scans
    the inodes freed in the last minutes each time it makes one, so deleting the last run's
    2 000 files right before a timed run costs that run ~1 s of kernel CPU (run_bench.py too)."""
    global _states
    _states += 1
    return work / f"state-{_states}"


def run_cli(pipeline: Path, state: Path, *extra: str) -> tuple[float, int, int, float]:
    """Wall seconds, exit code, peak RSS in KB and CPU seconds (GNU time) of one headless run."""
    cmd = [*tuiflow_cmd(), str(pipeline), "--headless", "--state-dir", str(state), *extra]
    gnu_time = shutil.which("time") or "/usr/bin/time"
    rss_file = state.parent / f"{state.name}.rss"
    if os.path.exists(gnu_time):
        cmd = [gnu_time, "-f", "%M %U %S", "-o", str(rss_file), *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
    said = rss_file.read_text().split()[-3:] if rss_file.exists() else ["0", "0", "0"]
    return wall, proc.returncode, int(said[0]), float(said[1]) + float(said[2])


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu(worker_pids: list[int]) -> float:
    """CPU seconds so far of this process (the scheduler lives here), the workers and their agents."""
    agents = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"tuiflow.engine.daskagent" in f.read():
                        agents.append(int(entry))
            except OSError:
                pass
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime + sum(cpu_seconds(p) for p in (*worker_pids, *agents))


def median_of(runs: int, fn) -> float:
    return statistics.median(fn() for _ in range(runs))


# ---------------------------------------------------------------------------- wide


def bench_wide(address: str, work: Path, runs: int, limits: tuple[int, ...] = (8, 64),
               runners: tuple[str, ...] = ("local", "dask")) -> list[str]:
    from distributed import Client

    with Client(address) as client:
        worker_pids = list(client.run(os.getpid).values())
    rows = []
    one = write_wide(work, 1, 8)
    for limit in limits:
        big = write_wide(work, 1000, limit)
        for name, extra in (("local", ("--executor", "local")), ("dask", ("--scheduler", address))):
            if name not in runners:
                continue
            run_cli(big, new_state(work), *extra)    # warm-up (byte-compiles, starts the workers' agents)
            w1 = median_of(runs, lambda: run_cli(one, new_state(work), *extra)[0])   # noqa: B023
            walls, engine, cluster = [], [], []
            for _ in range(runs):
                before = cluster_cpu(worker_pids)
                wall, _code, _peak, cpu = run_cli(big, new_state(work), *extra)
                walls.append(wall)
                engine.append(cpu)
                cluster.append(cluster_cpu(worker_pids) - before)
            w1000 = statistics.median(walls)
            per_task = (w1000 - w1) / 999 * 1000
            cpu_text = f"engine {statistics.median(engine):.2f} s"
            if name == "dask":
                cpu_text += f", scheduler + workers + agents {statistics.median(cluster):.2f} s"
            rows.append(f"| wide 1 000 `true`, limit {limit} | {name} | {w1000:.2f} s | {w1:.2f} s | "
                        f"**{per_task:.2f} ms** | {cpu_text} |")
            print(rows[-1], file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------- latency


LATENCY_SCRIPT = f"""
import sys, time
for i in range({LATENCY_LINES}):
    sys.stdout.write(f"{{time.time():.6f}}\\n"); sys.stdout.flush()
    time.sleep({LATENCY_EVERY})
"""


async def latency_run(address: str | None, work: Path) -> tuple[list[float], list[float]]:
    from tuiflow.engine.events import TaskOutput
    from tuiflow.engine.model import Executor, Pipeline, TaskSpec
    from tuiflow.engine.scheduler import Scheduler
    from tuiflow.engine.store import RunStore

    state = new_state(work)
    spec = TaskSpec(name="ticker", command=("python3", "-c", LATENCY_SCRIPT), cwd=str(work))
    pipeline = Pipeline(name="latency", file=str(work / "latency.yaml"), tasks=(spec,), workdir=str(work))
    runner = None
    if address is not None:
        from tuiflow.engine.daskrunner import DaskRunner

        runner = DaskRunner(Executor("dask", address))
        await runner.open()
    store = RunStore.create(str(state), pipeline)
    engine: list[float] = []

    class Sink:
        def handle(self, event) -> None:
            if isinstance(event, TaskOutput):
                now = time.time()
                engine.extend(now - float(line) for line in event.data.decode().split())

    in_file: list[float] = []
    stop = threading.Event()
    log = Path(store.log_path("ticker", 1))

    def poll() -> None:
        seen = 0
        buf = b""
        while not stop.is_set():
            try:
                with open(log, "rb") as f:
                    f.seek(seen)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            if data:
                now = time.time()
                seen += len(data)
                buf += data
                *lines, buf = buf.split(b"\n")
                in_file.extend(now - float(line) for line in lines if line)
            time.sleep(0.002)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    scheduler = Scheduler(pipeline, runner=runner, store=store, sinks=[Sink()])
    code = await scheduler.run()
    await asyncio.sleep(0.5)
    stop.set()
    watcher.join()
    assert code == 0
    return engine, in_file


def bench_latency(address: str, work: Path) -> list[str]:
    rows = []
    for name, addr in (("local", None), ("dask", address)):
        engine, in_file = asyncio.run(latency_run(addr, work))
        ms = [x * 1000 for x in engine]
        fms = [x * 1000 for x in in_file]
        q = statistics.quantiles
        rows.append(f"| live output latency, a line every {LATENCY_EVERY:g} s | {name} | write -> engine: median "
                    f"{statistics.median(ms):.1f} ms, p95 {q(ms, n=20)[-1]:.1f} ms | write -> log file: "
                    f"**median {statistics.median(fms):.1f} ms**, p95 {q(fms, n=20)[-1]:.1f} ms | "
                    f"{len(fms)} lines |")
        print(rows[-1], file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------- flood


def bench_flood(address: str, work: Path) -> list[str]:
    from distributed import Client

    pipeline = work / "flood.yaml"
    pipeline.write_text(f"""name: flood
tasks:
  - name: flood
    command: python3 -c "import sys; b = bytes(range(256)) * 4096; [sys.stdout.buffer.write(b) for _ in range({FLOOD_MIB})]"
""")
    expected = hashlib.sha256(FLOOD_BLOCK * FLOOD_MIB).hexdigest()
    rows = []
    for name, extra in (("local", ("--executor", "local")), ("dask", ("--scheduler", address))):
        state = new_state(work)
        wall, code, peak, _cpu = run_cli(pipeline, state, *extra)
        (log,) = state.glob("runs/*/logs/flood/1.log")
        exact = hashlib.sha256(log.read_bytes()).hexdigest() == expected and code == 0
        log.unlink()   # 100 MiB a run: the space, not the inodes, is what counts
        extra_text = ""
        if name == "dask":
            with Client(address) as client:
                peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            extra_text = "workers' peak RSS " + ", ".join(f"{kb // 1024} MB" for kb in peaks.values())
        rows.append(f"| flood {FLOOD_MIB} MiB | {name} | {wall:.2f} s | byte-exact: {'yes' if exact else 'NO'} | "
                    f"**engine peak RSS {peak // 1024} MB** {extra_text} |")
        print(rows[-1], file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------- a worker's death


async def death_once(address: str) -> tuple[float, str]:
    from tuiflow.engine.daskrunner import DaskRunner
    from tuiflow.engine.model import Executor
    from tuiflow.engine.runner import CommandRequest

    runner = DaskRunner(Executor("dask", address))
    await runner.open()
    cmd = await runner.start(CommandRequest(task="t", attempt=1, command=("sleep", "30"), cwd="/tmp",
                                            env=dict(os.environ)), lambda stream, data: None)
    pids = await runner.client.run(os.getpid, workers=[cmd.worker])
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    os.kill(pids[cmd.worker], signal.SIGKILL)
    result = await cmd.wait()
    took = time.monotonic() - t0
    await runner.aclose()
    return took, result.reason


def bench_death(address: str, kills: int = 5) -> list[str]:
    """SIGKILL the worker of a running attempt: how soon the attempt fails, naming it."""
    from distributed import Client

    took = []
    for _ in range(kills):
        seconds, reason = asyncio.run(death_once(address))
        assert reason.startswith("Dask worker tcp://") and reason.endswith(" died"), reason
        took.append(seconds * 1000)
        with Client(address) as client:
            client.wait_for_workers(2, timeout=60)   # its nanny starts another
    row = (f"| a worker SIGKILLed mid-task | dask | attempt failed `Dask worker tcp://… died` after "
           f"**median {statistics.median(took):.1f} ms** ({min(took):.1f}–{max(took):.1f}, {kills} kills) | | |")
    print(row, file=sys.stderr)
    return [row]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (2 workers)")
    parser.add_argument("--only", default="wide,latency,flood,death")
    parser.add_argument("--limits", default="8,64", help="wide: the limits to run at")
    parser.add_argument("--runners", default="local,dask", help="wide: the runners to time")
    args = parser.parse_args()
    from distributed import LocalCluster

    work = Path(tempfile.mkdtemp(prefix="tuiflow-dask-bench-"))
    cluster = LocalCluster(n_workers=2, threads_per_worker=args.threads, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    try:
        address = cluster.scheduler_address
        load = os.getloadavg()[0]
        print(f"2 workers x {args.threads} threads, {os.cpu_count()} CPUs, load average {load:.1f} at start",
              file=sys.stderr)
        rows = ["| case | runner | figure | | | |", "| --- | --- | --- | --- | --- | --- |"]
        only = set(args.only.split(","))
        if "wide" in only:
            rows.append("| | | wall (1 000 tasks) | wall (1 task) | per task | CPU (1 000 tasks) |")
            rows += bench_wide(address, work, args.runs, tuple(int(x) for x in args.limits.split(",")),
                               tuple(args.runners.split(",")))
        if "latency" in only:
            rows += bench_latency(address, work)
        if "flood" in only:
            rows += bench_flood(address, work)
        if "death" in only:
            rows += bench_death(address)
        print("\n".join(rows))
        print(json.dumps({"load_average_end": os.getloadavg()[0]}), file=sys.stderr)
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
