"""How a command runs: the CommandRunner protocol, and the local process runner.

The scheduler only knows the protocol, so a runner of another kind (a remote executor, a fake in
the tests) can take the local one's place.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from . import procutil, spawn
from .durations import format_duration


@dataclass(frozen=True, slots=True)
class CommandRequest:
    task: str
    attempt: int
    command: str | tuple[str, ...]   # str: run by `shell -c`; tuple: exec'd directly
    cwd: str
    env: Mapping[str, str]           # the complete environment of the process
    shell: str = "sh"
    script: str | None = None        # Dagu: written to a file and run by `command` as interpreter
    timeout: float | None = None
    kill_grace: float = 5.0
    separate_streams: bool = True    # False: stderr shares stdout's pipe (stream 1), in written order
    pool: str | None = None          # the task's pool: a Dask runner runs it where that resource is


class CommandResult(NamedTuple):
    exit_code: int | None            # None when the process died of a signal or never started
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    duration: float = 0.0
    reason: str = ""                 # "" on success; `exit 3`, `killed by SIGKILL`, `timed out after 30s`, `cancelled`, `cannot start: ...`
    #                                  a stop that needed SIGKILL adds `; killed by SIGKILL after 2 s grace`

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.cancelled)


OutputCallback = Callable[[int, bytes], None]
"""Called with (stream, chunk) for each chunk read (stream 1 = stdout, 2 = stderr), in order per stream."""


class RunningCommand(Protocol):
    pid: int | None

    async def wait(self) -> CommandResult:
        """Wait until the command and its pipes are done; never raises for a failing command."""
        ...

    def cancel(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after the grace. Idempotent, safe after exit."""
        ...


class CommandRunner(Protocol):
    async def start(self, request: CommandRequest, on_output: OutputCallback) -> RunningCommand: ...

    async def aclose(self) -> None:
        """End every process this runner started that is still alive."""
        ...


@runtime_checkable
class RemoteRunner(Protocol):
    """A runner whose commands run elsewhere (the Dask runner), a capability the scheduler looks
    for once (isinstance): `where` says where, in the words the TUI header and the headless run
    line show, and `on_change`, set by the scheduler, is told when that changes (workers come and
    go). The local runner has neither: its commands run here."""

    on_change: Callable[[], None] | None

    @property
    def where(self) -> str: ...


# ---------------------------------------------------------------------------- the local runner

CHUNK = 64 * 1024
PIPE_SIZE = 1 << 20    # a chatty task's pipe is grown to this (F_SETPIPE_SZ), so output can gather...
GATHER = 0.001         # ...this long after a read that emptied it: fewer, fuller reads
CHATTY = 1 << 20       # bytes read from a pipe before it counts as chatty
MAX_BIG_PIPES = 4      # big pipes at once per engine: 4 MiB of Linux's default 64 MiB per user
READS_PER_WAKE = 16    # chunks read in one go while they come full
LEFTOVER_GRACE = 0.2   # SIGTERM -> SIGKILL for what a task left behind when its main process exited
DRAIN_BOUND = 0.3      # how long pipes are drained once nothing of the task is left to kill
SPAWN_THREADS = 2      # spawner threads, used while spawning inline stalls the loop (a busy machine)
SLOW_SPAWN = 0.002     # seconds: an average inline spawn slower than this moves spawning to the threads
PROBE_EVERY = 16       # meanwhile one spawn in this many is inline, to see whether they got quick again
GIVE_UP = 2.0          # stop waiting for processes that do not die even of SIGKILL (D state)

_LIVE: dict[int, _LocalCommand] = {}   # main pid -> command, while its main process runs (all runners)
JOB_VAR = "TUIFLOW_JOB"
_JOBS = itertools.count(1)
_SAME_SESSION: set[int] = set()        # children known to be in our own session: never a task's orphan
_BIG_PIPES: set[int] = set()           # read fds of pipes grown to PIPE_SIZE (all runners)


