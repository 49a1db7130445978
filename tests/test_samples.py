"""Every runnable sample pipeline validates, says what it shows, and runs as its header says."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from tests.engine.fakes import Recorder
from tuiflow.engine.events import TaskOutput, TaskStateChanged

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT / "sample_pipelines"
SAMPLES = sorted(p for p in SAMPLES_DIR.rglob("*.yaml") if "invalid" not in p.relative_to(SAMPLES_DIR).parts)
SCHEMA = ROOT / "tuiflow" / "engine" / "pipeline.schema.json"
DAGU_SCHEMA = "https://raw.githubusercontent.com/dagu-org/dagu/main/schemas/dag.schema.json"

try:
    from tuiflow.engine.loader import load
except ImportError:  # the loader lands in its own change; until then only the headers are checked
    load = None  # type: ignore[assignment]
needs_loader = pytest.mark.skipif(load is None, reason="tuiflow.engine.loader.load is not available yet")


def sample_id(path: Path) -> str:
    return str(path.relative_to(SAMPLES_DIR))


def is_dagu(path: Path) -> bool:
    return re.search(r"^steps:", path.read_text(), re.MULTILINE) is not None


def test_the_expected_samples_exist() -> None:
    names = {sample_id(p) for p in SAMPLES}
    assert names >= {
        "etl.yaml", "parallel.yaml", "map_reduce.yaml", "foreach_files.yaml", "five_systems.yaml",
        "matrix_regions.yaml", "retries_failures.yaml", "noisy.yaml", "sub_pipeline.yaml",
        "sub/region.yaml", "secrets.yaml", "dagu_parallel.yaml", "dagu_chain.yaml", "dagu_sub_dag.yaml",
    }


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_header_points_editors_at_the_schema_and_says_what_it_shows(path: Path) -> None:
    lines = path.read_text().splitlines()
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", lines[0])
    assert match, f"{sample_id(path)}: the first line must be the yaml-language-server $schema comment"
    if is_dagu(path):
        assert match.group(1) == DAGU_SCHEMA
    else:
        assert (path.parent / match.group(1)).resolve() == SCHEMA
    comment = [line for line in lines[1:] if line.startswith("#") and line.strip("# ")]
    assert len(comment) >= 2, f"{sample_id(path)}: a header comment must say what the sample shows"


@needs_loader
@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_every_sample_validates(path: Path) -> None:
    pipeline = load(str(path), environ={})
    assert pipeline.tasks


# --- what each sample is meant to show, as the loader sees it --------------------------


def names(path: str) -> set[str]:
    return {t.name for t in load(str(SAMPLES_DIR / path), environ={}).tasks}


def spec(path: str, task: str):
    return next(t for t in load(str(SAMPLES_DIR / path), environ={}).tasks if t.name == task)


@needs_loader
def test_etl_is_drawn_in_groups() -> None:
    p = load(str(SAMPLES_DIR / "etl.yaml"), environ={})
    groups = {t.name: t.group for t in p.tasks}
    assert groups["extract_orders"] == "sources"
    assert groups["enrich_orders"] == "transforms"
    assert groups["report"] == "aggregations"
    assert spec("etl.yaml", "cleanup").when.value == "all_done"


@needs_loader
def test_matrix_instances_are_named_by_their_values() -> None:
    got = names("matrix_regions.yaml")
    assert {"deploy[region=us]", "deploy[region=eu]", "deploy[region=asia]"} <= got
    assert "verify[region=eu,check=latency]" in got
    assert {"map[shard=1]", "map[shard=4]"} <= names("map_reduce.yaml")


@needs_loader
def test_foreach_sample_fans_out_over_an_upstream_task() -> None:
    assert spec("foreach_files.yaml", "count_rows").foreach == "list_files"


@needs_loader
def test_sub_pipeline_tasks_are_nested_under_their_caller() -> None:
    got = names("sub_pipeline.yaml")
    assert {"eu/fetch", "eu/transform", "eu/publish"} <= got
    assert any(n.startswith("regions[region=asia]/") for n in got)
    assert {"report eu/collect", "report us/summarise"} <= names("dagu_sub_dag.yaml")


@needs_loader
def test_retries_sample_has_every_kind_of_failure_handling() -> None:
    assert spec("retries_failures.yaml", "flaky_api").retry.retries == 2
    assert spec("retries_failures.yaml", "slow_query").timeout == 1.0
    assert spec("retries_failures.yaml", "alert").when.value == "any_failed"
    assert spec("retries_failures.yaml", "optional_lint").continue_on_failure


@needs_loader
def test_dagu_chain_sample_is_a_chain_with_positional_params() -> None:
    p = load(str(SAMPLES_DIR / "dagu_chain.yaml"), environ={})
    deps = {t.name: t.depends_on for t in p.tasks}
    assert deps["compute"] == ("announce",)
    assert deps["side check"] == ("announce",)  # by its id, `start`
    assert p.params["ARG1"] == "daily"


# --- they run -----------------------------------------------------------------------------

#: sample -> (exit code, a line its output must contain)
RUNS = {
    "etl.yaml": (0, "total revenue 49569.75"),
    "parallel.yaml": (0, "a=5050 b=385 sum=5435"),
    "map_reduce.yaml": (0, "alpha"),
    "foreach_files.yaml": (0, "5 files, 2250 rows"),
    "five_systems.yaml": (0, "web sessions   90211"),
    "matrix_regions.yaml": (0, "asia: p95 88ms"),
    "retries_failures.yaml": (1, "attempt 2: 200 OK"),
    "noisy.yaml": (0, "download complete"),
    "sub_pipeline.yaml": (0, "all regions published"),
    "sub/region.yaml": (0, "us published"),
    "secrets.yaml": (0, "token=*** (printed in two pieces)"),
    "dagu_parallel.yaml": (1, "sum=20100 evens=100"),   # the flaky branch failed: tolerated, still a failure
    "dagu_chain.yaml": (1, "mode daily, result"),       # so did the side check
    "dagu_sub_dag.yaml": (0, "eu - 5 records summarised"),
    "sub/dagu_report.yaml": (0, "asia - 2 records summarised"),
    "dask_report.yaml": (0, "report: 30000 rows, sum 450015000"),   # here locally; tests/test_dask.py on a cluster
}


def final_states(recorder: Recorder) -> dict[str, str]:
    return {e.task: e.state.value for e in recorder.of(TaskStateChanged)}


def all_output(recorder: Recorder) -> str:
    """Every task's output, task after task (tasks run at once: their pieces interleave by timing)."""
    per_task: dict[str, list[bytes]] = {}
    for e in recorder.of(TaskOutput):
        per_task.setdefault(e.task, []).append(e.data)
    return b"".join(b"".join(parts) for parts in per_task.values()).decode("utf-8", "replace")


