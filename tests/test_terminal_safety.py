"""What reaches a terminal: messages with control characters from the pipeline file, task output in
headless mode and in `tuiflow logs` (colours yes; titles, queries, cursor movement no), and a
terminal that hangs up in the middle of a headless run. Real processes on a real pseudo-terminal."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TUIFLOW = [sys.executable, "-m", "tuiflow.cli"]

# A hostile task: colours (kept), then a title (OSC), a clear screen, a cursor move and a
# cursor-position query (which makes the terminal type its answer into the shell's input).
HOSTILE = b"\x1b[31mred\x1b[0m \x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[6n\x1bP+q\x1b\\after\n"
SHOWN = b"\x1b[31mred\x1b[0m after\n"


def on_terminal(argv: list[str], cwd: Path, timeout: float = 60) -> tuple[int, bytes]:
    """Run `argv` with stdout and stderr on a new pseudo-terminal; (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    got = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError as exc:   # EIO: every writer closed its end
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not chunk:
                    break
                got += chunk
            elif proc.poll() is not None and not select.select([master], [], [], 0)[0]:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, bytes(got).replace(b"\r\n", b"\n")


def write_pipeline(folder: Path, text: str) -> Path:
    file = folder / "p.yaml"
    file.write_text(textwrap.dedent(text))
    return file


HOSTILE_PIPELINE = """\
    tasks:
      - name: evil
        command: printf '\\033[31mred\\033[0m \\033]0;pwned\\007\\033[2J\\033[H\\033[6n\\033P+q\\033\\\\after\\n'
"""


# --- messages -------------------------------------------------------------------------------


def test_control_characters_from_the_file_are_escaped_in_messages(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text('name: "t\\e]0;T\\a"\ntasks:\n  - name: "a\\e]0;T\\ab\\e[2J"\n'
                                     '    command: echo\n')
    proc = subprocess.run([*TUIFLOW, "validate", "p.yaml"], cwd=tmp_path, capture_output=True)
    assert proc.returncode == 2
    assert b"\x1b" not in proc.stderr and b"\x07" not in proc.stderr
    assert b"a\\e]0;T\\x07b\\e[2J" in proc.stderr


def test_control_characters_in_a_pipeline_name_never_reach_the_terminal(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text('name: "t\\e]0;T\\a"\ntasks:\n  - name: a\n    command: "true"\n')
    code, shown = on_terminal([*TUIFLOW, "p.yaml", "--headless"], tmp_path)
    assert code == 0
    assert b"\x1b]" not in shown and b"\x07" not in shown
    assert b"\xe2\x96\xb6 t\\e]0;T\\x07 \xc2\xb7 run " in shown   # the start line: ▶ NAME · run ID


# --- task output on a terminal ------------------------------------------------------------------


def test_headless_output_on_a_terminal_keeps_colours_and_drops_the_rest(tmp_path: Path) -> None:
    write_pipeline(tmp_path, HOSTILE_PIPELINE)
    code, shown = on_terminal([*TUIFLOW, "p.yaml", "--headless"], tmp_path)
    assert code == 0
    (line,) = [ln for ln in shown.split(b"\n") if b"red" in ln]
    assert line.endswith(b" " + SHOWN.rstrip(b"\n"))
    for bad in (b"\x1b]", b"\x1b[2J", b"\x1b[H", b"\x1b[6n", b"\x1bP", b"\x07"):
        assert bad not in shown
    (log,) = (tmp_path / ".tuiflow" / "runs").glob("*/logs/evil/1.log")
    assert log.read_bytes() == HOSTILE   # the log file keeps every byte


def test_headless_output_piped_keeps_every_byte(tmp_path: Path) -> None:
    write_pipeline(tmp_path, HOSTILE_PIPELINE)
    proc = subprocess.run([*TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, capture_output=True)
    assert proc.returncode == 0 and b" " + HOSTILE in proc.stdout


def test_logs_on_a_terminal_keeps_colours_and_raw_gives_the_bytes(tmp_path: Path) -> None:
    write_pipeline(tmp_path, HOSTILE_PIPELINE)
    assert subprocess.run([*TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, capture_output=True).returncode == 0
    code, shown = on_terminal([*TUIFLOW, "logs", "p.yaml", "evil"], tmp_path)
    assert (code, shown) == (0, SHOWN)
    code, shown = on_terminal([*TUIFLOW, "logs", "p.yaml", "evil", "--raw"], tmp_path)
    assert (code, shown) == (0, HOSTILE)
    piped = subprocess.run([*TUIFLOW, "logs", "p.yaml", "evil"], cwd=tmp_path, capture_output=True)
    assert (piped.returncode, piped.stdout) == (0, HOSTILE)


# --- a terminal that hangs up ---------------------------------------------------------------


def test_a_headless_run_whose_terminal_hangs_up_goes_on_to_its_end(tmp_path: Path) -> None:
    """The write side of a hang-up: every write to the terminal now fails with EIO. The run must
    treat it as a reader that left: stop printing, and run its remaining tasks to the end."""
    write_pipeline(tmp_path, """\
        tasks:
          - name: a
            command: sleep 0.5; seq 1 5000
          - name: b
            command: echo b > b.done
            depends_on: [a]
    """)
    master, slave = pty.openpty()
    proc = subprocess.Popen([*TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""
    while b"a started" not in seen:
        select.select([master], [], [], 10)
        seen += os.read(master, 4096)
    os.close(master)   # the terminal goes away
    try:
        code = proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    assert code == 0
    assert (tmp_path / "b.done").read_text() == "b\n"
    (run,) = (tmp_path / ".tuiflow" / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["state"] == "succeeded"


@pytest.mark.parametrize("events", [False, True])
def test_the_printers_stop_quietly_on_eio(events: bool) -> None:
    """In-process: a stream whose writes fail with EIO silences the printer instead of raising."""
    from tuiflow.engine.events import RunFinished, TaskOutput
    from tuiflow.headless import HeadlessPrinter, JsonlPrinter

    class HungUp:
        def write(self, data: bytes) -> int:
            raise OSError(errno.EIO, "Input/output error")

        def flush(self) -> None:
            raise OSError(errno.EIO, "Input/output error")

        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            raise ValueError("no fd")

    printer = JsonlPrinter(HungUp()) if events else HeadlessPrinter(HungUp(), colour=False)
    printer.handle(TaskOutput(time=1.0, task="a", attempt=1, data=b"line\n"))
    printer.handle(RunFinished(time=2.0, state="succeeded", exit_code=0))
    printer.note("still fine")
