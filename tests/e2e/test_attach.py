"""End to end, with real processes: a run outlives its terminal, viewers come and go, the engine
is private to its owner, a stalled viewer or terminal never holds the run back, and a killed
engine takes its tasks with it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.test_tui_tmux import Pty, alive
from tests.e2e.tmux import TUIFLOW, TUIFLOW_CMD, Tmux

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux process tools (/proc, SO_PEERCRED)")


@pytest.fixture
def terms(tmp_path):
    made: list[Tmux] = []

    def new(width: int = 120, height: int = 36) -> Tmux:
        term = Tmux(tmp_path, width, height)
        made.append(term)
        return term
    yield new
    for term in made:
        term.kill()


@pytest.fixture(autouse=True)
def no_engine_left(tmp_path):
    """Whatever a test does, no engine or task of its run may outlive it."""
    yield
    for run_json in tmp_path.glob("**/.tuiflow/runs/*/run.json"):
        with open(run_json) as f:
            pid = json.load(f).get("pid")
        if isinstance(pid, int) and alive(pid) and Path(f"/proc/{pid}/cwd").resolve().is_relative_to(tmp_path):
            os.kill(pid, signal.SIGTERM)


def write(tmp_path: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def wait(cond, timeout: float = 30.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.05)


def run_json(tmp_path: Path) -> dict:
    (path,) = tmp_path.glob("**/.tuiflow/runs/*/run.json")
    return json.loads(path.read_text())


def engine_pid(where: Path) -> int:
    """The engine's pid, once run.json has it (the keeper's until the engine's first write)."""
    def engine() -> int | None:
        try:
            pid = json.loads(next(where.glob("**/runs/*/run.json")).read_text())["pid"]
            parent = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[1]
            return pid if "_engine" in Path(f"/proc/{parent}/cmdline").read_text(errors="replace") else None
        except (ValueError, OSError, StopIteration):
            return None
    wait(lambda: engine() is not None, what="the engine in run.json")
    return engine()  # type: ignore[return-value]


