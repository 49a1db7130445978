"""Reading run folders back: `run.json` of one run, the runs of a state dir, and whether a run is live.

The run store writes these files; history, `--resume`, `tuiflow logs`, `tuiflow ps` and
`tuiflow attach` read them through here. A run is live while its engine process exists: the
same pid *and* the same start time (so a recycled pid is not taken for it, and a stopped engine
is still live). A run.json written on another host can only be judged by its heartbeat.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from . import procutil

RUN_JSON = "run.json"
STALE_AFTER = 10.0   # a `running` run.json from another host whose heartbeat is older than this is dead


def engine_identity() -> dict[str, Any]:
    """What run.json records of the engine process so readers can tell whether it still runs."""
    stat = procutil.proc_stat(os.getpid())
    return {"pid": os.getpid(), "pid_start": stat.start if stat else None, "boot_id": boot_id(),
            "host": os.uname().nodename}


def boot_id() -> str | None:
    """This boot of the machine (Linux): pid start times only compare within one boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def engine_alive(run: dict[str, Any]) -> bool:
    """Whether the engine that wrote this run.json still runs (see the module docstring)."""
    pid = run.get("pid")
    if run.get("host") == os.uname().nodename and isinstance(pid, int):
        start = run.get("pid_start")
        if isinstance(start, int) and run.get("boot_id", boot_id()) == boot_id():
            stat = procutil.proc_stat(pid)
            return stat is not None and stat.start == start and stat.state not in ("Z", "X")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    heartbeat = run.get("heartbeat")
    return isinstance(heartbeat, (int, float)) and time.time() - heartbeat <= STALE_AFTER


def load_run(run_dir: str) -> dict[str, Any]:
    """A run's run.json; a `running` run whose engine is gone reads `interrupted`, and so do its
    running tasks. Raises OSError or ValueError."""
    with open(os.path.join(run_dir, RUN_JSON), encoding="utf-8") as f:
        run = json.load(f)
    if not isinstance(run, dict):
        raise ValueError(f"{run_dir}/{RUN_JSON} is not a JSON object")
    run["run_dir"] = os.path.abspath(run_dir)
    if run.get("state") == "running" and not engine_alive(run):
        run["state"] = "interrupted"
        tasks = run.get("tasks")
        if isinstance(tasks, dict):
            for task in tasks.values():
                if isinstance(task, dict) and task.get("state") == "running":
                    task["state"] = "interrupted"
    return run


def list_runs(state_dir: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Readable runs under `<state_dir>/runs`, newest first; `limit` reads only that many.

    Run ids are start times, so folder names give the order without opening every run.json.
    """
    runs_dir = os.path.join(state_dir, "runs")
    try:
        names = os.listdir(runs_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names.sort(key=_run_order, reverse=True)
    runs = []
    for name in names:
        if limit is not None and len(runs) >= limit:
            break
        with contextlib.suppress(OSError, ValueError):
            runs.append(load_run(os.path.join(runs_dir, name)))
    runs.sort(key=lambda r: (r.get("started") or 0, r.get("run_id", "")), reverse=True)
    return runs


def _run_order(name: str) -> tuple[str, int]:
    """`2026-11-23T14-02-11-3` sorts as (`2026-11-23T14-02-11`, 3): the -N suffix counts, not its text."""
    base, sep, n = name[:19], name[19:20], name[20:]
    return (base, int(n)) if sep == "-" and n.isdigit() else (name, 1)


__all__ = ["RUN_JSON", "STALE_AFTER", "boot_id", "engine_alive", "engine_identity", "list_runs", "load_run"]
