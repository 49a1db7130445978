"""10 000 tasks: time until the tree is on screen and usable, and the cost of scrolling it.

    .venv/bin/python benchmarks/tui_big_tree.py [--tasks 10000]

The run is real (Scheduler + in-process FakeRunner: every task "ok"), the app headless at
120x40. Goal (issue 5): the tree opens in < 3 s and scrolls smoothly (a page down repaints in
well under a frame budget of 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.engine.fakes import FakeRunner  # noqa: E402
from tuiflow.engine.model import Pipeline, TaskSpec  # noqa: E402
from tuiflow.engine.scheduler import Scheduler  # noqa: E402
from tuiflow.ui.app import TuiflowApp  # noqa: E402


def layered(n: int, width: int = 100) -> Pipeline:
    """Layers of `width` tasks; each depends on two tasks of the layer before."""
    tasks = []
    for i in range(n):
        layer, pos = divmod(i, width)
        deps = () if layer == 0 else (f"t{(layer - 1) * width + pos}", f"t{(layer - 1) * width + (pos + 1) % width}")
        tasks.append(TaskSpec(name=f"t{i}", command="ok", depends_on=deps, group=f"g{layer % 7}"))
    return Pipeline(name="big", file="/tmp/big.yaml", tasks=tuple(tasks), max_parallel=8)


async def measure(n: int) -> dict[str, float]:
    app = TuiflowApp(Scheduler(layered(n), runner=FakeRunner()), terminal_alerts=False)
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.monotonic()
        while not app.dag.built:
            await asyncio.sleep(0.005)
        await pilot.pause()
        opened = time.monotonic() - t0
        nodes = len(app.dag._tree_nodes)  # noqa: SLF001 - size of what was built
        live = await pages(pilot)          # while 10 000 tasks change state
        while app.model.result is None:
            await asyncio.sleep(0.05)
        idle = await pages(pilot)
        return {"tasks": n, "rows": nodes, "open_s": opened, "live_ms": statistics.median(live) * 1000,
                "live_max_ms": max(live) * 1000, "idle_ms": statistics.median(idle) * 1000,
                "idle_max_ms": max(idle) * 1000}


async def pages(pilot, count: int = 20) -> list[float]:
    out = []
    for _ in range(count):
        t = time.monotonic()
        await pilot.press("pagedown")
        await pilot.pause()
        out.append(time.monotonic() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    r = asyncio.run(measure(args.tasks))
    ok = r["open_s"] < 3.0
    print("| tasks | tree rows | open | page down while running (median / max) | page down after (median / max) "
          "| goal | ok |\n| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {r['tasks']} | {r['rows']} | {r['open_s']:.2f} s | {r['live_ms']:.0f} / {r['live_max_ms']:.0f} ms | "
          f"{r['idle_ms']:.0f} / {r['idle_max_ms']:.0f} ms | open < 3 s | {'yes' if ok else 'NO'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
