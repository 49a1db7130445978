"""--dry-run prints the order a real run uses: checked against a real run at limit 1."""

from __future__ import annotations

import os
import re
import subprocess
import sys

TUIFLOW = os.path.join(os.path.dirname(sys.executable), "tuiflow")

PIPE = """\
name: order
tasks:
  - {name: lone, command: "true"}
  - {name: c1, command: "true"}
  - {name: c2, command: "true", depends_on: c1}
  - {name: c3, command: "true", depends_on: c2}
  - {name: fan, command: "true", matrix: {k: [x, y]}}
  - {name: join, command: "true", depends_on: [fan, lone]}
  - {name: tail, command: "true", depends_on: c2}
"""


def test_dry_run_order_matches_the_real_start_order_at_limit_1(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPE)
    dry = subprocess.run([TUIFLOW, "p.yaml", "--dry-run", "--max-parallel", "1"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    planned = [line.split()[3] for line in dry.splitlines()[1:]]
    real = subprocess.run([TUIFLOW, "p.yaml", "--headless", "--max-parallel", "1"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}).stdout
    started = re.findall(r"^\S+ ● (.+) started pid \d+$", real, re.M)
    assert started == planned
    assert planned[0] == "c1"  # the longest chain starts first, though listed second
    assert "fan[k=x]" in planned and "fan" not in planned  # virtual fan-in runs no process