def tuiflow_processes(tmp_path: Path, engines: bool = False) -> list[int]:
    """tuiflow processes working in tmp_path: the viewers, or (`engines`) the `tuiflow _engine`
    processes and their keepers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        if cwd != tmp_path:
            continue
        if ("_engine" in argv) if engines else (TUIFLOW in argv and "_engine" not in argv
                                                and not argv[0].endswith("sh")):
            found.append(int(entry.name))
    return found


def ui_processes(tmp_path: Path) -> list[int]:
    """tuiflow processes working in tmp_path that are not an engine (or its keeper): viewers."""
    return tuiflow_processes(tmp_path)


def pids(tmp_path: Path, *names: str) -> dict[str, int]:
    wait(lambda: all((tmp_path / n).is_file() and (tmp_path / n).read_text().strip() for n in names),
         what=f"pid files {names}")
    return {n: int((tmp_path / n).read_text()) for n in names}


def tuiflow(tmp_path: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TUIFLOW_CMD, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60, **kw)


def history(tmp_path: Path) -> str:
    return tuiflow(tmp_path, "history").stdout


def test_the_run_outlives_its_terminal_and_attach_takes_it_up(tmp_path, terms):
    write(tmp_path, """
        name: e2e-outlive
        tasks:
          - name: slow
            command: echo $$ > slow.pid; echo "slow started"; for i in $(seq 1 400); do echo "slow tick $i"; sleep 0.5; done
          - name: quick
            command: echo $$ > quick.pid; echo "quick started"; sleep 8; echo "quick done"
          - {name: after, command: echo after, depends_on: [slow, quick]}
        """)
    first = terms()
    first.start(*TUIFLOW_CMD, "pipeline.yaml")
    before = first.wait_for(lambda s: re.search(r"slow tick [3-9]\b", s), what="a few ticks")
    last_seen = max(int(n) for n in re.findall(r"slow tick (\d+)", before))
    tasks = pids(tmp_path, "slow.pid", "quick.pid")
    assert ui_processes(tmp_path), "the UI runs"
    first.kill()                                  # the terminal goes away
    wait(lambda: not ui_processes(tmp_path), timeout=2.0, what="the UI to leave within 2 s")
    assert all(alive(p) for p in tasks.values()), "the tasks must go on without the terminal"
    assert run_json(tmp_path)["state"] == "running"

    second = terms()
    second.start(*TUIFLOW_CMD, "attach")
    screen = second.wait_text("slow tick")
    assert "● slow" in screen and "e2e-outlive" in screen and "RUNNING" in screen
    # the log is replayed: what was printed before the terminal went away is there
    second.wait_for(lambda s: re.search(rf"slow tick {last_seen}\b", s), what=f"slow tick {last_seen}")
    second.send("c")
    second.wait_text("Cancel task slow?")
    second.send("y")
    second.wait_text("⊘ slow")
    second.wait_text("✓ quick", timeout=30)      # the other task runs on to its end
    screen = second.wait_text("FAILED")
    assert "⊖ after" in screen
    assert not alive(tasks["slow.pid"])
    second.send("q")
    second.wait_text("EXIT=1")
    wait(lambda: "e2e-outlive" in history(tmp_path), what="history")
    line = next(x for x in history(tmp_path).splitlines() if "e2e-outlive" in x)
    assert "failed" in line and "1 cancelled" in line and "1 succeeded" in line


def test_two_viewers_see_the_same_run_and_each_others_controls(tmp_path, terms):
    write(tmp_path, """
        name: e2e-two
        max_parallel: 1
        tasks:
          - {name: first, command: sleep 60}
          - {name: second, command: sleep 60}
        """)
    started = tuiflow(tmp_path, "pipeline.yaml", "--detach")
    assert started.returncode == 0 and "tuiflow attach" in started.stdout
    one, two = terms(), terms()
    one.start(*TUIFLOW_CMD, "attach")
    two.start(*TUIFLOW_CMD, "attach", "pipeline.yaml")
    one.wait_text("1 running / limit 1")
    two.wait_text("1 running / limit 1")
    one.send("p")
    two.wait_text("PAUSED")                          # a control from one shows in the other
    two.wait_text("pause (by pid")                   # and says who
    two.send("+")
    one.wait_text("limit 2")
    two.send("C")
    two.wait_text("Cancel the whole run?")
    two.send("y")
    one.wait_text("CANCELLED")
    for term in (one, two):
        term.send("q")
        term.wait_text("EXIT=")


def test_another_user_cannot_connect_even_when_the_socket_is_open_to_all(tmp_path):
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        pytest.skip("setpriv is not installed")
    state = Path(tempfile.mkdtemp(prefix="tuiflow-shared-", dir="/tmp"))
    try:
        os.chmod(state, 0o755)
        write(tmp_path, """
            name: e2e-private
            tasks:
              - {name: long, command: sleep 60}
            """)
        assert tuiflow(tmp_path, "pipeline.yaml", "--detach", "--state-dir", str(state)).returncode == 0
        (sock,) = state.glob("runs/*/engine.sock")
        assert oct(sock.stat().st_mode & 0o777) == "0o600"
        probe = textwrap.dedent(f"""
            import json, socket, sys
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect({str(sock)!r})
            except OSError as exc:
                print("cannot connect:", type(exc).__name__); sys.exit(0)
            try:
                s.sendall(json.dumps({{"op": "hello", "version": 1}}).encode() + b"\\n")
            except BrokenPipeError:
                pass  # refused before the hello was read: the answer is waiting
            s.settimeout(5)
            print("answer:", s.recv(4096).decode().strip() or "(closed)")
        """)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", probe]
        assert subprocess.run(as_nobody, capture_output=True, text=True, timeout=30).stdout.strip() \
            == "cannot connect: PermissionError"    # the run folder is the owner's alone (0700)
        for folder in (sock.parent.parent, sock.parent):
            os.chmod(folder, 0o755)
        os.chmod(sock, 0o777)                         # opened to all by mistake: the engine still refuses
        probed = subprocess.run(as_nobody, capture_output=True, text=True, timeout=30)
        out = probed.stdout.strip()
        assert out.startswith("answer:"), (probed.returncode, probed.stderr)
        assert '"refused"' in out and "another user" in out
        assert "hello" not in out.replace('"op": "hello"', "")
    finally:
        for run in state.glob("runs/*/run.json"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(json.loads(run.read_text())["pid"]), signal.SIGTERM)
        subprocess.run(["rm", "-rf", str(state)], check=False)


def test_a_stopped_viewer_never_holds_the_run_back_and_catches_up_after(tmp_path, terms):
    """A viewer that stops reading (SIGSTOP) while its task floods 100 MB: the run goes on to its
    end meanwhile, the engine stays under 100 MB, and once continued the viewer shows the truth.
    (The wall-time comparison with and without such a viewer is in benchmarks/attach_bench.py.)"""
    write(tmp_path, """
        name: e2e-flood
        tasks:
          - name: flood
            command: until [ -e go ]; do sleep 0.05; done; yes 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 | head -c 100000000; echo; echo THE LAST LINE
          - {name: after, command: echo after the flood, depends_on: flood}
        """)
    assert tuiflow(tmp_path, "pipeline.yaml", "--detach").returncode == 0
    engine = engine_pid(tmp_path)
    viewer = terms()
    viewer.start(*TUIFLOW_CMD, "attach")
    viewer.wait_text("● flood")
    (ui,) = ui_processes(tmp_path)
    os.kill(ui, signal.SIGSTOP)
    (tmp_path / "go").touch()              # the flood starts only now, whatever the machine's load
    try:
        wait(lambda: run_json(tmp_path)["state"] != "running" or
             run_json(tmp_path)["tasks"]["after"]["state"] == "succeeded", timeout=60,
             what="the run to end while its viewer is stopped")
        status = Path(f"/proc/{engine}/status").read_text()
        peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
        assert peak_kb < 100 * 1024, f"the engine grew to {peak_kb} kB"
        assert alive(engine)   # a viewer is still attached: the finished run stays open for it
    finally:
        os.kill(ui, signal.SIGCONT)
    screen = viewer.wait_text("SUCCEEDED", timeout=30)
    assert "✓ flood" in screen and "✓ after" in screen
    viewer.send("q")
    viewer.wait_text("EXIT=0")
    wait(lambda: not alive(engine), timeout=10, what="the engine to end with its last viewer")


def test_a_terminal_that_stops_reading_does_not_delay_the_run(tmp_path):
    """Nobody reads the UI's terminal for 15 s (a stalled SSH link): tasks still start on time."""
    write(tmp_path, """
        name: e2e-stall
        tasks:
          - {name: s1, command: 'for i in $(seq 1 40); do echo "line $i of a chatty task"; sleep 0.025; done'}
          - {name: s2, command: 'for i in $(seq 1 40); do echo "line $i"; sleep 0.025; done', depends_on: s1}
          - {name: s3, command: 'for i in $(seq 1 40); do echo "line $i"; sleep 0.025; done', depends_on: s2}
          - {name: s4, command: 'for i in $(seq 1 40); do echo "line $i"; sleep 0.025; done', depends_on: s3}
          - {name: s5, command: 'sleep 1', depends_on: s4}
        """)
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        pty.read_until(lambda b: b"RUNNING" in b)
        time.sleep(15)                                 # the terminal reads nothing
        run = run_json(tmp_path)
        assert run["state"] == "succeeded", run["state"]
        tasks = run["tasks"]
        for up, down in (("s1", "s2"), ("s2", "s3"), ("s3", "s4"), ("s4", "s5")):
            gap = tasks[down]["started"] - tasks[up]["ended"]
            assert gap < 1.0, f"{down} started {gap:.1f} s after {up} ended"
        pty.read_until(lambda b: b"SUCCEEDED" in b)   # reading again, the UI catches up
    finally:
        pty.close()


