"""Start a run: the run folder, the scheduler, and the front end (headless or the TUI)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .engine.model import Pipeline


def state_dir_for(pipeline: Pipeline, state_dir: str | None) -> str:
    """Where run folders live: `--state-dir`, else `.tuiflow/` beside the pipeline file."""
    return os.path.abspath(state_dir) if state_dir else os.path.join(os.path.dirname(pipeline.file), ".tuiflow")


def build_scheduler(pipeline: Pipeline, args: argparse.Namespace):
    """The scheduler of a new run, with its run folder; shared by every front end."""
    from .engine.scheduler import Scheduler
    from .engine.store import RunStore

    store = RunStore.create(state_dir_for(pipeline, getattr(args, "state_dir", None)), pipeline)
    return Scheduler(pipeline, store=store, max_parallel=getattr(args, "max_parallel", None))


def run_pipeline(pipeline: Pipeline, args: argparse.Namespace) -> int:
    headless = getattr(args, "headless", False) or getattr(args, "events", None) or not sys.stdout.isatty()
    if headless:
        from .headless import run_headless

        async def main() -> int:
            return await run_headless(build_scheduler(pipeline, args), events=getattr(args, "events", None))

        return asyncio.run(main())
    from .ui.app import run_tui

    return run_tui(pipeline, lambda: build_scheduler(pipeline, args), theme=getattr(args, "theme", None))
