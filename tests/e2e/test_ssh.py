"""Over a real SSH connection: Debian's sshd on 127.0.0.1 and a free port, with generated keys.

A TUI started through `ssh -tt` loses its connection (the ssh client is killed): the run goes
on, a new connection attaches to it, and `tuiflow attach --ssh` renders it here and steers it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.sshd import Sshd, SshdUnavailable, user_host
from tests.e2e.test_attach import alive, pids, run_json, wait, write
from tests.e2e.tmux import TUIFLOW, Tmux


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    try:
        with Sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server.ssh
    except SshdUnavailable as exc:
        pytest.skip(str(exc))


def ssh_processes(port_args: list[str]) -> list[int]:
    """Local ssh client processes that use this sshd's port."""
    port = port_args[port_args.index("-p") + 1]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0] == b"ssh" and port.encode() in argv:
                found.append(int(entry.name))
    return found


def remote_uis(tmp_path: Path) -> list[int]:
    """tuiflow viewers (not engines) working in tmp_path: the ones sshd started for us."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                cwd = (entry / "cwd").resolve()
            except OSError:
                continue
            if TUIFLOW in argv and "_engine" not in argv and "connect" not in argv and cwd == tmp_path \
                    and not argv[0].endswith("sh"):
                found.append(int(entry.name))
    return found


def test_a_dropped_ssh_link_leaves_the_run_going_and_attach_takes_it_up(tmp_path, sshd):
    write(tmp_path, """
        name: e2e-ssh
        tasks:
          - name: ticker
            command: echo $$ > ticker.pid; for i in $(seq 1 400); do echo "tick $i"; sleep 0.25; done
          - {name: after, command: echo after, depends_on: ticker}
        """)
    term = Tmux(tmp_path)
    try:
        remote = f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(TUIFLOW)} pipeline.yaml"
        term.start(*sshd, "-tt", user_host(), remote)
        term.wait_text("tick 3")
        ticker = pids(tmp_path, "ticker.pid")["ticker.pid"]
        (client,) = ssh_processes(sshd)
        os.kill(client, signal.SIGKILL)                 # the link drops: no goodbye at all
        wait(lambda: not remote_uis(tmp_path), timeout=10, what="the remote UI to leave")
        assert alive(ticker) and run_json(tmp_path)["state"] == "running"
        run_dir = str(next(tmp_path.glob(".tuiflow/runs/*")))
    finally:
        term.kill()

    again = Tmux(tmp_path)
    try:
        again.start(*sshd, "-tt", user_host(), f"{shlex.quote(TUIFLOW)} attach {shlex.quote(run_dir)}")
        screen = again.wait_text("● ticker")
        assert "e2e-ssh" in screen and "RUNNING" in screen
        again.wait_text("tick ")
        again.send("q")
        again.wait_text("Detach (d)")
        again.send("d")
        again.wait_text("detached from")
    finally:
        again.kill()
    assert alive(ticker)

    here = Tmux(tmp_path)
    try:
        here.start(TUIFLOW, "attach", "--ssh", user_host(), "--ssh-command", shlex.join(sshd),
                   "--remote-tuiflow", TUIFLOW, run_dir)
        screen = here.wait_text("● ticker")
        assert "e2e-ssh" in screen
        here.send("C")
        here.wait_text("Cancel the whole run?")
        here.send("y")
        here.wait_text("CANCELLED")
        wait(lambda: run_json(tmp_path)["state"] == "cancelled", what="the remote run to be cancelled")
        assert not alive(ticker)
        here.send("q")
        here.wait_text("EXIT=")
    finally:
        here.kill()
    events = (Path(run_dir) / "events.jsonl").read_text().splitlines()
    (cancel,) = [json.loads(e) for e in events if '"cancel_run"' in e]
    assert cancel["by"].startswith("pid ")               # the relay's pid, on the engine's host


def test_attach_over_ssh_sends_only_events_across_the_link(tmp_path, sshd):
    """`attach --ssh` moves the run's events, not screens: a quiet run costs almost nothing."""
    write(tmp_path, """
        name: e2e-ssh-quiet
        tasks:
          - {name: quiet, command: sleep 60}
        """)
    out = subprocess.run([TUIFLOW, "pipeline.yaml", "--detach"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    run_dir = str(next(tmp_path.glob(".tuiflow/runs/*")))
    here = Tmux(tmp_path)
    try:
        here.start(TUIFLOW, "attach", "--ssh", user_host(), "--ssh-command", shlex.join(sshd),
                   "--remote-tuiflow", TUIFLOW, run_dir)
        here.wait_text("● quiet")
        (client,) = ssh_processes(sshd)
        before = _io_bytes(client)
        time.sleep(3)
        sent = _io_bytes(client) - before
        assert sent < 3 * 2048, f"{sent} bytes in 3 s on a quiet run"
        here.send("q")
        here.wait_text("Detach (d)")
        here.send("c")
        here.wait_text("EXIT=")
    finally:
        here.kill()
        pid = run_json(tmp_path)["pid"]
        if alive(pid):
            os.kill(pid, signal.SIGTERM)


def _io_bytes(pid: int) -> int:
    """Bytes the process read and wrote through system calls (its side of the ssh link and of the socketpair)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["rchar"]) + int(fields["wchar"])
