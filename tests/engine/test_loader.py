"""loader.load: the resolved model (expansion, substitution, env, durations) and its errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tuiflow.engine.errors import PipelineInvalid
from tuiflow.engine.loader import load, validate
from tuiflow.engine.model import Pipeline, RetryPolicy, TaskSpec, TriggerRule


def write(folder: Path, text: str, name: str = "p.yaml") -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def loaded(folder: Path, text: str, **kw: object) -> Pipeline:
    return load(write(folder, text), environ=kw.pop("environ", {}), **kw)  # type: ignore[arg-type]


def problems(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    return [f"{e.line}:{e.col}: {e.message}" for e in validate(write(folder, text), environ=environ or {})]


def by_name(p: Pipeline) -> dict[str, TaskSpec]:
    return {t.name: t for t in p.tasks}


def test_minimal_defaults(tmp_path: Path) -> None:
    p = loaded(tmp_path, """
        tasks:
          - name: hello
            command: echo hi
    """)
    assert p.name == "p"
    assert p.file == str(tmp_path / "p.yaml")
    assert p.workdir == str(tmp_path)
    assert p.max_parallel == (os.cpu_count() or 1)
    assert p.kill_grace == 5.0 and p.fail_fast is False
    (t,) = p.tasks
    assert (t.name, t.command, t.shell, t.cwd, t.depends_on) == ("hello", "echo hi", "sh", str(tmp_path), ())
    assert t.when is TriggerRule.ALL_SUCCESS and t.retry == RetryPolicy()
    assert t.log_limit == 100 * 1024 * 1024 and t.mark is not None and t.mark.line == 3


def test_airflows_none_failed_is_all_success(tmp_path: Path) -> None:
    """A skipped upstream counts as succeeded, so all_success already is Airflow's none_failed."""
    p = loaded(tmp_path, """
        tasks:
          - {name: a, command: "true"}
          - {name: b, command: "true", depends_on: a, when: none_failed}
    """)
    assert by_name(p)["b"].when is TriggerRule.ALL_SUCCESS


def test_every_task_field(tmp_path: Path) -> None:
    p = loaded(tmp_path, """
        name: full
        description: all fields
        max_parallel: 3
        fail_fast: true
        shell: bash
        workdir: work
        kill_grace: 1500ms
        log_limit: 1MB
        pools: {db: 2}
        secrets: [TOKEN]
        tasks:
          - name: a
            command: [python3, -c, "print(1)", 5]
            cwd: sub
            timeout: 1h30m
            retries: 2
            retry_delay: 2s
            retry_backoff: 1.5
            continue_on_failure: true
            when: any_failed
            pool: db
            output: A_OUT
            log_limit: 512KiB
            description: first
          - name: b
            command: echo b
            depends: a
            shell: zsh
            timeout: 30
    """)
    assert (p.name, p.description, p.max_parallel, p.fail_fast, p.kill_grace) == ("full", "all fields", 3, True, 1.5)
    assert p.workdir == str(tmp_path / "work") and p.pools == {"db": 2} and p.secrets == ("TOKEN",)
    a, b = p.tasks
    assert a.command == ("python3", "-c", "print(1)", "5")
    assert a.cwd == str(tmp_path / "work" / "sub") and a.shell == "bash"
    assert a.timeout == 5400.0 and a.retry == RetryPolicy(2, 2.0, 1.5)
    assert a.continue_on_failure and a.when is TriggerRule.ANY_FAILED and a.pool == "db"
    assert a.output == "A_OUT" and a.log_limit == 512 * 1024 and a.description == "first"
    assert b.depends_on == ("a",) and b.shell == "zsh" and b.timeout == 30.0 and b.log_limit == 1024 * 1024


