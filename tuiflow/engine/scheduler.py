"""The async run loop and the control API: owns the plan, the runner and the sinks.

Front ends call only the public methods here; every control is synchronous, idempotent, safe in
any state, and published as a ControlApplied event so no front end has to infer what happened.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from typing import Protocol

from .events import (
    ControlApplied,
    EtaChanged,
    Event,
    EventSink,
    ExecutorChanged,
    LimitChanged,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    RunStateChanged,
    StorageFailed,
    TaskInfo,
    TaskOutput,
    TasksAdded,
    TaskStateChanged,
)
from .logaccess import LogAccess
from .masking import Masker
from .model import FINISHED, Pipeline, RunState, TaskSpec, TaskState, TriggerRule, instance_label
from .plan import Plan, TaskRecord
from .runner import CommandRequest, CommandResult, CommandRunner, RemoteRunner, RunningCommand, shell_argv
from .store import EVENTS as EVENTS_FILE

S = TaskState
OUTPUT_LIMIT = 1024 * 1024  # bytes of stdout kept for a task's `output` variable
FOREACH_SOURCE_LIMIT = 16 * 1024 * 1024  # bytes of stdout kept from a task that a foreach reads
FOREACH_LIMIT = 10_000  # instances one foreach may create
EXIT_STORAGE_FAILED = 120  # the tasks succeeded but the run folder could not be written (as cli's EXIT_FLUSH_FAILED)


def task_info(spec: TaskSpec) -> TaskInfo:
    return TaskInfo(name=spec.name, depends_on=spec.depends_on, group=spec.group, parent=spec.parent,
                    virtual=spec.virtual, description=spec.description)


class Store(EventSink, Protocol):
    """What the scheduler needs of the run's store (engine/store.py's RunStore; the UI tests'
    FileStore): it hears every event as a sink, names the run and its folder, and says where an
    attempt's log file is; the scheduler starts it with the run and closes it at the end."""

    run_id: str
    run_dir: str
    on_problem: Callable[[str], None] | None   # set by the scheduler: the first failed write, in words, once

    def log_path(self, task: str, attempt: int) -> str: ...

    async def start(self) -> None:
        """Start writing in the background (called on the run's loop, before the first event)."""
        ...

    async def sync(self) -> None:
        """Return once every output byte handled so far is in its log file (a reader sees it)."""
        ...

    async def aclose(self) -> None:
        """Write everything still buffered, then stop."""
        ...


