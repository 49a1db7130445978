"""Figures of issue 15 (`tuiflow serve`): a run's UI in Debian's Chromium, driven by Playwright.

    .venv/bin/python benchmarks/web_bench.py first-screen [--tasks 1000 --mb 10 --runs 5]
    .venv/bin/python benchmarks/web_bench.py talkers
    .venv/bin/python benchmarks/web_bench.py all

- first-screen: a live run of N tasks (100 of them having written M MB of logs, the rest
  sleeping) served by `tuiflow serve RUN`; a fresh page (a new browser context: no cookie, no
  cache) is pointed at the link, and the time is taken from `page.goto` until the page has been
  sent a complete screen: the header (pipeline, RUNNING), the tree's first rows, the selected
  task's last log line and the footer. (Goal: ≤ 2 s.) The time of the first byte on the
  websocket and of the page's own load (HTML, textual.js, fonts) are given beside it, and, run
  by run in turn, the same complete screen for `tuiflow attach RUN` in a pseudo-terminal of the
  page's size (what the browser adds to a terminal viewer).
- talkers: 30 tasks talking a line every 1.5 s each (benchmarks/attach_bench.py `talkers()`),
  a page open on them from the start; bytes a second sent to the browser over the websocket
  from the first complete screen until the header says SUCCEEDED, and the first screen's bytes;
  then the same run in the TUI in a pseudo-terminal of the page's size (bytes it writes).

The screen is what the page's websocket received, rendered by pyte as the test suite does (the
browser's xterm.js draws it on a canvas). Needs /usr/bin/chromium and the `test` extra.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attach_bench import big_run, engine_of, fresh_dir, stop_engines, talkers, write  # noqa: E402
from tui_pty import PtyApp, tuiflow_cmd  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
LINK = re.compile(r"http://\S+/\?token=\S+")


def remove(folder: Path) -> None:
    """Stop the run's engine, wait until it is gone (it writes its run folder to the end), remove the folder."""
    pid = engine_of(folder)
    stop_engines(folder)
    deadline = time.monotonic() + 15
    while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(folder, ignore_errors=True)


