"""The log pane over a huge log (issue 11 goals): open, jump, search, memory.

    .venv/bin/python benchmarks/log_pane.py [--lines 11400000] [--runs 3]

A run writes one task's log of N lines of ~88 bytes (11.4M lines: 1.0 GB; `log_limit: 2GB`) while
the TUI shows another task, so the viewer never holds that output. Then, in the TUI (a real
pty, 120x40, the engine in its own process as always), each measure is the time from writing
the key to the pty until the text that answers it reaches the pty:

- open: `↓` selects the finished task; until its last line shows (the engine has never read
  this log: it reads the tail and counts the lines before it meanwhile);
- jump: `home` (line 1); `n` through the matches of `000000 of` (lines 1M, 2M, ... 11M: one every
  ~88 MB of the file); `end`;
- search: `/` and a query that is nowhere: until the title says `no match` (every byte read),
  three times; once the title says `searching` (the bar closed, its frame drawn), in turn every
  50 ms, `pagedown` (timed until the next page shows: the UI's own answer) and `+` (until the
  header shows the new limit: a control's round trip to the engine, which includes the UI's
  batching of events, 1/15 s; measured idle too);
- memory: the TUI process's resident memory (VmHWM, peak) before it opens the task and after
  all of the above: what the pane costs, whatever the log size.

Goals: open ≤ 0.5 s, jump ≤ 0.2 s, search ≤ 3 s with key latency p95 ≤ 100 ms, pane memory
≤ 50 MB. The engine's own figures (index, lines, find) are measured in process after the TUI.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import shutil
import statistics
import sys
import time
from pathlib import Path

from tui_pty import PtyApp, tuiflow_cmd, write_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tuiflow.engine.logaccess import LogAccess  # noqa: E402

LINE = "line %.0f of the benchmark log, padded to about one hundred bytes with words of text"


def pipeline(lines: int) -> str:
    return f"""
name: bench-log-pane
max_parallel: 2
log_limit: 2GB
tasks:
  - name: a_shown
    command: echo shown first; sleep 3600
  - name: big
    command: seq -f '{LINE}' 1 {lines}
