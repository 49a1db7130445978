"""Developer harness: open the TUI on a sample pipeline with the real scheduler and processes.

    .venv/bin/python tests/ui/dev_run.py sample_pipelines/etl.yaml [--theme NAME]

Used to look at the app in tmux before `tuiflow FILE` launches it; no run folder is written.
"""

from __future__ import annotations

import argparse
import sys

from tuiflow.engine.loader import load
from tuiflow.engine.scheduler import Scheduler
from tuiflow.ui.app import run_tui


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--theme")
    parser.add_argument("--max-parallel", type=int)
    args = parser.parse_args()
    pipeline = load(args.file)
    return run_tui(pipeline, lambda: Scheduler(pipeline, max_parallel=args.max_parallel), theme=args.theme)


if __name__ == "__main__":
    sys.exit(main())
