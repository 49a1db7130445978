"""The Dask runner: each command runs on a worker of a Dask cluster (docs/dask.md), as the local one would.

The engine keeps the DAG and every control; this runner only implements the CommandRunner
protocol with one asynchronous `distributed.Client` on the engine's loop. Each attempt is one
Dask task (`daskworker.run_attempt`, key `tuiflow/RUN/TASK/ATTEMPT`, `pure=False`), pinned to the
worker this runner chose, so that Dask never runs a command a second time behind tuiflow's back
(its `allowed-failures` would re-run a lost task elsewhere): when that worker dies, the attempt
fails naming it, and tuiflow's retry policy decides. Output and the result come back as events
on the client's own topic (subscribed before the first submit; Dask forgets a client's topic some
time after it leaves, and keeps only its last 1 000 events meanwhile: the run folder is the record).
Cancel reaches the command on its worker through `Client.run`; timeouts and the SIGTERM ->
SIGKILL grace are the worker agent's local runner's. `pool: NAME` is the worker resource NAME.

`distributed` is imported only when a DaskRunner opens: the local runner never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError as FutureCancelled
from typing import Any

from . import daskworker
from .errors import PipelineError
from .executor import EXTRA_HINT, ExecutorUnavailable
from .model import Executor, TaskSpec
from .runner import CommandRequest, CommandResult, OutputCallback

CONNECT_TIMEOUT = 5.0    # seconds to reach the scheduler before saying it cannot be reached
CLOSE_TIMEOUT = 5.0      # seconds to let the client close
SETTLE = 1.0             # seconds a finished Dask task's result event may lag behind its completion
WATCH_EVERY = 1.0        # seconds between looks at the Dask tasks of running attempts
MARK = daskworker.MARK


class _Worker:
    __slots__ = ("address", "nthreads", "resources", "running")

    def __init__(self, address: str, nthreads: int, resources: dict[str, float]) -> None:
        self.address = address
        self.nthreads = max(1, nthreads)
        self.resources = resources
        self.running = 0        # attempts of this runner on it now


class DaskRunner:
    """Runs each command on a worker of the Dask cluster at `executor.scheduler`."""

    def __init__(self, executor: Executor, *, forward: Iterable[str] = (), tasks: Iterable[TaskSpec] = (),
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.executor = executor
        self.address = executor.scheduler
        self.connect_timeout = connect_timeout
        self.client: Any = None
        self.topic = ""
        self.workers: dict[str, _Worker] = {}
        self.left_out: dict[str, str] = {}   # workers that cannot run this tuiflow, and why
        self.on_change: Callable[[], None] | None = None   # told when `where` changes (workers come and go)
        self._base = dict(os.environ)        # what the engine's own environment is: not sent
        self._forward = frozenset(forward)   # sent anyway (secrets named by the pipeline)
        self._commands: dict[str, DaskCommand] = {}
        self._keys: set[str] = set()
        self._tasks = tuple(tasks)              # their pools must be resources some worker offers
        self._refresh: asyncio.Task[None] | None = None
        self._opening: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._to_submit: list[tuple[DaskCommand, str]] = []   # attempts started since the loop last turned
        self._to_stop: list[DaskCommand] = []          # cancels asked for since the loop last turned
        self._stoppers: set[asyncio.Task[None]] = set()
        self._closing = False

    # ------------------------------------------------------------------ opening

    async def open(self) -> None:
        """Connect, learn the workers, check that each pool a task uses is a resource some worker
        offers; ExecutorUnavailable (within about connect_timeout) when the cluster cannot serve."""
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_task(self._open())
        await asyncio.shield(self._opening)

    async def _open(self) -> None:
        try:
            import dask.config

            # distributed sizes every message it sends, recursively, to hand the ones over 10 MiB
            # to a thread: half of this engine's own cost per task; its messages are small
            # (read when distributed.comm is first imported: in a program that imported it
            # before, this changes nothing)
            dask.config.set({"distributed.comm.offload": False})
            from distributed import Client
        except ImportError:
            raise ExecutorUnavailable(f"executor dask needs the `distributed` package: {EXTRA_HINT}") from None
        # tuiflow says what matters in its own words (a lost scheduler is the attempts' reason);
        # Dask's lines and tracebacks (a comm closed at the end, a reconnection given up) would
        # land in the middle of a run's output
        for name in ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]:
            logging.getLogger(name).setLevel(logging.CRITICAL)   # distributed.client has a level of its own

        at = f"{self.executor.mark}: " if self.executor.mark is not None else ""

        def unreachable(why: str) -> ExecutorUnavailable:
            return ExecutorUnavailable(f"{at}cannot reach the Dask scheduler at {self.address}: {why} (is "
                                       "`dask scheduler` running there, and is the address right?)")

        # Dask's client tries again and again until its timeout where nothing listens: a plain
        # connection first says "refused" (or an unknown host) at once
        host, _, port = self.address.split("://", 1)[1].rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)),
                                               self.connect_timeout)
            writer.close()
        except TimeoutError:
            raise unreachable(f"no answer within {self.connect_timeout:g} s") from None
        except OSError as exc:   # asyncio words a refusal as "Connect call failed": say it as the OS does
            raise unreachable(os.strerror(exc.errno) if exc.errno and not isinstance(exc, socket.gaierror)
                              else exc.strerror or str(exc)) from None
        client = Client(self.address, asynchronous=True, timeout=self.connect_timeout, set_as_default=False,
                        name="tuiflow")
        try:
            await asyncio.wait_for(client, self.connect_timeout + 1.0)   # a Client is awaited to connect
        except (OSError, TimeoutError):
            with contextlib.suppress(Exception):   # not left for the garbage collector to close
                await asyncio.wait_for(client.close(), CLOSE_TIMEOUT)
            raise unreachable(f"no answer within {self.connect_timeout:g} s") from None
        self.client = client
        try:
            self.topic = self.client.id
            self.client.subscribe_topic(self.topic, self._on_event)
            self.client.subscribe_topic("all", self._on_cluster_event)
            await self._learn_workers()
            if not self.workers:
                raise ExecutorUnavailable(f"{at}the Dask cluster at {self.address} has no worker: start one "
                                          f"with `dask worker {self.address}`")
            self._check_pools(self._tasks)
        except BaseException:
            await self.aclose()
            raise

    async def _learn_workers(self) -> None:
        """Every running worker, once it has said it runs this tuiflow (joiners are checked too)."""
        info = await self.client.scheduler.identity(n_workers=-1)
        known = {a: w for a, w in info.get("workers", {}).items() if w.get("status", "running") == "running"}
        new = [a for a in known if a not in self.workers]
        if new:
            versions = await self.client.run(daskworker.hello, workers=new, on_error="return")
            wrong = []
            for address in new:
                version = versions.get(address)
                if version == daskworker.hello():
                    w = known[address]
                    self.workers[address] = _Worker(address, int(w.get("nthreads", 1)),
                                                    dict(w.get("resources") or {}))
                elif version is not None:
                    self.left_out[address] = (f"tuiflow {version}" if isinstance(version, str)
                                              else _first_line(version))
            if self.left_out and not self.workers and not self._commands:
                wrong = "; ".join(f"{a}: {why}" for a, why in self.left_out.items())
                raise ExecutorUnavailable(
                    f"no worker of the Dask cluster at {self.address} can run tuiflow {daskworker.hello()} "
                    f"({wrong}): install the same tuiflow on every worker ({EXTRA_HINT})")
        for address in [a for a in self.workers if a not in known]:
            self._lost(address, "left the cluster")
        for address in [a for a in self.left_out if a not in known]:
            del self.left_out[address]
        if new:
            self._changed()

    def _check_pools(self, tasks: Iterable[TaskSpec]) -> None:
        offered = sorted({r for w in self.workers.values() for r in w.resources})
        problems = []
        for spec in tasks:
            if spec.pool and spec.pool not in offered and not spec.virtual:
                hint = f"workers offer {', '.join(offered)}" if offered else "no worker offers any resource"
                problems.append(str(PipelineError.at(
                    spec.mark, f"task '{spec.name}': pool '{spec.pool}' is a resource no worker of the Dask "
                               f"cluster at {self.address} offers ({hint}); start one with "
                               f"`dask worker {self.address} --resources \"{spec.pool}=1\"`")))
        if problems:
            raise ExecutorUnavailable("\n".join(dict.fromkeys(problems)))

    @property
    def where(self) -> str:
        """Where commands run, in the words the TUI header and the headless run line show."""
        if self.client is None:
            return f"dask {self.address}"
        n = len(self.workers)
        threads = sum(w.nthreads for w in self.workers.values())
        out = len(self.left_out)
        return (f"dask {self.address}: {n} worker{'s' if n != 1 else ''}, "
                f"{threads} thread{'s' if threads != 1 else ''}"
                + (f" ({out} more without tuiflow {daskworker.hello()}: not used)" if out else ""))

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------------ running

    async def start(self, request: CommandRequest, on_output: OutputCallback) -> DaskCommand:
        await self.open()   # at once when open already; a run's engine process opens at its first task
        key = self._key(request)
        cmd = DaskCommand(self, key, request, on_output)
        worker = self._place(request.pool)
        if worker is None:
            why = f"offers pool '{request.pool}'" if request.pool else "is left"
            cmd.finish(CommandResult(exit_code=None, reason=f"cannot start: no worker of dask {self.address} {why}"))
            return cmd
        cmd.worker = worker.address
        worker.running += 1
        self._commands[key] = cmd
        command = request.command
        # one JSON text, not a dict: Dask walks a task's arguments (looking for futures, sizing them)
        payload = _encode({
            "task": request.task, "attempt": request.attempt,
            "command": command if isinstance(command, str) else list(command),
            "cwd": request.cwd, "env": self._exported(request.env), "shell": request.shell,
            "script": request.script, "timeout": request.timeout, "kill_grace": request.kill_grace,
            "separate_streams": request.separate_streams,
        })
        if not self._to_submit:
            asyncio.get_running_loop().call_soon(self._submit_now)
        self._to_submit.append((cmd, payload))
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return cmd

    def _submit_now(self) -> None:
        """The attempts started in one turn of the loop (those that one batch of results made
        ready) go to the scheduler together, in one graph per worker and pool: each graph costs
        the scheduler and this engine about as much as one of its tasks."""
        groups: dict[tuple[str, str | None], list[tuple[DaskCommand, str]]] = {}
        for cmd, payload in self._to_submit:
            if not cmd.done:   # not ended meanwhile (its worker left)
                groups.setdefault((cmd.worker, cmd.request.pool), []).append((cmd, payload))
        self._to_submit = []
        for (address, pool), group in groups.items():
            keys = [cmd.key for cmd, _ in group]
            futures = self.client.map(daskworker.run_attempt, keys, [self.topic] * len(keys),
                                      [payload for _, payload in group], key=keys, pure=False,
                                      workers=[address], allow_other_workers=False,
                                      resources={pool: 1} if pool else None, retries=0)
            for (cmd, _), future in zip(group, futures, strict=True):
                cmd.future = future

    def _key(self, request: CommandRequest) -> str:
        run = request.env.get("TUIFLOW_RUN_ID") or self.topic
        key = base = f"tuiflow/{run}/{request.task}/{request.attempt}"
        n = 1
        while key in self._keys:   # a precondition (attempt 0), or a rerun after the end
            n += 1
            key = f"{base}/{n}"
        self._keys.add(key)
        return key

    def _place(self, pool: str | None) -> _Worker | None:
        """The least busy worker (attempts per thread) that has the pool's resource."""
        best: _Worker | None = None
        for w in self.workers.values():
            if pool and pool not in w.resources:
                continue
            if best is None or w.running * best.nthreads < best.running * w.nthreads:
                best = w
        return best

    def _exported(self, env: dict[str, str] | Any) -> dict[str, str]:
        """What the pipeline sets (params, env, outputs, TUIFLOW_*, named secrets), not this machine's
        own environment: the worker's own is the base there."""
        base, forward = self._base, self._forward
        return {k: v for k, v in env.items() if k in forward or base.get(k) != v}

    def forget(self, cmd: DaskCommand) -> None:
        if self._commands.get(cmd.key) is cmd:
            del self._commands[cmd.key]
            worker = self.workers.get(cmd.worker)
            if worker is not None:
                worker.running -= 1

    # ------------------------------------------------------------------ events

    def _on_event(self, event: tuple[float, Any]) -> None:
        msg = event[1]
        if not isinstance(msg, tuple | list) or len(msg) != 4 or msg[0] != MARK:
            return   # the scheduler's own events about this client share the topic
        cmd = self._commands.get(msg[1])
        if cmd is not None:
            cmd.event(msg[2], msg[3])

    def _on_cluster_event(self, event: tuple[float, Any]) -> None:
        msg = event[1]
        if not isinstance(msg, dict):
            return
        action = msg.get("action")
        if action == "remove-worker" and msg.get("worker") in self.workers:
            self._lost(msg["worker"], "left the cluster" if msg.get("expected") else "died")
            self._changed()
        elif action == "remove-worker" and self.left_out.pop(msg.get("worker"), None) is not None:
            self._changed()
        elif action == "add-worker" and not self._closing and self._refresh is None:
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_workers())

    async def _refresh_workers(self) -> None:
        try:
            await asyncio.sleep(0.1)    # workers often come together
            await self._learn_workers()
        except Exception:  # noqa: BLE001 - a failed refresh leaves the known workers as they are
            pass
        finally:
            self._refresh = None

    async def _watch(self) -> None:
        """Now and then: an attempt whose Dask task ended without its result event (a task that
        raised, a key the scheduler dropped) ends too. A result event comes first otherwise."""
        while not self._closing:
            await asyncio.sleep(WATCH_EVERY)
            for cmd in list(self._commands.values()):
                cmd.check()

    # ------------------------------------------------------------------ cancelling

    def stop_soon(self, cmd: DaskCommand) -> None:
        """Cancels asked for together (a run's cancel asks for every attempt in one go) reach each
        worker in one call, handled there at once: one by one, stopping an attempt that runs could
        free its worker thread for one still queued there, started before its own cancel arrived."""
        if not self._to_stop:
            asyncio.get_running_loop().call_soon(self._stop_now)
        self._to_stop.append(cmd)

    def _stop_now(self) -> None:
        by_worker: dict[str, list[DaskCommand]] = {}
        for cmd in self._to_stop:
            if not cmd.done:
                by_worker.setdefault(cmd.worker, []).append(cmd)
        self._to_stop = []
        for address, cmds in by_worker.items():
            task = asyncio.get_running_loop().create_task(self._stop(address, cmds))
            self._stoppers.add(task)
            task.add_done_callback(self._stoppers.discard)

    async def _stop(self, address: str, cmds: list[DaskCommand]) -> None:
        """Tell the worker; an attempt that had not started there ends now, as never run."""
        try:
            said = await self.client.run(daskworker.cancel, [c.key for c in cmds], workers=[address],
                                         on_error="return")
        except Exception:  # noqa: BLE001 - the worker is gone: its removal ends the attempts
            return
        answers = said.get(address)
        if not isinstance(answers, dict):   # the worker failed to answer: the same
            return
        for cmd in cmds:
            if answers.get(cmd.key) == "queued" and not cmd.done:
                cmd.drop()
                cmd.finish(CommandResult(exit_code=None, cancelled=True, reason="cancelled"))

    def _lost(self, address: str, how: str) -> None:
        """A worker is gone: its attempts fail naming it; Dask must not run them anywhere else."""
        self.workers.pop(address, None)
        for cmd in [c for c in self._commands.values() if c.worker == address]:
            cmd.drop()
            cmd.finish(CommandResult(exit_code=None, cancelled=cmd.cancelling,
                                     reason="cancelled" if cmd.cancelling else f"Dask worker {address} {how}"))

    # ------------------------------------------------------------------ closing

    async def aclose(self) -> None:
        self._closing = True
        live = [c for c in self._commands.values() if not c.done]
        for c in live:
            c.cancel()
        if live:
            await asyncio.wait([asyncio.ensure_future(c.wait()) for c in live],
                               timeout=max(c.request.kill_grace for c in live) + 5.0)
        for task in (self._refresh, self._watcher):
            if task is not None:
                task.cancel()
        if self.client is not None:
            client, self.client = self.client, None
            for topic in (self.topic, "all"):   # else the scheduler logs a CRITICAL line: it cannot
                with contextlib.suppress(Exception):   # tell a client that left that it has left
                    client.unsubscribe_topic(topic)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), CLOSE_TIMEOUT)