def test_matrix_instances_and_fan_in(tmp_path: Path) -> None:
    p = loaded(tmp_path, """
        tasks:
          - name: setup
            command: echo
          - name: build
            command: make $region
            depends_on: setup
            matrix: {region: [us, eu], arch: [x86, arm]}
          - name: ship
            command: ship
            depends_on: build
    """)
    t = by_name(p)
    instances = ["build[region=us,arch=x86]", "build[region=us,arch=arm]",
                 "build[region=eu,arch=x86]", "build[region=eu,arch=arm]"]
    assert [x.name for x in p.tasks] == ["setup", *instances, "build", "ship"]
    one = t["build[region=eu,arch=arm]"]
    assert one.variables == {"region": "eu", "arch": "arm"} and one.parent == "build" and one.template == "build"
    assert one.depends_on == ("setup",) and one.env["region"] == "eu" and one.command == "make $region"
    fan_in = t["build"]
    assert fan_in.virtual and fan_in.depends_on == tuple(instances)
    assert t["ship"].depends_on == ("build",)


def test_static_foreach_sanitised_and_dynamic_foreach(tmp_path: Path) -> None:
    p = loaded(tmp_path, """
        tasks:
          - name: proc
            command: cat $ITEM
            foreach: [a, "b/c", 3]
          - name: list
            command: ls
          - name: mid
            command: "true"
            depends_on: list
          - name: each
            command: cat $ITEM
            foreach: list
            depends_on: mid
    """)
    t = by_name(p)
    assert [n for n in t if n.startswith("proc")] == ["proc[a]", "proc[b_c]", "proc[3]", "proc"]
    assert t["proc[b_c]"].variables == {"ITEM": "b/c"} and t["proc[3]"].env["ITEM"] == "3"
    assert t["each"].foreach == "list" and not t["each"].virtual   # expanded by the scheduler


def test_sub_pipeline(tmp_path: Path) -> None:
    write(tmp_path, """
        params: {REGION: default, Y: y}
        env: {TARGET: "${REGION}-${Y}"}
        shell: bash
        workdir: region
        tasks:
          - name: fetch
            command: fetch $TARGET
          - name: load
            command: load
            depends_on: fetch
            matrix: {part: [p1, p2]}
    """, "region.yaml")
    p = loaded(tmp_path, """
        params: {R: eu}
        env: {TOP: "1"}
        tasks:
          - name: setup
            command: setup
          - name: eu
            pipeline: region.yaml
            params: {REGION: "${R}"}
            depends_on: setup
          - name: report
            command: report
            depends_on: eu
    """)
    t = by_name(p)
    assert list(t) == ["setup", "eu/fetch", "eu/load[part=p1]", "eu/load[part=p2]", "eu/load", "eu", "report"]
    fetch = t["eu/fetch"]
    assert fetch.depends_on == ("setup",) and fetch.parent == "eu"
    assert fetch.env == {"REGION": "eu", "Y": "y", "TARGET": "eu-y"}   # the caller's params win; no TOP
    assert fetch.shell == "bash" and fetch.cwd == str(tmp_path / "region")
    assert t["eu/load[part=p1]"].depends_on == ("eu/fetch",) and t["eu/load[part=p1]"].parent == "eu/load"
    assert t["eu/load"].parent == "eu" and t["eu/load"].virtual
    assert t["eu"].virtual and set(t["eu"].depends_on) == {"eu/fetch", "eu/load[part=p1]", "eu/load[part=p2]",
                                                           "eu/load"}
    assert t["report"].depends_on == ("eu",)


def test_sub_pipeline_include_cycle(tmp_path: Path) -> None:
    write(tmp_path, "tasks:\n  - name: back\n    pipeline: p.yaml\n", "b.yaml")
    assert problems(tmp_path, """
        tasks:
          - name: call
            pipeline: b.yaml
    """) == ["3:15: task 'back': sub-pipeline include cycle: p.yaml -> b.yaml -> p.yaml"]


def test_missing_sub_pipeline(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "tasks:\n  - name: call\n    pipeline: nope.yaml\n")
    assert msg.startswith("3:15: task 'call': sub-pipeline 'nope.yaml' not found")


def test_groups(tmp_path: Path) -> None:
    p = loaded(tmp_path, """
        groups:
          sources:
            - {name: a, command: a}
            - {name: b, command: b}
          transforms:
            - {name: t, command: t, depends_on: [a, b]}
    """)
    assert [(t.name, t.group) for t in p.tasks] == [("a", "sources"), ("b", "sources"), ("t", "transforms")]


