"""Pipeline files made to hurt: an alias bomb, many mistakes at once, YAML 1.1 numbers, a huge task
name, a FIFO nobody writes to, a pipe instead of a file. Each gets a clear `file:line:col` answer
(exit 2), never a hang, a traceback or unbounded memory."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TUIFLOW = [sys.executable, "-m", "tuiflow.cli"]
MEMORY_CAP = 1 << 30   # a run-away process dies here instead of eating the machine


def cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def tf(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The command in `cwd`, its messages with `cwd/` left out of the paths."""
    proc = subprocess.run([*TUIFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=cap_memory)
    proc.stderr = proc.stderr.replace(f"{cwd}/", "")
    return proc


def write(folder: Path, text: str, name: str = "p.yaml") -> Path:
    file = folder / name
    file.write_text(textwrap.dedent(text))
    return file


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
tasks:
  - name: x
    command: echo
"""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_alias_bomb_is_refused_with_its_position(tmp_path: Path, command: str) -> None:
    write(tmp_path, BILLION_LAUGHS)
    proc = tf(command, "p.yaml", *(["--headless"] if command == "run" else []), cwd=tmp_path, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr == ("p.yaml:6:8: the aliases of this file expand to more than 100,000 nodes "
                           "('*e' is 66,430 of them): an alias bomb, not a pipeline\n")
    assert not (tmp_path / ".tuiflow").exists()


def test_aliases_and_merges_within_the_bound_still_work(tmp_path: Path) -> None:
    write(tmp_path, """\
        x-defaults: &defaults {retries: 1, timeout: 10s}
        tasks:
          - name: a
            <<: *defaults
            command: echo a
          - name: b
            <<: *defaults
            command: echo b
    """)
    proc = tf("validate", "p.yaml", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "p.yaml: ok (2 tasks)\n")


def test_a_duplicate_key_does_not_hide_the_other_mistakes(tmp_path: Path) -> None:
    write(tmp_path, """\
        name: six
        max_parallel: zero
        fail_fast: no
        tasks:
          - name: a
            command: echo a
            command: echo b
          - name: b
            depends_on: [nope]
            comand: x
          - name: c
            timeout: forever
            command: x
            retries: -1
    """)
    proc = tf("validate", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "p.yaml:2:15: max_parallel 'zero' is not a whole number >= 1",
        "p.yaml:3:12: 'no' is read as the boolean false by YAML 1.1: quote it (\"no\") for text, or write false",
        "p.yaml:7:5: duplicate key 'command' (first defined at line 6); YAML would silently keep only the last one",
        "p.yaml:8:5: task 'b' has no `command` (or `pipeline:` to run a sub-pipeline)",
        "p.yaml:9:18: task 'b': depends_on 'nope' is not a task",
        "p.yaml:10:5: task 'b': unknown key 'comand' (did you mean 'command'?)",
        "p.yaml:12:14: task 'c': timeout 'forever' is not a duration: use 500ms, 30s, 10m, 1h, 1h30m or a "
        "number of seconds",
        "p.yaml:14:14: task 'c': retries -1 is not a whole number >= 0",
    ]


def test_numbers_in_env_params_and_matrix_keep_the_text_as_written(tmp_path: Path) -> None:
    write(tmp_path, """\
        params:
          RELEASE: 2.50
        env:
          VERSION: 1.10
          BIG: 1_000
          SCI: 1e3
        tasks:
          - name: show
            command: echo "$VERSION $BIG $SCI $RELEASE $PY"
            matrix: {PY: [3.10, 3.9]}
          - name: argv
            command: [echo, 1.10]
    """)
    proc = tf("p.yaml", "--headless", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = sorted(line.split(" │ ", 1)[1] for line in proc.stdout.splitlines() if " │ " in line)
    assert shown == ["1.10", "1.10 1_000 1e3 2.50 3.10", "1.10 1_000 1e3 2.50 3.9"]
    assert "show[PY=3.10]" in proc.stdout


def test_a_huge_task_name_is_refused_at_validation(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(f"tasks:\n  - name: {'x' * 1_000_000}\n    command: echo\n")
    proc = tf("validate", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == f"p.yaml:2:11: task name '{'x' * 40}…' is 1,000,000 characters long: at most 200\n"
    ok = write(tmp_path, f"tasks:\n  - name: {'y' * 200}\n    command: echo\n", "ok.yaml")
    assert tf("validate", str(ok), cwd=tmp_path).returncode == 0


def test_a_fifo_nobody_writes_to_is_refused_after_a_wait(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.yaml")
    script = ("import sys, tuiflow.engine.yamlsource as y; y.STREAM_TIMEOUT = 0.3; "
              "from tuiflow.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "validate", "p.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.replace(f"{tmp_path}/", "") == ("p.yaml:1:1: is a pipe (FIFO) and nothing was written to it for 0.3 s: "
                           "give the pipeline's YAML file, or write it there\n")


def test_a_device_is_not_a_pipeline_file(tmp_path: Path) -> None:
    for device in ("/dev/loop0", "/dev/sda", "/dev/vda"):
        if os.path.exists(device):
            break
    else:
        pytest.skip("no block device to point at")
    proc = tf("validate", device, cwd=tmp_path)
    assert proc.returncode == 2 and "is not a regular file" in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="process substitution needs bash")
def test_a_pipeline_from_process_substitution_is_read_once_and_runs(tmp_path: Path) -> None:
    write(tmp_path, "tasks:\n  - name: a\n    command: pwd\n", "src.yaml")
    write(tmp_path, "env:\n  N: 0755\ntasks:\n  - name: a\n    command: echo\n", "bad.yaml")
    run = " ".join(TUIFLOW)
    proc = subprocess.run(["bash", "-c", f"{run} run <(cat src.yaml) --headless; echo rc=$?; "
                                         f"{run} validate <(cat bad.yaml); echo rc=$?"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert f"a │ {tmp_path}\n" in proc.stdout and "rc=0" in proc.stdout, proc.stderr
    assert len(list((tmp_path / ".tuiflow" / "runs").iterdir())) == 1
    assert proc.stdout.rstrip().endswith("rc=2")
    assert proc.stderr.endswith(":2:6: '0755' is read as a base-60 or octal number by YAML 1.1: "
                                "quote it (\"0755\") for text\n")
