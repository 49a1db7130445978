"""Starting a task's process: vfork+exec through the public posix_spawn, in a session of its own.

glibc's posix_spawn clones with CLONE_VFORK and reports a failed exec as an error (ninja spawns
the same way). The one thing `os.posix_spawn` cannot set is the child's folder: it has no
chdir action, and changing the engine's own folder around a spawn is not safe (the spawn runs
without the GIL, and every other thread's relative paths would move with it). So a task runs:

* in the engine's own folder (`tuiflow pipeline.yaml` where the file is: the default `workdir`)
  by `os.posix_spawn`; the child inherits the folder;
* in another folder (`tuiflow ci/pipeline.yaml`, a task's `cwd:`) by `subprocess.Popen(cwd=)`,
  which changes folder in the child, between vfork and exec;
* from a spawner thread (the runner's way on a machine so busy that vfork stalls the loop) by
  Popen too: `os.posix_spawn` holds the GIL until the child has exec'd, so the loop would
  stall just the same, while Popen's vfork lets other threads run.

The engine's CPU for a spawn of `true` here: posix_spawn ~73 us, Popen ~126 us, and CPython's
private fork_exec, which this replaces, ~82 us. glibc's chdir file action
(`posix_spawn_file_actions_addchdir_np`) through ctypes came to ~7 us under Popen, the arrays
and calls built in Python eating the rest: not worth a second binding of posix_spawn.

Each gives the same process: the task's argv, environment and folder, a new session, stdin,
stdout and stderr on the fds given, SIGPIPE and SIGXFSZ back to their defaults (Python ignores
them), and no other fd of the engine: the engine's own are close-on-exec, and those it
inherited from whoever started it are closed in the child (`inherited_fds`).

The program is looked up on the task's PATH by the engine, at every spawn (never remembered: a
program that a task installs, a venv's `python` ahead of the system one, is what the next task
runs, as with make), and exec'd by its full path: posix_spawnp would search the engine's PATH,
and a child walking PATH fails an exec in every directory before the right one.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence

LINUX = sys.platform.startswith("linux")
RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)   # ignored by Python, default for a program
_CLOSEFROM = getattr(os, "POSIX_SPAWN_CLOSEFROM", None)  # Python 3.13+

def start(argv: Sequence[str], executable: str | None, cwd: str, env: Mapping[str, str],
          stdin: int, stdout: int, stderr: int, close: Sequence[int] = (), *, in_thread: bool = False) -> int:
    """Start argv in folder `cwd` as the leader of a new session; returns its pid.

    `executable`: where `find_program` found argv[0] (None: walk the task's PATH here).
    `close`: fds to close in the child (see `inherited_fds`). `in_thread`: called from a
    spawner thread, to keep the loop going meanwhile (see the module's docstring). Raises
    FileNotFoundError for a program not found (filename: the program), OSError with filename
    `cwd` for a folder that cannot be entered, ValueError or TypeError for a bad environment.
    The caller reaps the child.
    """
    spawn = _popen if in_thread or not LINUX or not _same_folder(cwd) else _posix_spawn
    stdio = (stdin, stdout, stderr)
    program = argv[0]
    if executable is not None or "/" in program:
        try:
            return spawn(executable or program, argv, env, cwd, stdio, close)
        except OSError:
            check_folder(cwd)
            if executable is None:
                raise
            # gone since the lookup, or not a program exec takes (a broken binary): exec
            # along PATH goes on to the next directory, and so does the walk below
    first_error: OSError | None = None
    for path in program_paths(program, env, cwd):
        if not _is_program(path):
            continue
        try:
            return spawn(path, argv, env, cwd, stdio, close)
        except OSError as exc:
            check_folder(cwd)
            first_error = first_error or exc
    check_folder(cwd)
    if first_error is not None:
        raise first_error
    if any(os.path.lexists(path) for path in program_paths(program, env, cwd)):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def find_program(program: str, env: Mapping[str, str], cwd: str) -> str | None:
    """Where exec along the task's PATH would find `program`; None for a path, or when not found.

    ~0.5 us an entry here, against ~13 us for each failed exec of a child walking PATH.
    """
    if "/" in program:
        return None
    for path in program_paths(program, env, cwd):
        if _is_program(path):
            return path
    return None


def _is_program(path: str) -> bool:
    return os.access(path, os.X_OK) and os.path.isfile(path)


def program_paths(program: str, env: Mapping[str, str], cwd: str) -> Iterator[str]:
    """Where exec along the task's PATH looks for `program`, in order; relative entries are
    relative to the task's folder."""
    path = env.get("PATH")
    for d in (path if path is not None else os.defpath).split(os.pathsep):
        yield f"{d}/{program}" if d.startswith("/") else os.path.join(cwd, d or ".", program)


def check_folder(cwd: str) -> None:
    """Raise what chdir into `cwd` would (filename: `cwd`); a failed spawn is then the folder's fault."""
    try:
        st = os.stat(cwd)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, cwd) from None
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), cwd)
    if not os.access(cwd, os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), cwd)


def inherited_fds() -> tuple[int, ...]:
    """The engine's fds above 2 that an exec would pass on: the ones it inherited at start.

    Everything Python opens is close-on-exec; what the engine's own parent left open for it
    (a CI runner's extra pipe, make's jobserver) must not reach the tasks, which could hold a
    pipe open for good. Read once per runner; Python 3.13's close-from action needs no list.
    """
    if _CLOSEFROM is not None:
        return ()
    try:
        names = os.listdir("/proc/self/fd" if LINUX else "/dev/fd")
    except OSError:
        return ()
    fds = []
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    fds.append(fd)
            except OSError:  # the listing's own fd, closed by now
                pass
    return tuple(fds)


def _same_folder(cwd: str) -> bool:
    try:
        return cwd == os.getcwd()
    except OSError:  # the engine's own folder is gone
        return False


def _posix_spawn(path: str, argv: Sequence[str], env: Mapping[str, str], cwd: str,
                 stdio: Sequence[int], close: Sequence[int]) -> int:
    actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
    if _CLOSEFROM is not None:
        actions.append((_CLOSEFROM, 3))
    actions.extend((os.POSIX_SPAWN_CLOSE, fd) for fd in close)
    return os.posix_spawn(path, list(argv), env, file_actions=actions, setsid=True, setsigdef=RESET_SIGNALS)


def _popen(path: str, argv: Sequence[str], env: Mapping[str, str], cwd: str,
           stdio: Sequence[int], close: Sequence[int]) -> int:
    stdin, stdout, stderr = stdio
    proc = subprocess.Popen(list(argv), executable=path, stdin=stdin, stdout=stdout, stderr=stderr,
                            cwd=cwd, env=env, start_new_session=True)
    proc.returncode = 0  # keeps Popen.__del__ from queueing it for a waitpid that would steal our status
    return proc.pid


__all__ = ["start", "find_program", "program_paths", "check_folder", "inherited_fds", "RESET_SIGNALS"]
