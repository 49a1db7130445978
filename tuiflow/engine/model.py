"""The pipeline model: frozen, validated, fully resolved. Everything after the loader reads only this."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import Mark

DEFAULT_LOG_LIMIT = 100 * 1024 * 1024   # bytes of one attempt's log (`log_limit`)

NOT_IN_TASK_NAMES = re.compile(r"[/\[\]\x00-\x1f\x7f]")
"""What a task name cannot hold: `/` joins sub-pipeline names, `[...]` marks instances (the
schema's `name` pattern says the same to editors)."""


def instance_label(value: str) -> str:
    """`value` as a part of an instance's name (`build[region=us]`, `proc[a.csv]`)."""
    return NOT_IN_TASK_NAMES.sub("_", value)


class TaskState(StrEnum):
    PENDING = "pending"        # waiting for upstreams
    READY = "ready"            # waiting for a slot
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    RETRYING = "retrying"      # waiting for the retry delay
    BLOCKED = "blocked"        # an upstream failed; a retry of it can release this task
    SKIPPED = "skipped"        # trigger rule unmeetable, precondition unmet, or skipped by a person
    HELD = "held"              # a person holds it back
    AWAITING_APPROVAL = "awaiting_approval"   # an `approval: true` gate, ready, until a person approves

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def failed(self) -> bool:
        return self in FAILURES


FINISHED = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.TIMED_OUT,
                      TaskState.CANCELLED, TaskState.SKIPPED})
FAILURES = frozenset({TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED})


class RunState(StrEnum):
    """A run as a whole, in the one word front ends show."""

    STARTING = "STARTING"        # the front end waits for the engine's first word
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"            # nothing new starts; running tasks go on
    CANCELLING = "CANCELLING"    # cancel_run: running tasks are being terminated
    FAILING = "FAILING"          # fail_fast: a task failed, the rest is being stopped
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"  # the engine is gone (killed) before the run ended

    @property
    def live(self) -> bool:
        """The engine is still working on it: quitting a viewer must ask what to do."""
        return self in LIVE_RUN_STATES

    @property
    def ended(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)

    @classmethod
    def of_result(cls, result: str) -> RunState:
        """`succeeded` / `failed` / `cancelled` (RunFinished.state, run.json) as a RunState."""
        return cls(result.upper())


LIVE_RUN_STATES = frozenset({RunState.RUNNING, RunState.PAUSED, RunState.CANCELLING, RunState.FAILING})


class Control(StrEnum):
    """The controls of a run: the scheduler's methods of the same names, and the protocol's words."""

    PAUSE = "pause"
    RESUME = "resume"
    SET_MAX_PARALLEL = "set_max_parallel"
    CANCEL = "cancel"
    CANCEL_RUN = "cancel_run"
    RETRY = "retry"
    RETRY_FAILED = "retry_failed"
    RERUN = "rerun"
    SKIP = "skip"
    HOLD = "hold"
    RELEASE = "release"
    APPROVE = "approve"        # an `approval: true` gate may start
    REJECT = "reject"          # the gate fails (its downstream is blocked)

    @property
    def takes_task(self) -> bool:
        return self in TASK_CONTROLS


TASK_CONTROLS = frozenset({Control.CANCEL, Control.RETRY, Control.RERUN, Control.SKIP, Control.HOLD,
                           Control.RELEASE, Control.APPROVE, Control.REJECT})


def task_control_applies(control: Control, state: TaskState, cancelling: bool = False) -> bool:
    """Whether a task control would change a task in `state` (the engine's Plan and every viewer's
    mirror of the run answer the same way)."""
    S = TaskState
    if control is Control.CANCEL:
        return state in (S.RUNNING, S.PENDING, S.READY, S.RETRYING, S.HELD, S.BLOCKED,
                         S.AWAITING_APPROVAL) and not cancelling
    if control is Control.RETRY:
        return state in FAILURES or state is S.SKIPPED
    if control is Control.RERUN:
        return state in FINISHED
    if control is Control.SKIP:
        return state not in (S.SUCCEEDED, S.SKIPPED, S.RUNNING)
    if control is Control.HOLD:
        return state in (S.PENDING, S.READY, S.BLOCKED)
    if control is Control.RELEASE:
        return state is S.HELD
    if control is Control.APPROVE or control is Control.REJECT:
        return state is S.AWAITING_APPROVAL
    return False


