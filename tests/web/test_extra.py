"""The web extra is optional: only `tuiflow serve` imports it, and without it `serve` says how to
install it. These run in any venv (the extra's absence is made in a fresh interpreter)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

WEB_PACKAGES = ("textual_serve", "aiohttp")


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_serve_without_the_web_extra_says_how_to_install_it_and_starts_nothing(tmp_path):
    (tmp_path / "pipeline.yaml").write_text("name: fine\ntasks:\n  - {name: a, command: sleep 60}\n")
    code = ("import sys\n"
            "class NotInstalled:   # finds textual_serve as a venv without the extra would: nowhere\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('textual_serve', 'aiohttp'):\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NotInstalled())\n"
            "from tuiflow.cli import main\nsys.exit(main(['serve', 'pipeline.yaml']))")
    result = run_python(code, tmp_path)
    assert result.returncode == 2, result.stderr
    assert re.search(r"the web extra is not installed \(no module '(textual_serve|aiohttp)'\)", result.stderr)
    assert "pip install 'tuiflow[web]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".tuiflow").exists(), "no run may start"


def test_a_tabs_viewer_and_the_other_commands_never_import_the_web_extra(tmp_path):
    """A tab's viewer is `tuiflow attach` (tuiflow/web/tab.py): it starts as fast as a terminal's."""
    code = ("import contextlib, io, json, sys\n"
            "import tuiflow.web.tab, tuiflow.commands.attach, tuiflow.ui.app, tuiflow.launch\n"
            "from tuiflow.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    main(['ps'])\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(WEB_PACKAGES)!r})))")
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
