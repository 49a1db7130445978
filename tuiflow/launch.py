"""Start a run: its options, its run folder, its scheduler, and the front end that shows it.

The TUI and `--detach` start the engine in a process of its own (remote/host.py) and, for the
TUI, attach to it like any viewer; a headless run keeps its engine in this process and serves
the same socket, so it can be watched too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .engine.termsafe import escape_controls, print_message
from .exitcodes import EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from .engine.history import ResumePlan
    from .engine.model import Pipeline
    from .engine.runner import CommandRunner
    from .engine.scheduler import Scheduler
    from .engine.store import RunStore
    from .remote.client import RemoteRun
    from .remote.launcher import EngineLaunch


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `tuiflow run` was asked, built once from the command line."""

    file: str
    params: dict[str, str] = field(default_factory=dict)
    max_parallel: int | None = None
    headless: bool = False
    events: str | None = None
    resume: str | None = None      # a run id, "last", or None
    force: bool = False
    state_dir: str | None = None
    theme: str | None = None
    detach: bool = False
    argv: tuple[str, ...] = ()     # the run's own arguments, as the engine process gets them
    executor: str | None = None    # --executor: local | dask (None: the pipeline's)
    scheduler: str | None = None   # --scheduler ADDRESS
    approve: tuple[str, ...] = ()  # --approve TASK: gates (`approval: true`) approved in advance
    mouse: bool = True             # --no-mouse: the TUI never asks the terminal for mouse reports
    summary: str = "short"         # --summary full: the TUI's end-of-run record lists every task

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        return cls(file=args.file, params=dict(args.params), max_parallel=args.max_parallel,
                   headless=bool(args.headless or args.events), events=args.events, resume=args.resume,
                   force=args.force, state_dir=args.state_dir, theme=args.theme, detach=args.detach,
                   argv=tuple(args.run_argv), executor=args.executor, scheduler=args.scheduler,
                   approve=tuple(args.approve), mouse=not args.no_mouse, summary=args.summary)


def collect_garbage_again() -> None:
    """Turn the collector back on once the run's modules are loaded (`cli.entry` turns it off).

    What exists by then lives as long as the process, so it is frozen out of every later
    collection; a run that allocates as it goes is then collected as usual. When called from a
    process that never turned collection off (tests, an embedding program) it does nothing.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def state_dir_for(pipeline_file: str, state_dir: str | None) -> str:
    """Where run folders live: `--state-dir`, else `.tuiflow/` beside the pipeline file (in the
    current directory for a pipeline read from a pipe: `tuiflow run <(cat p.yaml)`)."""
    if state_dir:
        return os.path.abspath(state_dir)
    from .engine.documents import folder_of

    return os.path.join(folder_of(pipeline_file), ".tuiflow")


def plan_resume_for(pipeline: Pipeline, options: RunOptions) -> ResumePlan | None:
    """What `--resume` reuses (UsageError when it cannot)."""
    if not options.resume:
        return None
    from .engine.history import plan_resume

    run_id = None if options.resume == "last" else options.resume
    return plan_resume(pipeline, state_dir_for(pipeline.file, options.state_dir), run_id, force=options.force)


def create_store(pipeline: Pipeline, options: RunOptions) -> tuple[RunStore, dict[str, float]]:
    """The new run's folder, and the task durations earlier runs teach."""
    from .engine.history import durations
    from .engine.store import RunStore

    state_dir = state_dir_for(pipeline.file, options.state_dir)
    weights = durations(pipeline, state_dir)
    return RunStore.create(state_dir, pipeline), weights