def test_duplicate_names_across_groups(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        tasks:
          - {name: a, command: a}
        groups:
          g:
            - {name: a, command: a}
    """) == ["6:14: duplicate task name 'a' (first defined at line 3)"]


def test_substitution_params_env_and_override(tmp_path: Path) -> None:
    p = loaded(tmp_path, """
        max_parallel: ${MP:-2}
        params:
          DATE: "2026-11-23"
          DIR: /data/${DATE}
        env:
          REGION: ${REGION:-us}
          WHERE: ${DIR}/${REGION}
        tasks:
          - name: t
            command: echo ${DATE} $DIR
            cwd: ${WHERE}
            timeout: ${T:-10m}
            env: {MINE: "${HOME}!"}
    """, params={"DATE": "2027-01-01"}, environ={"REGION": "eu", "HOME": "/home/x"})
    (t,) = p.tasks
    assert p.params == {"DATE": "2027-01-01", "DIR": "/data/2027-01-01"} and p.max_parallel == 2
    assert t.command == "echo ${DATE} $DIR"   # commands are never substituted
    assert t.cwd == "/data/2027-01-01/eu" and t.timeout == 600.0
    assert dict(t.env) == {"DATE": "2027-01-01", "DIR": "/data/2027-01-01", "REGION": "eu",
                           "WHERE": "/data/2027-01-01/eu", "MINE": "/home/x!"}


def test_undefined_variable(tmp_path: Path) -> None:
    assert problems(tmp_path, "workdir: ${NOPE}\ntasks:\n  - {name: a, command: a}\n") == [
        "1:10: workdir: ${NOPE} is not defined: set it in params or env, pass --param NOPE=..., "
        "or write ${NOPE:-default}"]


def test_schema_and_graph_errors_all_at_once(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        pools: {db: 2}
        tasks:
          - name: extract
            command: x
            timeout: 10x
          - name: load
            command: y
            depends_on: [extrct]
            pool: dbb
            dependson: z
          - name: a
            command: a
            depends_on: c
          - name: b
            command: b
            depends: a
          - name: c
            command: c
            depends_on: b
          - name: nocmd
          - name: fe
            command: x
            foreach: extract
            when: all_sucess
    """) == [
        "6:14: task 'extract': timeout '10x' is not a duration: use 500ms, 30s, 10m, 1h, 1h30m or a number of seconds",
        "9:18: task 'load': depends_on 'extrct' is not a task (did you mean 'extract'?)",
        "10:11: task 'load': pool 'dbb' is not defined in `pools:` (did you mean 'db'?)",
        "11:5: task 'load': unknown key 'dependson' (did you mean 'depends_on'?)",
        "12:5: dependency cycle: a -> b -> c -> a",
        "21:5: task 'nocmd' has no `command` (or `pipeline:` to run a sub-pipeline)",
        "24:14: task 'fe': foreach 'extract' is not upstream of it: add 'extract' to its depends_on",
        "25:11: task 'fe': when 'all_sucess' is not a trigger rule: use all_success, all_done, any_success, "
        "any_failed or all_failed (did you mean 'all_success'?)",
    ]


@pytest.mark.parametrize("snippet,expected", [
    ("max_parallel: 0", "1:15: max_parallel 0 is not a whole number >= 1"),
    ("max_parallel: ${N:-x}", "1:15: max_parallel: '${N:-x}' gives 'x', not a whole number"),
    ("taks: []", "1:1: unknown key 'taks' (did you mean 'tasks'?)"),
    ("env: [A]", "1:6: env must be a mapping, not a list"),
    ("env: {1A: x}", "1:7: env: '1A' is not a valid variable name: use letters, digits and _, not starting with a digit"),
    ("log_limit: 10 parsecs", "1:12: log_limit '10 parsecs' is not a size: use 100MB, 1GB, 512KiB or a number of bytes"),
    ("kill_grace: -1", "1:13: kill_grace -1 is not a duration: use 500ms, 30s, 10m, 1h, 1h30m or a number of seconds"),
])
def test_top_level_errors(tmp_path: Path, snippet: str, expected: str) -> None:
    assert problems(tmp_path, f"{snippet}\ntasks:\n  - {{name: a, command: a}}\n") == [expected]