def test_sigkill_of_the_engine_ends_its_tasks_and_the_viewer_says_so(tmp_path, terms):
    write(tmp_path, """
        name: e2e-kill
        tasks:
          - name: parent
            command: echo $$ > parent.pid; (sleep 120 & echo $! > child.pid; wait) ; sleep 120
          - name: escaper
            command: setsid sh -c 'echo $$ > escaper.pid; sleep 120' & echo $$ > lead.pid; wait
        """)
    viewer = terms()
    viewer.start(*TUIFLOW_CMD, "pipeline.yaml")
    viewer.wait_text("RUNNING")
    tasks = pids(tmp_path, "parent.pid", "child.pid", "escaper.pid", "lead.pid")
    os.kill(engine_pid(tmp_path), signal.SIGKILL)
    viewer.wait_text("engine gone")
    screen = viewer.wait_text("INTERRUPTED")
    assert "run interrupted" in screen
    wait(lambda: not any(alive(p) for p in tasks.values()), timeout=15, what="every task process to end")
    wait(lambda: "interrupted" in history(tmp_path), what="history")
    assert tuiflow(tmp_path, "ps").stderr.strip() == "no live runs"
    run = run_json(tmp_path)
    assert run["state"] == "interrupted" and run["tasks"]["parent"]["state"] == "interrupted"
    assert not list(tmp_path.glob(".tuiflow/runs/*/engine.sock"))
    viewer.send("q")
    viewer.wait_text("EXIT=")