class LocalRunner:
    """Runs each command on this machine in its own session, reading its pipes in 64 KiB chunks.

    No asyncio subprocess transport: posix_spawn's vfork+exec (engine/spawn.py), then the loop's reader callbacks
    on the two pipes and a pidfd, ~0.2 ms of CPU for a no-op task. vfork holds the caller until the
    child has exec'd; on a busy machine that stalls the loop for milliseconds, so once inline spawns
    average over SLOW_SPAWN they move to two threads, and come back when an inline probe finds
    them quick again. (Threads cost GIL hand-offs: on a quiet machine inline is faster.)
    """

    def __init__(self) -> None:
        procutil.become_subreaper()
        procutil.install_child_watcher()
        self._commands: set[_LocalCommand] = set()
        self._devnull = -1
        self._inherited = spawn.inherited_fds()  # closed in every task
        self._spawner: ThreadPoolExecutor | None = None
        self._spawn_time = 0.0  # moving average of an inline spawn's wall time
        self._threaded = 0

    def spawn_took(self, seconds: float) -> None:
        """An inline spawn's time: what the loop stalled. (A spawner thread's would add GIL waits.)"""
        self._spawn_time += (seconds - self._spawn_time) * 0.2

    async def start(self, request: CommandRequest, on_output: OutputCallback) -> RunningCommand:
        loop = asyncio.get_running_loop()
        if self._devnull < 0:
            self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        cmd = _LocalCommand(self, loop, request, on_output)
        spawner = None
        self._threaded = self._threaded + 1 if self._spawn_time > SLOW_SPAWN else 0
        if self._threaded % PROBE_EVERY:
            if self._spawner is None:
                self._spawner = ThreadPoolExecutor(SPAWN_THREADS, thread_name_prefix="tuiflow-spawn")
            spawner = self._spawner
        await cmd.spawn(self._devnull, spawner)
        return cmd

    async def aclose(self) -> None:
        live = [c for c in self._commands if not c.done]
        if live:
            await asyncio.gather(*(c.spawned for c in live))  # a spawn in flight must not escape
        for c in live:
            c.cancel()
        if live:
            await asyncio.gather(*(c.wait() for c in live))
        await _end_orphans(None, 0.0)
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1
        if self._spawner is not None:
            self._spawner.shutdown(wait=False)
            self._spawner = None

    def _forget(self, cmd: _LocalCommand) -> None:
        self._commands.discard(cmd)


