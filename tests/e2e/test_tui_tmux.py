"""End to end: the real `tuiflow FILE` in tmux, keys sent, the screen read back as a person would."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import textwrap
import time

import pytest

from tests.e2e.tmux import TUIFLOW_CMD, Tmux


@pytest.fixture
def term(tmp_path):
    tmux = Tmux(tmp_path)
    yield tmux
    tmux.kill()


def write(tmp_path, text: str):
    path = tmp_path / "pipeline.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_retrying_a_failed_task_releases_its_downstream(tmp_path, term):
    write(tmp_path, """
        name: e2e-retry
        tasks:
          - name: broken
            command: |
              if [ -e second ]; then echo fixed now; else touch second; echo "boom" >&2; exit 3; fi
          - name: after
            depends_on: broken
            command: echo downstream ran
        """)
    term.start(*TUIFLOW_CMD, "pipeline.yaml")
    term.wait_text("✗ broken")
    screen = term.wait_text("FAILED")
    assert "⊖ after" in screen
    term.wait_text("broken · attempt 1")  # the pane shows the first row once the tree is built: r retries it
    term.send("r")
    screen = term.wait_text("✓ after")
    assert "SUCCEEDED" in term.wait_text("SUCCEEDED")
    term.send("q")
    term.wait_text("EXIT=0")


def test_plus_raises_the_limit_and_the_header_shows_it(tmp_path, term):
    write(tmp_path, """
        name: e2e-limit
        max_parallel: 1
        tasks:
          - {name: one, command: sleep 30}
          - {name: two, command: sleep 30}
          - {name: three, command: sleep 30}
        """)
    term.start(*TUIFLOW_CMD, "pipeline.yaml")
    term.wait_text("1 running / limit 1")
    term.send("+")
    term.wait_text("2 running / limit 2")
    term.send("q")
    term.wait_text("Cancel run and quit")
    term.send("c")
    term.wait_text("EXIT=1")


def test_quitting_prints_the_summary_with_each_failure(tmp_path, term):
    write(tmp_path, """
        name: e2e-summary
        tasks:
          - {name: fine, command: echo all good}
          - name: bad
            command: |
              echo "step one"
              echo "the real problem" >&2
              exit 3
          - {name: later, command: echo never, depends_on: bad}
        """)
    term.start(*TUIFLOW_CMD, "pipeline.yaml")
    term.wait_text("FAILED")
    term.send("q")
    screen = term.wait_text("EXIT=1")
    assert "e2e-summary" in screen and "FAILED" in screen
    assert "✓ fine" in screen
    assert "✗ bad" in screen and "exit 3" in screen
    assert "the real problem" in screen  # the failure's last lines
    assert "blocked: upstream bad failed" in screen  # `later` never ran, and says why


class Pty:
    """The app on a pseudo-terminal, to see the exact bytes it sends and to signal it."""

    def __init__(self, cwd, *args: str) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color"}
        env.pop("COLORTERM", None)
        self.proc = subprocess.Popen([*TUIFLOW_CMD, *args], cwd=cwd, stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def read_until(self, done, timeout: float = 30.0) -> bytes:
        end = time.monotonic() + timeout
        while not done(self.seen):
            assert time.monotonic() < end, self.seen[-800:]
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        return self.seen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_a_failure_rings_the_bell_and_sends_desktop_notifications(tmp_path):
    write(tmp_path, """
        name: e2e-bell
        tasks:
          - {name: doomed, command: exit 4}
          - {name: slower, command: sleep 1}
        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        out = pty.read_until(lambda b: b"tuiflow: run failed" in b and b"\x1b]777;notify;tuiflow: run failed" in b)
        assert b"\x1b]9;tuiflow: Task failed: doomed: exit 4\x07" in out
        assert b"\x1b]777;notify;tuiflow: Task failed;doomed: exit 4\x1b\\" in out
        assert out.count(b"\x07") >= 2  # the bell (plus OSC 9's terminator)
        assert not re.search(rb"\x1b\[[0-9;]*[34]8;2;", out)  # no 24-bit colour without COLORTERM
    finally:
        pty.close()


def test_sigterm_leaves_the_ui_and_the_run_goes_on_until_its_engine_is_stopped(tmp_path):
    """SIGTERM to the UI: it leaves at once (143) and the run goes on without it (tmux's way).
    SIGTERM to the engine: the run is cancelled cleanly, its task's process group ends, the log is kept."""
    write(tmp_path, """
        name: e2e-term
        tasks:
          - name: long
            command: echo started; echo $$ > pid; sleep 300
        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        pty.read_until(lambda b: b"RUNNING" in b and (tmp_path / "pid").exists())
        task_pid = int((tmp_path / "pid").read_text())
        pty.proc.send_signal(signal.SIGTERM)
        assert pty.proc.wait(2) == 143
        assert alive(task_pid), "the run must outlive its UI"
        (run_json,) = tmp_path.glob(".tuiflow/runs/*/run.json")
        engine = int(json.loads(run_json.read_text())["pid"])
        os.kill(engine, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while (alive(task_pid) or alive(engine)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(task_pid), "the task's process survived its engine"
        assert not alive(engine)
        run = json.loads(run_json.read_text())
        assert run["state"] == "cancelled" and run["exit_code"] == 143
        logs = list(tmp_path.glob(".tuiflow/runs/*/logs/long/1.log"))
        assert logs and logs[0].read_text() == "started\n"
    finally:
        pty.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"


def test_a_viewer_stopped_and_continued_by_someone_else_still_quits(tmp_path):
    """SIGSTOP then SIGCONT from outside (not the app's own ctrl+z): the terminal handling is not
    started a second time (two threads reading one terminal hung the app on quit)."""
    write(tmp_path, """
        name: e2e-stop
        tasks:
          - {name: waits, command: sleep 30}
        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        pty.read_until(lambda b: b"RUNNING" in b)
        threads = len(os.listdir(f"/proc/{pty.proc.pid}/task"))
        pty.proc.send_signal(signal.SIGSTOP)
        time.sleep(0.3)
        pty.proc.send_signal(signal.SIGCONT)
        time.sleep(1)
        assert len(os.listdir(f"/proc/{pty.proc.pid}/task")) == threads
        os.write(pty.master, b"q")
        pty.read_until(lambda b: b"Detach (d)" in b)
        os.write(pty.master, b"c")
        pty.read_until(lambda b: pty.proc.poll() is not None, timeout=15)
        assert pty.proc.wait(5) == 1
    finally:
        pty.close()