def test_detach_ps_and_attach_read_only(tmp_path, terms):
    write(tmp_path, """
        name: e2e-detach
        tasks:
          - {name: waits, command: sleep 60}
        """)
    out = tuiflow(tmp_path, "pipeline.yaml", "--detach")
    assert out.returncode == 0
    run_id = re.search(r"tuiflow attach (\S+)", out.stdout).group(1)
    listed = [json.loads(line) for line in tuiflow(tmp_path, "ps", "--json").stdout.splitlines()]
    mine = [r for r in listed if r["run_id"] == run_id]
    assert mine and mine[0]["pipeline"] == "e2e-detach" and mine[0]["attach"] == f"tuiflow attach {run_id}"
    assert run_id in tuiflow(tmp_path, "ps").stdout
    viewer = terms(80, 24)
    viewer.start(*TUIFLOW_CMD, "attach", "--read-only", run_id)
    screen = viewer.wait_text("● waits")
    assert "read-only" in screen
    viewer.send("c", "C", "p")                      # keys that steer: nothing happens
    time.sleep(1)
    assert "PAUSED" not in viewer.screen() and "Cancel" not in viewer.screen()
    viewer.send("q")
    viewer.wait_text("Detach (d)")
    assert "Cancel run" not in viewer.screen()
    viewer.send("d")
    viewer.wait_text("EXIT=0")
    assert f"tuiflow attach {run_id}" in viewer.history()
    assert run_json(tmp_path)["state"] == "running"
    os.kill(engine_pid(tmp_path), signal.SIGTERM)
    wait(lambda: run_json(tmp_path)["state"] == "cancelled", what="the engine to cancel on SIGTERM")


class FakeEngine:
    """A socket that answers a viewer's hello the way another tuiflow version would."""

    def __init__(self, run_dir: Path, answer: dict) -> None:
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(run_dir / "engine.sock"))
        self.listener.listen(1)
        self.answer = answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.makefile("rb").readline()
        conn.sendall(json.dumps(self.answer).encode() + b"\n")
        conn.close()


