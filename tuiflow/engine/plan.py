"""The run's state machine: pure and synchronous, so every interleaving is testable without processes.

Every mutating method returns the tasks whose state it changed, in order, so the scheduler can
publish one event per change. A control that does not apply changes nothing and returns [].
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field

from .graph import remaining_path
from .model import (
    FAILURES,
    FINISHED,
    TASK_CONTROLS,
    Control,
    TaskSpec,
    TaskState,
    TriggerRule,
    task_control_applies,
)

S = TaskState
# Upstream classes for trigger rules: a BLOCKED upstream counts as failed (its failure is final
# until someone retries), a HELD one as not done.
_WAITING = frozenset({S.PENDING, S.READY, S.RUNNING, S.RETRYING, S.HELD, S.AWAITING_APPROVAL})
_RESTARTABLE = FAILURES | {S.SKIPPED}
_NOT_STARTED = frozenset({S.PENDING, S.READY, S.BLOCKED})
_TASK_CONTROL_NAMES = frozenset(c.value for c in TASK_CONTROLS)

# How an upstream counts for its downstream's trigger rule (`_klass`). Each task keeps a tally
# of its upstreams, indexed by the first two: [how many count as ok, how many as failed].
_UP_OK = 0
_UP_FAILED = 1
_UP_NOT_DONE = 2


@dataclass(slots=True, eq=False)
class TaskRecord:
    spec: TaskSpec
    state: TaskState = S.PENDING
    attempt: int = 0                # attempts started so far
    auto_retries: int = 0           # automatic retries used since the last manual retry
    reason: str = ""
    exit_code: int | None = None
    started: float | None = None
    ended: float | None = None
    retry_at: float | None = None
    queued: bool = False            # an entry for it sits in the ready heap
    cancelling: bool = False        # a cancel was sent to its process
    restart: bool = False           # rerun asked while it ran: back to pending when it ends
    output: str | None = None


@dataclass(slots=True, eq=False)
class Plan:
    tasks: InitVar[Iterable[TaskSpec]]   # read once into `records`; the Plan keeps no list of them
    max_parallel: int = 1
    pools: Mapping[str, int] = field(default_factory=dict)
    fail_fast: bool = False
    weights: Mapping[str, float] | None = None
    records: dict[str, TaskRecord] = field(init=False)
    deps: dict[str, tuple[str, ...]] = field(init=False)
    down: dict[str, list[str]] = field(init=False)
    priority: dict[str, float] = field(init=False)
    paused: bool = False
    approved: set[str] = field(default_factory=set)   # gates (`approval: true`) a person let through
    refuse_gates: str = ""          # a run nobody can approve in (headless): a gate fails with this reason
    stopped: bool = False           # cancel_run or fail_fast: start nothing new
    stop_reason: str = ""           # "cancelled" (a person) or "fail_fast"
    running: int = 0
    pool_running: dict[str | None, int] = field(init=False)
    _counts: dict[TaskState, int] = field(init=False)
    _tally: dict[str, list[int]] = field(init=False)  # per task: [upstreams ok, upstreams failed]
    _retrying: set[str] = field(init=False)
    _heap: list[tuple[float, int, str]] = field(init=False)
    _seq: int = 0

    def __post_init__(self, tasks: Iterable[TaskSpec]) -> None:
        specs = list(tasks)
        self.records = {t.name: TaskRecord(t) for t in specs}
        self.deps = {t.name: t.depends_on for t in specs}
        self.down = {t.name: [] for t in specs}
        for t in specs:
            for up in t.depends_on:
                self.down[up].append(t.name)
        self.priority = remaining_path(self.deps, self.weights)
        self.pool_running = {}
        self._counts = dict.fromkeys(TaskState, 0)
        self._counts[S.PENDING] = len(specs)
        self._retrying = set()
        self._tally = {t.name: [0, 0] for t in specs}
        self._heap = []
        self.max_parallel = max(1, int(self.max_parallel))

    # ------------------------------------------------------------------ start-up

    def initial(self, reuse: Mapping[str, str | None] | None = None, reason: str = "") -> list[str]:
        """Settle every task once: roots become ready, virtual roots succeed.

        `reuse` (from --resume) names tasks that succeeded in an earlier run, with their outputs.
        """
        changed: list[str] = []
        for name, output in (reuse or {}).items():
            r = self.records[name]
            self._set(r, S.SUCCEEDED)
            r.output = output
            r.reason = reason
            changed.append(name)
        return changed + self._settle(list(self.records))

    # ------------------------------------------------------------------ queries

    def state(self, name: str) -> TaskState:
        return self.records[name].state

    def counts(self) -> dict[TaskState, int]:
        return dict(self._counts)

    def next_retry_at(self) -> float | None:
        times = [self.records[n].retry_at for n in self._retrying]
        return min((t for t in times if t is not None), default=None)

    def finished(self) -> bool:
        """True when nothing can make progress without a person."""
        if self.running:
            return False
        if self.stopped:
            return True
        c = self._counts
        return not (c[S.RETRYING] or c[S.READY] or c[S.HELD] or c[S.AWAITING_APPROVAL])

    def _set(self, r: TaskRecord, state: TaskState) -> None:
        old = r.state
        if old is state:
            return
        c = self._counts
        c[old] -= 1
        c[state] += 1
        before = _klass(r)
        r.state = state
        after = _klass(r)
        if before != after:  # keep each downstream's tally of upstream results current
            tally = self._tally
            for d in self.down[r.spec.name]:
                t = tally[d]
                if before != _UP_NOT_DONE:
                    t[before] -= 1
                if after != _UP_NOT_DONE:
                    t[after] += 1
        if state is S.RETRYING:
            self._retrying.add(r.spec.name)
        elif old is S.RETRYING:
            self._retrying.discard(r.spec.name)

    def succeeded(self) -> bool:
        """The run's result: every task succeeded or was skipped.

        A failure with continue_on_failure lets its downstream run, but the run still failed
        (as in Dagu): a failure is never an exit 0.
        """
        return all(r.state in (S.SUCCEEDED, S.SKIPPED) for r in self.records.values())

    def why(self, name: str, now: float) -> str:
        """Why a task is in its state, in the words the UI shows."""
        r = self.records[name]
        st = r.state
        if st is S.RUNNING:
            return "cancelling" if r.cancelling else "running"
        if st is S.HELD:
            return "held"
        if st is S.AWAITING_APPROVAL:
            return "awaiting approval: a person approves or rejects it"
        if st is S.RETRYING:
            left = max(0.0, (r.retry_at or now) - now)
            total = r.spec.retry.retries + 1
            return f"retry {r.attempt + 1}/{total} in {left:.0f}s"
        if st is S.BLOCKED:
            return f"blocked: {self._blocked_by(name)}"
        if st is S.PENDING:
            if self.stopped:
                return "run cancelled"
            waiting = [u for u in self.deps[name] if self.records[u].state in _WAITING]
            held = [u for u in waiting if self.records[u].state is S.HELD]
            shown = ", ".join(waiting[:3]) + (f" and {len(waiting) - 3} more" if len(waiting) > 3 else "")
            return f"waiting for {shown}" + (" (held)" if held and len(held) == len(waiting) else "")
        if st is S.READY:
            if self.stopped:
                return "run cancelled"
            if self.paused:
                return "run paused"
            pool = r.spec.pool
            if pool is not None and self.pool_running.get(pool, 0) >= self.pools.get(pool, 1):
                return f"pool {pool} full ({self.pool_running.get(pool, 0)}/{self.pools.get(pool, 1)})"
            if self.running >= self.max_parallel:
                return f"no free slot ({self.running}/{self.max_parallel} running)"
            return "starting"
        if st is S.SUCCEEDED:
            return "succeeded"
        return r.reason or st.value

    def _blocked_by(self, name: str) -> str:
        """`upstream X failed` / `timed out` / `was cancelled`: cancelled is not failed, in any words."""
        root = self._root_failure(name)
        state = self.records[root].state
        what = {S.CANCELLED: "was cancelled", S.TIMED_OUT: "timed out"}.get(state, "failed")
        return f"upstream {root} {what}"

    def _root_failure(self, name: str) -> str:
        seen = set()
        node = name
        while node not in seen:
            seen.add(node)
            ups = self.deps[node]
            failed = [u for u in ups if self.records[u].state in FAILURES]
            if failed:
                return failed[0]
            blocked = [u for u in ups if self.records[u].state is S.BLOCKED]
            if not blocked:
                return node
            node = blocked[0]
        return node

    # ------------------------------------------------------------------ the ready queue

    def startable(self) -> list[str]:
        """Ready tasks to start now, critical path first, within the limit and the pools.

        Marks them RUNNING; the caller starts a process (or expands a foreach) for each.
        """
        if self.paused or self.stopped:
            return []
        out: list[str] = []
        skipped: list[tuple[float, int, str]] = []
        heap = self._heap
        while heap and self.running < self.max_parallel:
            item = heapq.heappop(heap)
            _, _, name = item
            r = self.records.get(name)
            if r is None or r.state is not S.READY:
                if r is not None:
                    r.queued = False
                continue
            pool = r.spec.pool
            if pool is not None and self.pool_running.get(pool, 0) >= self.pools.get(pool, 1):
                skipped.append(item)
                continue
            r.queued = False
            self._mark_running(r)
            out.append(name)
        for item in skipped:
            heapq.heappush(heap, item)
        return out

    def _mark_running(self, r: TaskRecord) -> None:
        self._set(r, S.RUNNING)
        r.attempt += 1
        r.reason = ""
        r.exit_code = None
        r.ended = None
        r.started = None
        self.running += 1
        pool = r.spec.pool
        self.pool_running[pool] = self.pool_running.get(pool, 0) + 1

    def _enqueue(self, r: TaskRecord) -> None:
        if not r.queued:
            r.queued = True
            self._seq += 1
            heapq.heappush(self._heap, (-self.priority.get(r.spec.name, 1.0), self._seq, r.spec.name))

    # ------------------------------------------------------------------ completions

    def started(self, name: str, now: float) -> None:
        self.records[name].started = now

    def finish(self, name: str, state: TaskState, now: float, reason: str = "",
               exit_code: int | None = None, output: str | None = None) -> tuple[list[str], list[str]]:
        """A running task ended with `state`. Returns (changed tasks, running tasks to cancel)."""
        r = self.records[name]
        if r.state is not S.RUNNING:
            return [], []
        self.running -= 1
        self.pool_running[r.spec.pool] -= 1
        r.ended = now
        r.cancelling = False
        r.exit_code = exit_code
        if r.restart:
            r.restart = False
            self._reset(r)
            return [name, *self._settle([name])], []
        r.reason = reason
        if state is S.SUCCEEDED:
            r.output = output
        if state in (S.FAILED, S.TIMED_OUT) and not self.stopped and r.auto_retries < r.spec.retry.retries:
            r.auto_retries += 1
            self._set(r, S.RETRYING)
            r.retry_at = now + r.spec.retry.delay_before(r.attempt + 1)
            return [name], []
        self._set(r, state)
        to_cancel: list[str] = []
        if state in FAILURES and self.fail_fast and not r.spec.continue_on_failure and not self.stopped:
            self.stopped = True
            self.stop_reason = "fail_fast"
            to_cancel = self._cancel_running()
            retrying = self._cancel_retrying(now)
            return [name, *retrying, *self._settle([*self.down[name], *(d for n in retrying for d in self.down[n])])], to_cancel
        return [name, *self._settle(self.down[name])], to_cancel

    def due_retries(self, now: float) -> list[str]:
        """Retry delays that have run out: those tasks are ready again."""
        changed: list[str] = []
        if self.stopped:
            return changed
        for r in [self.records[n] for n in sorted(self._retrying)]:
            if r.retry_at is not None and r.retry_at <= now:
                r.retry_at = None
                self._set(r, S.PENDING)
                changed += self._settle([r.spec.name])
        return changed

    # ------------------------------------------------------------------ growing the plan

    def expand(self, name: str, instances: list[TaskSpec], fan_in: TaskSpec) -> list[str]:
        """Replace the running foreach task `name` by `instances` plus the virtual `fan_in`.

        Instances take the task's upstreams (all done by now); `fan_in` keeps its name and
        downstream and waits for every instance, so dependents need no change.
        """
        r = self.records[name]
        if r.state is S.RUNNING:
            self.running -= 1
            self.pool_running[r.spec.pool] -= 1
        prio = self.priority.get(name, 1.0)
        for spec in instances:
            self.records[spec.name] = TaskRecord(spec)
            self._counts[S.PENDING] += 1
            self.deps[spec.name] = spec.depends_on
            self.down[spec.name] = [name]
            for up in spec.depends_on:
                self.down[up].append(spec.name)
            self.priority[spec.name] = prio
        r.spec = fan_in
        r.attempt = 0
        r.started = None
        self.deps[name] = fan_in.depends_on
        for n in [*(spec.name for spec in instances), name]:
            self._recount(n)
        self._set(r, S.PENDING)
        return [name, *self._settle([s.name for s in instances] + [name])]

    # ------------------------------------------------------------------ controls

    def set_max_parallel(self, n: int) -> bool:
        n = max(1, int(n))
        if n == self.max_parallel:
            return False
        self.max_parallel = n
        return True

    def cancel(self, name: str, now: float) -> tuple[list[str], list[str]]:
        """Cancel one task: a running one is signalled (returned to cancel); a waiting one ends now."""
        r = self.records.get(name)
        if r is None:
            return [], []
        if r.spec.virtual and not r.state.finished:
            return self._cancel_family(name, now)
        if r.state is S.RUNNING:
            r.restart = False
            if r.cancelling:
                return [], []
            r.cancelling = True
            return [], [name]
        if r.state in (S.PENDING, S.READY, S.RETRYING, S.HELD, S.BLOCKED, S.AWAITING_APPROVAL):
            self._end(r, S.CANCELLED, now, "cancelled")
            return [name, *self._settle(self.down[name])], []
        return [], []

    def _cancel_family(self, name: str, now: float) -> tuple[list[str], list[str]]:
        """Cancel a folder task (matrix, foreach, sub-pipeline): every unfinished task inside it."""
        changed: list[str] = []
        to_cancel: list[str] = []
        for child in [n for n, rec in self.records.items() if rec.spec.parent == name]:
            c, k = self.cancel(child, now)
            changed += c
            to_cancel += k
        r = self.records[name]
        if not r.state.finished and not to_cancel:
            self._end(r, S.CANCELLED, now, "cancelled")
            changed += [name, *self._settle(self.down[name])]
        return _unique(changed), to_cancel

    def cancel_run(self, now: float) -> tuple[list[str], list[str]]:
        """Start nothing more; cancel what runs and what waits for a retry delay."""
        was = self.stopped
        self.stopped = True
        self.stop_reason = "cancelled"
        changed = self._cancel_retrying(now)
        to_cancel = self._cancel_running()
        if not (changed or to_cancel) and was:
            return [], []
        for name in list(changed):
            changed += self._settle(self.down[name])
        return changed, to_cancel

    def _cancel_retrying(self, now: float) -> list[str]:
        names = sorted(self._retrying)
        for n in names:
            self._end(self.records[n], S.CANCELLED, now, "cancelled")
        return names

    def _cancel_running(self) -> list[str]:
        out = []
        for r in self.records.values():
            if r.state is S.RUNNING:
                r.restart = False
                if not r.cancelling:
                    r.cancelling = True
                    out.append(r.spec.name)
        return out

    def retry(self, name: str) -> list[str]:
        """A failed, timed-out, cancelled or skipped task runs again; its blocked downstream waits for it."""
        r = self.records.get(name)
        if r is None or r.state not in _RESTARTABLE:
            return []
        self.stopped = False
        r.auto_retries = 0
        self._set(r, S.PENDING)
        r.reason = ""
        r.exit_code = None
        changed = [name, *self._settle([name])]
        changed += self._settle([d for d in self.down[name] if self.records[d].state in (S.BLOCKED, S.PENDING)])
        return _unique(changed)

    def retry_failed(self) -> list[str]:
        changed: list[str] = []
        for name in [n for n, r in self.records.items() if r.state in FAILURES]:
            changed += self.retry(name)
        return _unique(changed)

    def rerun(self, name: str) -> tuple[list[str], list[str]]:
        """Run a finished task again and everything downstream of it.

        Downstream tasks that are running are cancelled and go back to pending when they end.
        """
        r = self.records.get(name)
        if r is None or r.state not in FINISHED:
            return [], []
        self.stopped = False
        changed: list[str] = []
        to_cancel: list[str] = []
        family = [name, *self._descendants(name)]
        for n in family:
            rec = self.records[n]
            if rec.state is S.RUNNING:
                rec.restart = True
                if not rec.cancelling:
                    rec.cancelling = True
                    to_cancel.append(n)
            elif rec.state is not S.PENDING and rec.state is not S.HELD:
                self._reset(rec)
                changed.append(n)
        changed += self._settle(family)
        return _unique(changed), to_cancel

    def skip(self, name: str, now: float) -> list[str]:
        """Mark a task that has not succeeded (and is not running) as skipped; downstream treats it as success."""
        r = self.records.get(name)
        if r is None or r.state in (S.SUCCEEDED, S.SKIPPED, S.RUNNING):
            return []
        self._end(r, S.SKIPPED, now, "skipped by user")
        return [name, *self._settle(self.down[name])]

    def hold(self, name: str) -> list[str]:
        r = self.records.get(name)
        if r is None or r.state not in _NOT_STARTED:
            return []
        self._set(r, S.HELD)
        return [name]

    def release(self, name: str) -> list[str]:
        r = self.records.get(name)
        if r is None or r.state is not S.HELD:
            return []
        self._set(r, S.PENDING)
        return [name, *self._settle([name])]

    def approve(self, name: str) -> list[str]:
        """A gate waiting for approval may start (and is not asked about again in this run)."""
        r = self.records.get(name)
        if r is None or r.state is not S.AWAITING_APPROVAL:
            return []
        self.approved.add(name)
        r.reason = ""
        self._set(r, S.PENDING)
        return [name, *self._settle([name])]

    def reject(self, name: str, now: float, reason: str = "rejected") -> list[str]:
        """A gate waiting for approval fails: its downstream is blocked (a retry asks again)."""
        r = self.records.get(name)
        if r is None or r.state is not S.AWAITING_APPROVAL:
            return []
        self._end(r, S.FAILED, now, reason)
        return [name, *self._settle(self.down[name])]

    def can(self, control: str, name: str | None) -> bool:
        """Whether a control would change anything now (for the UI's enabled keys)."""
        if control == "pause":
            return not self.paused
        if control == "resume":
            return self.paused
        if control == "retry_failed":
            return any(r.state in FAILURES for r in self.records.values())
        if control == "cancel_run":
            return not self.stopped and not self.finished()
        r = self.records.get(name) if name is not None else None
        if r is None or control not in _TASK_CONTROL_NAMES:
            return False
        return task_control_applies(Control(control), r.state, r.cancelling)

    # ------------------------------------------------------------------ internals

    def _recount(self, name: str) -> None:
        klasses = [_klass(self.records[u]) for u in self.deps[name]]
        self._tally[name] = [klasses.count(_UP_OK), klasses.count(_UP_FAILED)]

    def _reset(self, r: TaskRecord) -> None:
        """Back to pending with a fresh budget of automatic retries (rerun, restart)."""
        self._set(r, S.PENDING)
        r.reason = ""
        r.exit_code = None
        r.auto_retries = 0
        r.retry_at = None

    def _end(self, r: TaskRecord, state: TaskState, now: float, reason: str) -> None:
        self._set(r, state)
        r.reason = reason
        r.retry_at = None
        r.ended = now

    def _descendants(self, name: str) -> list[str]:
        seen = {name}
        out: list[str] = []
        stack = [name]
        while stack:
            for d in self.down[stack.pop()]:
                if d not in seen:
                    seen.add(d)
                    out.append(d)
                    stack.append(d)
        return out

    def _verdict(self, r: TaskRecord) -> TaskState:
        """What a pending/blocked task should be given its upstreams and trigger rule."""
        name = r.spec.name
        ok, bad = self._tally[name]
        waiting = len(self.deps[name]) - ok - bad
        rule = r.spec.when
        if rule is TriggerRule.ALL_SUCCESS:  # skipped upstreams count as ok: Airflow's none_failed
            return S.BLOCKED if bad else (S.PENDING if waiting else S.READY)
        if rule is TriggerRule.ALL_DONE:
            return S.PENDING if waiting else S.READY
        if rule is TriggerRule.ANY_SUCCESS:
            return S.READY if ok else (S.PENDING if waiting else S.BLOCKED)
        if rule is TriggerRule.ANY_FAILED:
            return S.READY if bad else (S.PENDING if waiting else S.SKIPPED)
        if rule is TriggerRule.ALL_FAILED:
            return S.SKIPPED if ok else (S.PENDING if waiting else S.READY)
        raise ValueError(rule)

    def _settle(self, names: Iterable[str]) -> list[str]:
        """Re-evaluate pending/blocked tasks (and, through changes, their downstream)."""
        changed: list[str] = []
        stack = list(reversed(list(names)))
        records = self.records
        while stack:
            name = stack.pop()
            r = records[name]
            if r.state is not S.PENDING and r.state is not S.BLOCKED and r.state is not S.READY \
                    and r.state is not S.AWAITING_APPROVAL:
                continue
            new = self._verdict(r)
            if new is S.READY and r.spec.virtual:
                new = S.SUCCEEDED
            elif new is S.READY and r.spec.approval and name not in self.approved \
                    and r.spec.template not in self.approved:
                new = S.FAILED if self.refuse_gates else S.AWAITING_APPROVAL
            if new is r.state:
                continue
            old = r.state
            self._set(r, new)
            if new is S.SKIPPED:
                r.reason = f"trigger rule {r.spec.when.value} can no longer be met"
            elif new is S.FAILED:
                r.reason = self.refuse_gates
            elif new is S.BLOCKED:
                r.reason = self._blocked_by(name)
            else:
                r.reason = ""
            changed.append(name)
            if new is S.READY:
                self._enqueue(r)
            if new is not S.READY or old is S.BLOCKED:
                stack.extend(reversed(self.down[name]))
        return changed


def _klass(r: TaskRecord) -> int:
    """How a task counts for its downstream's trigger rule: _UP_OK, _UP_FAILED or _UP_NOT_DONE.

    A skipped upstream counts as ok, as a failure with continue_on_failure does; a blocked one
    as failed (final until someone retries).
    """
    st = r.state
    if st is S.SUCCEEDED or st is S.SKIPPED:
        return _UP_OK
    if st in FAILURES:
        return _UP_OK if r.spec.continue_on_failure else _UP_FAILED
    if st is S.BLOCKED:
        return _UP_FAILED
    return _UP_NOT_DONE


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