def scheduler_for(pipeline: Pipeline, options: RunOptions, store: RunStore, weights: dict[str, float],
                  resume: ResumePlan | None, runner: CommandRunner | None = None,
                  refuse_gates: str = "") -> Scheduler:
    """The run's scheduler; its runner is `runner`, else the executor's (a Dask one connects when
    first used), else the local one. `refuse_gates`: nobody can approve in this run (headless),
    so a gate not approved with --approve fails with this reason."""
    from .engine.scheduler import Scheduler

    if runner is None:
        runner = runner_for(with_executor(pipeline, options))
    return Scheduler(pipeline, runner=runner, store=store, max_parallel=options.max_parallel, weights=weights,
                     reuse=resume.reuse if resume else None, reused_from=resume.run_id if resume else "",
                     approved=options.approve, refuse_gates=refuse_gates)


def check_approvals(pipeline: Pipeline, names: tuple[str, ...]) -> None:
    """--approve names gates of this pipeline (a matrix or foreach gate by its name in the file)."""
    from .engine.errors import UsageError

    gates = {t.name for t in pipeline.tasks if t.approval} | {t.template for t in pipeline.tasks
                                                               if t.approval and t.template}
    for name in names:
        if name not in gates:
            listed = ", ".join(sorted(gates)) or "none"
            raise UsageError(f"--approve {name}: no task of {pipeline.name} by that name has approval: true "
                             f"(gates: {listed})")


# Why a gate fails in a run nobody can approve in.
GATE_REFUSAL = ("needs approval, and a headless run cannot ask: approve it in advance with --approve TASK "
                "(or run it in the TUI, or with --detach and approve it from `tuiflow attach`)")


def with_executor(pipeline: Pipeline, options: RunOptions) -> Pipeline:
    """The pipeline with the executor the command line chose (UsageError when it has no address)."""
    if options.executor is None and options.scheduler is None and pipeline.executor.kind == "local":
        return pipeline
    from dataclasses import replace

    from .engine.executor import choose

    return replace(pipeline, executor=choose(pipeline.executor, options.executor, options.scheduler, os.environ))


def runner_for(pipeline: Pipeline) -> CommandRunner | None:
    if pipeline.executor.kind != "dask":
        return None
    from .engine.daskrunner import DaskRunner

    return DaskRunner(pipeline.executor, forward=pipeline.secrets, tasks=pipeline.tasks)


async def open_runner(pipeline: Pipeline) -> CommandRunner | None:
    """The executor's runner, connected and checked (ExecutorUnavailable, exit 2, when it cannot be)."""
    runner = runner_for(pipeline)
    if runner is not None:
        await runner.open()
    return runner


async def check_executor(pipeline: Pipeline) -> None:
    """Before a TUI's or a detached run's engine makes its run: can its executor be used at all?
    (A headless run opens its runner for good before its run folder instead.)"""
    runner = await open_runner(pipeline)
    if runner is not None:
        await runner.aclose()


def prepare(pipeline: Pipeline, options: RunOptions) -> tuple[Pipeline, ResumePlan | None]:
    """The checks a run passes before it makes anything (its state directory is this user's own,
    --approve names gates, --resume has a run to take up, the executor has an address), and the
    pipeline with the executor chosen. UsageError says what is wrong (printed after `tuiflow: `,
    exit 2). The engine of a headless run calls it in the command's process; a TUI's or a
    detached run's in its own process (remote/host.py)."""
    from .engine.errors import UsageError
    from .engine.privdir import UnsafeDirectory
    from .engine.store import check_state_dir

    try:
        check_state_dir(state_dir_for(pipeline.file, options.state_dir))
    except UnsafeDirectory as exc:
        raise UsageError(f"unsafe state directory {exc}") from None
    except PermissionError as exc:
        raise UsageError(f"cannot write {exc.filename}: permission denied (--state-dir DIR chooses "
                         "another place)") from None
    check_approvals(pipeline, options.approve)
    resume = plan_resume_for(pipeline, options)
    return with_executor(pipeline, options), resume


