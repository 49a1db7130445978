"""Shared by the UI tests: scripted pipelines on the real Scheduler with the FakeRunner.

A tiny file store stands in for the run store so panes can load earlier output from disk
the way they do in a real run.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.engine.fakes import FakeRunner
from tuiflow.engine.events import Event, TaskOutput
from tuiflow.engine.model import Pipeline, TaskSpec
from tuiflow.engine.scheduler import Scheduler
from tuiflow.ui.app import TuiflowApp

FROZEN = 1_795_000_000.0  # 2026-11-18, any fixed instant


def t(name: str, command: str | None = "ok", *deps: str, **kw) -> TaskSpec:
    return TaskSpec(name=name, command=command, depends_on=tuple(deps), **kw)


class FileStore:
    """Writes each attempt's output to logs/<task>/<attempt>.log, like the run store (the
    scheduler's `Store`): at once, as it is handed over, so there is nothing to start, sync or close."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = "2026-11-23T14:02:11"
        self.run_dir = str(root)
        self.on_problem = None

    async def start(self) -> None:
        pass

    async def sync(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def log_path(self, task: str, attempt: int) -> str:
        return str(self.root / "logs" / task / f"{attempt}.log")

    def handle(self, event: Event) -> None:
        if isinstance(event, TaskOutput):
            path = Path(self.log_path(event.task, event.attempt))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as f:
                f.write(event.data)


# Where make_app puts a run folder when not given one: the test's tmp_path (tests/ui/conftest.py).
DEFAULT_ROOT: Path | None = None


def make_app(*specs: TaskSpec, limit: int = 2, tmp: Path | None = None, frozen: bool = False,
             theme: str | None = None, **kw) -> tuple[TuiflowApp, Scheduler, FakeRunner]:
    pipe = Pipeline(name="demo", file="/tmp/demo.yaml", tasks=tuple(specs), max_parallel=limit, **kw)
    runner = FakeRunner()
    clock = (lambda: FROZEN) if frozen else None
    store = FileStore(tmp if tmp is not None else Path(tempfile.mkdtemp(prefix="tuiflow-ui-", dir=DEFAULT_ROOT)))
    sched = Scheduler(pipe, runner=runner, store=store, **({"clock": clock} if clock else {}))
    app = TuiflowApp(sched, theme=theme, terminal_alerts=False, title="demo",
                     **({"clock": clock} if clock else {}))
    return app, sched, runner


async def until(pilot, cond, timeout: float = 15.0) -> None:
    """Wait (letting the app process messages) until cond() holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if cond():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def screen_text(app: TuiflowApp) -> str:
    """What the terminal shows, as plain text lines."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, record=True, file=open("/dev/null", "w"),
                      color_system=None, legacy_windows=False)
    screen = app.screen
    for strip in screen._compositor.render_strips():  # noqa: SLF001 - plain text of the screen
        console.print(strip.text, soft_wrap=True, end="\n", markup=False, highlight=False)
    return console.export_text()