@pytest.mark.parametrize("snippet,expected", [
    ("retries: -1", "task 'a': retries -1 is not a whole number >= 0"),
    ("matrix: {r: us}", "task 'a': matrix.r 'us' is not a matrix axis: use a non-empty list of values like [us, eu]"),
    ("continue_on_failure: 1", "task 'a': continue_on_failure must be true or false, not a whole number (1)"),
    ("output: 9x", "task 'a': output '9x' is not a valid variable name"),
    ("foreach: [1, 1]", "task 'a': the instance 'a[1]' appears twice (repeated values)"),
    ("pipeline: x.yaml", "task 'a' has both `command` and `pipeline`"),
])
def test_task_errors(tmp_path: Path, snippet: str, expected: str) -> None:
    (msg,) = problems(tmp_path, f"tasks:\n  - name: a\n    command: a\n    {snippet}\n")
    assert msg.split(": ", 1)[1].startswith(expected), msg
    assert msg.startswith("4:")


def test_empty_command_list(tmp_path: Path) -> None:
    assert problems(tmp_path, "tasks:\n  - name: a\n    command: []\n") == [
        "3:14: task 'a': command [] is not a command: use a string (run by the shell) or a non-empty list "
        "(executed directly)"]


def test_bad_task_names(tmp_path: Path) -> None:
    assert problems(tmp_path, 'tasks:\n  - {name: "a/b", command: a}\n  - {command: b}\n') == [
        "2:12: task 'a/b': name 'a/b' is not a valid task name: use any text without / [ ] or control characters",
        "3:5: task #2 has no `name`",
    ]


def test_depends_on_instance_and_sub_task(tmp_path: Path) -> None:
    write(tmp_path, "tasks:\n  - {name: x, command: x}\n", "s.yaml")
    p = loaded(tmp_path, """
        tasks:
          - {name: m, command: m, matrix: {k: [1, 2]}}
          - {name: s, pipeline: s.yaml}
          - {name: d, command: d, depends_on: ["m[k=1]", s/x]}
    """)
    assert by_name(p)["d"].depends_on == ("m[k=1]", "s/x")
    assert problems(tmp_path, """
        tasks:
          - {name: m, command: m, matrix: {k: [1, 2]}}
          - {name: d, command: d, depends_on: ["m[k=3]"]}
    """) == ["4:40: task 'd': depends_on 'm[k=3]' is not a task (did you mean 'm[k=2]'?)"]


def test_errors_never_cascade_from_a_broken_task(tmp_path: Path) -> None:
    """A task with a schema error is still a known name: its dependents get no extra error."""
    assert problems(tmp_path, """
        tasks:
          - {name: a, command: 5}
          - {name: b, command: b, depends_on: a}
    """) == ["3:24: task 'a': command 5 is not a command: use a string (run by the shell) or a non-empty list "
             "(executed directly)"]


def test_digests(tmp_path: Path) -> None:
    text = "tasks:\n  - {name: a, command: a}\n  - {name: b, command: b, depends_on: a}\n"
    p1 = loaded(tmp_path, text)
    p2 = loaded(tmp_path, text + "  - {name: c, command: c}\n")
    assert p1.source_digest != p2.source_digest and len(p1.source_digest) == 64
    assert p1.task_digests == {k: v for k, v in p2.task_digests.items() if k != "c"}
    p3 = loaded(tmp_path, text.replace("command: b", "command: b2"))
    assert p3.task_digests["a"] == p1.task_digests["a"] and p3.task_digests["b"] != p1.task_digests["b"]


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    f = write(tmp_path, "tasks:\n  - {name: a, command: a, depends_on: x}\n  - {name: a, command: a}\n")
    with pytest.raises(PipelineInvalid) as info:
        load(f, environ={})
    assert [e.line for e in info.value.errors] == [2, 3]
    assert str(info.value).startswith(f"{f}:2:")
