"""Figures of issue 9 (runs that outlive the terminal): attach, the TUI through its engine's socket,
a stalled viewer, and what crosses an SSH link.

    .venv/bin/python benchmarks/attach_bench.py startup      [--baseline CMD] [--runs 7]
    .venv/bin/python benchmarks/attach_bench.py first-screen [--tasks 1000 --mb 100]
    .venv/bin/python benchmarks/attach_bench.py runtime      [--baseline CMD] [--runs 3]
    .venv/bin/python benchmarks/attach_bench.py stalled      [--seconds 30]
    .venv/bin/python benchmarks/attach_bench.py ssh-bytes

`--baseline CMD` is another tuiflow command to compare with, side by side in the same session
(e.g. the code before issue 9, whose TUI ran the engine inside the UI's own process).

- startup: a one-task pipeline in the TUI; time from spawn until the first screen shows the
  task's row and the header (goal: ≤ 0.3 s).
- first-screen: a live run of N tasks with M MB of logs; `tuiflow attach` (through a byte
  counter standing in for ssh, so every byte read from the socket is counted) until the
  screen shows the tree and the selected task's last log line (goals: ≤ 1 s, ≤ 1 MB read).
- runtime: wide 1 000 (`true` × 1000, limit 8) and flood 1M (one task, 100 MB) in the TUI,
  from spawn until the header says SUCCEEDED (goal: ≤ 1.1x the baseline).
- stalled: a 100 MB flood watched by a viewer that is SIGSTOPped for --seconds; the run's
  wall time (run.json) next to the same run with no viewer (goal: within 10%), and the
  engine's peak RSS (goal: < 100 MB).
- ssh-bytes: 30 tasks talking 20 lines a second for ~10 s; bytes per second on a real SSH link
  (a counting ProxyCommand) for a remote TUI under `ssh -tt` and for `tuiflow attach --ssh`
  (goal: attach ≤ 1/4 of the remote TUI).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tui_pty import PtyApp, tuiflow_cmd  # noqa: E402

HERE = Path(__file__).resolve().parent
COUNTER = [sys.executable, str(HERE / "link_counter.py")]


def fresh_dir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"tuiflow-{name}-"))


def write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def engine_of(folder: Path) -> int | None:
    runs = list(folder.glob(".tuiflow/runs/*/run.json"))
    if not runs:
        return None
    try:
        return int(json.loads(runs[0].read_text())["pid"])
    except (ValueError, KeyError, OSError):
        return None


def stop_engines(folder: Path) -> None:
    pid = engine_of(folder)
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def counts(path: Path) -> tuple[int, int]:
    try:
        down, up = path.read_text().split()
        return int(down), int(up)
    except (OSError, ValueError):
        return 0, 0


# ---------------------------------------------------------------------------- startup

def startup(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        folder = fresh_dir("startup")
        write(folder, "name: one\ntasks:\n  - {name: only, command: sleep 2}\n")
        t0 = time.monotonic()
        app = PtyApp([*cmd, "pipeline.yaml"], folder)
        try:
            t = app.wait_for(b"only", timeout=30)
            app.wait_for(b"RUNNING", timeout=30)
            times.append(max(t, app.wait_for(b"RUNNING")) - t0)
        finally:
            app.stop()
            stop_engines(folder)
    return times


# ---------------------------------------------------------------------------- first screen

def big_run(cmd: list[str], tasks: int, mb: int, name: str = "attach") -> Path:
    """A live run of `tasks` tasks (started with --detach), 100 of which have written `mb` MB of
    logs in all, each ending with `tNNNN DONE` and sleeping; the others sleep."""
    folder = fresh_dir(name)
    talkers = 100
    per_task = mb * 1_000_000 // talkers
    lines = per_task // 100
    body = ["name: big", f"max_parallel: {talkers}", "log_limit: 2GB", "tasks:"]
    for i in range(tasks):
        if i < talkers:
            body.append(f"  - {{name: t{i:04d}, command: 'seq -f \"t{i:04d} %092.0f\" {lines}; "
                        f"echo t{i:04d} DONE; sleep 600'}}")
        else:
            body.append(f"  - {{name: t{i:04d}, command: 'sleep 600'}}")
    write(folder, "\n".join(body) + "\n")
    subprocess.run([*cmd, "pipeline.yaml", "--detach"], cwd=folder, check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:   # every talker has written all it writes
            done = sum(1 for p in folder.glob(".tuiflow/runs/*/logs/*/1.log") if p.stat().st_size >= per_task)
            if done >= talkers:
                break
            time.sleep(0.2)
    except BaseException:
        stop_engines(folder)
        raise
    return folder


def first_screen(cmd: list[str], tasks: int, mb: int) -> dict:
    folder = big_run(cmd, tasks, mb)
    try:
        run_dir = next(folder.glob(".tuiflow/runs/*"))
        count = folder / "count"
        ssh = shlex.join([*COUNTER, "ssh", str(count)])
        t0 = time.monotonic()
        app = PtyApp([*cmd, "attach", "--ssh", "localhost", "--ssh-command", ssh, "--remote-tuiflow",
                      shlex.join(cmd), str(run_dir)], folder)
        try:
            t = app.wait_for(b"t0000 DONE", timeout=60)
            app.wait_for(b"t0001", timeout=10)
            seconds = t - t0
            down, up = counts(count)
            app.send(b"q")
            app.wait_for(b"Detach", timeout=10)
            app.send(b"d")
            time.sleep(0.5)
        finally:
            app.stop()
        return {"tasks": tasks, "log_mb": mb, "first_screen_s": round(seconds, 3), "read_bytes": down,
                "sent_bytes": up}
    finally:
        stop_engines(folder)


# ---------------------------------------------------------------------------- run time

WIDE = "name: wide\nmax_parallel: 8\ntasks:\n" + "".join(f"  - {{name: t{i}, command: 'true'}}\n" for i in range(1000))
FLOOD = "name: flood\nlog_limit: 2GB\ntasks:\n  - {name: flood, command: \"seq -f '%099.0f' 1 1000000\"}\n"


def tui_run(cmd: list[str], text: str) -> float:
    folder = fresh_dir("runtime")
    write(folder, text)
    t0 = time.monotonic()
    app = PtyApp([*cmd, "pipeline.yaml"], folder)
    try:
        t = app.wait_for(b"SUCCEEDED", timeout=300)
        app.send(b"q")
        time.sleep(0.3)
        return t - t0
    finally:
        app.stop()
        stop_engines(folder)


def runtime(cmd: list[str], baseline: list[str] | None, runs: int) -> dict:
    out: dict = {}
    for name, text in (("wide_1000", WIDE), ("flood_1M", FLOOD)):
        ours, theirs = [], []
        for _ in range(runs):
            ours.append(tui_run(cmd, text))
            if baseline:
                theirs.append(tui_run(baseline, text))
        out[name] = {"tuiflow_s": round(statistics.median(ours), 3), "runs": [round(x, 3) for x in ours]}
        if baseline:
            out[name]["baseline_s"] = round(statistics.median(theirs), 3)
            out[name]["baseline_runs"] = [round(x, 3) for x in theirs]
            out[name]["ratio"] = round(statistics.median(ours) / statistics.median(theirs), 3)
    return out


# ---------------------------------------------------------------------------- a stalled viewer

STALL_FLOOD = ("name: stall\nlog_limit: 2GB\ntasks:\n  - name: flood\n    command: sleep 2; seq -f '%099.0f' 1 1000000\n"
               "  - {name: after, command: 'true', depends_on: flood}\n")


def run_seconds(folder: Path) -> float:
    run = json.loads(next(folder.glob(".tuiflow/runs/*/run.json")).read_text())
    return run["tasks"]["after"]["ended"] - run["started"]


def wait_done(folder: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = json.loads(next(folder.glob(".tuiflow/runs/*/run.json")).read_text())
            if run["tasks"]["after"]["state"] == "succeeded":
                return
        except (StopIteration, ValueError, KeyError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError("the run did not end")


def stalled(cmd: list[str], seconds: float, runs: int) -> dict:
    alone, watched, peaks = [], [], []
    for _ in range(runs):
        folder = fresh_dir("alone")
        write(folder, STALL_FLOOD)
        subprocess.run([*cmd, "pipeline.yaml", "--detach"], cwd=folder, check=True, capture_output=True)
        wait_done(folder)
        alone.append(run_seconds(folder))
        stop_engines(folder)

        folder = fresh_dir("watched")
        write(folder, STALL_FLOOD)
        subprocess.run([*cmd, "pipeline.yaml", "--detach"], cwd=folder, check=True, capture_output=True)
        app = PtyApp([*cmd, "attach"], folder)
        try:
            app.wait_for(b"flood", timeout=30)
            os.kill(app.proc.pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            wait_done(folder)
            engine = engine_of(folder)
            status = Path(f"/proc/{engine}/status").read_text()
            peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) // 1024)
            time.sleep(max(0.0, seconds - (time.monotonic() - stopped_at)))
            os.kill(app.proc.pid, signal.SIGCONT)
            app.wait_for(b"SUCCEEDED", timeout=60)
            watched.append(run_seconds(folder))
        finally:
            os.kill(app.proc.pid, signal.SIGCONT)
            app.stop()
            stop_engines(folder)
    return {"alone_s": round(statistics.median(alone), 3), "with_stopped_viewer_s": round(statistics.median(watched), 3),
            "ratio": round(statistics.median(watched) / statistics.median(alone), 3),
            "engine_peak_rss_mb": max(peaks), "stopped_for_s": seconds}


# ---------------------------------------------------------------------------- bytes on an SSH link

def talkers() -> str:
    body = ["name: talkers", "max_parallel: 30", "tasks:"]
    for i in range(30):
        body.append(f"  - {{name: talker{i:02d}, command: 'sleep {i * 0.05:.2f}; for n in $(seq 1 7); do "
                    f"echo \"talker {i:02d} says line $n of its story\"; sleep 1.5; done'}}")
    return "\n".join(body) + "\n"


def link_rate(argv: list[str], folder: Path, count: Path) -> dict:
    """Bytes a second towards the viewer on the link, while the run goes (RUNNING to SUCCEEDED)."""
    app = PtyApp(argv, folder)
    try:
        t_start = app.wait_for(b"RUNNING", timeout=60)
        start = counts(count)
        t_end = app.wait_for(b"SUCCEEDED", timeout=120)
        end = counts(count)
        app.send(b"q")
        time.sleep(1)
        return {"bytes_per_s": round((end[0] - start[0]) / (t_end - t_start)), "seconds": round(t_end - t_start, 2),
                "first_screen_bytes": start[0]}
    finally:
        app.stop()
        stop_engines(folder)


def ssh_bytes(cmd: list[str]) -> dict:
    from tests.e2e.sshd import Sshd, user_host

    with Sshd(fresh_dir("sshd")) as sshd:
        def counted(folder: Path) -> tuple[list[str], Path]:
            write(folder, talkers())
            count = folder / "count"
            proxy = f"ProxyCommand={shlex.join([*COUNTER, 'proxy', str(count), '127.0.0.1', str(sshd.port)])}"
            return [*sshd.ssh, "-o", proxy], count

        # a remote TUI: every screen update crosses the link
        folder = fresh_dir("ssh-tt")
        ssh, count = counted(folder)
        remote = f"cd {shlex.quote(str(folder))} && {shlex.join(cmd)} pipeline.yaml"
        result = {"ssh_tt": link_rate([*ssh, "-tt", user_host(), remote], folder, count)}
        # attach --ssh: only the run's events cross
        folder = fresh_dir("attach-ssh")
        ssh, count = counted(folder)
        subprocess.run([*cmd, "pipeline.yaml", "--detach"], cwd=folder, check=True, capture_output=True)
        run_dir = next(folder.glob(".tuiflow/runs/*"))
        result["attach_ssh"] = link_rate([*cmd, "attach", "--ssh", user_host(), "--ssh-command", shlex.join(ssh),
                                          "--remote-tuiflow", shlex.join(cmd), str(run_dir)], folder, count)
        result["ratio"] = round(result["attach_ssh"]["bytes_per_s"] / result["ssh_tt"]["bytes_per_s"], 3)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["startup", "first-screen", "runtime", "stalled", "ssh-bytes", "all"])
    parser.add_argument("--baseline", help="another tuiflow command to compare with")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    cmd = tuiflow_cmd()
    baseline = shlex.split(args.baseline) if args.baseline else None
    report: dict = {}
    if args.what in ("startup", "all"):
        ours = startup(cmd, args.runs)
        report["startup"] = {"first_screen_s": round(statistics.median(ours), 3), "runs": [round(x, 3) for x in ours]}
        if baseline:
            theirs = startup(baseline, args.runs)
            report["startup"]["baseline_s"] = round(statistics.median(theirs), 3)
    if args.what in ("first-screen", "all"):
        report["first_screen"] = first_screen(cmd, args.tasks, args.mb)
    if args.what in ("runtime", "all"):
        report["runtime"] = runtime(cmd, baseline, args.runs)
    if args.what in ("stalled", "all"):
        report["stalled"] = stalled(cmd, args.seconds, 1 if args.what == "all" else args.runs)
    if args.what in ("ssh-bytes", "all"):
        report["ssh_bytes"] = ssh_bytes(cmd)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
