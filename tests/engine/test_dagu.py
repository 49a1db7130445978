"""Dagu files -> native tuiflow data: the translation, its positions, and the real corpus."""

from __future__ import annotations

import asyncio
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.dagu_corpus import shared_compat
from tests.engine.fakes import Recorder
from tuiflow.engine.dagu import translate
from tuiflow.engine.errors import PipelineError
from tuiflow.engine.yamlsource import Source, parse

COMPAT = shared_compat() / "dagu"
COMPAT_FILES = sorted(COMPAT.glob("*.yaml")) if COMPAT.is_dir() else []


def dagu(tmp_path: Path, text: str, name: str = "dag.yaml") -> tuple[Source, list[PipelineError]]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    result = translate(parse(str(path)))
    return result.source, result.errors


def tasks_by_name(src: Source) -> dict[str, dict]:
    return {t["name"]: t for t in src.data["tasks"]}


def messages(errors: list[PipelineError]) -> list[str]:
    return [f"{e.line}:{e.col}: {e.message}" for e in errors]


# --- the shapes -------------------------------------------------------------------------


def test_graph_is_the_default_steps_without_depends_start_at_once(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        steps:
          - name: a
            command: echo a
          - name: b
            command: echo b
          - name: c
            command: echo c
            depends: [a, b]
        """)
    assert errors == []
    t = tasks_by_name(src)
    assert "depends_on" not in t["a"] and "depends_on" not in t["b"]
    assert t["c"]["depends_on"] == ["a", "b"]


def test_chain_links_each_step_to_the_one_before_unless_it_says_otherwise(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        type: chain
        steps:
          - name: one
            command: "true"
          - name: two
            command: "true"
          - name: side
            command: "true"
            depends: []
          - name: four
            command: "true"
            depends: one
        """)
    assert errors == []
    t = tasks_by_name(src)
    assert "depends_on" not in t["one"]
    assert t["two"]["depends_on"] == ["one"]
    assert t["side"]["depends_on"] == []
    assert t["four"]["depends_on"] == ["one"]
    # a generated dependency points at the step that got it
    assert src.mark(("tasks", 1, "depends_on", 0)).line == 5


def test_unsupported_type_is_an_error(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, "type: chian\nsteps:\n  - name: a\n    command: x\n")
    assert messages(errors) == [
        "1:7: type 'chian' is not supported: use 'graph' (the default) or 'chain' (did you mean 'chain'?)"]


def test_camel_and_snake_case_spellings_mean_the_same(tmp_path: Path) -> None:
    camel, e1 = dagu(tmp_path, """\
        maxActiveSteps: 3
        maxCleanUpTimeSec: 7
        steps:
          - name: a
            command: exit 1
            dir: /tmp
            continueOn: {failure: true}
            retryPolicy: {limit: 2, intervalSec: 5}
            timeoutSec: 30
          - name: b
            command: "true"
            depends: a
        """, "camel.yaml")
    snake, e2 = dagu(tmp_path, """\
        max_active_steps: 3
        max_clean_up_time_sec: 7
        steps:
          - name: a
            command: exit 1
            working_dir: /tmp
            continue_on: {failure: true}
            retry_policy: {limit: 2, interval_sec: 5}
            timeout_sec: 30
          - name: b
            command: "true"
            depends_on: a
        """, "snake.yaml")
    assert e1 == e2 == []
    assert camel.data == snake.data
    assert camel.data["max_parallel"] == 3 and camel.data["kill_grace"] == 7
    a = tasks_by_name(camel)["a"]
    assert a["cwd"] == "/tmp" and a["continue_on_failure"] is True
    assert a["retries"] == 2 and a["retry_delay"] == 5 and a["timeout"] == 30


