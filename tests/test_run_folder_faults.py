"""What happens to the run folder when things go wrong: a full disk, a malformed or half-written
run.json, a run that is still live, a task that ignores SIGTERM, an attempt that printed nothing,
secrets in foreach instance names. Through the real command and real processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TUIFLOW = [sys.executable, "-m", "tuiflow.cli"]


def tf(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TUIFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def write(folder: Path, text: str, name: str = "p.yaml") -> Path:
    file = folder / name
    file.write_text(textwrap.dedent(text))
    return file


def run_dirs(state: Path) -> list[Path]:
    return sorted((state / "runs").iterdir())


def in_tmpfs(size: str, script: str) -> subprocess.CompletedProcess[str]:
    """`script` (sh) in a private mount namespace where $FS is a tmpfs of `size`: a disk that fills."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user and mount namespaces here")
    return subprocess.run(["unshare", "-Urm", "sh", "-c",
                           f'FS=$(mktemp -d) && mount -t tmpfs -o size={size} tmpfs "$FS" && {script}'],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


# --- a full disk -------------------------------------------------------------------------


def test_a_full_disk_is_said_once_the_run_goes_on_and_exits_non_zero(tmp_path: Path) -> None:
    file = write(tmp_path, """\
        tasks:
          - name: a
            command: head -c 400000 /dev/zero | tr '\\0' x; echo
          - name: b
            command: echo b ran
            depends_on: [a]
    """)
    tuiflow = " ".join(TUIFLOW)
    proc = in_tmpfs("256k", f'{tuiflow} {file} --headless --state-dir "$FS/st"; echo "rc=$?"; '
                            'cat "$FS"/st/runs/*/run.json')
    out = proc.stdout
    assert "rc=120" in out, proc.stderr
    notices = [line for line in out.splitlines() if "cannot write" in line]
    assert len(notices) == 2, notices   # when it happened, and in the summary
    assert notices[0].endswith("/logs/a/1.log: No space left on device: the run goes on; "
                               "its record in the run folder is incomplete")
    assert "⚠ the run folder is incomplete: cannot write " in notices[1]
    assert "b │ b ran" in out and "1 tasks" not in out and "exit 120" in out
    last_good = json.loads(out[out.index("rc=120") + 7:])
    assert last_good["run_id"] and isinstance(last_good["tasks"], dict)


def test_a_disk_full_at_start_names_the_path(tmp_path: Path) -> None:
    file = write(tmp_path, "tasks:\n  - name: a\n    command: echo a\n")
    tuiflow = " ".join(TUIFLOW)
    proc = in_tmpfs("8k", f'head -c 8192 /dev/zero > "$FS/fill"; {tuiflow} {file} --headless '
                          f'--state-dir "$FS/st"; echo "rc=$?"')
    assert "rc=120" in proc.stdout
    assert proc.stderr.startswith("tuiflow: cannot write /")
    assert proc.stderr.rstrip().endswith("/run.json: No space left on device")


# --- logs ----------------------------------------------------------------------------------


def test_every_attempt_has_a_log_file_even_an_empty_one(tmp_path: Path) -> None:
    write(tmp_path, """\
        tasks:
          - name: quiet
            command: test -f again || { touch again; exit 1; }
            retries: 1
            retry_delay: 0s
    """)
    proc = tf("p.yaml", "--headless", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    (run,) = run_dirs(tmp_path / ".tuiflow")
    logs = run / "logs" / "quiet"
    assert sorted(os.listdir(logs)) == ["1.log", "2.log"]
    assert (logs / "1.log").read_bytes() == b"" and (logs / "2.log").read_bytes() == b""
    shown = tf("logs", "p.yaml", "quiet", "--attempt", "1", cwd=tmp_path)
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, "", "")


# --- reading run folders back ------------------------------------------------------------


@pytest.mark.parametrize("content", [
    '{"started": "yesterday", "tasks": {}}',
    '{"tasks": [1, 2]}',
    '{"tasks": {"a": 5}, "state": "succeeded"}',
    '[1, 2, 3]',
    'not json at all',
])
def test_a_malformed_run_json_is_skipped_with_a_warning(tmp_path: Path, content: str) -> None:
    write(tmp_path, "tasks:\n  - name: a\n    command: echo a\n")
    first = tf("p.yaml", "--headless", cwd=tmp_path)
    assert first.returncode == 0
    bad = tmp_path / ".tuiflow" / "runs" / "2020-01-01T00-00-00"
    bad.mkdir(mode=0o700)
    (bad / "run.json").write_text(content)
    warning = f"tuiflow: warning: skipped {bad}/run.json: not a readable run.json ("
    for argv in (("p.yaml", "--headless"), ("history", "p.yaml"), ("logs", "p.yaml", "a"),
                 ("p.yaml", "--resume", "--headless")):
        proc = tf(*argv, cwd=tmp_path)
        assert proc.returncode == 0, (argv, proc.stderr)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(warning), (argv, proc.stderr)


def test_a_stray_temp_file_of_a_killed_run_is_cleaned_on_the_next_start(tmp_path: Path) -> None:
    write(tmp_path, "tasks:\n  - name: a\n    command: echo $$ > task.pid; exec sleep 30\n")
    proc = subprocess.Popen([*TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    while b"a started" not in proc.stdout.readline():
        pass
    (run,) = run_dirs(tmp_path / ".tuiflow")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    while not (tmp_path / "task.pid").exists() or not (tmp_path / "task.pid").read_text().endswith("\n"):
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int((tmp_path / "task.pid").read_text()), signal.SIGKILL)   # the task lives on its own
    (run / ".run.json.tmp").write_text('{"half": ')   # as a kill in the middle of a write leaves it
    write(tmp_path, "tasks:\n  - name: a\n    command: echo again\n")
    assert tf("p.yaml", "--headless", cwd=tmp_path).returncode == 0
    assert ".run.json.tmp" not in os.listdir(run) and "run.json" in os.listdir(run)
    assert "interrupted" in tf("history", "p.yaml", cwd=tmp_path).stdout


def test_resume_refuses_a_run_that_is_still_live(tmp_path: Path) -> None:
    write(tmp_path, """\
        tasks:
          - name: a
            command: echo a >> a.count
          - name: b
            command: sleep 30
            depends_on: [a]
    """)
    live = subprocess.Popen([*TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, stdout=subprocess.PIPE)
    try:
        assert live.stdout is not None
        while b"b started" not in live.stdout.readline():
            pass
        live.send_signal(signal.SIGSTOP)   # stopped, not dead: still the same run's engine
        time.sleep(0.1)
        (run,) = run_dirs(tmp_path / ".tuiflow")
        proc = tf("p.yaml", "--resume", "--headless", cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr == (f"tuiflow: run {run.name} is still running (engine pid {live.pid}): resuming it "
                               f"would run its tasks twice; attach to it with `tuiflow attach {run.name}`, or "
                               f"cancel it first (`C` in its TUI, or kill -TERM {live.pid})\n")
        assert (tmp_path / "a.count").read_text() == "a\n" and len(run_dirs(tmp_path / ".tuiflow")) == 1
    finally:
        live.send_signal(signal.SIGCONT)
        live.terminate()
        live.wait(timeout=30)


# --- what the run records ------------------------------------------------------------------


def test_a_sigkill_after_the_grace_is_recorded_everywhere(tmp_path: Path) -> None:
    write(tmp_path, """\
        kill_grace: 1s
        tasks:
          - name: stubborn
            command: trap '' TERM; sleep 30
            timeout: 300ms
          - name: polite
            command: sleep 30
            timeout: 300ms
    """)
    proc = tf("p.yaml", "--headless", cwd=tmp_path)
    assert proc.returncode == 1
    said = "timed out after 300ms; killed by SIGKILL after 1 s grace"
    assert f"stubborn {said}" in proc.stdout
    assert [line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("polite ")] == ["300ms"]
    summary = proc.stdout[proc.stdout.index("── summary"):]
    assert "stubborn  timed_out" in summary and summary.count("SIGKILL") == 1
    (run,) = run_dirs(tmp_path / ".tuiflow")
    tasks = json.loads((run / "run.json").read_text())["tasks"]
    assert tasks["stubborn"]["reason"] == said and tasks["polite"]["reason"] == "timed out after 300ms"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["reason"] for e in events if e.get("task") == "stubborn" and e.get("state") == "timed_out"] == [said]


def test_secrets_in_foreach_items_are_masked_in_instance_names(tmp_path: Path) -> None:
    write(tmp_path, """\
        secrets: [TOKEN]
        env:
          TOKEN: s3cr3t-value
        tasks:
          - name: list
            command: printf 'plain\\n%s\\n%s-2\\n' "$TOKEN" "$TOKEN"
          - name: each
            foreach: list
            depends_on: [list]
            command: test "$ITEM" = plain || test "$ITEM" = s3cr3t-value || test "$ITEM" = s3cr3t-value-2
    """)
    proc = tf("p.yaml", "--headless", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "+ 3 tasks added: each[plain], each[***], each[***-2]" in proc.stdout
    (run,) = run_dirs(tmp_path / ".tuiflow")
    seen = proc.stdout + proc.stderr + "\n".join(str(p) for p in run.rglob("*"))
    for path in run.rglob("*"):
        if path.is_file():
            seen += path.read_text()
    assert "s3cr3t" not in seen