"""


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def timed(app: PtyApp, keys: bytes, answer: bytes, timeout: float = 60.0) -> float:
    sent = app.send(keys)
    return app.wait_for(answer, timeout=timeout, since=sent) - sent


def page_height(app: PtyApp, since: float) -> int:
    """Rows of the pane: after one pagedown from line 1 its top line is 1 + h, and the lines
    below it show too, so h is the smallest candidate that shows."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        time.sleep(0.3)
        with app._lock:
            data = b"".join(d for t, d in app.chunks if t >= since)
        seen = [h for h in range(5, 80) if (LINE % (1 + h))[:20].encode() in data]
        if seen:
            return min(seen)
    raise TimeoutError("the page below never showed")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def one_run(path: Path, lines: int) -> dict[str, object]:
    state = path.parent / "state"
    shutil.rmtree(state, ignore_errors=True)
    app = PtyApp([*tuiflow_cmd(), str(path), "--state-dir", str(state)], path.parent)
    out: dict[str, object] = {}
    try:
        app.wait_for(b"shown first", timeout=60)
        started = time.monotonic()
        app.wait_for(b"1/2", timeout=900, since=started)          # big finished: 1 of 2 done
        out["write_s"] = time.monotonic() - started
        time.sleep(1.0)
        limit = 2
        idle: list[float] = []
        for _ in range(15):                                         # key latency with nothing going on
            limit += 1
            idle.append(timed(app, b"+", f"limit {limit}".encode()))
            time.sleep(0.05)
        out["idle_latencies"] = idle
        before = rss_kib(app.proc.pid, "VmRSS")
        last = (LINE % lines)[:40].encode()
        out["open"] = timed(app, b"\x1b[B", last)                   # down: select big
        app.wait_for(b"attempt 1", timeout=10)
        time.sleep(1.5)                                             # the count of lines, done
        app.send(b"\t")                                             # focus the pane
        time.sleep(0.3)
        jumps = [timed(app, b"\x1b[H", (LINE % 1)[:12].encode())]          # home: "line 1 of th"
        app.send(b"/")
        time.sleep(0.3)
        matches = lines // 1_000_000
        out["find_matches"] = timed(app, b"000000 of\r", f"/000000 of: 1/{matches} · scrolled".encode(),
                                    timeout=120)
        time.sleep(0.3)
        # the line before each match shows it there (the match itself is drawn highlighted)
        for k in [*range(2, matches + 1), 1] if matches > 1 else []:   # from the first match on, and around
            jumps.append(timed(app, b"n", (LINE % (k * 1_000_000 - 1))[:20].encode()))
        jumps.append(timed(app, b"\x1b[F", (LINE % (lines - 1))[:20].encode()))   # end
        out["jumps"] = jumps
        # how many lines a page is: the top line after one pagedown from line 1 tells
        timed(app, b"\x1b[H", (LINE % 1)[:12].encode())
        time.sleep(0.5)                  # the whole first screen is out before the next key
        height = page_height(app, app.send(b"\x1b[6~"))
        idle_pages: list[float] = []      # pagedown with nothing going on
        timed(app, b"\x1b[H", (LINE % 1)[:12].encode())
        time.sleep(0.5)
        for page in range(1, 31):
            pressed = app.send(b"\x1b[6~")
            idle_pages.append(app.wait_for((LINE % (1 + page * height))[:20].encode(), since=pressed) - pressed)
            time.sleep(0.15)
        out["idle_pages"] = idle_pages
        # searches through every byte, keys pressed meanwhile: pagedown (drawn by the UI alone) and
        # + (a control: to the engine and back, through the UI's 1/15 s batching of events)
        searches, started, latencies, round_trips = [], [], [], []
        for query in (b"nowhere to be found", b"not here either", b"nor here"):
            timed(app, b"\x1b[H", (LINE % 1)[:12].encode())      # from line 1, page by page
            time.sleep(0.5)
            app.send(b"/")
            time.sleep(0.3)
            sent = app.send(query + b"\r")
            # the bar closes and the title says the search runs: keys from then on are "meanwhile"
            # (a key typed with enter in the same burst waits for that frame too: the pane grows
            # by the bar's row and is drawn whole, 10-20 KB; timed apart, "the search shows")
            started.append(app.wait_for(b"/" + query + b": searching", timeout=30, since=sent) - sent)
            time.sleep(0.1)                   # the rest of that frame
            pages = 0
            while True:
                pages += 1
                pressed = app.send(b"\x1b[6~")
                top = (LINE % (1 + pages * height))[:20].encode()
                latencies.append(app.wait_for(top, timeout=30, since=pressed) - pressed)
                time.sleep(0.05)
                limit += 1
                pressed = app.send(b"+")
                round_trips.append(app.wait_for(f"limit {limit}".encode(), timeout=30, since=pressed) - pressed)
                try:
                    done_at = app.wait_for(b"/" + query + b": no match", timeout=0.05, since=sent)
                    break
                except TimeoutError:
                    pass
            searches.append(done_at - sent)
        out["search"] = statistics.median(searches)
        out["search_shown"] = started
        out["latencies"] = latencies
        out["round_trips"] = round_trips
        time.sleep(0.5)
        out["rss_before_mib"] = before / 1024
        out["rss_after_mib"] = rss_kib(app.proc.pid, "VmRSS") / 1024
        out["hwm_mib"] = rss_kib(app.proc.pid, "VmHWM") / 1024
        app.send(b"q")
        time.sleep(0.5)
        app.send(b"c")
        app.proc.wait(60)
    finally:
        app.stop()
    out["log"] = glob.glob(f"{state}/**/logs/big/1.log", recursive=True)[0]
    return out


