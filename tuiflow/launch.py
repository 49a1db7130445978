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

from .engine.model import Pipeline
from .engine.termsafe import escape_controls, print_message
from .exitcodes import EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from .engine.history import ResumePlan
    from .engine.runner import CommandRunner
    from .engine.scheduler import Scheduler
    from .engine.store import RunStore
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


async def _check_executor(pipeline: Pipeline) -> None:
    """Before a TUI or detached run's engine starts: can its executor be used at all?"""
    runner = await open_runner(pipeline)
    if runner is not None:
        await runner.aclose()


def run_pipeline(pipeline: Pipeline, options: RunOptions,
                 on_started: Callable[[dict[str, Any]], None] | None = None,
                 engine: EngineLaunch | None = None) -> int:
    """Run it in the front end `options` ask for; with `--detach`, `on_started(ready)` is called
    with the engine's `ready` (run_id, run_dir, pid) while the launcher's connection still holds
    the engine (`tuiflow serve FILE` connects a viewer of its own there). `engine`: one started
    already (remote/launcher.py `start_early`), told to go once every check here has passed; the caller
    abandons it when the run does not start."""
    from .engine.errors import UsageError
    from .engine.privdir import UnsafeDirectory
    from .engine.store import check_state_dir
    from .remote.launcher import runs_headless

    try:
        check_state_dir(state_dir_for(pipeline.file, options.state_dir))
    except UnsafeDirectory as exc:
        print_message(f"tuiflow: unsafe state directory {exc}")
        return EXIT_INVALID
    except PermissionError as exc:
        print_message(f"tuiflow: cannot write {exc.filename}: permission denied (--state-dir DIR "
                      "chooses another place)")
        return EXIT_INVALID
    try:
        check_approvals(pipeline, options.approve)
        resume = plan_resume_for(pipeline, options)
        pipeline = with_executor(pipeline, options)
        if runs_headless(options.headless, options.detach):
            return asyncio.run(_headless(pipeline, options, resume))
        if pipeline.executor.kind != "local":
            asyncio.run(_check_executor(pipeline))
    except UsageError as exc:   # ExecutorUnavailable too
        print_message(f"tuiflow: {exc}")
        return EXIT_INVALID
    return _in_own_process(pipeline, options, on_started, engine)


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


def _in_own_process(pipeline: Pipeline, options: RunOptions,
                    on_started: Callable[[dict[str, Any]], None] | None = None,
                    engine: EngineLaunch | None = None) -> int:
    """The TUI, or `--detach`: the engine in its own process; the TUI attaches to it."""
    from .engine.yamlsource import streamed
    from .remote.client import Channel, RemoteRun
    from .remote.launcher import EngineLaunch, LaunchFailed

    launch = engine or EngineLaunch(list(options.argv), source=streamed(pipeline.file) or streamed(options.file))
    launch.go()
    if options.detach:
        try:
            ready = launch.wait_ready()
        except LaunchFailed as exc:
            print(escape_controls(str(exc), keep_newlines=True), file=sys.stderr)
            return exc.exit_code
        if on_started is not None:
            on_started(ready)
        launch.sock.close()
        print(escape_controls(f"tuiflow: run {ready['run_id']} of {pipeline.name} started (engine pid "
                              f"{ready['pid']}).\n  attach:  tuiflow attach {ready['run_id']}\n"
                              f"  folder:  {ready['run_dir']}", keep_newlines=True))
        return EXIT_OK

    def connect() -> RemoteRun:
        """In the app's worker thread: the screen comes up while the engine starts."""
        ready = launch.wait_ready()
        channel = Channel(launch.sock, where=ready["run_dir"])
        return RemoteRun(channel, channel.hello())

    from .ui.app import run_tui

    collect_garbage_again()
    return run_tui(pipeline, connect, theme=options.theme, mouse=options.mouse, summary=options.summary)
