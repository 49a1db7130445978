"""A task's log keeps stdout and stderr in the order they were written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TUIFLOW = os.path.join(os.path.dirname(sys.executable), "tuiflow")

PIPE = """\
name: order
tasks:
  - name: mixed
    command: for i in 1 2 3 4 5; do echo "out $i"; echo "err $i" >&2; done
  - name: kept
    command: for i in 1 2; do echo "out $i"; echo "err $i" >&2; done
    output: KEPT
  - name: user
    command: echo "got $KEPT"
    depends_on: kept
"""


def test_log_interleaves_stdout_and_stderr_as_written_and_output_takes_stdout_only(tmp_path: Path):
    (tmp_path / "p.yaml").write_text(PIPE)
    run = subprocess.run([TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    (run_dir,) = (tmp_path / ".tuiflow" / "runs").iterdir()
    log = (run_dir / "logs" / "mixed" / "1.log").read_text()
    assert log == "".join(f"out {i}\nerr {i}\n" for i in range(1, 6))
    kept = (run_dir / "logs" / "kept" / "1.log").read_text()
    assert sorted(kept.splitlines()) == ["err 1", "err 2", "out 1", "out 2"]
    assert (run_dir / "logs" / "user" / "1.log").read_text() == "got out 1\nout 2\n"