class Scheduler:
    # A run in this process, as a front end sees it (ui/protocol.py): it lives and ends with the
    # process, so nobody can detach from it, and every control is the front end's own.
    can_detach = False
    read_only = False
    viewer = ""
    end_reason = ""

    def __init__(self, pipeline: Pipeline, *, runner: CommandRunner | None = None,
                 store: Store | None = None, max_parallel: int | None = None,
                 sinks: Iterable[EventSink] = (), clock: Callable[[], float] = time.time,
                 weights: Mapping[str, float] | None = None,
                 environ: Mapping[str, str] | None = None, run_id: str = "",
                 reuse: Mapping[str, str | None] | None = None, reused_from: str = "",
                 approved: Iterable[str] = (), refuse_gates: str = "") -> None:
        """`approved`: gates (`approval: true`) approved in advance (`--approve`); `refuse_gates`:
        nobody can approve in this run (headless), so any other gate fails, with this reason."""
        if runner is None:
            from .runner import LocalRunner
            runner = LocalRunner()
        self.pipeline = pipeline
        self.runner = runner
        self.store = store
        self.clock = clock
        self.run_id = run_id or (store.run_id if store is not None else "")
        self.run_dir = store.run_dir if store is not None else ""
        self.logs = LogAccess(store.log_path, store.sync) if store is not None else None
        self.plan = Plan(pipeline.tasks, max_parallel=max_parallel or pipeline.max_parallel,
                         pools=pipeline.pools, fail_fast=pipeline.fail_fast, weights=weights,
                         approved=set(approved), refuse_gates=refuse_gates)
        self.specs = {t.name: t for t in pipeline.tasks}
        self._sinks: list[EventSink] = []
        if store is not None:
            self._sinks.append(store)
            store.on_problem = self._storage_failed
        if self.logs is not None:
            self._sinks.append(self.logs)  # a log someone reads is indexed as the task writes
        self.problem = ""   # the first failed write to the run folder, in words
        self._sinks.extend(sinks)
        self._environ = dict(os.environ if environ is None else environ)
        self._secrets = self._secret_values()
        self._text_masker = Masker(self._secrets)
        self._handles: dict[str, RunningCommand] = {}
        self._workers: dict[str, tuple[int, str]] = {}   # task -> (attempt, the Dask worker it ran on)
        self._remote = runner if isinstance(runner, RemoteRunner) else None   # looked for once
        if self._remote is not None:
            self._remote.on_change = self._executor_changed
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._reuse = dict(reuse or {})
        self._reused_from = reused_from
        self._outputs: dict[str, str] = {n: o for n, o in self._reuse.items() if o is not None}
        self._stdout: dict[str, str] = {}  # stdout of tasks a dynamic foreach reads
        self._foreach_sources = {t.foreach for t in pipeline.tasks if isinstance(t.foreach, str)}
        self._weights = dict(weights or {})
        self._eta_at = 0.0
        self._wake: asyncio.Event | None = None
        self._closed = False
        self._exit_override: int | None = None
        self._finished_announced = False
        self._run_state = RunState.STARTING
        self.started_at: float | None = None
        self.exit_code = 0
        try:
            st = os.stat(pipeline.file)
            self._file_stat: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:   # a pipeline read from a pipe, or built in memory
            self._file_stat = None

    # ------------------------------------------------------------------ sinks and events

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def _emit(self, event: Event) -> None:
        for sink in self._sinks:
            sink.handle(event)

    def _emit_changes(self, names: Iterable[str]) -> None:
        now = self.clock()
        for name in names:
            r = self.plan.records[name]
            self._emit(TaskStateChanged(time=now, task=name, state=r.state, attempt=r.attempt,
                                        reason=self._mask(r.reason), exit_code=r.exit_code,
                                        pid=getattr(self._handles.get(name), "pid", None),
                                        started=r.started, ended=r.ended,
                                        output=self._mask(r.output) if r.state is S.SUCCEEDED else None,
                                        worker=self._worker_of(name, r.attempt)))
        self._note_run_state()

    def _worker_of(self, name: str, attempt: int) -> str:
        ran = self._workers.get(name)
        return ran[1] if ran is not None and ran[0] == attempt else ""

    def _executor_changed(self) -> None:
        """The runner's workers changed: every front end hears where commands run now."""
        if self.started_at is not None:
            self._emit(ExecutorChanged(time=self.clock(), executor=self._where()))

    def _where(self) -> str:
        """Where commands run, for front ends: a remote runner's words; empty for this machine."""
        return self._remote.where if self._remote is not None else ""

    def _note_run_state(self) -> None:
        """Publish the run's one-word state when it changed (viewers have no Plan to derive it)."""
        if self.started_at is None:
            return
        state = self.run_state
        if state is not self._run_state:
            self._run_state = state
            self._emit(RunStateChanged(time=self.clock(), state=state))

    def _mask(self, text: str | None) -> str | None:
        """What may be shown of a text: secret values replaced by ***."""
        if text and self._secrets:
            return self._text_masker.mask_text(text)
        return text

    def _add_secret(self, value: str) -> None:
        """A secret only known at run time (an `output:` named in `secrets`): mask it from now on."""
        if value and value not in self._secrets:
            self._secrets = sorted([*self._secrets, value], key=len, reverse=True)
            self._text_masker = Masker(self._secrets)

    def _control(self, control: str, task: str | None, changed: list[str], applied: bool | None = None,
                 detail: str = "", by: str = "") -> bool:
        done = bool(changed) if applied is None else applied
        self._emit(ControlApplied(time=self.clock(), control=control, task=task, applied=done, detail=detail,
                                  by=by))
        self._emit_changes(changed)
        self._poke()
        return done

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------------ queries

    def state(self, task: str) -> TaskState:
        return self.plan.records[task].state

    def attempt(self, task: str) -> int:
        return self.plan.records[task].attempt

    def why(self, task: str) -> str:
        return self.plan.why(task, self.clock())

    def can(self, control: str, task: str | None = None) -> bool:
        if control == "set_max_parallel":
            return True
        return self.plan.can(control, task)

    def counts(self) -> dict[TaskState, int]:
        return self.plan.counts()

    @property
    def paused(self) -> bool:
        return self.plan.paused

    @property
    def max_parallel(self) -> int:
        return self.plan.max_parallel

    @property
    def running_count(self) -> int:
        return self.plan.running

    @property
    def run_state(self) -> RunState:
        plan = self.plan
        if self.started_at is None:
            return RunState.STARTING
        if self._finished_announced and plan.finished():
            if plan.stop_reason == "cancelled" and not plan.succeeded():
                return RunState.CANCELLED
            return RunState.SUCCEEDED if plan.succeeded() else RunState.FAILED
        if plan.stopped:
            return RunState.CANCELLING if plan.stop_reason == "cancelled" else RunState.FAILING
        if plan.paused:
            return RunState.PAUSED
        return RunState.RUNNING

    def log_path(self, task: str, attempt: int) -> str | None:
        if self.store is None or attempt < 1:
            return None
        return self.store.log_path(task, attempt)

    # ------------------------------------------------------------------ controls
    # Each returns whether it changed anything; `by` says who asked (recorded in events.jsonl).

    def pause(self, by: str = "") -> bool:
        return self._set_paused(True, by)

    def resume(self, by: str = "") -> bool:
        return self._set_paused(False, by)

    def _set_paused(self, paused: bool, by: str) -> bool:
        applied = self.plan.paused is not paused
        self.plan.paused = paused
        self._control("pause" if paused else "resume", None, [], applied, by=by)
        if applied:
            self._emit(Paused(time=self.clock()) if paused else Resumed(time=self.clock()))
            self._note_run_state()
        return applied

    def set_max_parallel(self, n: int, by: str = "") -> bool:
        applied = self.plan.set_max_parallel(n)
        self._control("set_max_parallel", None, [], applied, detail=str(self.plan.max_parallel), by=by)
        if applied:
            self._emit(LimitChanged(time=self.clock(), max_parallel=self.plan.max_parallel))
        return applied

    def cancel(self, task: str, by: str = "") -> bool:
        changed, to_cancel = self.plan.cancel(task, self.clock())
        applied = self._control("cancel", task, changed, bool(changed or to_cancel), by=by)
        self._signal(to_cancel)
        return applied

    def cancel_run(self, exit_code: int | None = None, by: str = "") -> bool:
        """Cancel everything; `exit_code` (130/143/129 when a signal asked for it) becomes the run's."""
        if exit_code is not None:
            self._exit_override = exit_code
        changed, to_cancel = self.plan.cancel_run(self.clock())
        applied = self._control("cancel_run", None, changed, bool(changed or to_cancel), by=by)
        self._signal(to_cancel)
        return applied

    def retry(self, task: str, by: str = "") -> bool:
        self._reopen()
        return self._control("retry", task, self.plan.retry(task), by=by, detail=self._file_changed())

    def retry_failed(self, by: str = "") -> bool:
        self._reopen()
        return self._control("retry_failed", None, self.plan.retry_failed(), by=by, detail=self._file_changed())

    def rerun(self, task: str, by: str = "") -> bool:
        self._reopen()
        changed, to_cancel = self.plan.rerun(task)
        applied = self._control("rerun", task, changed, bool(changed or to_cancel), by=by,
                                detail=self._file_changed())
        self._signal(to_cancel)
        return applied

    def skip(self, task: str, by: str = "") -> bool:
        return self._control("skip", task, self.plan.skip(task, self.clock()), by=by)

    def hold(self, task: str, by: str = "") -> bool:
        return self._control("hold", task, self.plan.hold(task), by=by)

    def release(self, task: str, by: str = "") -> bool:
        return self._control("release", task, self.plan.release(task), by=by)

    def approve(self, task: str, by: str = "") -> bool:
        """Let a gate (`approval: true`) that waits for approval start; recorded with who approved."""
        return self._control("approve", task, self.plan.approve(task), by=by)

    def reject(self, task: str, by: str = "") -> bool:
        """Fail a gate that waits for approval: its downstream is blocked (a retry asks again)."""
        reason = f"rejected by {by}" if by else "rejected"
        return self._control("reject", task, self.plan.reject(task, self.clock(), reason), by=by)

    def watch(self, tasks: Iterable[str]) -> None:
        """Which tasks' output a viewer shows: in process every sink gets all output anyway."""

    def detach(self) -> None:
        raise RuntimeError("a run in this process cannot be detached from: it ends with the process")

    def close(self) -> None:
        """End a `run(stay_open=True)` for good (cancelling whatever still runs)."""
        self._closed = True
        if not self.plan.finished():
            self.cancel_run()
        self._poke()

    def _file_changed(self) -> str:
        """A retry or rerun runs the commands as loaded: when the pipeline file was edited since,
        the control's detail says so (every front end shows it)."""
        if self._file_stat is None:
            return ""
        try:
            st = os.stat(self.pipeline.file)
        except OSError:
            return ""
        if (st.st_mtime_ns, st.st_size) == self._file_stat:
            return ""
        return (f"{os.path.basename(self.pipeline.file)} changed since the run started; "
                "it runs the commands as loaded (start a new run for the new file)")

    def _reopen(self) -> None:
        self._finished_announced = False

    def _signal(self, names: list[str]) -> None:
        for name in names:
            handle = self._handles.get(name)
            if handle is not None:
                handle.cancel()

    # ------------------------------------------------------------------ the loop

    async def run(self, stay_open: bool = False) -> int:
        """Run until nothing can make progress (and, with stay_open, until close())."""
        self._wake = asyncio.Event()
        self.started_at = self.clock()
        if self.store is not None:
            await self.store.start()
        self._emit(RunStarted(time=self.started_at, run_id=self.run_id, pipeline=self.pipeline.name,
                              file=self.pipeline.file, run_dir=self.run_dir,
                              max_parallel=self.plan.max_parallel,
                              tasks=tuple(task_info(t) for t in self.pipeline.tasks),
                              notes=self.pipeline.notes, executor=self._where()))
        reason = f"reused from run {self._reused_from}" if self._reused_from else "reused"
        self._emit_changes(self.plan.initial(self._reuse, reason))
        try:
            while True:
                self._wake.clear()  # before the work: a poke made during it is not lost
                now = self.clock()
                self._emit_changes(self.plan.due_retries(now))
                for name in self.plan.startable():
                    self._launch(name)
                if self.plan.finished() and not self._jobs:
                    if not self._finished_announced:
                        if self.store is not None:
                            # Every output byte written before the end is said: a write that
                            # failed (a full disk) is then part of the run's end and its summary,
                            # not told after it (under load the last batch could still be queued).
                            await self.store.sync()
                            if not (self.plan.finished() and not self._jobs):
                                continue   # a control came meanwhile (a retry): the run goes on
                        self._announce_finish()
                    if not stay_open or self._closed:
                        break
                nxt = self.plan.next_retry_at()
                timeout = None if nxt is None else max(0.0, nxt - self.clock())
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
        finally:
            await self._shutdown()
        return self.exit_code

    def _announce_finish(self) -> None:
        self._finished_announced = True
        ok = self.plan.succeeded()
        self.exit_code = 0 if ok else 1
        if self._exit_override is not None and not ok:
            self.exit_code = self._exit_override
        if self.problem and self.exit_code == 0:
            self.exit_code = EXIT_STORAGE_FAILED
        state = self.run_state.lower()
        self._emit(RunFinished(time=self.clock(), state=state, exit_code=self.exit_code, problem=self.problem))
        self._note_run_state()

    def _storage_failed(self, message: str) -> None:
        """The run store could not write (said once): every front end hears it, and the run goes on."""
        self.problem = message
        self._emit(StorageFailed(time=self.clock(), message=message))
        if self._finished_announced and self.exit_code == 0:   # the last write, after the end
            self.exit_code = EXIT_STORAGE_FAILED

    async def _shutdown(self) -> None:
        if self._jobs:
            self.plan.cancel_run(self.clock())
            self._signal(list(self._handles))
            await asyncio.gather(*self._jobs.values(), return_exceptions=True)
        await self.runner.aclose()
        if self.store is not None:
            await self.store.aclose()

    def _launch(self, name: str) -> None:
        spec = self.specs[name]
        if isinstance(spec.foreach, str):
            self._expand_foreach(spec)
            return
        self.plan.started(name, self.clock())
        if spec.preconditions:  # they take a while: say it runs now; otherwise once it has a pid
            self._emit_changes([name])
        job = asyncio.get_running_loop().create_task(self._execute(spec), name=f"tuiflow:{name}")
        self._jobs[name] = job

    async def _execute(self, spec: TaskSpec) -> None:
        name = spec.name
        rec = self.plan.records[name]
        attempt = rec.attempt
        masker = Masker(self._secrets) if self._secrets else self._text_masker   # no secrets: stateless, shared
        keep_stdout = spec.output is not None or name in self._foreach_sources
        limit = FOREACH_SOURCE_LIMIT if name in self._foreach_sources else OUTPUT_LIMIT
        captured = bytearray()
        emit = self._emit
        clock = self.clock
        written = 0  # bytes of this attempt's (masked) output so far: the next chunk's offset

        def on_output(stream: int, chunk: bytes) -> None:
            nonlocal written
            if keep_stdout and stream == 1 and len(captured) <= limit:
                captured.extend(chunk[: limit + 1 - len(captured)])
            data = masker.feed(chunk)
            if data:
                emit(TaskOutput(time=clock(), task=name, attempt=attempt, data=data, offset=written))
                written += len(data)

        result: CommandResult
        try:
            env = self._env_for(spec, attempt)
            unmet = await self._unmet_precondition(spec, env, rec)
            if unmet is not None or rec.cancelling:
                if rec.cancelling:
                    changed, _ = self.plan.finish(name, S.CANCELLED, clock(), "cancelled")
                else:
                    changed, _ = self.plan.finish(name, S.SKIPPED, clock(), unmet or "")
                self._emit_changes(changed)
                self._poke()
                return
            request = CommandRequest(task=name, attempt=attempt, command=spec.command or "", cwd=spec.cwd,
                                     env=env, shell=spec.shell, script=spec.script,
                                     timeout=spec.timeout, kill_grace=self.pipeline.kill_grace,
                                     separate_streams=keep_stdout, pool=spec.pool)
            handle = await self.runner.start(request, on_output)
            self._handles[name] = handle
            worker = getattr(handle, "worker", "")
            if worker:
                self._workers[name] = (attempt, worker)
            if rec.cancelling:
                handle.cancel()
            self._emit_changes([name])  # running, with its pid
            result = await handle.wait()
        except Exception as exc:  # a runner bug must not kill the run: the task fails, visibly
            result = CommandResult(exit_code=None, reason=f"cannot start: {exc}")
        finally:
            self._handles.pop(name, None)
            self._jobs.pop(name, None)
        tail = masker.flush()
        if tail:
            emit(TaskOutput(time=clock(), task=name, attempt=attempt, data=tail, offset=written))
        state, reason = _outcome(result, rec.cancelling)
        output = None
        if state is S.SUCCEEDED and keep_stdout:
            if len(captured) > limit:
                state, reason = S.FAILED, f"stdout over {limit} bytes: too large to keep as a variable"
            else:
                text = captured.decode("utf-8", "replace")
                if name in self._foreach_sources:
                    self._stdout[name] = text
                if spec.output is not None:
                    output = text.strip()  # raw for downstream; masked wherever it is shown
                    self._outputs[name] = output
                    if spec.output in self.pipeline.secrets:
                        self._add_secret(output)
        changed, to_cancel = self.plan.finish(name, state, clock(), reason, result.exit_code, output)
        self._emit_changes(changed)
        self._signal(to_cancel)
        self._update_eta()
        self._poke()

    def eta(self) -> float | None:
        """Seconds left, from earlier runs' durations: the larger of the longest remaining path
        and the remaining work spread over the limit. None without history."""
        if not self._weights:
            return None
        now = self.clock()
        work = crit = 0.0
        for name, r in self.plan.records.items():
            if r.state in FINISHED or r.spec.virtual:
                continue
            d = self._weights.get(name, 1.0)
            if r.state is S.RUNNING and r.started is not None:
                d = max(0.0, d - (now - r.started))
            work += d
            crit = max(crit, self.plan.priority.get(name, d) - self._weights.get(name, 1.0) + d)
        return max(crit, work / self.plan.max_parallel)

    def _update_eta(self) -> None:
        now = self.clock()
        if self._weights and now - self._eta_at >= 1.0:
            self._eta_at = now
            self._emit(EtaChanged(time=now, eta_seconds=self.eta()))

    async def _unmet_precondition(self, spec: TaskSpec, env: dict[str, str], rec: TaskRecord) -> str | None:
        """Dagu preconditions: None when all are met, else the reason the task is skipped.

        With `expected`, the condition is expanded by the shell (variables and `command`
        substitution) and compared (`re:` for a regular expression);
        without it, the condition is a command that must exit 0.
        """
        for pre in spec.preconditions:
            if rec.cancelling:
                return None
            if pre.expected is None:
                script = pre.condition
            else:
                script = 'eval "printf %s \\"$TUIFLOW_CONDITION\\""'
            chunks: list[bytes] = []
            request = CommandRequest(task=spec.name, attempt=0, cwd=spec.cwd,
                                     command=(*shell_argv(spec.shell), script),
                                     env={**env, "TUIFLOW_CONDITION": pre.condition}, shell=spec.shell,
                                     timeout=60.0, kill_grace=self.pipeline.kill_grace)
            handle = await self.runner.start(request, partial(_keep_stdout, chunks))
            self._handles[spec.name] = handle  # so cancel() reaches it
            if rec.cancelling:
                handle.cancel()
            try:
                result = await handle.wait()
            finally:
                self._handles.pop(spec.name, None)
            if rec.cancelling:
                return None
            if pre.expected is None:
                if not result.ok:
                    return f"precondition not met: {pre.condition} ({result.reason})"
                continue
            value = b"".join(chunks).decode("utf-8", "replace").strip()
            exp = pre.expected
            met = re.fullmatch(exp[3:], value) is not None if exp.startswith("re:") else value == exp
            if not met:
                return f"precondition not met: {pre.condition} is {value!r}, expected {exp!r}"
        return None

    # ------------------------------------------------------------------ dynamic fan-out

    def _expand_foreach(self, spec: TaskSpec) -> None:
        """Turn a foreach task into one instance per non-empty output line of its source."""
        source = spec.foreach
        assert isinstance(source, str)
        lines = [ln.strip() for ln in self._stdout.get(source, "").splitlines() if ln.strip()]
        now = self.clock()
        if len(lines) > FOREACH_LIMIT:
            self.plan.started(spec.name, now)
            changed, _ = self.plan.finish(spec.name, S.FAILED, now,
                                          f"foreach over {len(lines)} items: more than {FOREACH_LIMIT}")
            self._emit_changes(changed)
            return
        instances = foreach_instances(spec, lines, self._mask)
        fan_in = replace(spec, command=None, foreach=None, depends_on=tuple(i.name for i in instances),
                         when=TriggerRule.ALL_SUCCESS, script=None, preconditions=(), output=None)
        for inst in instances:
            self.specs[inst.name] = inst
        self.specs[spec.name] = fan_in
        self._emit(TasksAdded(time=now, tasks=tuple(task_info(i) for i in instances),
                              changed=(task_info(fan_in),)))
        self._emit_changes(self.plan.expand(spec.name, instances, fan_in))
        self._poke()

    # ------------------------------------------------------------------ environment

    def _env_for(self, spec: TaskSpec, attempt: int) -> dict[str, str]:
        env = dict(self._environ)
        env.update(spec.env)
        if self._outputs:
            for up in self._ancestors(spec.name):
                out_name = self.specs[up].output
                if out_name and up in self._outputs:
                    env[out_name] = self._outputs[up]
        env["TUIFLOW_PIPELINE"] = self.pipeline.name
        env["TUIFLOW_TASK"] = spec.name
        env["TUIFLOW_ATTEMPT"] = str(attempt)
        log = self.log_path(spec.name, attempt) or ""
        env["TUIFLOW_TASK_LOG"] = log
        if self.run_id:
            env["TUIFLOW_RUN_ID"] = self.run_id
        if self.pipeline.dialect == "dagu":  # the names Dagu gives the same things
            env["DAG_NAME"] = self.pipeline.name
            env["DAG_RUN_ID"] = self.run_id
            env["DAG_RUN_LOG_FILE"] = os.path.join(self.run_dir, EVENTS_FILE) if self.run_dir else ""
            env["DAG_RUN_STEP_NAME"] = spec.name
            env["DAG_RUN_STEP_STDOUT_FILE"] = env["DAG_RUN_STEP_STDERR_FILE"] = log
        return env

    def _ancestors(self, name: str) -> list[str]:
        deps = self.plan.deps
        seen: set[str] = set()
        order: list[str] = []
        stack = list(deps[name])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                order.append(n)
                stack.extend(deps[n])
        return list(reversed(order))  # farthest first, so nearer outputs win on a name clash

    def _secret_values(self) -> list[str]:
        names = self.pipeline.secrets
        if not names:
            return []
        values = {self._environ.get(n) for n in names}
        for spec in self.pipeline.tasks:
            values.update(spec.env.get(n) for n in names)
        values.discard(None)
        return sorted((v for v in values if v), key=len, reverse=True)  # type: ignore[arg-type]