def test_env_as_list_of_one_key_maps_as_mapping_and_as_strings(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        env:
          - DATA_DIR: /data
          - COUNT: 3
          - LOG=$HOME/log
        steps:
          - name: a
            command: echo $DATA_DIR
            env:
              LEVEL: debug
        """)
    assert errors == []
    assert src.data["env"] == {"DATA_DIR": "/data", "COUNT": "3", "LOG": "${HOME}/log"}
    assert src.data["tasks"][0]["env"] == {"LEVEL": "debug"}
    assert src.mark(("env", "COUNT")).line == 3


@pytest.mark.parametrize(("params", "expected"), [
    ('"FOO=foo BAR=bar"', {"FOO": "foo", "BAR": "bar"}),
    ('FOO="a b" baz', {"FOO": "a b", "ARG2": "baz"}),
    ("foo", {"ARG1": "foo"}),
    ("one two", {"ARG1": "one", "ARG2": "two"}),
    ("{DATE: 2026-11-23, N: 4}", {"DATE": "2026-11-23", "N": "4"}),
    ("[{A: x}, {B: y}]", {"A": "x", "B": "y"}),
    ('["A=x", "y"]', {"A": "x", "ARG2": "y"}),
])
def test_params_in_every_dagu_shape(tmp_path: Path, params: str, expected: dict) -> None:
    src, errors = dagu(tmp_path, f"params: {params}\nsteps:\n  - name: a\n    command: echo\n")
    assert errors == []
    assert src.data["params"] == expected


def test_positional_params_become_the_shells_own_positional_args(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        params: first "second one"
        steps:
          - name: uses
            command: echo "[$1] [$2]"
          - name: plain
            command: echo nothing positional
          - name: script
            command: bash
            script: echo "script got $1"
        """)
    assert errors == []
    t = tasks_by_name(src)
    assert t["plain"]["command"] == "echo nothing positional"
    assert t["uses"]["command"].endswith('echo "[$1] [$2]"')
    assert src.data["params"] == {"ARG1": "first", "ARG2": "second one"}
    # what the runner does: params exported as environment variables, command through sh -c
    env = {**os.environ, "ARG1": "first", "ARG2": "second one"}
    out = subprocess.run(["sh", "-c", t["uses"]["command"]], env=env, capture_output=True, text=True)
    assert out.stdout == "[first] [second one]\n"
    out = subprocess.run(["bash", "-c", t["script"]["script"]], env=env, capture_output=True, text=True)
    assert out.stdout == "script got first\n"


def test_ids_resolve_to_names_in_depends(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        steps:
          - name: fetch data
            id: fetch
            command: echo
          - name: use
            command: echo
            depends: fetch
        """)
    assert errors == []
    assert tasks_by_name(src)["use"]["depends_on"] == ["fetch data"]
    assert "id" not in tasks_by_name(src)["fetch data"]


def test_script_without_command_runs_with_the_shell(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        shell: bash
        steps:
          - name: s
            script: |
              echo hi
        """)
    assert errors == []
    assert src.data["shell"] == "bash"
    assert src.data["tasks"][0] == {"name": "s", "script": "echo hi\n"}


def test_preconditions_keep_conditions_for_run_time(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        steps:
          - name: a
            command: echo
            preconditions:
              - condition: "$OUT"
                expected: "yes"
              - test -f /etc/passwd
          - name: b
            command: echo
            precondition:
              condition: "`date +%u`"
              expected: 7
        """)
    assert errors == []
    t = tasks_by_name(src)
    assert t["a"]["preconditions"] == [{"condition": "$OUT", "expected": "yes"},
                                       {"condition": "test -f /etc/passwd"}]
    assert t["b"]["preconditions"] == [{"condition": "`date +%u`", "expected": "7"}]
    assert src.mark(("tasks", 0, "preconditions", 1, "condition")).line == 7


def test_run_names_a_sub_dag_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "child.yml").write_text("steps:\n  - name: x\n    command: echo\n")
    src, errors = dagu(tmp_path, """\
        steps:
          - name: sub
            run: child
            params: "REGION=eu"
          - name: other
            call: other.yaml
            params: {A: 1}
          - name: missing
            run: nowhere
        """)
    assert errors == []
    t = tasks_by_name(src)
    assert t["sub"] == {"name": "sub", "pipeline": "child.yml", "params": {"REGION": "eu"}}
    assert t["other"]["pipeline"] == "other.yaml" and t["other"]["params"] == {"A": "1"}
    assert t["missing"]["pipeline"] == "nowhere.yaml"  # the loader reports it missing, here


def test_top_level_group_is_the_folder_of_every_step(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        group: nightly
        steps:
          - name: a
            command: echo
          - name: b
            command: echo
            group: special
        """)
    assert errors == []
    assert [t["group"] for t in src.data["tasks"]] == ["nightly", "special"]