def run_pipeline(pipeline: Pipeline, options: RunOptions) -> int:
    """A headless run (`--headless`, `--events`, or output that is not a terminal): its engine in
    this process, serving the run's socket so it can be watched."""
    from .engine.errors import UsageError

    try:
        pipeline, resume = prepare(pipeline, options)
        return asyncio.run(_headless(pipeline, options, resume))
    except UsageError as exc:   # ExecutorUnavailable too
        print_message(f"tuiflow: {exc}")
        return EXIT_INVALID


async def _headless(pipeline: Pipeline, options: RunOptions, resume: ResumePlan | None) -> int:
    from .engine.errors import UsageError
    from .headless import run_headless
    from .remote.host import open_socket

    runner = await open_runner(pipeline)    # before the run folder: a cluster that cannot serve leaves none
    store, weights = create_store(pipeline, options)
    scheduler = scheduler_for(pipeline, options, store, weights, resume, runner, refuse_gates=GATE_REFUSAL)
    try:
        served = open_socket(store.run_dir, store.run_id)
    except (OSError, UsageError) as exc:  # the run goes on; it just cannot be watched
        print_message(f"tuiflow: the run cannot be attached to: {exc}")
        served = None
    collect_garbage_again()
    return await run_headless(scheduler, events=options.events, served=served)


def run_in_engine(options: RunOptions, on_started: Callable[[dict[str, Any]], None] | None = None) -> int:
    """The TUI, or `--detach`: the engine in a process of its own, which reads the pipeline and
    makes every check (remote/host.py), while this one loads the UI; the TUI then attaches to it
    like any viewer. This process never reads the pipeline (a pipe's bytes aside, handed over):
    the first screen comes as soon as both are ready. With `--detach`, `on_started(ready)` is
    called with the engine's `ready` (run_id, run_dir, pid, pipeline) while the launcher's
    connection still holds the engine (`tuiflow serve FILE` connects a viewer of its own there)."""
    from .remote.launcher import EngineLaunch, LaunchFailed, is_stream

    source = None
    if is_stream(options.file):
        from .engine.errors import PipelineInvalid
        from .engine.yamlsource import read_if_stream

        try:
            source = read_if_stream(options.file)
        except PipelineInvalid as exc:
            for error in exc.errors:
                print_message(str(error))
            return EXIT_INVALID
    launch = EngineLaunch(list(options.argv), source)
    try:
        if not options.detach:
            from .ui.app import run_tui  # while the engine loads the pipeline
        launch.go()
        ready = launch.wait_ready()
        if options.detach:
            if on_started is not None:
                on_started(ready)
            launch.sock.close()
            print(escape_controls(f"tuiflow: run {ready['run_id']} of {ready.get('pipeline', '')} started "
                                  f"(engine pid {ready['pid']}).\n  attach:  tuiflow attach {ready['run_id']}\n"
                                  f"  folder:  {ready['run_dir']}", keep_newlines=True))
            return EXIT_OK
        run = _viewer(launch, ready)
    except LaunchFailed as exc:
        print(escape_controls(str(exc), keep_newlines=True), file=sys.stderr)
        return exc.exit_code
    finally:
        launch.abandon()   # the run did not start (Ctrl-C while the UI loaded): its engine ends
    collect_garbage_again()
    return run_tui(ready.get("pipeline", ""), run, theme=options.theme, mouse=options.mouse, summary=options.summary)


def _viewer(launch: EngineLaunch, ready: dict[str, Any]) -> RemoteRun:
    """The TUI's connection: the launcher's own socket, greeted (LaunchFailed if the engine
    vanished in between)."""
    from .remote.client import Channel, Refused, RemoteRun
    from .remote.launcher import LaunchFailed
    from .remote.protocol import ProtocolError

    channel = Channel(launch.sock, where=ready["run_dir"])
    try:
        return RemoteRun(channel, channel.hello())
    except (OSError, ProtocolError, Refused) as exc:
        raise LaunchFailed(f"tuiflow: the run's engine did not answer: {exc}", 70) from None
