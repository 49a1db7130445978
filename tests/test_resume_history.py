"""--resume, history and logs through the real command line and real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TUIFLOW = [os.path.join(os.path.dirname(sys.executable), "tuiflow")]


def tf(*args, cwd, timeout=60):
    return subprocess.run([*TUIFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


PIPE = """\
name: resumable
tasks:
  - name: a
    command: echo "run $$" >> a.count; echo A-out
    output: AOUT
  - name: b
    command: test -f ok.flag && echo "b sees $AOUT"
    depends_on: a
  - name: c
    command: echo c-done
    depends_on: b
  - name: side
    command: echo side
"""


def runs(tmp: Path) -> list[dict]:
    out = []
    for d in sorted((tmp / ".tuiflow" / "runs").iterdir()):
        out.append(json.loads((d / "run.json").read_text()))
    return sorted(out, key=lambda r: r["started"])


def test_resume_after_a_failure_reuses_succeeded_tasks_and_outputs(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPE)
    first = tf("p.yaml", "--headless", cwd=tmp_path)
    assert first.returncode == 1
    (tmp_path / "ok.flag").touch()
    second = tf("p.yaml", "--resume", "--headless", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "b sees A-out" in second.stdout
    assert len((tmp_path / "a.count").read_text().splitlines()) == 1  # a did not run again
    last = runs(tmp_path)[-1]
    assert last["tasks"]["a"]["state"] == "succeeded" and last["tasks"]["a"]["reason"].startswith("reused from run")
    assert last["tasks"]["c"]["attempt"] == 1


def test_resume_refused_after_an_edit_unless_forced(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(PIPE)
    assert tf("p.yaml", "--headless", cwd=tmp_path).returncode == 1
    p.write_text(PIPE.replace("echo A-out", "echo A-new"))
    refused = tf("p.yaml", "--resume", "--headless", cwd=tmp_path)
    assert refused.returncode == 2
    assert "changed for tasks that succeeded there (a)" in refused.stderr and "--force" in refused.stderr
    (tmp_path / "ok.flag").touch()
    forced = tf("p.yaml", "--resume", "--force", "--headless", cwd=tmp_path)
    assert forced.returncode == 0 and "b sees A-new" in forced.stdout


def test_resume_after_sigkill_marks_interrupted_and_reruns_what_was_running(tmp_path):
    (tmp_path / "p.yaml").write_text("""\
name: long
tasks:
  - name: quick
    command: echo quick
  - name: slow
    command: sleep 300
    depends_on: quick
  - name: after
    command: echo after
    depends_on: slow
""")
    proc = subprocess.Popen([*TUIFLOW, "p.yaml", "--headless"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 20
    line = b""
    while b"slow started" not in line and time.time() < deadline:
        line = proc.stdout.readline()
    time.sleep(0.6)  # let run.json record the running state
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    hist = tf("history", "p.yaml", cwd=tmp_path)
    assert "interrupted" in hist.stdout
    (tmp_path / "p.yaml").write_text((tmp_path / "p.yaml").read_text().replace("sleep 300", "echo slow-now"))
    resumed = tf("p.yaml", "--resume", "--headless", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "slow-now" in resumed.stdout and "quick │ quick" not in resumed.stdout


def test_history_and_logs(tmp_path):
    (tmp_path / "p.yaml").write_text(PIPE)
    (tmp_path / "ok.flag").touch()
    assert tf("p.yaml", "--headless", cwd=tmp_path).returncode == 0
    os.remove(tmp_path / "ok.flag")
    assert tf("p.yaml", "--headless", cwd=tmp_path).returncode == 1
    hist = tf("history", "p.yaml", cwd=tmp_path)
    lines = hist.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "pipeline", "result"]
    assert "failed" in lines[1] and "succeeded" in lines[2]  # newest first
    first_id = lines[2].split()[0]
    log = tf("logs", "p.yaml", "b", "--run", first_id, cwd=tmp_path)
    assert log.returncode == 0 and log.stdout == "b sees A-out\n"
    missing = tf("logs", "p.yaml", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "has no task 'nope'" in missing.stderr


def test_sub_pipeline_with_params_inside_a_matrix_runs_each_instance_with_its_params(tmp_path):
    sample = Path(__file__).parent.parent / "sample_pipelines" / "sub_pipeline.yaml"
    out = subprocess.run([*TUIFLOW, str(sample), "--headless", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "regions[region=asia]/publish │ asia published 1680" in out.stdout
    assert "regions[region=us]/publish │ us published 840" in out.stdout
    assert "eu/publish │ eu published 840" in out.stdout
