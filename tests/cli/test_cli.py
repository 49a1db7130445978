"""The `tuiflow` command line: dispatch, exit codes, output of validate/graph/schema/--dry-run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from tuiflow import __version__
from tuiflow.cli import main
from tuiflow.engine.schema import schema_text

PIPELINE = """\
name: demo
params: {WHERE: here}
tasks:
  - name: setup
    command: echo setup
  - name: build
    command: make $region
    depends_on: setup
    matrix: {region: [us, eu]}
  - name: lint
    command: ruff
    depends_on: setup
  - name: "ship \\"it\\""
    command: ship
    depends_on: [build, lint]
    cwd: ${WHERE}
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> str:
    path = tmp_path / "demo.yaml"
    path.write_text(PIPELINE)
    return str(path)


def run_cli(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tuiflow.cli", *argv], capture_output=True, text=True,
                          timeout=timeout)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        from tuiflow.cli import parse_args
        parse_args(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tuiflow {__version__}"
    assert main(["--version"]) == 0


def test_no_arguments_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: tuiflow FILE [run options]" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["graph", "--help"], ["schema", "--help"],
                                  ["history", "--help"], ["logs", "--help"], ["run", "--help"]])
def test_help_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tuiflow")
    if argv == ["run", "--help"]:
        for option in ("--max-parallel", "--param", "--headless", "--events", "--resume", "--force",
                       "--dry-run", "--state-dir", "--theme"):
            assert option in out


