"""Start a run: the run folder, the scheduler, and the front end (headless or the TUI)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys

from .engine.model import Pipeline


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
    """Where run folders live: `--state-dir`, else `.tuiflow/` beside the pipeline file."""
    if state_dir:
        return os.path.abspath(state_dir)
    return os.path.join(os.path.dirname(os.path.abspath(pipeline_file)), ".tuiflow")


def build_scheduler(pipeline: Pipeline, args: argparse.Namespace, resume=None):
    """The scheduler of a new run, with its run folder and what earlier runs teach it."""
    from .engine.history import durations
    from .engine.scheduler import Scheduler
    from .engine.store import RunStore

    state_dir = state_dir_for(pipeline.file, getattr(args, "state_dir", None))
    weights = durations(pipeline, state_dir)
    store = RunStore.create(state_dir, pipeline)
    return Scheduler(pipeline, store=store, max_parallel=getattr(args, "max_parallel", None), weights=weights,
                     reuse=resume.reuse if resume else None, reused_from=resume.run_id if resume else "")


def run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    from .engine.errors import UsageError

    resume = None
    if getattr(args, "resume", None):
        from .engine.history import plan_resume

        run_id = None if args.resume == "last" else args.resume
        try:
            resume = plan_resume(pipeline, state_dir_for(pipeline.file, getattr(args, "state_dir", None)),
                                 run_id, force=getattr(args, "force", False))
        except UsageError as exc:
            print(f"tuiflow: {exc}", file=sys.stderr)
            return 2
    headless = getattr(args, "headless", False) or getattr(args, "events", None) or not sys.stdout.isatty()
    if headless:
        from .headless import run_headless

        async def main() -> int:
            scheduler = build_scheduler(pipeline, args, resume)
            collect_garbage_again()
            return await run_headless(scheduler, events=getattr(args, "events", None))

        return asyncio.run(main())
    from .ui.app import run_tui

    collect_garbage_again()
    return run_tui(pipeline, lambda: build_scheduler(pipeline, args, resume), theme=getattr(args, "theme", None))