def _keep_stdout(chunks: list[bytes], stream: int, chunk: bytes) -> None:
    if stream == 1:
        chunks.append(chunk)


def foreach_instances(spec: TaskSpec, items: list[str],
                      mask: Callable[[str], str | None] = lambda text: text) -> list[TaskSpec]:
    """One instance per item, named `task[item]` (sanitised, unique), with $ITEM exported.

    A name is shown everywhere (output, run.json, events, the log folder), so `mask` hides the
    secrets in it (`each[***]`, `each[***#2]`); $ITEM keeps the item as it is.
    """
    out: list[TaskSpec] = []
    used: set[str] = set()
    for item in items:
        label = instance_label(mask(item) or "")[:80] or "_"
        name = f"{spec.name}[{label}]"
        n = 2
        while name in used:
            name = f"{spec.name}[{label}#{n}]"
            n += 1
        used.add(name)
        variables = {"ITEM": item}
        out.append(replace(spec, name=name, foreach=None, parent=spec.name, template=spec.name,
                           variables=variables, env={**spec.env, **variables}))
    return out


def _outcome(result: CommandResult, cancelled: bool) -> tuple[TaskState, str]:
    if result.cancelled or (cancelled and not result.ok):
        return S.CANCELLED, result.reason if result.cancelled and result.reason else "cancelled"
    if result.timed_out:
        return S.TIMED_OUT, result.reason or "timed out"
    if result.ok:
        return S.SUCCEEDED, ""
    return S.FAILED, result.reason or (f"exit {result.exit_code}" if result.exit_code is not None else "failed")


__all__ = ["Scheduler", "task_info"]