def test_steps_as_a_mapping(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        steps:
          first:
            command: echo 1
          second:
            command: echo 2
            depends: first
        """)
    assert errors == []
    assert tasks_by_name(src)["second"]["depends_on"] == ["first"]
    assert src.mark(("tasks", 1, "name")).line == 4


# --- errors ----------------------------------------------------------------------------


def test_unsupported_and_unknown_keys_are_named_with_positions(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, """\
        schedule: "0 * * * *"
        maxActivSteps: 2
        steps:
          - name: a
            command: echo
            signalOnStop: SIGINT
            dependz: [b]
            continueOn: {exitCode: [1]}
            retryPolicy: {limit: 1, exitCode: [2]}
        """)
    assert messages(errors) == [
        "1:1: unsupported Dagu key 'schedule' (cron schedules): a Dagu feature tuiflow does not run; "
        "remove it",
        "2:1: unknown key 'maxActivSteps' (did you mean 'maxActiveSteps'?)",
        "6:5: step 'a': unsupported Dagu key 'signalOnStop' (a custom stop signal): a Dagu feature "
        "tuiflow does not run; remove it",
        "7:5: step 'a': unknown key 'dependz' (did you mean 'depends'?)",
        "8:18: step 'a': continueOn: unsupported Dagu key 'exitCode' (continuing on chosen exit codes): "
        "a Dagu feature tuiflow does not run; remove it",
        "9:29: step 'a': retryPolicy: unsupported Dagu key 'exitCode' (retrying on chosen exit codes): "
        "a Dagu feature tuiflow does not run; remove it",
    ]


def test_wrong_shapes_are_errors_not_crashes(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, """\
        env: 3
        params: 4
        steps:
          - 3
          - name: b
          - name: c
            command: echo
            continueOn: true
            retryPolicy: 3
            preconditions: [5]
            params: X=1
        """)
    assert messages(errors) == [
        "1:6: 'env' must be a mapping or a list of KEY: value, not a number",
        "2:9: 'params' must be a mapping, a list or a 'KEY=value' string, not a number",
        "4:5: step 1 must be a command or a mapping with a command, not a number",
        "5:5: step 'b': a step needs 'command', 'script' or 'run'",
        "8:17: step 'c': 'continueOn' must be a mapping like {failure: true}, not a boolean",
        "9:18: step 'c': 'retryPolicy' must be a mapping like {limit: 3, intervalSec: 5}, not a number",
        "10:21: step 'c': a precondition is a string, {command} or {condition, expected}, not a number",
        "11:5: step 'c': 'params' on a step needs 'run' or 'call' (a sub-DAG)",
    ]


def test_steps_missing_is_an_error(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, "steps: nope\n")
    assert messages(errors) == ["1:8: 'steps' must be a list of steps, not a string"]


def test_command_substitution_in_values_is_refused(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, "env:\n  - TODAY: \"`date`\"\nsteps:\n  - name: a\n    command: echo\n")
    assert len(errors) == 1 and "command substitution" in errors[0].message
    assert (errors[0].line, errors[0].col) == (2, 13)   # the backquote


def test_duplicate_ids_are_errors(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, """\
        steps:
          - {name: a, id: x, command: echo}
          - {name: b, id: x, command: echo}
        """)
    assert messages(errors) == ["3:19: step 'b': id 'x' is already used by step 'a'"]


# --- the real Dagu corpus ---------------------------------------------------------------


@pytest.mark.skipif(not COMPAT_FILES, reason=f"Dagu corpus not found at {COMPAT}")
@pytest.mark.parametrize("path", COMPAT_FILES, ids=lambda p: p.name)
def test_every_compat_file_translates_without_errors(path: Path) -> None:
    src, errors, _, _ = translate(parse(str(path)))
    assert errors == []
    assert src.data["tasks"]


# --- through the loader: the model a Dagu file becomes ---------------------------------

try:
    from tuiflow.engine.loader import load, validate
except ImportError:  # pragma: no cover - the loader lands in its own change
    load = validate = None  # type: ignore[assignment]
needs_loader = pytest.mark.skipif(load is None, reason="tuiflow.engine.loader is not available yet")


def compat(name: str) -> str:
    return str(COMPAT / name)


def deps(pipeline) -> dict[str, tuple[str, ...]]:
    return {t.name: t.depends_on for t in pipeline.tasks}


needs_corpus = pytest.mark.skipif(not COMPAT_FILES, reason=f"Dagu corpus not found at {COMPAT}")


@needs_loader
@needs_corpus
@pytest.mark.parametrize("path", COMPAT_FILES, ids=lambda p: p.name)
def test_every_compat_file_loads(path: Path) -> None:
    assert validate(str(path), environ={}) == []


@needs_loader
@needs_corpus
def test_complex_dag_keeps_free_text_names_fan_in_and_independent_roots() -> None:
    p = load(compat("complex_dag.yaml"), environ={})
    d = deps(p)
    assert p.name == "complex DAG31"
    assert d["Merge"] == ("Update TAB_3", "Validate TAB_2", "Validate File")
    assert [n for n, ups in d.items() if not ups] == ["Initialize", "Check File"]
    assert d["Copy TAB_1"] == ("Initialize",) and d["Update TAB_2"] == ("Copy TAB_1",)
    assert {t.name: t.description for t in p.tasks}["Load TAB_3"] == "Read data from files"


@needs_loader
@needs_corpus
def test_chain_workflow_is_a_chain() -> None:
    p = load(compat("chain_workflow.yaml"), environ={})
    names = [t.name for t in p.tasks]
    assert deps(p) == {n: ((names[i - 1],) if i else ()) for i, n in enumerate(names)}


@needs_loader
@needs_corpus
def test_step_ids_and_string_depends() -> None:
    d = deps(load(compat("step_with_id.yaml"), environ={}))
    assert d == {"fetch-data": (), "validate-data": ("fetch-data",), "process-data": ("validate-data",),
                 "store-results": ("process-data",)}


@needs_loader
@needs_corpus
def test_outputs_scripts_and_quoted_names() -> None:
    p = load(compat("pass_output_to_next.yaml"), environ={})
    first, second = p.tasks
    assert first.name == "pass 'hello'" and first.output == "OUT1"
    assert second.depends_on == ("pass 'hello'",)
    assert second.command == "bash" and second.script == "echo $OUT1 world\n"
    p = load(compat("take_outputs_from_prev_steps.yaml"), environ={})
    assert [t.output for t in p.tasks] == ["OUT1", "OUT2", None]


@needs_loader
@needs_corpus
def test_params_string_and_positional_params_reach_the_environment() -> None:
    p = load(compat("pass_parameters.yaml"), environ={})
    assert dict(p.params) == {"FOO": "foo", "BAR": "bar"}
    assert p.tasks[0].env["FOO"] == "foo"
    p = load(compat("define_condition.yaml"), environ={})
    assert dict(p.params) == {"ARG1": "foo"}
    conditions = {t.name: [(c.condition, c.expected) for c in t.preconditions] for t in p.tasks}
    assert conditions == {"step1": [], "foo": [("${ARG1}", "foo")], "bar": [("${ARG1}", "bar")]}


@needs_loader
@needs_corpus
def test_top_level_group_and_numeric_names() -> None:
    p = load(compat("example_1.yaml"), environ={})
    assert [(t.name, t.group) for t in p.tasks] == [("1", "example group"), ("2", "example group"),
                                                    ("3", "example group")]
    assert deps(p)["3"] == ("2",)


def run(path: str, params: dict[str, str] | None = None) -> tuple[int, Recorder]:
    from tuiflow.engine.scheduler import Scheduler

    recorder = Recorder()
    scheduler = Scheduler(load(path, params=params), sinks=[recorder])
    code = asyncio.run(asyncio.wait_for(scheduler.run(), 30))
    return code, recorder


def last_state(recorder: Recorder, task: str) -> str:
    return recorder.states(task)[-1].value


#: compat files whose commands exist on a plain Linux machine, and what they print
RUNNABLE = {
    "pass_output_to_next.yaml": ("output 'hello world'", "hello world\n"),
    "take_outputs_from_prev_steps.yaml": ("step3", "hello\n"),
    "pass_parameters.yaml": ("step1", "foo-bar\n"),
    "step_with_id.yaml": ("store-results", "Storing processed results...\n"),
    "specialchar.yaml": ("step2", "s=t test\n"),
}


@needs_loader
@needs_corpus
@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_runnable_compat_files_run_as_in_dagu(name: str) -> None:
    task, printed = RUNNABLE[name]
    code, recorder = run(compat(name))
    assert code == 0
    assert recorder.output(task).decode() == printed


@needs_loader
@needs_corpus
def test_precondition_on_a_positional_param_skips_the_other_branch() -> None:
    code, recorder = run(compat("define_condition.yaml"))
    assert code == 0
    assert last_state(recorder, "foo") == "succeeded"
    assert last_state(recorder, "bar") == "skipped"
    code, recorder = run(compat("define_condition.yaml"), params={"ARG1": "bar"})
    assert (last_state(recorder, "foo"), last_state(recorder, "bar")) == ("skipped", "succeeded")


@needs_loader
def test_precondition_may_name_an_upstream_output(tmp_path: Path) -> None:
    path = tmp_path / "dag.yaml"
    path.write_text(textwrap.dedent("""\
        steps:
          - name: probe
            command: echo ready
            output: STATUS
          - name: go
            depends: probe
            command: echo going
            preconditions:
              - condition: "${STATUS}"
                expected: ready
          - name: stop
            depends: probe
            command: echo stopping
            preconditions:
              - condition: "$STATUS"
                expected: down
        """))
    code, recorder = run(str(path))
    assert code == 0
    assert (last_state(recorder, "go"), last_state(recorder, "stop")) == ("succeeded", "skipped")


@needs_loader
def test_positional_params_are_shell_arguments_in_commands_and_scripts(tmp_path: Path) -> None:
    path = tmp_path / "dag.yaml"
    path.write_text(textwrap.dedent("""\
        params: alpha "beta gamma"
        steps:
          - name: cmd
            command: printf '%s|' "$@"; echo "$#"
          - name: script
            script: |
              shift
              echo "rest=$1"
        """))
    code, recorder = run(str(path))
    assert code == 0
    assert recorder.output("cmd").decode() == "alpha|beta gamma|2\n"
    assert recorder.output("script").decode() == "rest=beta gamma\n"


@needs_loader
def test_sub_dag_steps_join_the_run_under_the_caller(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text("params: WHO=child\nsteps:\n  - name: hello\n    command: echo hi $WHO\n")
    path = tmp_path / "parent.yaml"
    path.write_text("steps:\n  - name: first\n    command: echo\n"
                    "  - name: call\n    depends: first\n    run: child\n    params: WHO=parent\n")
    p = load(str(path), environ={})
    assert "call/hello" in deps(p)
    code, recorder = run(str(path))
    assert code == 0 and recorder.output("call/hello").decode() == "hi parent\n"


@needs_loader
def test_problems_found_after_translation_point_at_the_dagu_lines(tmp_path: Path) -> None:
    path = tmp_path / "dag.yaml"
    path.write_text(textwrap.dedent("""\
        maxActiveSteps: lots
        steps:
          - name: extract
            command: echo
          - name: load
            command: echo
            depends:
              - extrct
            retryPolicy:
              limit: many
            dir: ${NOWHERE}/x
          - name: extract
            command: echo again
        """))
    problems = validate(str(path), environ={})
    errors = [f"{e.line}:{e.col}" for e in problems]
    text = "\n".join(str(e) for e in problems)
    assert "1:17" in errors                  # maxActiveSteps: lots
    assert "8:9" in errors and "did you mean 'extract'" in text
    assert "10:14" in errors                 # limit: many
    assert "11:10" in errors and "NOWHERE" in text
    assert any(e.startswith("12:") for e in errors) and "extract" in text


def test_two_spellings_of_one_key_are_an_error(tmp_path: Path) -> None:
    _, errors = dagu(tmp_path, """\
        maxActiveSteps: 2
        max_active_steps: 3
        steps:
          - name: a
            command: echo
            depends: []
            depends_on: []
            run: x
            call: y
        """)
    assert messages(errors) == [
        "2:1: 'max_active_steps' and 'maxActiveSteps' mean the same; keep one",
        "7:5: step 'a': 'depends_on' and 'depends' mean the same; keep one",
        "8:5: step 'a': a step has either 'run' or 'command', not both",
        "9:5: step 'a': 'call' and 'run' mean the same; keep one",
    ]


def test_any_shape_of_junk_is_errors_never_a_traceback(tmp_path: Path) -> None:
    """Seeded random documents built from Dagu's own keys: every one must translate cleanly."""
    import random

    import yaml

    from tuiflow.engine.dagu import DAG_KEYS, STEP_KEYS

    keys = [*DAG_KEYS, *STEP_KEYS, "failure", "limit", "intervalSec", "condition", "expected", "1"]
    rng = random.Random(7)

    def junk(depth: int) -> object:
        r = rng.random()
        if depth > 3 or r < 0.35:
            return rng.choice([None, True, 3, 1.5, "x", "$1", "${A}", "a b", "`date`", "F=1 b", "", [], {}])
        if r < 0.65:
            return [junk(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(keys): junk(depth + 1) for _ in range(rng.randint(0, 4))}

    path = tmp_path / "junk.yaml"
    for _ in range(300):
        doc = {rng.choice(keys): junk(1) for _ in range(rng.randint(0, 4))}
        doc["steps"] = junk(1) if rng.random() < 0.3 else [
            {rng.choice(list(STEP_KEYS)): junk(2) for _ in range(rng.randint(0, 6))} for _ in range(3)]
        path.write_text(yaml.safe_dump(doc))
        translate(parse(str(path)))
        if validate is not None:
            validate(str(path), environ={})


def test_x_keys_hold_yaml_anchors_as_in_native_files(tmp_path: Path) -> None:
    src, errors = dagu(tmp_path, """\
        x-retry: &retry
          retryPolicy: {limit: 2, intervalSec: 1}
        steps:
          - name: a
            command: echo
            <<: *retry
            x-note: ignored
        """)
    assert errors == []
    assert src.data["tasks"] == [{"name": "a", "command": "echo", "retries": 2, "retry_delay": 1}]