async def engine_figures(log: str) -> dict[str, float]:
    """The engine's side alone, in process: a cold index, lines anywhere, one full search."""
    logs = LogAccess(lambda task, attempt: log)
    size = Path(log).stat().st_size
    t0 = time.perf_counter()
    tail = await logs.tail("big", 1, None, 1000, 1 << 20)
    tail_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    count = await logs.count("big", 1, None, wait=60)
    index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k in range(100):
        await logs.lines("big", 1, 1 + k * (count.lines // 100), 128)
    lines_s = (time.perf_counter() - t0) / 100
    t0 = time.perf_counter()
    offset, line = 0, 1
    while offset < size:
        found = await logs.find("big", 1, "nowhere to be found", offset, line, size)
        offset, line = found.offset, found.line
    find_s = time.perf_counter() - t0
    return {"tail_s": tail_s, "index_s": index_s, "lines_ms": lines_s * 1000, "find_s": find_s,
            "size_mb": size / 1e6, "lines": count.lines or 0, "tail_first_line": tail.first_line or 0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=11_400_000)   # 1 GB, the size
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (1 GB) afterwards")
    args = parser.parse_args()
    path = write_pipeline("log_pane", pipeline(args.lines))
    runs = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}…", file=sys.stderr)
        runs.append(one_run(path, args.lines))
    engine = asyncio.run(engine_figures(str(runs[-1]["log"])))
    if not args.keep:
        shutil.rmtree(path.parent / "state", ignore_errors=True)

    def med(key: str) -> float:
        return statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]

    jumps = [j for r in runs for j in r["jumps"]]  # type: ignore[attr-defined]
    latencies = [v for r in runs for v in r["latencies"]]  # type: ignore[attr-defined]
    idle = [v for r in runs for v in r["idle_latencies"]]  # type: ignore[attr-defined]
    trips = [v for r in runs for v in r["round_trips"]]  # type: ignore[attr-defined]
    shown = [v for r in runs for v in r["search_shown"]]  # type: ignore[attr-defined]
    idle_pages = [v for r in runs for v in r["idle_pages"]]  # type: ignore[attr-defined]
    pane_mib = max(float(r["hwm_mib"]) - float(r["rss_before_mib"]) for r in runs)  # type: ignore[arg-type]
    rows = [
        ("open the finished log, its end on screen", f"{med('open') * 1000:.0f} ms (runs: "
         + ", ".join(f"{float(r['open']) * 1000:.0f}" for r in runs) + ")", "≤ 500 ms", med("open") <= 0.5),
        ("jump (home, n to a match ~88 MB further, end)", f"p50 {percentile(jumps, 50) * 1000:.0f} ms, "
         f"p95 {percentile(jumps, 95) * 1000:.0f} ms, max {max(jumps) * 1000:.0f} ms (n={len(jumps)})",
         "≤ 200 ms", percentile(jumps, 95) <= 0.2),
        ("`/` through every byte (median of 3 searches a run)", f"{med('search'):.2f} s (runs: "
         + ", ".join(f"{float(r['search']):.2f}" for r in runs) + ")", "≤ 3 s", med("search") <= 3),
        ("  enter to the title saying `searching` (the bar closed)", f"p50 {percentile(shown, 50) * 1000:.0f} ms, "
         f"max {max(shown) * 1000:.0f} ms (n={len(shown)})", "", True),
        ("key latency meanwhile: pagedown in the pane", f"p95 {percentile(latencies, 95) * 1000:.0f} ms, p50 "
         f"{percentile(latencies, 50) * 1000:.0f} ms (n={len(latencies)}); idle: p95 "
         f"{percentile(idle_pages, 95) * 1000:.0f} ms, p50 {percentile(idle_pages, 50) * 1000:.0f} ms", "p95 ≤ 100 ms",
         percentile(latencies, 95) <= 0.1),
        ("  `+` (to the engine and back) meanwhile", f"p95 {percentile(trips, 95) * 1000:.0f} ms, p50 "
         f"{percentile(trips, 50) * 1000:.0f} ms (n={len(trips)}); idle: p95 {percentile(idle, 95) * 1000:.0f} ms, "
         f"p50 {percentile(idle, 50) * 1000:.0f} ms", "", True),
        ("pane memory (TUI peak RSS − RSS before opening)", f"{pane_mib:.0f} MiB (TUI peak "
         f"{max(float(r['hwm_mib']) for r in runs):.0f} MiB)", "≤ 50 MB", pane_mib <= 50),
    ]
    print(f"{args.lines} lines, {engine['size_mb']:.0f} MB, 120x40, median of {args.runs} runs "
          f"(writing it took {med('write_s'):.1f} s)\n")
    print("| measure | value | goal | ok |\n| --- | --- | --- | --- |")
    for name, value, goal, good in rows:
        print(f"| {name} | {value} | {goal} | {'yes' if good else 'NO'} |")
    print("\nThe engine alone, in process, on the same log (a cold index):\n")
    print("| step | time |\n| --- | --- |")
    print(f"| tail (1000 lines) | {engine['tail_s'] * 1000:.0f} ms |")
    print(f"| counting every line (the index) | {engine['index_s']:.2f} s |")
    print(f"| 128 lines anywhere (mean of 100) | {engine['lines_ms']:.1f} ms |")
    print(f"| find through the whole log | {engine['find_s']:.2f} s |")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