class TriggerRule(StrEnum):
    """When a task may start, given its upstreams. A skipped upstream counts as succeeded
    (docs/pipeline-language.md), so `all_success` is what Airflow calls `none_failed`; that word
    is read as `all_success`, and nothing is ever skipped because an upstream was."""

    ALL_SUCCESS = "all_success"
    ALL_DONE = "all_done"
    ANY_SUCCESS = "any_success"
    ANY_FAILED = "any_failed"
    ALL_FAILED = "all_failed"

    @classmethod
    def _missing_(cls, value: object) -> TriggerRule | None:
        return cls.ALL_SUCCESS if value == "none_failed" else None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 0          # automatic retries after a failure
    delay: float = 0.0        # seconds before the first retry
    backoff: float = 1.0      # delay multiplier per attempt

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before starting `attempt` (2 = first retry)."""
        return self.delay * self.backoff ** max(0, attempt - 2)


@dataclass(frozen=True, slots=True)
class Precondition:
    """Dagu precondition: `condition` (a command or a value) must produce `expected`."""

    condition: str
    expected: str | None = None


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One runnable unit after matrix expansion and sub-pipeline inclusion.

    `name` is unique in the run: `extract`, `extract[region=us]`, `caller/step`.
    A task with `command is None` is virtual (a fan-in node for a matrix, a foreach or a
    sub-pipeline caller): it succeeds as soon as its trigger rule is met, without a process.
    """

    name: str
    command: str | tuple[str, ...] | None
    depends_on: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)          # params + pipeline env + task env + instance variables
    cwd: str = "."                          # absolute
    shell: str = "sh"
    timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    continue_on_failure: bool = False
    approval: bool = False                  # a manual gate: waits, once ready, until a person approves it
    when: TriggerRule = TriggerRule.ALL_SUCCESS
    pool: str | None = None
    output: str | None = None               # trimmed stdout exported downstream as $output
    foreach: str | tuple[str, ...] | None = None   # upstream task name (dynamic) or a static list
    script: str | None = None               # Dagu `script:` run by `command` as interpreter
    preconditions: tuple[Precondition, ...] = ()
    log_limit: int = DEFAULT_LOG_LIMIT
    group: str | None = None                # folder in the tree (`groups:` / Dagu `group`)
    parent: str | None = None               # the virtual task this one belongs to (tree nesting)
    template: str | None = None             # name before matrix/foreach expansion
    variables: Mapping[str, str] = field(default_factory=dict)    # matrix/foreach variables ($region, $ITEM)
    description: str = ""
    mark: Mark | None = None

    @property
    def virtual(self) -> bool:
        return self.command is None


@dataclass(frozen=True, slots=True)
class Executor:
    """Where the commands of a run's tasks run: this machine, or the workers of a Dask cluster."""

    kind: str = "local"                     # "local" | "dask"
    scheduler: str = ""                     # the Dask scheduler's address, tcp://host:8786
    mark: Mark | None = None                # where the file says so (None: the default, the command line)


@dataclass(frozen=True, slots=True)
class Pipeline:
    name: str
    file: str                               # absolute path of the YAML file
    tasks: tuple[TaskSpec, ...]             # file order; names unique
    description: str = ""
    max_parallel: int = 1
    fail_fast: bool = False
    kill_grace: float = 5.0
    pools: Mapping[str, int] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "."                      # absolute
    source_digest: str = ""                 # sha256 of the file(s) read, for resume checks
    task_digests: Mapping[str, str] = field(default_factory=dict)  # per-task spec digest, for resume
    #: what a person should know before trusting the run, each `file:line:col: note: ...` (or
    #: `warning:`): how a Dagu file's order differs from Dagu's, a step reading an output that
    #: is not upstream of it. `tuiflow validate`, the headless header and the TUI show them.
    notes: tuple[str, ...] = ()
    dialect: str = "tuiflow"                # the top file's format: "tuiflow" or "dagu"
    executor: Executor = Executor()         # `executor:` / `scheduler:`; --executor, --scheduler override