class Serve:
    def __init__(self, cmd: list[str], folder: Path, *args: str) -> None:
        self.proc = subprocess.Popen([*cmd, "serve", *args], cwd=folder, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if (m := LINK.search(line)):
                self.url = m.group(0)
                break
        if not self.url:
            raise RuntimeError("tuiflow serve printed no link")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# Recorded in the page itself, with the page's clock: Playwright's own websocket events would
# carry every frame to this process while the run is measured, on the same two cores.
RECORD = r"""
(() => {
  const frames = [];
  let taken = 0;
  window.__tuiflowTake = () => {
    const out = [];
    for (; taken < frames.length; taken++) {
      const [t, kind, value] = frames[taken];
      if (kind === "d") {
        const bytes = new Uint8Array(value);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        out.push([t, kind, btoa(text)]);
      } else {
        out.push([t, kind, value]);
      }
    }
    return out;
  };
  const Native = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    frames.push([Date.now(), "url", String(url)]);
    ws.addEventListener("message", (e) => frames.push([Date.now(), typeof e.data === "string" ? "s" : "d", e.data]));
    const send = ws.send.bind(ws);
    ws.send = (data) => { frames.push([Date.now(), "sent", String(data)]); send(data); };
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
})();
"""


class Watch:
    """A page's websocket as the page saw it (RECORD): frames fed to pyte, with their times and sizes."""

    def __init__(self, context, **goals) -> None:
        """`goals`: name -> predicate on the screen's text; `reached[name]` is (time, bytes so far)
        at the frame that first made it true."""
        import pyte

        self.pyte = pyte
        self.goals = goals
        self.reached: dict[str, tuple[float, int]] = {}
        self.screen = None
        self.stream = None
        self.first_byte: float | None = None
        self.bytes = 0
        context.add_init_script(RECORD)

    def pull(self, page) -> None:
        try:
            frames = page.evaluate("window.__tuiflowTake ? window.__tuiflowTake() : []")
        except Exception:   # noqa: BLE001 - the page is between documents (the link's page refreshes to /)
            return
        for t, kind, value in frames:
            self._frame(t / 1000, kind, value)

    def _frame(self, now: float, kind: str, value: str) -> None:
        if kind == "url":
            query = parse_qs(urlparse(value).query)
            self.screen = self.pyte.Screen(int(query["width"][0]), int(query["height"][0]))
            self.stream = self.pyte.ByteStream(self.screen)
            return
        if kind == "sent":
            with contextlib.suppress(TypeError, ValueError, KeyError, IndexError):
                message = json.loads(value)
                if message[0] == "resize":
                    self.screen.resize(int(message[1]["height"]), int(message[1]["width"]))
            return
        data = base64.b64decode(value) if kind == "d" else value.encode()
        self.bytes += len(data)
        if kind != "d":
            return
        if self.first_byte is None:
            self.first_byte = now
        self.stream.feed(data)
        text = self.text()
        for name, goal in self.goals.items():
            if name not in self.reached and goal(text):
                self.reached[name] = (now, self.bytes)

    def text(self) -> str:
        return "\n".join(self.screen.display) if self.screen is not None else ""

    def wait(self, page, cond, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("timed out")
            page.wait_for_timeout(200)
            self.pull(page)


def first_screen(browser, cmd: list[str], tasks: int, mb: int, runs: int) -> dict:
    folder = big_run(cmd, tasks, mb, "web")
    complete = re.compile(r"big · run .*RUNNING(?s:.*)t0000(?s:.*)t0001(?s:.*)t0000 DONE(?s:.*) quit")
    times, first_bytes, loads, sizes, terminal = [], [], [], [], []
    serve = Serve(cmd, folder)
    try:
        for n in range(runs):
            context = browser.new_context(viewport={"width": 1200, "height": 760})
            watch = Watch(context, complete=lambda text: bool(complete.search(text)))
            page = context.new_page()
            if n:   # each link opens once: a fresh one from a fresh server
                serve.stop()
                serve = Serve(cmd, folder)
            t0 = time.time()
            page.goto(serve.url, wait_until="load")
            loads.append(time.time() - t0)
            watch.wait(page, lambda w=watch: "complete" in w.reached, 60)
            done_at, size = watch.reached["complete"]
            times.append(done_at - t0)
            first_bytes.append(watch.first_byte - t0)
            sizes.append(size)
            columns, lines = watch.screen.columns, watch.screen.lines
            context.close()
            time.sleep(1)   # the tab's viewer leaves before the next page comes
            terminal.append(terminal_first_screen(cmd, folder, complete, columns, lines))
    finally:
        serve.stop()
        remove(folder)
    return {"tasks": tasks, "log_mb": mb, "runs": runs,
            "first_complete_screen_s": round(statistics.median(times), 3),
            "all_s": [round(x, 3) for x in times],
            "page_loaded_s": round(statistics.median(loads), 3),
            "first_websocket_byte_s": round(statistics.median(first_bytes), 3),
            "bytes_until_complete": int(statistics.median(sizes)),
            "terminal_attach_s": round(statistics.median(terminal), 3), "terminal_all_s": [round(x, 3) for x in terminal]}


def terminal_first_screen(cmd: list[str], folder: Path, complete: re.Pattern[str], columns: int, lines: int) -> float:
    """`tuiflow attach` in a pseudo-terminal of the page's size, until the same complete screen."""
    import pyte

    run_dir = next(folder.glob(".tuiflow/runs/*"))
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    t0 = time.monotonic()
    app = PtyApp([*cmd, "attach", str(run_dir)], folder, width=columns, height=lines)
    seen = 0
    try:
        while time.monotonic() < t0 + 60:
            with app._lock:
                chunks = app.chunks[seen:]
            for t, data in chunks:
                seen += 1
                stream.feed(data)
                if complete.search("\n".join(screen.display)):
                    return t - t0
            time.sleep(0.005)
        raise TimeoutError("the terminal never showed the complete screen")
    finally:
        app.send(b"q")
        time.sleep(0.3)
        app.send(b"d")
        time.sleep(0.5)
        app.stop()


def talker_bytes(browser, cmd: list[str]) -> dict:
    folder = fresh_dir("web-talkers")
    write(folder, talkers())
    context = browser.new_context(viewport={"width": 1200, "height": 760})
    watch = Watch(context, complete=lambda text: "RUNNING" in text and "talker00" in text and " quit" in text,
                  succeeded=lambda text: "SUCCEEDED" in text)
    page = context.new_page()
    serve = Serve(cmd, folder, "pipeline.yaml")
    try:
        t0 = time.time()
        page.goto(serve.url)
        watch.wait(page, lambda: "succeeded" in watch.reached, 120)
        start, end = watch.reached["complete"], watch.reached["succeeded"]
        size = watch.screen.columns, watch.screen.lines
        web = {"bytes_per_s": round((end[1] - start[1]) / (end[0] - start[0])),
               "seconds": round(end[0] - start[0], 2), "first_screen_bytes": start[1],
               "first_screen_s": round(start[0] - t0, 3)}
    finally:
        context.close()
        serve.stop()
        remove(folder)
    return {"browser": web, "terminal": terminal_talkers(cmd, *size)}


def terminal_talkers(cmd: list[str], columns: int, lines: int) -> dict:
    """The same run in the TUI, in a pseudo-terminal of the page's size: bytes a second it writes."""
    import pyte

    folder = fresh_dir("web-talkers-tty")
    write(folder, talkers())
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    t0 = time.monotonic()
    app = PtyApp([*cmd, "pipeline.yaml"], folder, width=columns, height=lines)
    seen, total, start, end = 0, 0, None, None
    try:
        while end is None and time.monotonic() < t0 + 120:
            with app._lock:
                chunks = app.chunks[seen:]
            for t, data in chunks:
                seen += 1
                total += len(data)
                stream.feed(data)
                text = "\n".join(screen.display)
                if start is None and "RUNNING" in text and "talker00" in text and " quit" in text:
                    start = (t, total)
                elif start is not None and "SUCCEEDED" in text:
                    end = (t, total)
                    break
            time.sleep(0.005)
        if start is None or end is None:
            raise TimeoutError("the terminal never showed the run to its end")
        return {"bytes_per_s": round((end[1] - start[1]) / (end[0] - start[0])), "seconds": round(end[0] - start[0], 2),
                "first_screen_bytes": start[1], "size": f"{columns}x{lines}"}
    finally:
        app.send(b"q")
        time.sleep(0.5)
        app.stop()
        remove(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["first-screen", "talkers", "all"])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cmd = tuiflow_cmd()
    report: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            if args.what in ("first-screen", "all"):
                report["first_screen"] = first_screen(browser, cmd, args.tasks, args.mb, args.runs)
            if args.what in ("talkers", "all"):
                report["talkers"] = talker_bytes(browser, cmd)
        finally:
            browser.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