def output_of_each_task(recorder: Recorder) -> list[str]:
    """Each task's own output: tasks running side by side interleave theirs in `all_output`."""
    by_task: dict[str, list[bytes]] = {}
    for e in recorder.of(TaskOutput):
        by_task.setdefault(e.task, []).append(e.data)
    return [b"".join(chunks).decode("utf-8", "replace") for chunks in by_task.values()]


def run_sample(path: Path) -> tuple[int, Recorder, float]:
    from tuiflow.engine.scheduler import Scheduler

    pipeline = load(str(path))
    recorder = Recorder()
    scheduler = Scheduler(pipeline, sinks=[recorder])
    started = time.monotonic()
    code = asyncio.run(asyncio.wait_for(scheduler.run(), 10))
    return code, recorder, time.monotonic() - started


@needs_loader
@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_every_sample_runs_quickly_with_the_result_it_promises(path: Path) -> None:
    expected_code, expected_text = RUNS[sample_id(path)]
    code, recorder, seconds = run_sample(path)
    assert any(expected_text in out for out in output_of_each_task(recorder)), all_output(recorder)[-2000:]
    assert code == expected_code, final_states(recorder)
    assert seconds < 15, f"{sample_id(path)} took {seconds:.1f}s: samples must stay quick demos"


@needs_loader
def test_retries_sample_ends_in_the_states_its_header_describes() -> None:
    _, recorder, _ = run_sample(SAMPLES_DIR / "retries_failures.yaml")
    s = final_states(recorder)
    assert s["flaky_api"] == "succeeded"
    assert s["slow_query"] == "timed_out"
    assert s["broken_export"] == "failed"
    assert s["publish"] == "blocked"
    assert s["package"] == "succeeded"
    assert s["alert"] == "succeeded"
    assert s["cleanup"] == "succeeded"


@needs_loader
def test_secrets_never_reach_the_output() -> None:
    _, recorder, _ = run_sample(SAMPLES_DIR / "secrets.yaml")
    text = all_output(recorder)
    assert "***" in text
    for secret in ("tok_demo_8f3a91c2", "hunter2-demo", "tok_demo", "8f3a91c2"):
        assert secret not in text


@needs_loader
def test_dagu_precondition_skips_the_step_unless_the_positional_param_matches() -> None:
    _, recorder, _ = run_sample(SAMPLES_DIR / "dagu_chain.yaml")
    assert final_states(recorder)["weekly only"] == "skipped"
    assert "mode=daily attempts=3" in all_output(recorder)


@pytest.fixture(autouse=True)
def _no_stray_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Samples run from a clean environment: the demo secrets are their own defaults."""
    for name in ("API_TOKEN", "DB_PASSWORD", "REGION"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("TMPDIR", "/tmp")


@needs_loader
def test_dagu_env_list_and_params_string_reach_every_step() -> None:
    env = spec("dagu_parallel.yaml", "combine").env
    assert env["GREETING"] == "hello from demo"   # a later env entry uses an earlier one
    assert (env["DATASET"], env["ROWS"]) == ("orders", "200")
    assert spec("dagu_parallel.yaml", "flaky branch").continue_on_failure
    assert spec("dagu_parallel.yaml", "flaky branch").retry.retries == 1
