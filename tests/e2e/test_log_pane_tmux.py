"""End to end, as a user over ssh would: `tuiflow attach` to a detached run at 80x24, no colours,
keys in bursts; the log pane shows any line of a long log, finds text the pane never held, and
control sequences from a task never reach the terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.tmux import TUIFLOW_CMD, Tmux

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="tmux and Linux process tools")


@pytest.fixture
def term(tmp_path):
    tmux = Tmux(tmp_path, 80, 24)
    yield tmux
    tmux.kill()
    for run_json in tmp_path.glob("**/.tuiflow/runs/*/run.json"):   # no engine outlives the test
        pid = json.loads(run_json.read_text()).get("pid")
        if isinstance(pid, int) and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGTERM)


def test_attach_at_80x24_finds_and_shows_any_line_of_a_long_log(tmp_path, term):
    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent("""
        name: e2e-long-log
        tasks:
          - name: long
            command: |
              printf '\\033]0;HACKED\\007title gone\\n'
              printf 'abc\\bX\\n'
              seq -f 'row %06g' 1 300000
          - name: keep
            command: sleep 60
        """))
    started = subprocess.run([*TUIFLOW_CMD, "pipeline.yaml", "--detach"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    term.start(*TUIFLOW_CMD, "attach", env={"NO_COLOR": "1", "TERM": "xterm"})
    term.wait_text("row 300000")                     # the first task is shown, at its end
    term.send("/", "row 000007", "Enter", "n", "n")    # one burst: search, the query, enter, next, next
    term.wait_for(lambda s: "/row 000007: 1/1" in s and s.count("row 000007") == 2 and "row 000008" in s,
                  what="the match on screen")
    term.send("Home")
    screen = term.wait_text("abX")                     # the first lines, read back from the engine
    assert "title gone" in screen and "HACKED" not in screen and "row 000001" in screen
    rows = [line.split("▕", 1)[1].strip() for line in screen.splitlines() if "▕" in line]
    height = len([r for r in rows if r.startswith(("row ", "title gone", "abX"))])   # lines in the pane
    term.send("PageDown", "PageDown", "PageDown")     # a burst: three pages, none lost
    first = 1 + 3 * height                            # line 1 is "title gone", line 2 "abX"
    term.wait_for(lambda s: f"▕row {first - 2:06d}" in s and f"▕row {first - 3:06d}" not in s,
                  what=f"line {first} at the top")
    title = term._tmux("display-message", "-p", "#{pane_title}").stdout
    assert "HACKED" not in title                      # the task's OSC never reached the terminal
    term.send("End")
    term.wait_text("row 300000")
    term.send("q")
    term.wait_text("Detach")
    term.send("d")
    term.wait_text("EXIT=0")
