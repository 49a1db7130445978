"""Key-press latency, memory and run time while a task floods the TUI (issue 5 goals).

    .venv/bin/python benchmarks/tui_latency.py [--lines 3000000]

One task prints N lines of 100 bytes as fast as it can (`seq -f`, 300 MB) with the TUI open at 120x40 and its log
pane showing that task. Meanwhile `+` is pressed every 100 ms; the latency of a press is the
time from writing the key to the pty until the header's new `limit K` reaches the pty.
Run time is from the run's start to the task's end as shown (the TUI's header, headless's
`▶` and `✓ flood` lines), median of --runs runs (TUI left alone, as headless is) alternating
with headless ones; the latencies come from separate TUI runs with the key presses.
Goals: p95 latency < 200 ms, app peak RSS < 300 MB, run time <= 1.5x the headless run,
and the log file byte-exact.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import statistics
import subprocess
import sys
import time

from tui_pty import PtyApp, tuiflow_cmd, write_pipeline


def seq_args(lines: int, width: int) -> list[str]:
    return ["seq", "-f", f"%0{width - 1}.0f", "1", str(lines)]


def pipeline(lines: int, width: int) -> str:
    return f"""
name: bench-flood
max_parallel: 1
log_limit: 2GB
tasks:
  - name: flood
    command: {" ".join(seq_args(lines, width))}
"""


def expected_sha(lines: int, width: int) -> str:
    out = subprocess.run(seq_args(lines, width), capture_output=True, check=True).stdout
    return hashlib.sha256(out).hexdigest()


def log_sha(state_dir) -> str:
    files = glob.glob(f"{state_dir}/**/logs/flood/1.log", recursive=True)
    if len(files) != 1:
        return f"missing ({files})"
    h = hashlib.sha256()
    with open(files[0], "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def headless_seconds(path, state_dir) -> float:
    """From the run's first line (`▶`) to the task's end (`✓ flood`), read as they arrive."""
    proc = subprocess.Popen([*tuiflow_cmd(), str(path), "--headless", "--state-dir", str(state_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=path.parent)
    started = ended = None
    window = b""
    for block in iter(lambda: proc.stdout.read(1 << 16), b""):
        window = window[-64:] + block
        if started is None and "▶".encode() in window:
            started = time.monotonic()
        if ended is None and "✓ flood".encode() in window:
            ended = time.monotonic()
    proc.wait()
    assert started is not None and ended is not None, "headless output not understood"
    return ended - started


def tui_run(path, state_dir, press: bool = True) -> tuple[float, list[float], float]:
    """(run seconds, key latencies, peak RSS MiB): from the run's start on screen to SUCCEEDED.

    With `press`, `+` is pressed every 50 ms and each press timed; without, the run is left
    alone (the run-time comparison with headless, where nobody presses keys either).
    """
    subprocess.run(["rm", "-rf", str(state_dir)], check=True)
    app = PtyApp([*tuiflow_cmd(), str(path), "--state-dir", str(state_dir)], path.parent)
    latencies: list[float] = []
    try:
        start = app.wait_for(b"RUNNING", timeout=30)
        limit = 1
        while press and b"SUCCEEDED" not in app.all_bytes()[-20000:]:
            limit += 1
            sent = app.send(b"+")
            seen = app.wait_for(f"limit {limit}".encode(), timeout=10, since=sent)
            latencies.append(seen - sent)
            time.sleep(0.05)
        ended = app.wait_for(b"SUCCEEDED", timeout=600)
        rss_mib = app.rss_peak_kib() / 1024
        app.send(b"q")  # a finished run quits at once; the store writes its last bytes
        app.proc.wait(60)
    finally:
        app.stop()
    return ended - start, latencies, rss_mib


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--width", type=int, default=100, help="bytes per line, newline included")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = write_pipeline("flood", pipeline(args.lines, args.width))
    state_tui = path.parent / "state-tui"
    state_headless = path.parent / "state-headless"
    tui_times: list[float] = []
    headless_times: list[float] = []
    latencies: list[float] = []
    rss_mib = 0.0
    for _ in range(args.runs):  # alternate, so all see the same load on a shared machine
        _, lat, rss = tui_run(path, state_tui)
        latencies += lat
        rss_mib = max(rss_mib, rss)
        run_seconds, _, rss = tui_run(path, state_tui, press=False)
        tui_times.append(run_seconds)
        rss_mib = max(rss_mib, rss)
        subprocess.run(["rm", "-rf", str(state_headless)], check=True)
        headless_times.append(headless_seconds(path, state_headless))
    run_seconds, headless = statistics.median(tui_times), statistics.median(headless_times)
    exact = log_sha(state_tui) == expected_sha(args.lines, args.width)
    p50, p95, worst = percentile(latencies, 50), percentile(latencies, 95), max(latencies)
    rows = [
        ("key latency p95", f"{p95 * 1000:.0f} ms (p50 {p50 * 1000:.0f}, max {worst * 1000:.0f}, n={len(latencies)})",
         "< 200 ms", p95 < 0.2),
        ("app peak RSS", f"{rss_mib:.0f} MiB", "< 300 MiB", rss_mib < 300),
        ("run time TUI / headless (medians)",
         f"{run_seconds:.2f} s / {headless:.2f} s = {run_seconds / headless:.2f}x",
         "<= 1.5x", run_seconds <= 1.5 * headless),
        ("log byte-exact", "yes" if exact else "NO", "yes", exact),
    ]
    print(f"{args.lines} lines of {args.width} bytes (`seq -f`), 120x40\n")
    print("| measure | value | goal | ok |\n| --- | --- | --- | --- |")
    for name, value, goal, good in rows:
        print(f"| {name} | {value} | {goal} | {'yes' if good else 'NO'} |")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
