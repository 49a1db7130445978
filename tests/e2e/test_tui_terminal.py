"""What reaches the terminal: no mouse reporting with --no-mouse, a task's 16 colours as the
terminal's own (so the user's palette applies)."""

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
