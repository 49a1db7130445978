"""Real Dagu files (`../shared/compat/dagu-corpus/`): no traceback, no hang, no silent divergence.

The corpus is Dagu's own (GPL): it is read where it lies, never copied into this repository,
and these tests skip, saying why, when it is not there. `tests/dagu_corpus.py` sorts each
file into a class; `python -m tests.dagu_corpus` prints the counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import dagu_corpus as corpus
from tuiflow.engine.errors import PipelineInvalid
from tuiflow.engine.loader import load, validate

FILES = corpus.corpus_files()
needs_corpus = pytest.mark.skipif(not FILES, reason=f"Dagu corpus not found at {corpus.CORPUS}")
TUIFLOW = [sys.executable, "-m", "tuiflow.cli"]
REPO = Path(__file__).resolve().parents[2]

#: Refusals whose reason is not (yet) a Dagu feature: each a known, accepted exception.
KNOWN_WRONG = {
    # a sub-DAG document with a DAG-level `command`, which no Dagu release has
    "v1.23.4/docs__features__distributed-execution.md__L116/dag.yaml",
    # two alternative DAGs in one file, the second without the `name` a sub-DAG needs
    "v1.23.4/docs__writing-workflows__examples.md__L105/dag.yaml",
}


def path_of(rel: str) -> Path:
    return corpus.CORPUS / rel


def tuiflow(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*TUIFLOW, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=env, stdin=subprocess.DEVNULL)


@needs_corpus
def test_every_corpus_file_validates_to_a_clear_verdict() -> None:
    """All 438 files through the loader (in process: ~5 s): each loads, or every message is
    positioned and gives a true reason — mostly "a Dagu feature tuiflow does not run"."""
    known = corpus.releases()
    wrong: list[str] = []
    diverging: list[str] = []
    for path in FILES:
        rel = path.relative_to(corpus.CORPUS).as_posix()
        try:
            pipeline = load(str(path))
        except PipelineInvalid as exc:
            outcome = corpus.judge_refusal(rel, [str(e) for e in exc.errors])
            if outcome.kind != "refused-clearly" and rel not in KNOWN_WRONG:
                wrong.append(f"{rel}: {outcome.detail}")
            continue
        outcome = corpus.judge_loaded(rel, corpus.documents(path), corpus.release_of(rel, known),
                                      "\n".join(pipeline.notes), dag_vars=True)
        if outcome.kind == "diverges":
            diverging.append(f"{rel}: {outcome.detail}")
    assert wrong == []
    assert diverging == []


@needs_corpus
def test_shell_only_corpus_files_run_headless_as_dagu_runs_them() -> None:
    """A representative third of the files that need only a shell (every third, ~45 files,
    two at a time: ~15 s), each run headless in a scratch copy of its folder with a 30 s
    timeout: no traceback, no hang, and the exit code Dagu gives (`DAGU_FAILS` lists the files
    that fail in Dagu too). `python -m tests.dagu_corpus` runs all of them."""
    runnable = [p for p in FILES if corpus.shell_only(corpus.documents(p)) and not validate(str(p))]
    assert len(runnable) > 100
    chosen = runnable[::3]

    def run(path: Path) -> str | None:
        rel = path.relative_to(corpus.CORPUS).as_posix()
        code, out = corpus.run_headless(TUIFLOW, path, timeout=30)
        expected = 1 if rel in corpus.DAGU_FAILS else 0
        if code is None or "Traceback" in out or code != expected:
            return f"{rel}: exit {code}, expected {expected}\n{out[-600:]}"
        return None

    env_before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(REPO)
    try:
        with ThreadPoolExecutor(2) as pool:
            problems = [p for p in pool.map(run, chosen) if p]
    finally:
        if env_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_before
    assert problems == []


# --- each silent divergence of issue 12, on a real file ---------------------------------


@needs_corpus
def test_no_type_and_several_roots_gets_a_note_in_validate_and_the_headless_header(tmp_path: Path) -> None:
    rel = "v1.17.2/internal/testdata/cmd/status_multiple.yaml"
    result = tuiflow("validate", str(path_of(rel)))
    assert result.returncode == 0
    note = f"{path_of(rel)}:2:1: note: no `type:`, so tuiflow runs this DAG as a graph: the 10 steps"
    assert result.stderr.startswith(note)
    assert "write `type: chain` for that order, or `type: graph`" in result.stderr
    assert "ok (10 tasks, 1 note)" in result.stdout
    run = tuiflow(str(path_of(rel)), "--headless", "--state-dir", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0
    header = run.stdout.splitlines()[:2]
    assert "▶ status-multiple" in header[0] and " ! " + note in header[1]


def test_notes_go_to_stderr_with_events_jsonl(tmp_path: Path) -> None:
    dag = tmp_path / "dag.yaml"
    dag.write_text("steps:\n  - echo a\n  - echo b\n")
    run = tuiflow(str(dag), "--events", "jsonl", "--state-dir", str(tmp_path / "state"))
    assert run.returncode == 0
    assert run.stderr.startswith(f"{dag}:1:1: note: no `type:`")
    assert all(json.loads(line) for line in run.stdout.splitlines())


@needs_corpus
def test_a_chain_type_has_no_note() -> None:
    result = tuiflow("validate", str(path_of("v1.17.2/internal/testdata/integration/chain.yaml")))
    assert result.returncode == 0 and result.stderr == ""


@needs_corpus
def test_reading_an_output_that_is_not_upstream_is_warned_where_it_is_read(tmp_path: Path) -> None:
    # `report` reads both counts and depends on both; with one `depends` gone it would race
    # `count-orders` and read nothing
    rel = "v1.23.4/docs__features__data-flow.md__L41/dag.yaml"
    pipeline = load(str(path_of(rel)))
    assert not any("warning" in n for n in pipeline.notes)
    broken = tmp_path / "dag.yaml"
    broken.write_text(path_of(rel).read_text().replace("      - count-orders\n", ""))
    notes = load(str(broken)).notes
    warnings = [n for n in notes if "warning" in n]
    assert warnings == [f"{broken}:13:21: warning: task 'report' reads ${{ORDER_COUNT}}, the output of "
                        "'count-orders', which is not upstream of it: it runs without that value (empty) "
                        "unless it waits for 'count-orders' (add it to its dependencies)"]


@needs_corpus
def test_continue_on_failure_lets_the_next_step_run_and_the_run_still_fails(tmp_path: Path) -> None:
    rel = "v1.17.2/internal/testdata/cmd/status_skipped.yaml"
    run = tuiflow(str(path_of(rel)), "--headless", "--state-dir", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 1, run.stdout
    (run_json,) = tmp_path.glob("runs/*/run.json")
    state = json.loads(run_json.read_text())
    assert state["state"] == "failed"
    assert {name: t["state"] for name, t in state["tasks"].items()} == {"check": "failed", "skipped": "skipped"}


def test_native_continue_on_failure_is_never_an_exit_0(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent("""\
        tasks:
          - {name: lint, command: exit 3, continue_on_failure: true}
          - {name: package, command: echo packaged, depends_on: lint}
        """))
    run = tuiflow(str(pipeline), "--headless", "--state-dir", str(tmp_path / "state"))
    assert run.returncode == 1
    assert "packaged" in run.stdout
    (run_json,) = (tmp_path / "state").glob("runs/*/run.json")
    assert json.loads(run_json.read_text())["state"] == "failed"


@needs_corpus
@pytest.mark.parametrize(("rel", "where", "text"), [
    ("v1.17.2/internal/testdata/integration/json.yaml", "8:39", "'${CONFIG.host}': references into"),
    ("v1.17.2/internal/testdata/integration/call-sub.yaml", "7:20", "'${OUT1.outputs.OUT}': references into"),
    ("v1.23.4/docs__writing-workflows__examples.md__L996/dag.yaml", "6:24", "'${extract.exitCode}'"),
])
def test_references_into_results_are_refused_where_they_are_written(rel: str, where: str, text: str) -> None:
    result = tuiflow("validate", str(path_of(rel)))
    assert result.returncode == 2
    line = next(ln for ln in result.stderr.splitlines() if text in ln)
    assert line.startswith(f"{path_of(rel)}:{where}: ")
    assert "a Dagu feature tuiflow does not run" in line


@needs_corpus
def test_a_shell_with_options_runs_as_dagu_runs_it(tmp_path: Path) -> None:
    rel = "v1.17.2/internal/testdata/integration/shellopts.yaml"   # bash -o errexit -o xtrace ... -c
    run = tuiflow(str(path_of(rel)), "--headless", "--state-dir", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert "step1 │ + echo 'hello world'" in run.stdout   # xtrace: the options reached bash
    assert "step1 │ hello world" in run.stdout


@needs_corpus
def test_a_script_with_a_shebang_runs_with_that_interpreter(tmp_path: Path) -> None:
    rel = "v1.23.4/docs__writing-workflows__examples.md__L1036/dag.yaml"   # script: "#!/bin/bash ..."
    (spec,) = load(str(path_of(rel))).tasks
    assert spec.command == "/bin/bash" and spec.script.startswith("#!/bin/bash\n")
    script = tmp_path / "s.yaml"
    script.write_text("steps:\n  - script: |\n      #!/usr/bin/env python3\n      print('from', 'python')\n")
    run = tuiflow(str(script), "--headless", "--state-dir", str(tmp_path / "state"))
    assert run.returncode == 0 and "script_1 │ from python" in run.stdout


@needs_corpus
def test_dagu_variables_are_set_for_dagu_steps(tmp_path: Path) -> None:
    rel = "v1.17.2/internal/testdata/integration/special-vars.yaml"
    run = tuiflow(str(path_of(rel)), "--headless", "--state-dir", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    (run_dir,) = tmp_path.glob("runs/*")
    printed = {line.split(" │ ", 1)[0].split()[-1]: line.split(" │ ", 1)[1]
               for line in run.stdout.splitlines() if " │ " in line}
    assert printed["step1"] == str(run_dir / "events.jsonl")                  # DAG_RUN_LOG_FILE
    assert printed["step2"] == str(run_dir / "logs" / "step2" / "1.log")      # ..._STEP_STDOUT_FILE
    assert printed["step3"] == "step3"                                         # DAG_RUN_STEP_NAME
    assert printed["step4"] == "special-vars"                                  # DAG_NAME
    assert printed["step5"] == run_dir.name                                    # DAG_RUN_ID


def test_native_tasks_get_tuiflow_variables(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text('name: vars\ntasks:\n  - name: show\n    command: echo "$TUIFLOW_PIPELINE'
                        ' $TUIFLOW_TASK $TUIFLOW_ATTEMPT $TUIFLOW_RUN_ID $TUIFLOW_TASK_LOG [$DAG_NAME]"\n')
    run = tuiflow(str(pipeline), "--headless", "--state-dir", str(tmp_path / "state"))
    (run_dir,) = (tmp_path / "state").glob("runs/*")
    assert f"show │ vars show 1 {run_dir.name} {run_dir / 'logs' / 'show' / '1.log'} []" in run.stdout


@needs_corpus
def test_named_params_read_by_position_are_refused_at_the_dollar_one() -> None:
    rel = "v1.17.2/internal/testdata/integration/child-echo.yaml"   # params: [{ITEM: default}]; echo $1
    result = tuiflow("validate", str(path_of(rel)))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path_of(rel)}:6:31: step 'echo-item': '$1' reads a positional param, but every param of this "
        "DAG has a name (ITEM): reading named params by position is a Dagu feature tuiflow does not run; "
        "write $ITEM"]


def test_typed_params_are_params_with_their_defaults(tmp_path: Path) -> None:
    dag = tmp_path / "typed.yaml"
    dag.write_text(textwrap.dedent("""\
        params:
          - name: REGION
            type: string
            default: eu
          - name: TOKEN
            type: string
            required: true
        steps:
          - echo "$REGION $TOKEN"
        """))
    errors = validate(str(dag), environ={})
    assert [str(e) for e in errors] == [f"{dag}:5:11: params.TOKEN: ${{TOKEN}} is not defined: set it in "
                                        "params or env, pass --param TOKEN=..., or write ${TOKEN:-default}"]
    pipeline = load(str(dag), params={"TOKEN": "t0k"}, environ={})
    assert dict(pipeline.params) == {"REGION": "eu", "TOKEN": "t0k"}


# --- the forms refused with a wrong message before ---------------------------------------


@needs_corpus
def test_shorthand_steps_and_parallel_groups(tmp_path: Path) -> None:
    rel = "v1.23.4/docs__writing-workflows__basics.md__L220/dag.yaml"
    pipeline = load(str(path_of(rel)))
    names = [t.name for t in pipeline.tasks]
    assert names == [f"cmd_{n}" for n in range(1, 9)]
    assert pipeline.tasks[0].command == 'echo "Start"'
    # no `type`: a graph, with the note that says so
    assert [t.depends_on for t in pipeline.tasks] == [()] * 8 and len(pipeline.notes) == 1
    chained = tmp_path / "dag.yaml"
    chained.write_text("type: chain\n" + path_of(rel).read_text())
    deps = {t.name: t.depends_on for t in load(str(chained)).tasks}
    assert deps == {"cmd_1": (), "cmd_2": ("cmd_1",), "cmd_3": ("cmd_1",), "cmd_4": ("cmd_2", "cmd_3"),
                    "cmd_5": ("cmd_4",), "cmd_6": ("cmd_4",), "cmd_7": ("cmd_4",),
                    "cmd_8": ("cmd_5", "cmd_6", "cmd_7")}


@needs_corpus
def test_later_yaml_documents_are_sub_dags_called_by_name(tmp_path: Path) -> None:
    rel = "v1.23.4/docs__reference__changelog.md__L479/dag.yaml"
    pipeline = load(str(path_of(rel)))
    assert [t.name for t in pipeline.tasks] == ["process/task", "process"]
    run = tuiflow(str(path_of(rel)), "--headless", "--state-dir", str(tmp_path), cwd=tmp_path)
    assert run.returncode == 0 and "process/task │ Hello from sub-workflow" in run.stdout


def test_a_native_file_still_holds_one_document(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("tasks:\n  - {name: a, command: echo}\n---\ntasks: []\n")
    assert [str(e) for e in validate(str(f))] == [
        f"{f}:4:1: a pipeline file holds one YAML document: a second one starts here, after `---` "
        "(only a Dagu file may hold sub-DAGs after its first document)"]


@needs_corpus
def test_precondition_written_as_a_command(tmp_path: Path) -> None:
    rel = "v1.23.4/docs__reference__changelog.md__L719/dag.yaml"
    (spec,) = load(str(path_of(rel))).tasks
    assert [(p.condition, p.expected) for p in spec.preconditions] == [("test -f /tmp/some_file", None)]


@needs_corpus
@pytest.mark.parametrize(("rel", "where", "key", "what"), [
    ("v1.17.2/internal/testdata/digraph/valid_schedule.yaml", "1:1", "schedule", "cron schedules"),
    ("v1.17.2/internal/testdata/digraph/valid_mail_config.yaml", "2:1", "smtp", "e-mail notifications"),
    ("v1.17.2/examples/execute_docker_image.yaml", "5:5", "executor", "executors"),
])
def test_unsupported_dagu_keys_are_named_as_such(rel: str, where: str, key: str, what: str) -> None:
    result = tuiflow("validate", str(path_of(rel)))
    assert result.returncode == 2
    assert any(line.startswith(f"{path_of(rel)}:{where}: ") and f"unsupported Dagu key '{key}' ({what}"
               in line and line.endswith("a Dagu feature tuiflow does not run; remove it")
               for line in result.stderr.splitlines()), result.stderr
    assert "did you mean" not in result.stderr
