"""Developer harness: open the TUI on a pipeline the way `tuiflow FILE` does (run folder included).

    .venv/bin/python tests/ui/dev_run.py sample_pipelines/etl.yaml [--theme NAME] [--max-parallel N]

Useful in tmux while working on the app; the e2e tests accept it through TUIFLOW_E2E_CMD.
"""

from __future__ import annotations

import argparse
import sys

from tuiflow.engine.loader import load
from tuiflow.launch import run_pipeline


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--theme")
    parser.add_argument("--max-parallel", type=int)
    parser.add_argument("--state-dir")
    parser.add_argument("--headless", action="store_true")
    args = parser.parse_args()
    return run_pipeline(load(args.file), args)


if __name__ == "__main__":
    sys.exit(main())
