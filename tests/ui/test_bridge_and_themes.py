"""The bridge batches output but never reorders or drops; themes load, or say why not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tuiflow.engine.events import Paused, TaskOutput, TaskStateChanged
from tuiflow.engine.model import TaskState
from tuiflow.ui.bridge import Bridge, EngineBatch, OutputChunk
from tuiflow.ui.themes import load_themes, theme_dirs


class Target:
    def __init__(self) -> None:
        self.messages: list[EngineBatch] = []

    def post_message(self, message: EngineBatch) -> bool:
        self.messages.append(message)
        return True


async def test_output_is_merged_per_task_and_states_keep_their_order():
    target = Target()
    bridge = Bridge(target, interval=0.05)  # type: ignore[arg-type]
    for i in range(1000):
        bridge.handle(TaskOutput(time=0, task="a", attempt=1, data=b"x%d\n" % i))
    bridge.handle(TaskStateChanged(time=0, task="a", state=TaskState.FAILED, attempt=1))
    bridge.handle(TaskOutput(time=0, task="a", attempt=2, data=b"again\n"))
    bridge.handle(Paused(time=0))
    await asyncio.sleep(0.1)
    items = [i for m in target.messages for i in m.items]
    assert len(target.messages) == 1
    assert isinstance(items[0], OutputChunk) and items[0].data.count(b"\n") == 1000
    assert isinstance(items[1], TaskStateChanged)
    assert isinstance(items[2], OutputChunk) and items[2].attempt == 2
    assert isinstance(items[3], Paused)


async def test_flushes_at_most_about_fifteen_times_a_second():
    target = Target()
    bridge = Bridge(target)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    end = loop.time() + 0.5
    while loop.time() < end:
        bridge.handle(TaskOutput(time=0, task="a", attempt=1, data=b"x\n"))
        await asyncio.sleep(0.001)
    bridge.close()
    assert 5 <= len(target.messages) <= 10
    total = sum(i.data.count(b"\n") for m in target.messages for i in m.items)
    assert total > 100


def test_the_three_shipped_themes_load_with_status_colours():
    themes, problems = load_themes()
    names = {t.name for t in themes}
    assert {"tuiflow-dark", "tuiflow-light", "tuiflow-ansi"} <= names and not problems
    ansi = next(t for t in themes if t.name == "tuiflow-ansi")
    colours = [ansi.primary, ansi.background, *(v for k, v in ansi.variables.items() if k.startswith("status-"))]
    assert all(c.startswith("ansi_") for c in colours)
    for theme in themes:
        assert "status-failed" in theme.variables and "status-running" in theme.variables


def test_broken_theme_files_are_reported_with_their_reason(tmp_path: Path):
    (tmp_path / "good.yaml").write_text("name: good\nprimary: '#112233'\n")
    (tmp_path / "badcolour.yaml").write_text("name: bad\nprimary: notacolour\n")
    (tmp_path / "unknown.yaml").write_text("name: u\nprimary: red\nsparkle: yes\n")
    (tmp_path / "syntax.yaml").write_text("name: [unclosed\n")
    themes, problems = load_themes([tmp_path])
    assert [t.name for t in themes] == ["good"]
    reasons = {p.file: p.reason for p in problems}
    assert "notacolour" in reasons["badcolour.yaml"]
    assert "sparkle" in reasons["unknown.yaml"]
    assert "syntax.yaml" in reasons


def test_themes_are_found_in_the_repository_folder():
    assert any((d / "tuiflow-dark.yaml").exists() for d in theme_dirs())


def test_themes_are_found_in_an_installed_package_without_the_repository(tmp_path: Path):
    """What `pip install .` lays out: the wheel force-includes themes/ as tuiflow/_themes."""
    import shutil
    import subprocess
    import sys
    import tomllib

    root = Path(__file__).resolve().parents[2]
    build = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert build["force-include"]["themes"] == "tuiflow/_themes"
    site = tmp_path / "site"
    shutil.copytree(root / "tuiflow", site / "tuiflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "themes", site / "tuiflow" / "_themes")
    code = ("import tuiflow.ui.themes as t; print(t.__file__); print(t.theme_dirs());"
            "print(sorted(x.name for x in t.load_themes()[0]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, check=True).stdout
    assert str(site) in out and "_themes" in out and str(root / "themes") not in out
    assert "'tuiflow-ansi', 'tuiflow-dark', 'tuiflow-light'" in out
