"""What reaches the terminal: no mouse reporting with --no-mouse, a task's 16 colours as the
terminal's own (so the user's palette applies), a desktop notification when the run ends."""

from __future__ import annotations

import re

from tests.e2e.test_tui_tmux import Pty, write

MOUSE_ON = re.compile(rb"\x1b\[\?(1000|1002|1003|1006|1015)h")   # 1004 is focus reporting


def test_no_mouse_never_turns_mouse_reporting_on_and_the_default_does(tmp_path):
    write(tmp_path, """
        name: e2e-mouse
        tasks:
          - {name: hello, command: echo hello}
        """)
    for args, wanted in ((("--no-mouse",), False), ((), True)):
        pty = Pty(tmp_path, "pipeline.yaml", *args)
        try:
            out = pty.read_until(lambda b: b"SUCCEEDED" in b)
            assert b"SUCCEEDED" in out
            assert bool(MOUSE_ON.search(out)) is wanted, args
        finally:
            pty.close()


def test_a_run_that_succeeds_says_so_in_a_desktop_notification(tmp_path):
    """OSC 9 and OSC 777 go to the terminal through Textual's driver (tuiflow/ui/textual_driver.py):
    a Textual that changed it fails here, on the bytes a terminal gets."""
    write(tmp_path, """
        name: e2e-notify
        tasks:
          - {name: hello, command: echo hello}
        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        out = pty.read_until(lambda b: b"\x1b]777;notify;tuiflow: run succeeded;" in b)
        assert b"\x1b]9;tuiflow: run succeeded: e2e-notify: succeeded in " in out
        assert b"\x1b]777;notify;tuiflow: run succeeded;e2e-notify: succeeded in " in out
    finally:
        pty.close()


def colours_before(out: bytes, text: bytes) -> set[int]:
    """The plain SGR codes (30-37, 90-97...) of the last SGR sequence before `text`; 38/48 with
    their palette or RGB arguments are skipped."""
    sgr = re.findall(rb"\x1b\[([0-9;]*)m", out[:out.index(text)])[-1]
    params = [int(p or 0) for p in sgr.split(b";")]
    codes, i = set(), 0
    while i < len(params):
        if params[i] in (38, 48):
            i += 3 if params[i + 1] == 5 else 5
            continue
        codes.add(params[i])
        i += 1
    return codes


def test_a_tasks_sixteen_colours_reach_the_terminal_as_they_are(tmp_path):
    write(tmp_path, r"""
        name: e2e-colours
        tasks:
          - name: paint
            command: |
              printf '\033[31mred words\033[0m \033[92mbright green\033[0m\n'

        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        out = pty.read_until(lambda b: b"bright green" in b and b"SUCCEEDED" in b)
        assert 31 in colours_before(out, b"red words")      # not 38;5;N: the terminal's own red
        assert 92 in colours_before(out, b"bright green")
    finally:
        pty.close()


def _kib(pid: int, key: str) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def test_a_200_mb_burst_grows_the_tui_by_less_than_100_mb(tmp_path):
    write(tmp_path, """
        name: e2e-burst
        log_limit: 2GB
        tasks:
          - name: flood
            command: sleep 2; yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -c 200000000; echo; echo THE END
        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        pty.read_until(lambda b: b"flood" in b and b"limit" in b)
        base = _kib(pty.proc.pid, "VmRSS:")
        out = pty.read_until(lambda b: b"SUCCEEDED" in b, timeout=120)
        assert b"SUCCEEDED" in out
        grown = _kib(pty.proc.pid, "VmHWM:") - base
        assert grown < 100 * 1024, f"the TUI grew by {grown // 1024} MiB during the burst"
    finally:
        pty.close()
