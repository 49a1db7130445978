"""tuiflow/engine never imports textual or rich, and `tuiflow validate` stays free of the UI.

Each check runs in a fresh interpreter: in this one, other tests have imported textual already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "tuiflow" / "engine"
MODULES = sorted(f"tuiflow.engine.{p.stem}" for p in ENGINE.glob("*.py") if p.stem != "__init__")
UI_PACKAGES = ("textual", "rich")


def loaded_ui_packages(code: str) -> list[str]:
    probe = code + f"\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(UI_PACKAGES)!r})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_engine_modules_are_found() -> None:
    assert {"tuiflow.engine.loader", "tuiflow.engine.yamlsource", "tuiflow.engine.model"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_engine_module_imports_no_ui(module: str) -> None:
    assert loaded_ui_packages(f"import {module}") == []


def test_validate_and_graph_load_no_ui(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("tasks:\n  - {name: a, command: a}\n  - {name: b, command: b, depends_on: a}\n")
    code = ("import contextlib, io\nfrom tuiflow.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['validate', {str(f)!r}]) == 0\n"
            f"    assert main(['graph', {str(f)!r}]) == 0\n"
            f"    assert main([{str(f)!r}, '--dry-run']) == 0\n"
            "    assert main(['schema']) == 0")
    assert loaded_ui_packages(code) == []


def test_a_program_importing_tuiflow_keeps_asyncio_tls() -> None:
    """Only the `tuiflow` command itself imports asyncio without ssl (see cli.entry)."""
    code = ("import tuiflow.cli, tuiflow.launch, asyncio.sslproto, asyncio.base_events;"
            "assert asyncio.sslproto.ssl is not None and asyncio.base_events.ssl is not None")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