class DaskCommand:
    """One attempt on a worker; `wait()` resolves with the agent's result, or why there is none."""

    pid: int | None = None    # a pid on another machine is no pid here

    def __init__(self, runner: DaskRunner, key: str, request: CommandRequest, on_output: OutputCallback) -> None:
        self.runner = runner
        self.key = key
        self.request = request
        self.on_output = on_output
        self.worker = ""
        self.future: Any = None
        self.cancelling = False
        self._done: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._settler: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self._done.done()

    async def wait(self) -> CommandResult:
        return await asyncio.shield(self._done)

    def event(self, kind: str, payload: Any) -> None:
        if self.done:
            return
        if kind == "o":
            on_output = self.on_output
            for i in range(0, len(payload), 2):
                on_output(payload[i], payload[i + 1])
        elif kind == "x":
            self.finish(_result(payload))

    def finish(self, result: CommandResult) -> None:
        if self.done:
            return
        self.runner.forget(self)
        self.future = None    # released: the scheduler forgets the key
        self._done.set_result(result)

    def drop(self) -> None:
        """Let the scheduler forget the attempt (its worker is gone: it must not run anywhere else)."""
        if self.future is not None:
            future, self.future = self.future, None
            with contextlib.suppress(Exception):
                future.cancel()

    # -- stop

    def cancel(self) -> None:
        if self.done or self.cancelling:
            return
        self.cancelling = True
        self.runner.stop_soon(self)

    # -- the Dask task ended without our result event first (a bug, a lost task)

    def check(self) -> None:
        future = self.future
        if not self.done and future is not None and future.status != "pending" and self._settler is None:
            self._settler = asyncio.get_running_loop().create_task(self._settle(future))

    async def _settle(self, future: Any) -> None:
        await asyncio.sleep(SETTLE)       # the result event normally comes first; let a late one land
        if self.done:
            return
        try:
            result = await future
        except (asyncio.CancelledError, FutureCancelled) as exc:   # distributed's FutureCancelledError says why
            why = getattr(exc, "reason", "") or ""
            if self.cancelling:
                reason = "cancelled"
            elif why == "scheduler-connection-lost":
                reason = f"lost the Dask scheduler at {self.runner.address}"
            else:
                reason = "the Dask scheduler dropped it" + (f" ({why})" if why else "")
            self.finish(CommandResult(exit_code=None, cancelled=self.cancelling, reason=reason))
        except Exception as exc:  # noqa: BLE001 - whatever Dask says is the attempt's reason
            self.finish(CommandResult(exit_code=None, reason=f"dask: {_first_line(exc)}"))
        else:   # its result event comes before the task's end, on the same streams: this is a bug
            self.finish(_result(result) if isinstance(result, dict) else
                        CommandResult(exit_code=None, reason="the Dask task ended without sending its result"))


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def _result(d: dict[str, Any]) -> CommandResult:
    return CommandResult(exit_code=d.get("exit_code"), signal=d.get("signal"), timed_out=bool(d.get("timed_out")),
                         cancelled=bool(d.get("cancelled")), duration=float(d.get("duration") or 0.0),
                         reason=str(d.get("reason") or ""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


__all__ = ["CONNECT_TIMEOUT", "DaskCommand", "DaskRunner"]
