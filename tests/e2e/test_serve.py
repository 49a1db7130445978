"""`tuiflow serve`, end to end: the real command, a real run's engine, Debian's Chromium driven by
Playwright (never a downloaded browser), and a terminal viewer in tmux beside it.

What a page shows is read from what its terminal was sent (the websocket's frames, as the
browser received them, rendered by a VT emulator): xterm.js draws on a canvas, not in the DOM.
The access checks are tested with plain HTTP, which can forge what a browser never would.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.test_attach import engine_pid, no_engine_left, run_json, tuiflow, wait, write  # noqa: F401
from tests.e2e.test_tui_tmux import Pty, alive
from tests.e2e.tmux import TUIFLOW_CMD, Tmux

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process tools (/proc)")
HINT = 'the web UI\'s tests need its extra, Playwright and pyte (the test extra): pip install -e ".[test,dask,web]"'
for _module in ("textual_serve", "playwright", "pyte"):
    pytest.importorskip(_module, reason=HINT)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LINK = re.compile(r"http://(\S+?):(\d+)/\?token=(\S+)")

LONG_RUN = """
    name: web-e2e
    max_parallel: 2
    tasks:
      - {name: alpha, command: 'for i in $(seq 1 1200); do echo "alpha line $i"; sleep 0.5; done'}
      - {name: beta, command: 'sleep 900'}
      - {name: gamma, command: 'sleep 900', depends_on: alpha}
    """


class Served:
    """`tuiflow serve ARGS` running in `cwd`, and the link it printed.

    Its stdout and stderr are one pipe, read by one thread, so what it printed is read in the
    order it printed it: the warnings (stderr) before the link (stdout). Two pipes read by two
    threads have no order between them (a line of one can be read before an earlier line of the
    other), and once a test has seen the link it takes what came before as read."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.cwd, self.env = cwd, env
        self.proc = subprocess.Popen([*TUIFLOW_CMD, "serve", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        self.out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait(lambda: self.link is not None or self.proc.poll() is not None, timeout=60, what="the link")
        assert self.link is not None, f"no link; exit {self.proc.wait(15)}: {self.text}"
        self.url = self.link.group(0)
        self.host, self.port, self.token = self.link.group(1), int(self.link.group(2)), self.link.group(3)

    def _read(self) -> None:
        for line in self.proc.stdout:   # type: ignore[union-attr]
            self.out.append(line)

    @property
    def link(self) -> re.Match[str] | None:
        return next((m for line in list(self.out) if (m := LINK.search(line))), None)

    @property
    def text(self) -> str:
        """All it printed so far; all it ever printed once it has ended."""
        if self.proc.poll() is not None:
            self._reader.join(15)       # its last lines may still be in the pipe
        return "".join(self.out)

    def tabs(self) -> list[int]:
        """The viewer processes of this server's tabs (python -m tuiflow.web.tab --server PID)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if "tuiflow.web.tab" in argv and argv[argv.index("tuiflow.web.tab") + 1:][:2] == [
                    "--server", str(self.proc.pid)]:
                found.append(int(entry.name))
        return found

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def served(tmp_path):
    made: list[Served] = []

    def serve(*args: str, cwd: Path | None = None) -> Served:
        made.append(Served(cwd or tmp_path, *args))
        return made[-1]
    yield serve
    for one in made:
        one.stop()


@pytest.fixture
def terms(tmp_path):
    made: list[Tmux] = []

    def new() -> Tmux:
        made.append(Tmux(tmp_path, 120, 36))
        return made[-1]
    yield new
    for term in made:
        term.kill()


# ---------------------------------------------------------------------------- in Chromium

@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module, with a fresh profile; each test opens its own pages."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no {CHROMIUM}: Debian's chromium is not installed (.ci/run installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="tuiflow-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 1200, "height": 760})
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class PageScreen:
    """What a page's terminal shows: the frames its websocket received (and the sizes it asked
    for), replayed through pyte."""

    def __init__(self, page) -> None:
        self.page = page
        self.events: list[tuple[str, object]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        query = parse_qs(urlparse(ws.url).query)
        self.events.append(("size", (int(query["width"][0]), int(query["height"][0]))))
        ws.on("framereceived", lambda data: self.events.append(("data", data)))
        ws.on("framesent", self._sent)

    def _sent(self, data) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            message = json.loads(data)
            if message[0] == "resize":
                self.events.append(("size", (int(message[1]["width"]), int(message[1]["height"]))))

    def text(self) -> str:
        import pyte

        screen = pyte.Screen(80, 24)
        stream = pyte.ByteStream(screen)
        for kind, value in list(self.events):
            if kind == "size":
                screen.resize(value[1], value[0])   # type: ignore[index]
            elif isinstance(value, bytes):
                stream.feed(value)
        return "\n".join(line.rstrip() for line in screen.display)

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "") -> str:
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            if predicate(text):
                return text
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what or predicate}; the page showed:\n{text}")
            self.page.wait_for_timeout(100)   # Playwright delivers the page's events while it waits

    def press(self, *keys: str) -> None:
        """Click into the terminal (its header line, where a click does nothing), then type."""
        self.page.locator("#terminal").click(position={"x": 900, "y": 6})
        for key in keys:
            self.page.keyboard.press(key)


def controls(tmp_path: Path) -> list[dict]:
    (events,) = tmp_path.glob(".tuiflow/runs/*/events.jsonl")
    return [e for e in map(json.loads, events.read_text().splitlines()) if e.get("event") == "control"]


def test_a_page_shows_the_run_and_a_key_in_it_pauses_the_run_for_every_viewer(tmp_path, browser, served, terms):
    write(tmp_path, LONG_RUN)
    web = served("pipeline.yaml")                 # a pipeline file: the run starts first
    assert "of web-e2e started" in web.text and web.host == "127.0.0.1"
    run = run_json(tmp_path)
    engine = engine_pid(tmp_path)
    term = terms()
    term.start(*TUIFLOW_CMD, "attach", run["run_id"])
    term.wait_text("RUNNING")

    page = browser.new_page()
    screen = PageScreen(page)
    page.goto(web.url)
    shown = screen.wait_for(lambda s: "alpha line" in s and "RUNNING" in s, what="the run in the page")
    assert "web-e2e" in shown and run["run_id"] in shown
    assert re.search(r"● alpha .*\n.*◌ gamma.*\n.*● beta", shown), shown   # the tree: gamma under alpha
    assert page.url == f"http://127.0.0.1:{web.port}/", "the token stays out of the address bar"
    assert page.evaluate("document.cookie") == "", "the session cookie is HttpOnly"
    wait(lambda: len(web.tabs()) == 1, what="the tab's viewer")
    (tab,) = web.tabs()

    screen.press("p")
    term.wait_text("PAUSED")                       # the terminal viewer sees what the page did
    screen.wait_for(lambda s: "PAUSED" in s, what="PAUSED in the page")
    wait(lambda: run_json(tmp_path)["paused"] is True, what="run.json to say paused")
    assert [(c["control"], c["by"]) for c in controls(tmp_path)] == [("pause", f"pid {tab}")]

    second = browser.new_page()                    # a second tab of the same browser: its cookie, no link
    other = PageScreen(second)
    second.goto(f"http://127.0.0.1:{web.port}/")
    other.wait_for(lambda s: "PAUSED" in s and "alpha line" in s, what="the second tab")
    wait(lambda: len(web.tabs()) == 2, what="a viewer for each tab")
    assert tab in web.tabs()

    page.close()                                   # closing a tab ends its viewer, not the run
    wait(lambda: tab not in web.tabs(), timeout=15, what="the first tab's viewer to leave")
    assert len(web.tabs()) == 1                    # the other tab's viewer stays
    second.close()
    wait(lambda: not web.tabs(), timeout=15, what="the second tab's viewer to leave")
    assert alive(engine)
    state = run_json(tmp_path)
    assert state["state"] == "running" and state["tasks"]["alpha"]["state"] == "running"
    assert "PAUSED" in term.screen() and "engine gone" not in term.screen()
    assert web.stop() == 130                       # Ctrl+C stops serving, and only that
    assert alive(engine) and "the run goes on" in web.text
    assert "PAUSED" in term.screen()


def test_a_read_only_page_watches_and_its_keys_change_nothing(tmp_path, browser, served):
    write(tmp_path, LONG_RUN)
    assert tuiflow(tmp_path, "pipeline.yaml", "--detach").returncode == 0
    web = served("--read-only")                    # no RUN: the newest live run here
    page = browser.new_page()
    screen = PageScreen(page)
    page.set_content(f'<a id="run" href="{web.url}">the run</a>')   # a link on another site...
    page.click("#run")                             # ...then no redirect may lose the SameSite cookie
    # The footer is redrawn a moment after the header once the engine has answered (until then
    # it lists every key, dimmed, A approve too, which the engine's answer hides here: no gate).
    shown = screen.wait_for(lambda s: "alpha line" in s and "read-only" in s and "? help" in s
                            and "A approve" not in s, what="the read-only page with its footer")
    assert "p pause" not in shown and "c cancel" not in shown   # the controls are not even offered
    assert "/ search" in shown
    before = run_json(tmp_path)

    screen.press("ArrowDown")                           # keys do reach the page's viewer: the selection moves...
    screen.wait_for(lambda s: re.search(r"▕ ◌ gamma", s), what="gamma selected")
    screen.press("p", "+", "c", "C", "x")       # ...but no control is sent
    page.wait_for_timeout(1500)
    after = run_json(tmp_path)
    assert after["paused"] is False and after["max_parallel"] == before["max_parallel"] == 2
    assert after["state"] == "running"
    assert {t: after["tasks"][t]["state"] for t in ("alpha", "beta", "gamma")} == {
        "alpha": "running", "beta": "running", "gamma": "pending"}
    assert controls(tmp_path) == []
    page.close()


def test_a_page_opened_after_the_run_ended_still_shows_it(tmp_path, browser, served):
    """The server holds a finished run open for the pages (as an open TUI does): a tab opened or
    reloaded after the end shows it, until the server stops; then the engine ends."""
    write(tmp_path, "name: quick\ntasks:\n  - {name: only, command: echo finished here}\n")
    web = served("pipeline.yaml")
    wait(lambda: run_json(tmp_path)["state"] == "succeeded", what="the run to end")
    engine = engine_pid(tmp_path)
    assert alive(engine)
    page = browser.new_page()
    screen = PageScreen(page)
    page.goto(web.url)
    screen.wait_for(lambda s: "SUCCEEDED" in s and "finished here" in s, what="the finished run in the page")
    page.close()
    wait(lambda: not web.tabs(), timeout=15, what="the tab's viewer to leave")
    assert alive(engine)
    assert web.stop() == 130
    wait(lambda: not alive(engine), timeout=15, what="the engine to end with its last viewer")


# ---------------------------------------------------------------------------- the checks, over plain HTTP

@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A live run served on 127.0.0.1, and a session cookie from its link."""
    folder = tmp_path_factory.mktemp("guarded")
    runtime = tmp_path_factory.mktemp("guarded-runtime")
    runtime.chmod(0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    write(folder, LONG_RUN)
    subprocess.run([*TUIFLOW_CMD, "pipeline.yaml", "--detach"], cwd=folder, env={**os.environ, **env},
                   check=True, capture_output=True, timeout=60)
    web = Served(folder, env=env)
    try:
        status, headers, _ = get(web.port, f"/?token={web.token}")
        assert status == 200, headers
        web.set_cookie = headers["Set-Cookie"]
        web.cookie = web.set_cookie.split(";")[0]
        yield web
    finally:
        web.stop()
        os.kill(engine_pid(folder), signal.SIGTERM)


def get(port: int, path: str, **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **headers})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def websocket(port: int, **headers: str) -> tuple[int, bytes]:
    """A websocket handshake on /ws as a browser would send it; the status, and what came back."""
    fields = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13",
              **headers}
    request = "GET /ws?width=80&height=24 HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall((request + "\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split()[1]), reply


