"""Process-tree plumbing for the local runner: subreaper, pidfd, /proc reading, group signals.

Linux gives the engine what it needs to end every process a task started, even one that left
its process group with `setsid`: as a child subreaper the engine inherits such orphans, and
/proc tells which of its children they are. Elsewhere these helpers degrade to plain POSIX.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any, NamedTuple

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
LINUX = sys.platform.startswith("linux")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_subreaper: bool | None = None
_pidfd: bool | None = None
_watcher_installed = False
_children_file: bool | None = None

# Children started by asyncio's subprocess machinery (tracked by our child watcher): never
# mistaken for orphans inherited from a task.
foreign_children: set[int] = set()


def set_pipe_size(fd: int, size: int) -> bool:
    """Ask for a pipe that holds `size` bytes (Linux, up to /proc/sys/fs/pipe-max-size).

    False when the system has no such call or refuses (past the per-user pipe budget).
    """
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return False
    try:
        return fcntl.fcntl(fd, setsize, size) >= size
    except OSError:
        return False


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (once); False when unsupported."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if LINUX:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                pass
    return _subreaper


def set_parent_death_signal(sig: int) -> bool:
    """Have the kernel send `sig` to this process when its parent dies (Linux); False elsewhere."""
    if not LINUX:
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def forget_after_fork() -> None:
    """In a forked child: what this module knows of the process is its parent's (a subreaper
    flag is not inherited); ask again."""
    global _subreaper
    _subreaper = None


def pidfd_supported() -> bool:
    global _pidfd
    if _pidfd is None:
        try:
            os.close(os.pidfd_open(os.getpid()))
            _pidfd = True
        except (AttributeError, OSError):
            _pidfd = False
    return _pidfd


if sys.version_info < (3, 12):  # gone from asyncio in 3.14; 3.12 has pidfd by default
    class _PidfdWatcher(asyncio.AbstractChildWatcher):
        """Python 3.12's pidfd child watcher for 3.11: no thread per child, no loop to attach.

        It also remembers whose children it waits for, so they are never taken for orphans.
        """

        def __enter__(self) -> _PidfdWatcher:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def is_active(self) -> bool:
            return True

        def close(self) -> None:
            pass

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            pass

        def add_child_handler(self, pid: int, callback: Any, *args: Any) -> None:
            loop = asyncio.get_running_loop()
            pidfd = os.pidfd_open(pid)
            foreign_children.add(pid)
            loop.add_reader(pidfd, self._do_wait, loop, pid, pidfd, callback, args)

        def _do_wait(self, loop: asyncio.AbstractEventLoop, pid: int, pidfd: int, callback: Any,
                     args: tuple[Any, ...]) -> None:
            loop.remove_reader(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
                returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                returncode = 255
            os.close(pidfd)
            foreign_children.discard(pid)
            callback(pid, returncode, *args)

        def remove_child_handler(self, pid: int) -> bool:
            return True


def install_child_watcher() -> None:
    """On Python 3.11, replace the thread-per-child watcher by a pidfd one (the 3.12 default).

    The runner itself does not use asyncio's subprocesses; this is for any other code in the
    engine that does: the threaded watcher starts a thread for every process it waits for.
    """
    global _watcher_installed
    if _watcher_installed or sys.version_info >= (3, 12) or not pidfd_supported():
        return
    _watcher_installed = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(_PidfdWatcher())


def env_value(pid: int, name: str) -> str | None:
    """The value of `name` in a process's environment as it started; None if unset or unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    key = name.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(key):
            return item[len(key):].decode(errors="replace")
    return None


class ProcStat(NamedTuple):
    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks since boot


def proc_stat(pid: int) -> ProcStat | None:
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    rest = data[data.rfind(b")") + 2:].split()
    try:
        return ProcStat(pid, rest[0].decode(), int(rest[1]), int(rest[2]), int(rest[3]), int(rest[19]))
    except (IndexError, ValueError):
        return None


def boot_ticks() -> int:
    """Now, in the unit and origin of ProcStat.start (processes started later have start >= this)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLK_TCK) if LINUX else 0


def my_children() -> list[int]:
    """Pids of this process's children, orphans it inherited as subreaper included."""
    global _children_file
    if not LINUX:
        return []
    me = os.getpid()
    if _children_file is not False:
        pids: list[int] = []
        tid = threading.get_native_id()
        # Orphans go to the main thread; our own children to the thread that started them.
        for t in (me,) if tid == me else (me, tid):
            try:
                fd = os.open(f"/proc/{me}/task/{t}/children", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                if _children_file is None:
                    _children_file = False  # kernel without CONFIG_PROC_CHILDREN
                    break
                continue
            try:
                pids.extend(map(int, _read_all(fd).split()))
            finally:
                os.close(fd)
        else:
            _children_file = True
            return pids
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st.ppid == me:
                out.append(st.pid)
    return out


def _read_all(fd: int) -> bytes:
    data = os.read(fd, 65536)
    if len(data) < 65536:
        return data
    parts = [data]
    while data:
        data = os.read(fd, 65536)
        parts.append(data)
    return b"".join(parts)


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_exists(pgid: int) -> bool:
    """Whether any process (zombies included) is still in the group."""
    return signal_group(pgid, 0)


def reap_group(pgid: int) -> None:
    """Collect exit statuses of our children (inherited orphans) in a group, without blocking."""
    while True:
        try:
            if os.waitid(os.P_PGID, pgid, os.WEXITED | os.WNOHANG) is None:
                return
        except OSError:  # ECHILD: none of our children is in it
            return


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


__all__ = ["ProcStat", "become_subreaper", "pidfd_supported", "install_child_watcher",
           "set_parent_death_signal", "forget_after_fork",
           "proc_stat", "boot_ticks", "my_children", "signal_group",
           "group_exists", "reap_group", "reap", "signal_name", "foreign_children"]
