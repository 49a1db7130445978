#!/usr/bin/env python3
"""Time `tuiflow FILE --headless` against GNU `make -jJ` on the same DAGs, side by side, in one run.

    .venv/bin/python benchmarks/run_bench.py [--runs 5] [--warmup 1] [-j 8] [--only wide_1000,flood_1M]
    .venv/bin/python benchmarks/run_bench.py --baseline /work/wt/base/.venv/bin/tuiflow --only wide_1000

`--baseline CMD` runs another tuiflow (older code, installed) in the same rounds, its order
against this one swapped every round (make, old, new; make, new, old; ...), and adds its
columns: the only fair way to compare two versions on a shared machine.

Each case is run warm-up + N times, make and tuiflow alternating so that both see the same
machine drift; the table gives the median (min-max) wall time from outside (spawn to reap),
the ratio of the medians, the goal from issue 3, and peak RSS (wait4's ru_maxrss of the
process tree). tuiflow's stdout goes to a pipe that is drained and thrown away, as a CI log
takes it; make's too, except flood, where make writes to a file (its way of keeping a log).
The flood log is checked byte-exact on every tuiflow run. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads  # noqa: E402  (a sibling module; benchmarks/ is not a package)

FLOOD_LINES = 1_000_000


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    sizes: tuple[int, ...]
    ratio_goal: float | None = None      # tuiflow median <= goal x make median
    seconds_goal: float | None = None    # tuiflow median <= this many seconds
    peak_goal_mb: float | None = None    # tuiflow peak RSS


CASES = [
    Case("wide_1000", "wide", (1000,), ratio_goal=1.8),
    Case("chain_200", "chain", (200,), ratio_goal=2.5),
    Case("layers_20x10", "layers", (20, 10), ratio_goal=3.0),
    Case("sleepers_8x1", "sleepers", (8, 1), ratio_goal=1.10),
    Case("flood_1M", "flood", (FLOOD_LINES,), ratio_goal=1.5, peak_goal_mb=60),
    Case("startup_1", "wide", (1,), seconds_goal=0.20),
]
SCALING = Case("wide_10000", "wide", (10_000,))


@dataclass
class Sample:
    wall: float
    peak_kb: int
    code: int
    stdout_lines: int = 0
    cpu: float = 0.0          # user + sys seconds of the process tree


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.walls) if self.samples else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples) if self.samples else float("nan")

    @property
    def peak_mb(self) -> float:
        return max((s.peak_kb for s in self.samples), default=0) / 1024

    def cell(self) -> str:
        if not self.samples:
            return "–"
        return f"{self.median:.3f} ({min(self.walls):.3f}–{max(self.walls):.3f})"


def _drain(fd: int, counter: list[int]) -> None:
    """Read a pipe to its end and throw the bytes away, counting lines."""
    n = 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        n += chunk.count(b"\n")
    counter.append(n)


GNU_TIME = "/usr/bin/time"


def timed(cmd: list[str], cwd: Path, stdout_path: Path | None = None,
          env: dict[str, str] | None = None) -> Sample:
    """Wall time from spawn to reap, and the peak RSS of the largest process of the tree.

    The peak comes from GNU time when it is there: a child spawned straight from this Python
    process (vfork + exec) inherits this process's own RSS high-water mark in ru_maxrss.
    """
    rss_file = cwd / ".maxrss"
    if os.path.exists(GNU_TIME):
        cmd = [GNU_TIME, "-q", "-f", "%M %U %S", "-o", str(rss_file), *cmd]
    out_file = open(stdout_path, "wb") if stdout_path else None  # noqa: SIM115
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, env=env,
                                stdout=out_file or subprocess.PIPE, stderr=subprocess.STDOUT)
        counter: list[int] = []
        drainer = None
        if proc.stdout is not None:
            drainer = threading.Thread(target=_drain, args=(proc.stdout.fileno(), counter), daemon=True)
            drainer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if drainer is not None:
            drainer.join()
            assert proc.stdout is not None
            proc.stdout.close()
    finally:
        if out_file:
            out_file.close()
    peak_kb, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    if rss_file.exists():
        text = rss_file.read_text().split()
        rss_file.unlink()
        if len(text) >= 3 and text[-3].isdigit():
            peak_kb, cpu = int(text[-3]), float(text[-2]) + float(text[-1])
    return Sample(wall, peak_kb, proc.returncode, counter[0] if counter else 0, cpu)


def _sha256_file(path: Path, skip_first_line: bool = False) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if skip_first_line:
            f.readline()
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _logs(state_dir: Path) -> list[Path]:
    return sorted(state_dir.rglob("logs/*/*.log"))


@dataclass
class Runner:
    tuiflow: list[str]
    jobs: int
    root: Path
    flood_sha: str = ""
    state_count: int = 0
    baseline: list[str] = field(default_factory=list)   # another tuiflow command, run in the same rounds

    def make(self, case: Case, directory: Path) -> Sample:
        if case.kind == "flood":
            out = directory / "make_flood.log"
            sample = timed(["make", f"-j{self.jobs}"], directory, stdout_path=out)
            exact = _sha256_file(out, skip_first_line=True) == self.flood_sha  # make echoes the recipe first
            out.unlink()
            if not exact:
                raise RuntimeError("make's flood log is not byte-exact")
            return sample
        return timed(["make", f"-j{self.jobs}"], directory)

    def tuiflow_env(self) -> dict[str, str]:
        """Byte-compiled modules cached (in the work dir, not the repo), as an installed tuiflow has them."""
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")
        return env

    def baseline_run(self, case: Case, directory: Path) -> Sample:
        return self.tuiflow_run(case, directory, self.baseline)

    def tuiflow_run(self, case: Case, directory: Path, command: list[str] | None = None) -> Sample:
        # A new state folder for every run, all deleted at the end of the bench: ext4 skips the
        # inodes freed in the last minutes when it makes new ones (`recently_deleted`, a scan of
        # the inode table per mkdir/create), so deleting the last run's 2 000 entries right
        # before a timed run made that run's folder cost ~1 s of kernel CPU (wide 1 000 measured
        # at 1.2-2.7 s instead of 0.8 s). A user's runs pile up in .tuiflow/runs the same way.
        self.state_count += 1
        state = directory / f"state-{self.state_count}"
        cmd = [*(command or self.tuiflow), str(directory / "tuiflow.yaml"), "--headless", "--state-dir", str(state)]
        sample = timed(cmd, directory, env=self.tuiflow_env())
        if case.kind == "flood" and sample.code == 0:
            logs = _logs(state)
            if len(logs) != 1:
                raise RuntimeError(f"flood: expected one log file under {state}, found {logs}")
            if _sha256_file(logs[0]) != self.flood_sha:
                raise RuntimeError(f"flood: {logs[0]} is not byte-exact against seq -f '%099.0f' 1 {FLOOD_LINES}")
            if sample.stdout_lines < FLOOD_LINES:
                raise RuntimeError(f"flood: only {sample.stdout_lines} lines reached stdout")
        if case.kind == "flood":
            for log in _logs(state):   # 100 MB a run: the space, not the inodes, is what counts
                log.unlink()
        return sample


def measure(case: Case, runner: Runner, runs: int, warmup: int,
            with_make: bool = True) -> tuple[Series, Series, Series]:
    """make, tuiflow and the baseline (empty without --baseline), run by run in turn."""
    directory = workloads.write(runner.root / case.name, case.kind, case.sizes, runner.jobs)
    make, tui, base = Series(), Series(), Series()
    for i in range(warmup + runs):
        turns = [(tui, runner.tuiflow_run)]
        if runner.baseline:
            turns.insert(i % 2, (base, runner.baseline_run))   # old first one round, new first the next
        if with_make:
            turns.insert(0, (make, runner.make))
        for series, fn in turns:
            try:
                sample = fn(case, directory)
            except RuntimeError as exc:
                series.problems.append(str(exc))
                continue
            if sample.code != 0:
                series.problems.append(f"exit {sample.code}")
            elif i >= warmup:
                series.samples.append(sample)
        last = "".join(f"  {label} {s.samples[-1].wall if s.samples else 0:.3f}"
                       for label, s in (("make", make), ("baseline", base), ("tuiflow", tui))
                       if s.samples or (label == "baseline" and runner.baseline))
        print(f"  {case.name} run {i + 1}/{warmup + runs}:{last}", file=sys.stderr)
    return make, tui, base


def verdict(case: Case, make: Series, tui: Series) -> tuple[str, str, bool]:
    """(ratio cell, goal cell, met)."""
    if tui.problems or not tui.samples:
        return "–", "runs failed", False
    ok = True
    goals = []
    ratio = tui.median / make.median if make.samples else float("nan")
    if case.ratio_goal is not None:
        goals.append(f"≤ {case.ratio_goal:g}x")
        ok &= ratio <= case.ratio_goal
    if case.seconds_goal is not None:
        goals.append(f"≤ {case.seconds_goal:g} s")
        ok &= tui.median <= case.seconds_goal
    if case.peak_goal_mb is not None:
        goals.append(f"peak ≤ {case.peak_goal_mb:g} MB")
        ok &= tui.peak_mb <= case.peak_goal_mb
    return f"{ratio:.2f}x", ", ".join(goals), ok


def machine() -> str:
    return (f"{platform.node()} · {os.cpu_count()} CPUs · {platform.system()} {platform.release()} · "
            f"Python {platform.python_version()} · {time.strftime('%Y-%m-%d %H:%M')}")


def scheduler_scaling(sizes: tuple[int, int] = (1000, 10_000), repeat: int = 3) -> list[tuple[str, int, float]]:
    """The scheduler's own cost, no processes: an instant runner on wide, chain and layered DAGs."""
    from scheduler_only import time_scheduler  # sibling module
    rows = []
    for kind in ("wide", "chain", "layers"):
        for n in sizes:
            best = min(time_scheduler(kind, n) for _ in range(repeat))
            rows.append((kind, n, best))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("-j", "--jobs", type=int, default=8)
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 10k-vs-1k checks")
    ap.add_argument("--tuiflow", default="", help="command that runs tuiflow (default: the venv's tuiflow)")
    ap.add_argument("--baseline", default="", help="another tuiflow command, interleaved run by run with this one")
    ap.add_argument("--workdir", default="", help="where to write the workloads (default: a temp dir)")
    ap.add_argument("--json", default="", help="also write the figures to this file")
    a = ap.parse_args(argv)

    tuiflow_cmd = a.tuiflow.split() if a.tuiflow else [str(Path(sys.executable).with_name("tuiflow"))]
    root = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="tuiflow-bench-"))
    runner = Runner(tuiflow_cmd, a.jobs, root,
                    flood_sha=workloads.flood_sha256(FLOOD_LINES), baseline=a.baseline.split())
    from inode_probe import probe  # sibling module
    disk_before = probe(str(root))
    only = {x for x in a.only.split(",") if x}
    cases = [c for c in CASES if not only or c.name in only]

    results: dict[str, dict[str, object]] = {}
    measured: dict[str, Series] = {}
    rows = []
    all_ok = True
    for case in cases:
        make, tui, base = measure(case, runner, a.runs, a.warmup)
        measured[case.name] = tui
        ratio, goal, ok = verdict(case, make, tui)
        all_ok &= ok
        against = ""
        if runner.baseline:
            old_ratio = base.median / make.median if base.samples and make.samples else float("nan")
            against = (f" {base.cell()} | {old_ratio:.2f}x | {tui.median / base.median - 1:+.1%} |"
                       f" {base.cpu:.2f} |" if base.samples else " – | – | – | – |")
        rows.append(f"| {case.name} | {make.cell()} |{against} {tui.cell()} | {ratio} | {goal} | "
                    f"{'✓' if ok else '✗'} | {make.cpu:.2f} / {tui.cpu:.2f} | "
                    f"{make.peak_mb:.1f} / {tui.peak_mb:.1f} |")
        results[case.name] = {"make": make.walls, "tuiflow": tui.walls, "make_cpu": make.cpu, "tuiflow_cpu": tui.cpu,
                              "make_peak_mb": make.peak_mb,
                              "tuiflow_peak_mb": tui.peak_mb, "problems": make.problems + tui.problems + base.problems}
        if runner.baseline:
            results[case.name].update(baseline=base.walls, baseline_cpu=base.cpu)
        for problem in make.problems + tui.problems + base.problems:
            rows.append(f"|  ↳ {case.name}: {problem} |")

    baseline_head = " baseline | its ratio | tuiflow vs baseline | baseline cpu s |" if runner.baseline else ""
    disk = f"disk: {disk_before:.0f} µs a mkdir + create before, {probe(str(root)):.0f} after (inode_probe.py)"
    lines = [f"## tuiflow --headless vs make -j{a.jobs}", "", machine(), "", disk, "",
             f"{a.warmup} warm-up, {a.runs} runs, wall seconds median (min–max)"
             + (f"; baseline: {a.baseline}, interleaved" if a.baseline else ""), "",
             f"| workload | make -j{a.jobs} |{baseline_head} tuiflow | ratio | goal | met | cpu s make / tuiflow | "
             "peak MB make / tuiflow |",
             "|---|---|" + ("---|---|---|---|" if runner.baseline else "") + "---|---|---|---|---|---|", *rows]

    if not a.no_scaling and (not only or SCALING.name in only or "wide_1000" in only):
        _, big, _ = measure(SCALING, runner, max(1, a.runs // 2), 0, with_make=False)
        small = measured.get("wide_1000")
        if small is None or not small.samples:
            _, small, _ = measure(CASES[0], runner, max(1, a.runs // 2), 0, with_make=False)
        factor = big.median / small.median
        cpu_factor = big.cpu / small.cpu
        ok = factor <= 10 and not big.problems
        all_ok &= ok
        lines += ["", "### Scaling: whole run, wide 10 000 vs wide 1 000 (goal ≤ 10x)", "",
                  f"wide_10000 {big.cell()} s, cpu {big.cpu:.2f} s, peak {big.peak_mb:.1f} MB; "
                  f"wide_1000 {small.median:.3f} s, cpu {small.cpu:.2f} s "
                  f"-> wall {factor:.2f}x {'✓' if ok else '✗'}, cpu {cpu_factor:.2f}x"]
        results["wide_10000"] = {"tuiflow": big.walls, "factor": factor, "cpu_factor": cpu_factor}
        try:
            sched = scheduler_scaling()
        except ImportError as exc:
            lines += ["", f"(scheduler-only scaling not measured: {exc})"]
        else:
            lines += ["", "### Scaling: scheduler alone (instant fake runner, no processes), best of 3", "",
                      "Informational: with no fixed cost to absorb noise, a linear cost lands near 10x; "
                      "a quadratic step would show as a growing cost a task.", "",
                      "| DAG | 1 000 tasks | 10 000 tasks | factor | µs a task, 1k → 10k |", "|---|---|---|---|---|"]
            by = {(k, n): t for k, n, t in sched}
            for kind in ("wide", "chain", "layers"):
                small_t, big_t = by[(kind, 1000)], by[(kind, 10_000)]
                lines.append(f"| {kind} | {small_t:.3f} s | {big_t:.3f} s | {big_t / small_t:.2f}x | "
                             f"{small_t / 1000 * 1e6:.0f} → {big_t / 10_000 * 1e6:.0f} |")
            results["scheduler_only"] = {f"{k}_{n}": t for k, n, t in sched}

    print("\n".join(lines))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    if not a.workdir:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

