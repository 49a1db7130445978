"""Which runs of this user are live, wherever their run folders are: `tuiflow ps` and `attach`.

Each engine leaves a small file in the user's private runtime directory while it runs
(`$XDG_RUNTIME_DIR/tuiflow/live/`, else `/tmp/tuiflow-UID/live/`, like tmux's /tmp/tmux-UID):
the path of its run folder. Everything else — pid, state, progress — is read from the run's
own run.json, and an entry whose engine is gone is removed when it is next read.

A RUN given on the command line is a run id, a run folder, or a pipeline file (its newest
live run); nothing means the newest live run under the current directory.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from tuiflow.engine.errors import UsageError
from tuiflow.engine.privdir import GROUP_OR_OTHER_ANY, UnsafeDirectory, open_private_dir
from tuiflow.engine.runs import RUN_JSON, engine_alive, load_run

SOCKET = "engine.sock"


def runtime_dir(create: bool = True) -> str:
    """This user's private directory for live-run entries; refused unless it is the user's own,
    not a symlink, and closed to others (what ssh and tmux check of theirs)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base) and os.path.isdir(base):
        top = os.path.join(base, "tuiflow")
    else:
        top = os.path.join("/tmp", f"tuiflow-{os.geteuid()}")
    for path in (top, os.path.join(top, "live")):
        try:
            os.close(open_private_dir(path, create=create, forbid=GROUP_OR_OTHER_ANY))
        except FileNotFoundError:
            pass
        except UnsafeDirectory as exc:
            raise UsageError(f"{exc}: tuiflow will not keep run sockets there; remove it or set "
                             "XDG_RUNTIME_DIR to a private directory") from None
    return os.path.join(top, "live")


def socket_path(run_dir: str) -> str:
    return os.path.join(run_dir, SOCKET)


def register(run_dir: str, run_id: str) -> str:
    """Note a live run; returns the entry's path (the engine removes it when it ends)."""
    entry = os.path.join(runtime_dir(), f"{os.getpid()}.json")
    data = json.dumps({"run_dir": run_dir, "run_id": run_id}).encode()
    fd = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return entry


def unregister(entry: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(entry)


def live_runs() -> list[dict[str, Any]]:
    """This user's live runs, newest first (run.json of each, with `run_dir`); stale entries go."""
    try:
        folder = runtime_dir(create=False)
        names = os.listdir(folder)
    except (FileNotFoundError, UsageError):
        return []
    runs = []
    for name in names:
        entry = os.path.join(folder, name)
        try:
            with open(entry, encoding="utf-8") as f:
                run_dir = json.load(f)["run_dir"]
            run = load_run(run_dir)
        except (OSError, ValueError, KeyError, TypeError):
            unregister(entry)
            continue
        if run.get("state") not in ("running",) or not engine_alive(run):
            unregister(entry)
            continue
        runs.append(run)
    runs.sort(key=lambda r: r.get("started") or 0, reverse=True)
    return runs


def resolve(arg: str | None, cwd: str | None = None, anywhere: bool = False) -> dict[str, Any]:
    """The run a command line means (see the module docstring); UsageError when there is none.
    `anywhere`: without RUN, the newest live run wherever it is (`tuiflow connect`)."""
    cwd = os.path.abspath(cwd or os.getcwd())
    live = live_runs()
    if arg is None and anywhere:
        if live:
            return live[0]
        raise UsageError("no live run")
    if arg is None:
        here = [r for r in live if _under(r["run_dir"], cwd) or _under(str(r.get("file", "")), cwd)]
        if here:
            return here[0]
        elsewhere = f" ({len(live)} elsewhere: `tuiflow ps` lists them)" if live else ""
        raise UsageError(f"no live run under {cwd}{elsewhere}")
    if os.path.isfile(os.path.join(arg, RUN_JSON)):
        return _must_be_live(load_run(arg), arg)
    if os.path.isfile(arg):
        wanted = os.path.abspath(arg)
        for run in live:
            if run.get("file") == wanted:
                return run
        raise UsageError(f"no live run of {arg} (`tuiflow history {arg}` shows its earlier runs)")
    for run in live:
        if run.get("run_id") == arg:
            return run
    local = os.path.join(cwd, ".tuiflow", "runs", arg)
    if os.path.isfile(os.path.join(local, RUN_JSON)):
        return _must_be_live(load_run(local), arg)
    raise UsageError(f"no live run {arg!r}: give a run id, a run folder or a pipeline file (`tuiflow ps` lists live runs)")


def _must_be_live(run: dict[str, Any], arg: str) -> dict[str, Any]:
    state = run.get("state")
    if state != "running":
        stale = socket_path(run["run_dir"])
        if os.path.exists(stale) and engine_alive(run):
            return run  # over, but its engine holds it open for the viewers it has (a TUI, `tuiflow serve`)
        removed = ""
        if os.path.exists(stale):  # its engine was killed with its keeper: nobody removed it
            with contextlib.suppress(OSError):
                os.unlink(stale)
                removed = "; its stale socket is removed"
        raise UsageError(f"run {run.get('run_id', arg)} is not live: it {_ended(state)}{removed} "
                         f"(`tuiflow history` and `tuiflow logs` show what it did)")
    return run


def _ended(state: Any) -> str:
    return {"interrupted": "was interrupted (its engine is gone)"}.get(str(state), f"ended {state}")


def _under(path: str, folder: str) -> bool:
    return bool(path) and (path == folder or path.startswith(folder.rstrip(os.sep) + os.sep))


__all__ = ["SOCKET", "live_runs", "register", "resolve", "runtime_dir", "socket_path", "unregister"]