@pytest.mark.parametrize("answer", [
    {"t": "hello", "version": 99, "engine": {"version": "9.0"}},
    {"t": "refused", "reason": "this engine speaks tuiflow protocol 99 (tuiflow 9.0); attach with the same "
                               "tuiflow version as the run's"},
])
def test_a_protocol_version_mismatch_is_a_clear_message_and_exit_2(tmp_path, answer):
    run_dir = tmp_path / ".tuiflow" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    me = Path(f"/proc/{os.getpid()}/stat").read_text().split(")")[-1].split()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": "r1", "state": "running", "pid": os.getpid(), "pid_start": int(me[19]), "boot_id": boot,
        "host": os.uname().nodename, "heartbeat": time.time(), "tasks": {}}))
    FakeEngine(run_dir, answer)
    out = tuiflow(tmp_path, "attach", str(run_dir))
    assert out.returncode == 2
    assert "protocol 99" in out.stderr and "same tuiflow version" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_an_engine_that_cannot_start_says_why_on_the_normal_screen(tmp_path, private_runtime_dir):
    """The engine refuses a runtime directory another user could swap (a symlink): the TUI that
    started it leaves and prints why, exit 2; --detach says the same."""
    write(tmp_path, """
        name: e2e-refused
        tasks:
          - {name: a, command: 'true'}
        """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (private_runtime_dir / "tuiflow").symlink_to(elsewhere)
    out = tuiflow(tmp_path, "pipeline.yaml", "--detach")
    assert out.returncode == 2 and "symbolic link" in out.stderr and "tuiflow" in out.stderr
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        seen = pty.read_until(lambda b: pty.proc.poll() is not None, timeout=30)
        assert pty.proc.wait(5) == 2
        assert b"symbolic link" in seen
    finally:
        pty.close()


def test_a_run_the_launcher_refuses_leaves_no_engine_and_no_run_folder(tmp_path):
    """The engine starts before the launcher has read the file (both load it at once) and makes
    nothing until the launcher says go. A refusal the launcher finds late — a Dask scheduler
    that cannot be reached, known only after importing distributed and trying it, by when the
    engine has long loaded the file and is waiting — ends that engine, and nothing of the run is
    left, in the TUI as with --detach."""
    pytest.importorskip("distributed", reason='the Dask extra is not installed: pip install -e ".[dask]"')
    write(tmp_path, """
        name: e2e-refused-late
        executor: dask
        scheduler: tcp://127.0.0.1:9
        tasks:
          - {name: a, command: 'true'}
        """)
    out = tuiflow(tmp_path, "pipeline.yaml", "--detach")
    assert out.returncode == 2 and "cannot reach the Dask scheduler" in out.stderr
    pty = Pty(tmp_path, "pipeline.yaml")
    try:
        seen = pty.read_until(lambda b: pty.proc.poll() is not None, timeout=30)
        assert pty.proc.wait(5) == 2
        assert b"cannot reach the Dask scheduler" in seen
    finally:
        pty.close()
    assert tuiflow_processes(tmp_path, engines=True) == []
    runs = tmp_path / ".tuiflow" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


def test_a_pipeline_read_from_a_pipe_runs_in_the_tui(tmp_path, terms):
    """`tuiflow <(gen-pipeline)`: the pipe can be read once; the engine gets what the UI read."""
    write(tmp_path, """
        name: e2e-piped
        tasks:
          - {name: from_a_pipe, command: echo piped fine}
        """)
    term = terms()
    term.start("bash", "-c", f"{shlex.quote(TUIFLOW)} <(cat pipeline.yaml)")
    screen = term.wait_text("SUCCEEDED")
    assert "✓ from_a_pipe" in screen
    term.wait_text("piped fine")
    term.send("q")
    term.wait_text("EXIT=0")


def test_a_stale_socket_is_reported_and_removed(tmp_path):
    """Engine and keeper both killed: nothing cleaned up. attach says so and removes the socket."""
    write(tmp_path, """
        name: e2e-stale
        tasks:
          - {name: waits, command: sleep 60}
        """)
    assert tuiflow(tmp_path, "pipeline.yaml", "--detach").returncode == 0
    engine = engine_pid(tmp_path)
    wait(lambda: run_json(tmp_path)["tasks"]["waits"]["pid"], what="the task's pid in run.json")
    task = run_json(tmp_path)["tasks"]["waits"]["pid"]         # its own session: ended by pid below
    keeper = int(Path(f"/proc/{engine}/stat").read_text().split(")")[-1].split()[1])
    os.kill(keeper, signal.SIGKILL)
    os.kill(engine, signal.SIGKILL)
    wait(lambda: not alive(engine), what="the engine to die")
    (sock,) = tmp_path.glob(".tuiflow/runs/*/engine.sock")
    out = tuiflow(tmp_path, "attach", str(sock.parent))
    assert out.returncode == 2
    assert "was interrupted" in out.stderr and "stale socket is removed" in out.stderr
    assert not sock.exists()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(task, signal.SIGKILL)            # not `pkill -f`: it would end other suites' tasks too


def test_a_headless_run_can_be_watched_and_says_when_it_ends(tmp_path, terms):
    write(tmp_path, """
        name: e2e-headless
        tasks:
          - {name: ci_step, command: 'for i in $(seq 1 8); do echo "ci line $i"; sleep 0.5; done'}
        """)
    headless = subprocess.Popen([*TUIFLOW_CMD, "pipeline.yaml", "--headless"], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait(lambda: "e2e-headless" in tuiflow(tmp_path, "ps").stdout, what="the headless run to be live")
        viewer = terms()
        viewer.start(*TUIFLOW_CMD, "attach", "pipeline.yaml")
        viewer.wait_text("ci line")
        screen = viewer.wait_text("SUCCEEDED", timeout=30)
        assert "✓ ci_step" in screen
        viewer.wait_text("the run ended")                # the engine said goodbye
        assert headless.wait(30) == 0
        assert b"ci line 8" in headless.stdout.read()    # the headless output is unchanged
    finally:
        headless.kill()


def test_a_closed_terminal_ends_the_ui_within_2_s_and_the_run_goes_on(tmp_path):
    """The terminal's pty is closed (a window closed): the UI is hung up and leaves at once."""
    import fcntl
    import struct
    import termios

    write(tmp_path, """
        name: e2e-hangup
        tasks:
          - {name: waits, command: echo $$ > waits.pid; sleep 60}
        """)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    ui = subprocess.Popen([*TUIFLOW_CMD, "pipeline.yaml"], cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave,
                          start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
                          env={**os.environ, "TERM": "xterm-256color"})
    os.close(slave)
    try:
        seen = b""
        while b"RUNNING" not in seen:
            seen += os.read(master, 65536)
        task = pids(tmp_path, "waits.pid")["waits.pid"]
        os.close(master)                                   # the terminal goes away
        closed = time.monotonic()
        code = ui.wait(10)
        assert time.monotonic() - closed < 2.0, "the UI must leave within 2 s"
        assert code == 129                                  # SIGHUP: detached
        assert alive(task) and run_json(tmp_path)["state"] == "running"
    finally:
        if ui.poll() is None:
            ui.kill()
        os.kill(engine_pid(tmp_path), signal.SIGTERM)