class _LocalCommand:
    """One attempt's process tree, driven by loop callbacks; `wait()` resolves when all of it is done."""

    def __init__(self, runner: LocalRunner, loop: asyncio.AbstractEventLoop, request: CommandRequest,
                 on_output: OutputCallback) -> None:
        self.pid: int | None = None
        self._runner = runner
        self._loop = loop
        self._request = request
        self._on_output = on_output
        self._done: asyncio.Future[CommandResult] = loop.create_future()
        self.spawned: asyncio.Future[None] = loop.create_future()
        self._pipes: dict[int, int] = {}         # read fd -> stream number
        self._read_bytes: dict[int, int] = {}    # read fd -> bytes read, until it is grown (or refused)
        self._resting: dict[int, asyncio.TimerHandle] = {}  # read fd -> when it is read again
        self._pidfd = -1
        self._status: int | None = None          # wait status of the main process
        self._exited = False
        self._stop = ""                          # "cancel" | "timeout": why we signalled it
        self._kill_at = 0.0                      # monotonic time SIGKILL is due after a stop
        self._killed = False                     # the stop needed SIGKILL: SIGTERM was ignored
        self._timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._script: str | None = None
        self._t0 = 0.0
        self._t_exit = 0.0
        self.start_ticks = 0
        self.job = f"{os.getpid()}-{next(_JOBS)}"  # tags the attempt's processes: see _orphans_of

    @property
    def done(self) -> bool:
        return self._done.done()

    # -- start

    async def spawn(self, devnull: int, spawner: ThreadPoolExecutor | None) -> None:
        req = self._request
        try:
            argv = self._argv()
        except OSError as exc:
            self._finish_now(f"cannot start: cannot write script: {exc.strerror or exc}")
            return
        try:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
        except OSError as exc:
            self._finish_now(f"cannot start: {exc.strerror or exc}")
            return
        err_r, err_w = -1, out_w  # one pipe: the output in the order it was written
        if req.separate_streams:
            try:
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
            except OSError as exc:
                os.close(out_r)
                os.close(out_w)
                self._finish_now(f"cannot start: {exc.strerror or exc}")
                return
        self.start_ticks = procutil.boot_ticks()
        self._t0 = time.monotonic()
        # on the loop thread: in a spawner thread each of its syscalls would hand the GIL back and forth
        executable = spawn.find_program(argv[0], req.env, req.cwd)
        self._runner._commands.add(self)
        try:
            await self._spawn(argv, executable, devnull, out_r, out_w, err_r, err_w, spawner)
        finally:
            self.spawned.set_result(None)

    async def _spawn(self, argv: list[str], executable: str | None, devnull: int, out_r: int, out_w: int,
                     err_r: int, err_w: int, spawner: ThreadPoolExecutor | None) -> None:
        req = self._request
        inherited = self._runner._inherited

        def popen() -> int:
            t0 = time.perf_counter()
            env = {**req.env, JOB_VAR: self.job}  # inherited by every descendant, daemons too
            pid = spawn.start(argv, executable, req.cwd, env, devnull, out_w, err_w, inherited,
                              in_thread=spawner is not None)
            _LIVE[pid] = self  # at once: a sweep running meanwhile must know this session
            if spawner is None:
                self._runner.spawn_took(time.perf_counter() - t0)
            return pid

        cancelled: asyncio.CancelledError | None = None
        try:
            if spawner is None:
                pid = popen()
            else:
                fut = self._loop.run_in_executor(spawner, popen)
                try:
                    pid = await asyncio.shield(fut)
                except asyncio.CancelledError as exc:
                    cancelled = exc  # the process exists or will: track it, end it, then give up
                    pid = await fut
        except Exception as exc:  # whatever keeps it from starting is the task's failure, not ours
            for fd in (out_r, err_r):
                if fd >= 0:
                    os.close(fd)
            self._finish_now(f"cannot start: {_start_error(exc, argv[0], req.cwd)}")
            if cancelled is not None:
                raise cancelled from None
            return
        finally:
            for fd in {out_w, err_w}:
                os.close(fd)
        self.pid = pid
        loop = self._loop
        for fd, stream in ((out_r, 1), (err_r, 2)):
            if fd < 0:
                continue
            os.set_blocking(fd, False)
            self._pipes[fd] = stream
            loop.add_reader(fd, self._on_readable, fd, stream)
        if procutil.pidfd_supported():
            self._pidfd = os.pidfd_open(pid)
            loop.add_reader(self._pidfd, self._on_exit)
        else:
            threading.Thread(target=self._watch_thread, args=(pid,), daemon=True).start()
        if req.timeout is not None:
            self._timer = loop.call_later(max(0.0, req.timeout), self._on_timeout)
        if cancelled is not None:
            self.cancel()
            raise cancelled

    def _argv(self) -> list[str]:
        req = self._request
        command = req.command
        if req.script is None:
            if isinstance(command, str):
                return direct_argv(command, req.shell) or [*shell_argv(req.shell), command]
            return list(command)
        import shlex  # scripts are rare: keep these imports off every start-up
        import tempfile

        interpreter = (shlex.split(command) if isinstance(command, str) else list(command)) or [req.shell]
        if len(interpreter) > 1 and interpreter[-1] == "-c":
            interpreter.pop()   # `shell: bash -e -c` runs the script file, not a command string
        fd, path = tempfile.mkstemp(prefix="tuiflow-script-")
        self._script = path
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(req.script)
        return [*interpreter, path]

    def _watch_thread(self, pid: int) -> None:
        """Without pidfd: wait for the exit in a thread, leaving the zombie for _on_exit to reap."""
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        self._loop.call_soon_threadsafe(self._on_exit)

    # -- output

    def _on_readable(self, fd: int, stream: int) -> None:
        """Read 64 KiB chunks while they come full; once the pipe is empty, let it fill a moment.

        A task that writes fast in small pieces (`seq`, a logger) would otherwise wake the loop
        for every few kilobytes: half of a flood's CPU. Once a pipe has carried CHATTY bytes it
        is grown to PIPE_SIZE (far more than such a writer fills in GATHER), and after a read
        that empties it the loop leaves it GATHER: fewer, fuller reads, at no cost a person can
        see. Only MAX_BIG_PIPES at once: past a per-user budget Linux shrinks every new pipe of
        the user to one page (several engines of one user share that budget). Once the process
        has exited, pipes drain at once.
        """
        for _ in range(READS_PER_WAKE):
            try:
                data = os.read(fd, CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                break
            try:
                self._on_output(stream, data)
            except Exception as exc:  # the callback's bug must not wedge this state machine
                self._loop.call_exception_handler({"message": "tuiflow: output callback failed",
                                                   "exception": exc})
            if fd not in self._pipes:
                return  # the callback ended the command
            counted = self._read_bytes.get(fd, 0)
            if counted >= 0:  # -1: grown already, or refused
                counted += len(data)
                if counted >= CHATTY and len(_BIG_PIPES) < MAX_BIG_PIPES:
                    if procutil.set_pipe_size(fd, PIPE_SIZE):
                        _BIG_PIPES.add(fd)
                    counted = -1
                self._read_bytes[fd] = counted
            if len(data) < CHUNK:
                if fd in _BIG_PIPES and not self._exited:
                    self._loop.remove_reader(fd)
                    self._resting[fd] = self._loop.call_later(GATHER, self._wake_reader, fd)
                return
        else:
            return  # still full: the next loop iteration reads on
        self._close_pipe(fd)
        if self._exited:
            self._maybe_finish()

    def _wake_reader(self, fd: int) -> None:
        self._resting.pop(fd, None)
        if fd in self._pipes:
            self._loop.add_reader(fd, self._on_readable, fd, self._pipes[fd])

    def _wake_resting(self) -> None:
        for fd, handle in list(self._resting.items()):
            handle.cancel()
            self._wake_reader(fd)

    def _close_pipe(self, fd: int) -> None:
        if self._pipes.pop(fd, None) is not None:
            resting = self._resting.pop(fd, None)
            if resting is not None:
                resting.cancel()
            else:
                self._loop.remove_reader(fd)
            _BIG_PIPES.discard(fd)
            self._read_bytes.pop(fd, None)
            os.close(fd)

    # -- stop

    def cancel(self) -> None:
        self._terminate("cancel")

    def _on_timeout(self) -> None:
        self._timer = None
        self._terminate("timeout")

    def _terminate(self, why: str) -> None:
        if self._stop or self._exited or self.pid is None:
            return
        self._stop = why
        grace = max(0.0, self._request.kill_grace)
        self._kill_at = time.monotonic() + grace
        procutil.signal_group(self.pid, signal.SIGTERM)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(grace, self._kill_main_group)

    def _kill_main_group(self) -> None:
        self._timer = None
        if not self._exited and self.pid is not None:
            self._killed = True
            procutil.signal_group(self.pid, signal.SIGKILL)

    # -- exit

    def _on_exit(self) -> None:
        pid = self.pid
        assert pid is not None
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
            if reaped == 0:  # readiness without a zombie cannot happen; never guess a status
                _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = -1  # reaped elsewhere: the status is lost
        self._t_exit = time.monotonic()
        self._status = status
        self._exited = True
        self._wake_resting()  # what is left in the pipes is read now, not after a rest
        _LIVE.pop(pid, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if procutil.group_exists(pid) or _orphans_of(self):
            self._sweeper = self._loop.create_task(self._sweep(), name=f"tuiflow-sweep:{pid}")
        else:
            self._after_sweep()

    async def _sweep(self) -> None:
        """End what the main process left: its group, and orphans inherited from it (setsid)."""
        pid = self.pid
        assert pid is not None
        now = time.monotonic()
        kill_at = max(now + LEFTOVER_GRACE, self._kill_at)
        if await _end_orphans(self, kill_at - now, group=pid) and self._stop:
            self._killed = True
        self._sweeper = None
        self._after_sweep()

    def _after_sweep(self) -> None:
        if self._pipes:
            self._drain_timer = self._loop.call_later(DRAIN_BOUND, self._drain_expired)
        self._maybe_finish()

    def _drain_expired(self) -> None:
        """A process we could not end still holds a pipe: stop reading it, keep what came."""
        self._drain_timer = None
        for fd in list(self._pipes):
            self._close_pipe(fd)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._pipes or self._sweeper is not None or self._done.done() or not self._exited:
            return
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        self._finish(self._result())

    def _result(self) -> CommandResult:
        status = self._status if self._status is not None else -1
        code: int | None = None
        sig: int | None = None
        if status >= 0 and os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
        elif status >= 0 and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        duration = self._t_exit - self._t0
        if self._stop == "cancel":
            reason = "cancelled"
        elif self._stop == "timeout":
            reason = f"timed out after {format_duration(self._request.timeout or 0.0)}"
        elif code == 0:
            reason = ""
        elif code is not None:
            reason = f"exit {code}"
        elif sig is not None:
            reason = f"killed by {procutil.signal_name(sig)}"
        else:
            reason = "exit status lost"
        if self._killed:
            reason += f"; killed by SIGKILL after {max(0.0, self._request.kill_grace):g} s grace"
        return CommandResult(exit_code=code, signal=sig, timed_out=self._stop == "timeout",
                             cancelled=self._stop == "cancel", duration=duration, reason=reason)

    def _finish_now(self, reason: str) -> None:
        self._exited = True
        self._finish(CommandResult(exit_code=None, reason=reason))

    def _finish(self, result: CommandResult) -> None:
        if self._script is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._script)
            self._script = None
        self._runner._forget(self)
        self._done.set_result(result)

    async def wait(self) -> CommandResult:
        return await asyncio.shield(self._done)


def _orphans_of(owner: _LocalCommand | None) -> list[procutil.ProcStat]:
    """Living orphans we inherited that belong to `owner` (None: to no running task); reaps dead ones.

    An orphan in the owner's group or session is its own. One that left with setsid is known by
    the TUIFLOW_JOB tag every attempt's environment carries. Only one that also cleared its
    environment is judged by time: the owner's if it started after the owner did and is not in
    the group or session of a task still running.
    """
    found: list[procutil.ProcStat] = []
    my_sid = os.getsid(0)
    children = procutil.my_children()
    if not children:
        return found
    present = set(children)
    _SAME_SESSION.intersection_update(present)
    for pid in children:
        if pid in _LIVE or pid in _SAME_SESSION or pid in procutil.foreign_children:
            continue
        st = procutil.proc_stat(pid)
        if st is None:
            continue
        if st.sid == my_sid:
            _SAME_SESSION.add(pid)
            continue
        if st.state in ("Z", "X"):
            procutil.reap(pid)
            continue
        if owner is not None:
            mine = st.pgid == owner.pid or st.sid == owner.pid
            if not mine:
                job = procutil.env_value(pid, JOB_VAR)
                if job is not None:
                    if job != owner.job:
                        continue  # another attempt's process (a daemon of a task still running)
                elif st.pgid in _LIVE or st.sid in _LIVE or st.start < owner.start_ticks:
                    continue
        found.append(st)
    return found


async def _end_orphans(owner: _LocalCommand | None, grace: float, group: int | None = None) -> bool:
    """SIGTERM the group and the owner's orphans, SIGKILL after `grace`, until none is left.

    True when some of them had to be killed (they outlived SIGTERM and the grace)."""
    my_pgid = os.getpgid(0)
    deadline = time.monotonic() + grace
    give_up = deadline + GIVE_UP
    termed: set[int] = set()
    killed = False
    delay = 0.002
    while True:
        targets: list[int] = []
        if group is not None:
            procutil.reap_group(group)
            if procutil.group_exists(group):
                targets.append(group)
        for st in _orphans_of(owner):
            if st.pgid != my_pgid and st.pgid not in targets:
                targets.append(st.pgid)
            elif st.pgid == my_pgid:
                targets.append(-st.pid)
        now = time.monotonic()
        if not targets or now >= give_up:
            return killed
        kill = now >= deadline
        killed = killed or kill
        for t in targets:
            if kill or t not in termed:
                sig = signal.SIGKILL if kill else signal.SIGTERM
                termed.add(t)
                if t > 0:
                    procutil.signal_group(t, sig)
                else:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(-t, sig)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def _start_error(exc: BaseException, program: str, cwd: str) -> str:
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        if exc.filename is not None and os.fsdecode(exc.filename) == cwd:
            return f"working directory {cwd}: {what}"
        if isinstance(exc, FileNotFoundError):
            return f"{program}: command not found"
        return f"{program}: {what}"
    return str(exc)


# As GNU make does for a recipe line: a command with no shell syntax that does not start with a
# shell builtin or keyword runs without the shell, which spares a shell start per task.
_SHELL_SYNTAX = frozenset("|&;<>()$`\\\"'*?[]#~=%{}!^\n\r")
_SHELL_WORDS = frozenset("""
    . : [ [[ alias bg break builtin case cd command compgen complete continue coproc declare dirs
    disown do done elif else enable esac eval exec exit export fc fg fi for function getopts hash
    history if jobs let local logout mapfile popd pushd read readarray readonly return select set
    shift shopt source suspend test then time times trap type typeset ulimit umask unalias unset
    until wait while""".split())
_POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ksh", "zsh", "ash"})


def shell_argv(shell: str) -> list[str]:
    """The argv before a command string: `sh -c`; a shell with options (`bash -o errexit -c`,
    `bash -e`) keeps them and gets `-c` unless it ends with it, as in Dagu."""
    if not any(c.isspace() for c in shell):
        return [shell, "-c"]
    import shlex

    words = shlex.split(shell)
    return words if words[-1:] == ["-c"] else [*words, "-c"]


def direct_argv(command: str, shell: str) -> list[str] | None:
    """The argv to exec `command` directly when a POSIX shell would only split it on blanks."""
    if os.path.basename(shell) not in _POSIX_SHELLS or not _SHELL_SYNTAX.isdisjoint(command):
        return None
    words = command.split()
    if not words or words[0] in _SHELL_WORDS:
        return None
    return words
