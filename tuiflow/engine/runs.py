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
from collections.abc import Callable
from typing import Any

from . import procutil
from .termsafe import print_message

RUN_JSON = "run.json"
TMP_JSON = f".{RUN_JSON}.tmp"   # run.json's next version while it is written
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


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "pipeline": (str,), "file": (str,), "state": (str,), "started": _OPTIONAL_NUMBER,
    "ended": _OPTIONAL_NUMBER, "heartbeat": _OPTIONAL_NUMBER, "exit_code": (int, type(None)),
    "pid": (int, type(None)), "tasks": (dict,), "task_digests": (dict,),
}
_TASK_FIELDS: dict[str, tuple[type, ...]] = {
    "state": (str,), "attempt": (int,), "reason": (str,), "duration": _OPTIONAL_NUMBER,
    "started": _OPTIONAL_NUMBER, "ended": _OPTIONAL_NUMBER, "output": (str, type(None)), "log_dir": (str,),
}


def _check_shape(run: Any) -> None:
    """Raise ValueError unless run.json has the types every reader relies on (a hand-edited or
    foreign file must not crash history, --resume or a run)."""
    if not isinstance(run, dict):
        raise ValueError("not a JSON object")
    for key, types in _RUN_FIELDS.items():
        if key in run and (not isinstance(run[key], types) or isinstance(run[key], bool)):
            raise ValueError(f"`{key}` is {json.dumps(run[key])[:40]}")
    for name, task in (run.get("tasks") or {}).items():
        if not isinstance(task, dict):
            raise ValueError(f"task {json.dumps(name)[:40]} is not a JSON object")
        for key, types in _TASK_FIELDS.items():
            if key in task and (not isinstance(task[key], types) or isinstance(task[key], bool)):
                raise ValueError(f"`{key}` of task {json.dumps(name)[:40]} is {json.dumps(task[key])[:40]}")


def load_run(run_dir: str) -> dict[str, Any]:
    """A run's run.json; a `running` run whose engine is gone reads `interrupted`, and so do its
    running tasks. Raises OSError, or ValueError for a file that is not a run.json."""
    with open(os.path.join(run_dir, RUN_JSON), encoding="utf-8") as f:
        try:
            run = json.load(f)
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
    _check_shape(run)
    run["run_dir"] = os.path.abspath(run_dir)
    if run.get("state") == "running" and not engine_alive(run):
        run["state"] = "interrupted"
        with contextlib.suppress(OSError):   # a write the dead engine left half done
            os.unlink(os.path.join(run_dir, TMP_JSON))
        tasks = run.get("tasks")
        if isinstance(tasks, dict):
            for task in tasks.values():
                if isinstance(task, dict) and task.get("state") == "running":
                    task["state"] = "interrupted"
    return run


def warn_skipped(path: str, why: str) -> None:
    """One line on stderr, once per file and process, for a run.json that cannot be read."""
    if path not in _warned:
        _warned.add(path)
        with contextlib.suppress(OSError, ValueError):
            print_message(f"tuiflow: warning: skipped {path}: {why}")


_warned: set[str] = set()


def list_runs(state_dir: str, limit: int | None = None,
              on_skip: Callable[[str, str], None] | None = warn_skipped) -> list[dict[str, Any]]:
    """Readable runs under `<state_dir>/runs`, newest first; `limit` reads only that many.

    Run ids are start times, so folder names give the order without opening every run.json. A
    run.json that is not one (malformed, hand-edited) is skipped and told to `on_skip(path, why)`;
    a folder without one (a run starting right now) is skipped quietly.
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
        try:
            runs.append(load_run(os.path.join(runs_dir, name)))
        except (FileNotFoundError, NotADirectoryError):
            pass
        except (OSError, ValueError) as exc:
            if on_skip is not None:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                on_skip(os.path.join(runs_dir, name, RUN_JSON), f"not a readable run.json ({why})")
    runs.sort(key=lambda r: (r.get("started") or 0, r.get("run_id", "")), reverse=True)
    return runs


def _run_order(name: str) -> tuple[str, int]:
    """`2026-11-23T14-02-11-3` sorts as (`2026-11-23T14-02-11`, 3): the -N suffix counts, not its text."""
    base, sep, n = name[:19], name[19:20], name[20:]
    return (base, int(n)) if sep == "-" and n.isdigit() else (name, 1)


__all__ = ["RUN_JSON", "STALE_AFTER", "TMP_JSON", "boot_id", "engine_alive", "engine_identity", "list_runs", "load_run",
           "warn_skipped"]