def test_without_the_session_cookie_every_request_gets_401(guarded):
    origin = f"http://127.0.0.1:{guarded.port}"
    assert get(guarded.port, "/", Cookie=guarded.cookie)[0] == 200
    for path in ("/", "/static/js/textual.js", "/?token=" + "x" * 32):
        status, _, body = get(guarded.port, path)
        assert status == 401, path
    assert b"open the link that `tuiflow serve` printed" in get(guarded.port, "/")[2]
    assert get(guarded.port, "/", Cookie=f"tuiflow-{guarded.port}=forged")[0] == 401
    assert websocket(guarded.port, Origin=origin)[0] == 401
    assert get(guarded.port, f"/?token={guarded.token}")[0] == 401, "a link opens once"


def test_the_session_cookie_is_httponly_and_samesite_strict(guarded):
    attributes = {a.strip().lower() for a in guarded.set_cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert guarded.cookie.startswith(f"tuiflow-{guarded.port}=")


def test_a_page_from_another_origin_gets_403(guarded):
    status, reply = websocket(guarded.port, Cookie=guarded.cookie, Origin="http://evil.example")
    assert status == 403 and b"may not use this run" in reply
    assert get(guarded.port, "/", Cookie=guarded.cookie, Origin="http://evil.example")[0] == 403
    assert websocket(guarded.port, Cookie=guarded.cookie, Origin="null")[0] == 403
    status, _ = websocket(guarded.port, Cookie=guarded.cookie, Origin=f"http://127.0.0.1:{guarded.port}")
    assert status == 101                           # the page's own origin is let through


def test_a_host_that_is_not_this_server_gets_403(guarded):
    port = guarded.port
    status, _, body = get(port, "/", Cookie=guarded.cookie, Host=f"evil.example:{port}")   # DNS rebinding
    assert status == 403 and b"is not a name of this server" in body
    assert get(port, "/", Cookie=guarded.cookie, Host=f"127.0.0.1:{port + 1}")[0] == 403
    assert websocket(port, Cookie=guarded.cookie, Host=f"evil.example:{port}",
                     Origin=f"http://evil.example:{port}")[0] == 403
    assert get(port, "/", Cookie=guarded.cookie, Host=f"localhost:{port}")[0] == 200


def test_enter_prints_another_link_and_each_opens_once(guarded):
    (run_dir,) = guarded.cwd.glob(".tuiflow/runs/*")
    term = Pty(guarded.cwd, "serve", str(run_dir))           # on a terminal
    try:
        term.read_until(lambda out: b"Enter here prints another link" in out)
        os.write(term.master, b"\n")
        out = term.read_until(lambda out: len(LINK.findall(out.decode(errors="replace"))) == 2).decode()
        first, second = LINK.finditer(out)
        port = int(first.group(2))
        assert first.group(3) != second.group(3)
        assert get(port, f"/?token={second.group(3)}")[0] == 200
        assert get(port, f"/?token={first.group(3)}")[0] == 200
        assert get(port, f"/?token={second.group(3)}")[0] == 401
    finally:
        term.proc.send_signal(signal.SIGINT)
        term.proc.wait(15)
        term.close()


def test_listening_beyond_this_machine_says_so_loudly(guarded):
    wide = Served(guarded.cwd, "--host", "0.0.0.0", env=guarded.env)
    try:
        assert "ANYONE WHO HAS THE LINK CAN CONTROL THIS RUN" in wide.text and "--read-only" in wide.text
        assert wide.host == socket.gethostname().lower()
    finally:
        wide.stop()
    watching = Served(guarded.cwd, "--host", "0.0.0.0", "--read-only", env=guarded.env)
    try:
        assert "CAN CONTROL" not in watching.text and "can watch this run (read-only)" in watching.text
    finally:
        watching.stop()


# ---------------------------------------------------------------------------- lifetime and refusals

def test_a_killed_server_takes_its_tabs_viewers_along_and_a_server_ends_with_the_engine(tmp_path, served):
    write(tmp_path, LONG_RUN)
    assert tuiflow(tmp_path, "pipeline.yaml", "--detach").returncode == 0
    engine = engine_pid(tmp_path)
    web = served()
    status, headers, _ = get(web.port, f"/?token={web.token}")
    cookie = headers["Set-Cookie"].split(";")[0]
    status, _ = websocket(web.port, Cookie=cookie, Origin=f"http://127.0.0.1:{web.port}")
    assert status == 101
    wait(lambda: len(web.tabs()) == 1, what="a tab's viewer")
    (tab,) = web.tabs()
    web.proc.kill()                                # SIGKILL: no chance to tell its tabs
    web.proc.wait()
    wait(lambda: not alive(tab), timeout=10, what="the tab's viewer to end with its server")
    assert alive(engine) and run_json(tmp_path)["state"] == "running"

    again = served()
    os.kill(engine, signal.SIGTERM)                # the engine goes: nothing is left to serve
    assert again.proc.wait(15) == 1
    assert "the run's engine has ended" in again.text


def test_serve_refuses_what_it_cannot_serve_and_starts_nothing(tmp_path):
    result = tuiflow(tmp_path, "serve")
    assert result.returncode == 2 and "no live run under" in result.stderr
    write(tmp_path, "name: broken\ntasks:\n  - {name: a, command: true, depends_on: nope}\n", "broken.yaml")
    result = tuiflow(tmp_path, "serve", "broken.yaml")
    assert result.returncode == 2 and "broken.yaml:3:" in result.stderr and "Traceback" not in result.stderr
    write(tmp_path, "name: fine\ntasks:\n  - {name: a, command: sleep 60}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        result = tuiflow(tmp_path, "serve", "pipeline.yaml", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2 and "cannot listen on 127.0.0.1" in result.stderr
    result = tuiflow(tmp_path, "serve", "--port", "70000")
    assert result.returncode == 2 and "a port is 0 to 65535" in result.stderr
    result = tuiflow(tmp_path, "serve", "some-run-id", "--param", "x=1")
    assert result.returncode == 2 and "are for a pipeline FILE" in result.stderr
    assert not list(tmp_path.glob(".tuiflow/runs/*")), "no run may start"