def test_validate_ok_and_bad(pipeline: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", pipeline]) == 0
    assert capsys.readouterr().out == f"{pipeline}: ok (5 tasks)\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  - {name: a, command: a, depends_on: b}\n")
    assert main(["validate", pipeline, str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == f"{pipeline}: ok (5 tasks)\n"
    assert captured.err == f"{bad}:2:39: task 'a': depends_on 'b' is not a task\n"
    assert main(["validate", "-q", pipeline]) == 0 and capsys.readouterr().out == ""


def test_validate_param_fills_a_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("tasks:\n  - {name: a, command: a, cwd: '${DIR}'}\n")
    assert main(["validate", str(f)]) == 2
    assert "${DIR} is not defined" in capsys.readouterr().err
    assert main(["validate", "--param", "DIR=/tmp", str(f)]) == 0


def test_bad_param_syntax(pipeline: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([pipeline, "--param", "novalue"]) == 2
    assert "'novalue' is not K=V" in capsys.readouterr().err
    assert main([pipeline, "--max-parallel", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_graph_text(pipeline: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", pipeline]) == 0
    assert capsys.readouterr().out == textwrap.dedent("""\
        demo: 6 tasks, 4 stages

        setup
        ├── build[region=us]
        │   └── build (fan-in)
        │       └── ship "it"
        ├── build[region=eu]
        │   └── build (fan-in) (see above)
        └── lint
            └── ship "it" (see above)

        Stages:
          1. setup
          2. build[region=us], build[region=eu], lint
          3. build
          4. ship "it"
    """)


def test_graph_mermaid_and_dot(pipeline: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", pipeline, "--format", "mermaid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert '  t3(["build"])' in out and '  t5["ship #quot;it#quot;"]' in out
    assert "  t0 --> t1" in out and "  t3 --> t5" in out and "  t4 --> t5" in out
    assert main(["graph", pipeline, "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "demo" {') and out.rstrip().endswith("}")
    assert '  "build" -> "ship \\"it\\"";' in out
    assert '  "build" [shape=ellipse, style=dashed];' in out


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert out == schema_text()
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_dry_run(pipeline: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([pipeline, "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("demo: 5 tasks in 4 stages")  # the virtual fan-in `build` runs nothing
    rows = [line.split(None, 3) for line in out[1:]]
    assert [r[3].split()[0] for r in rows] == ["setup", "build[region=us]", "build[region=eu]", "lint", "ship"]
    assert rows[0][:3] == ["1", "stage", "1"] and rows[-1][:3] == ["5", "stage", "4"]


def test_run_dispatches_to_launch(pipeline: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuiflow import launch

    seen: list[tuple[object, launch.RunOptions]] = []
    monkeypatch.setattr(launch, "run_pipeline", lambda p, options, engine=None: seen.append((p, options)) or 7)
    argv = [pipeline, "--headless", "--max-parallel", "3", "-p", "WHERE=there", "--state-dir", "/tmp/s",
            "--theme", "dark"]
    assert main(argv) == 7
    (p, args), = seen
    assert p.name == "demo" and p.params["WHERE"] == "there"  # type: ignore[attr-defined]
    assert (args.headless, args.max_parallel, args.state_dir, args.theme, args.resume) == (True, 3, "/tmp/s",
                                                                                           "dark", None)
    assert args.params == {"WHERE": "there"} and args.argv == tuple(argv)  # what an engine process is given
    seen.clear()
    assert main(["run", pipeline, "--events", "jsonl", "--resume"]) == 7
    assert seen[0][1].headless is True and seen[0][1].resume == "last" and seen[0][1].events == "jsonl"
    seen.clear()
    assert main(["--resume", pipeline, "--force"]) == 7   # the file is not taken as the run id
    assert seen[0][1].file == pipeline and seen[0][1].resume == "last" and seen[0][1].force
    seen.clear()
    assert main([pipeline, "--resume", "2026-11-23T14-02-11"]) == 7
    assert seen[0][1].resume == "2026-11-23T14-02-11"


def test_invalid_pipeline_is_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    fake = types.ModuleType("tuiflow.launch")
    fake.run_pipeline = lambda p, args: pytest.fail("ran an invalid pipeline")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tuiflow.launch", fake)
    f = tmp_path / "p.yaml"
    f.write_text("tasks:\n  - {name: a}\n")
    assert main([str(f)]) == 2
    assert capsys.readouterr().err == f"{f}:2:5: task 'a' has no `command` (or `pipeline:` to run a sub-pipeline)\n"


@pytest.mark.parametrize("command,module", [("history", "tuiflow.commands.history"),
                                            ("logs", "tuiflow.commands.logs")])
def test_history_and_logs_dispatch(command: str, module: str, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[argparse.Namespace] = []
    fake = types.ModuleType(module)
    fake.main = lambda args: seen.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    argv = ["history", "p.yaml"] if command == "history" else ["logs", "p.yaml", "load", "--run", "r1",
                                                                 "--attempt", "2"]
    assert main(argv) == 0
    if command == "logs":
        assert (seen[0].file, seen[0].task, seen[0].run, seen[0].attempt) == ("p.yaml", "load", "r1", 2)


@pytest.mark.parametrize("content,message", [
    (b"", ":1:1: the file is empty"),
    (b"- a\n- b\n", ":1:1: the top level must be a mapping"),
    (bytes(range(256)) * 64, ":1:1: the file is binary"),
    (b"a: " + b"x" * (50 * 1024 * 1024) + b"\n", ":1:1: the file is larger than 16 MB"),
    (b"tasks: " + b"[" * 100000 + b"]" * 100000 + b"\n", "nested too deeply"),
    (b"\xef\xbb\xbftasks:\n\t- x\n", "YAML syntax error"),
], ids=["empty", "list", "binary", "50MB", "deep", "tab"])
def test_no_traceback_for_any_input(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "p.yaml"
    f.write_bytes(content)
    for argv in (["validate", str(f)], ["graph", str(f)], [str(f), "--dry-run"]):
        result = run_cli(*argv)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"{f}") and message in result.stderr.splitlines()[0]


def test_directory_and_missing_file(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path), str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"{tmp_path}:1:1: is a directory, not a pipeline file",
                                          f"{tmp_path / 'nope.yaml'}:1:1: no such file"]


def test_console_script_entry_point(pipeline: str) -> None:
    exe = Path(sys.executable).parent / "tuiflow"
    if not exe.exists():
        pytest.skip("tuiflow console script not installed in this environment")
    result = subprocess.run([str(exe), "validate", pipeline], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"{pipeline}: ok (5 tasks)\n")


def test_a_run_never_loads_openssl(tmp_path: Path) -> None:
    """asyncio is imported with ssl held back in the `tuiflow` command (~4 ms of every start,
    docs/architecture.md "Start-up"): nothing imported before it may bring asyncio in first."""
    probe = ("import sys, tuiflow.cli as c\n"
             "c._own_process = True\n"
             "code = c.main(sys.argv[1:])\n"
             "print('SSL', '_ssl' in sys.modules)\n")
    (tmp_path / "p.yaml").write_text("tasks:\n  - {name: a, command: 'true'}\n")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe, "p.yaml", "--headless", "--state-dir", str(tmp_path / "st")],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.stdout.rstrip().endswith("SSL False"), (result.stdout, result.stderr)


@pytest.mark.parametrize("unbuffered", ["", "1"])
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_that_cannot_be_written_fails_with_a_message(pipeline: str, unbuffered: str) -> None:
    """A full disk under `> file` is not a success, whether the write fails early or at exit."""
    exe = Path(sys.executable).parent / "tuiflow"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(exe), "graph", pipeline], stdout=full, stderr=subprocess.PIPE,
                                text=True, timeout=60, env=env)
    assert result.returncode == 120
    assert result.stderr == "tuiflow: cannot write the output: No space left on device\n"
    ok = subprocess.run(f"{exe} graph {pipeline} | head -1", shell=True, capture_output=True, text=True,
                        timeout=60, env=env)
    assert ok.returncode == 0 and ok.stderr == "" and ok.stdout.strip()  # a reader that left is fine


@pytest.mark.parametrize("columns", ["50", "120"])
def test_help_is_wrapped_to_the_terminal_width(columns: str) -> None:
    env = {**os.environ, "COLUMNS": columns}
    out = subprocess.run([sys.executable, "-m", "tuiflow.cli", "run", "--help"], capture_output=True, text=True,
                         timeout=60, env=env).stdout
    widths = [len(line) for line in out.splitlines()]
    assert max(widths) <= int(columns) - 2 and max(widths) > int(columns) - 20  # filled, not overflowing
