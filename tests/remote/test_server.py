"""The engine's socket and its viewers, in one process: snapshots, numbered events, controls and
their answers, what each viewer is sent, a viewer that falls behind, refusals."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

import pytest

from tests.engine.fakes import Recorder
from tests.remote.inproc import engine, t, until, viewer
from tuiflow.engine.events import OutputSizes, RunSnapshot, TaskOutput
from tuiflow.engine.model import RunState, TaskState
from tuiflow.remote import server as server_mod
from tuiflow.remote.client import Channel, RemoteRun, connect_unix
from tuiflow.remote.host import bind_unix
from tuiflow.remote.protocol import PROTOCOL, frame, read_frame
from tuiflow.ui.protocol import EngineGone

S = TaskState


async def test_a_late_viewer_starts_from_a_snapshot_and_then_misses_no_event(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("a", "sleep:0.2"), t("b", "ok", "a"), t("c", "flaky:2", "b"),
                              t("d", "sleep:0.3", "a"), limit=2)
    job = asyncio.create_task(sched.run(stay_open=True))
    await until(lambda: sched.state("a") is S.RUNNING)
    v, seen = await viewer(server)
    await until(lambda: sched.state("c") is S.FAILED and sched.state("d") is S.SUCCEEDED)
    v.retry("c")
    await until(lambda: v.view.state is RunState.SUCCEEDED)
    assert isinstance(seen.events[0], RunSnapshot)  # first the picture, then every change
    assert {n: x.state for n, x in v.view.tasks.items()} == {n: sched.state(n) for n in "abcd"}
    assert v.view.tasks["c"].attempt == 2 and [a.number for a in v.view.tasks["c"].attempts] == [1, 2]
    assert v._seq == server.seq and not v._behind  # every numbered event arrived, none missing
    assert v.view.counts == server.view.counts
    v.close()
    assert await asyncio.wait_for(v.task, 5) == 0
    assert await asyncio.wait_for(job, 5) == 0  # the last viewer left a finished run: it ends


async def test_controls_are_answered_and_recorded_with_the_viewer_that_sent_them(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("long", "sleep:30"), t("next", "ok", "long"))
    job = asyncio.create_task(sched.run(stay_open=True))
    v, _ = await viewer(server)
    await until(lambda: sched.state("long") is S.RUNNING)
    header, _ = await v.request("control", control="retry", task="long")
    assert header["ok"] and header["applied"] is False and header["detail"] == "long is running"
    header, _ = await v.request("control", control="cancel", task="long")
    assert header["ok"] and header["applied"] is True
    with pytest.raises(OSError, match="no task 'no such'"):
        await v.request("control", control="cancel", task="no such")
    with pytest.raises(OSError, match="whole number"):
        await v.request("control", control="set_max_parallel", value=0)
    await until(lambda: v.view.state is RunState.FAILED)
    v.close()
    await asyncio.wait_for(job, 5)
    events = [json.loads(line) for line in Path(sched.run_dir, "events.jsonl").read_text().splitlines()]
    controls = [(e["control"], e["task"], e["applied"], e["by"]) for e in events if e["event"] == "control"]
    assert controls == [("retry", "long", False, v.viewer), ("cancel", "long", True, v.viewer)]
    assert v.viewer == f"pid {os.getpid()}"  # the peer's pid, from the kernel (SO_PEERCRED)


async def test_controls_sent_in_a_burst_each_start_from_the_one_before(tmp_path: Path) -> None:
    """`+++` and `pp` arrive over SSH in one read, before the engine has answered the first:
    each key acts on what the viewer asked last, not on the engine's last word."""
    sched, server, _ = engine(tmp_path, t("long", "sleep:30"), limit=2)
    job = asyncio.create_task(sched.run(stay_open=True))
    v, _ = await viewer(server)
    await until(lambda: sched.state("long") is S.RUNNING and v.max_parallel == 2)
    for _ in range(3):                       # what the app's `+` does, three times in one go
        v.set_max_parallel(v.max_parallel + 1)
    v.set_max_parallel(v.max_parallel - 1)   # and `-`
    assert v.max_parallel == 4               # as asked, before any answer
    for _ in range(2):                       # `p` twice: pause, then resume
        if v.paused:
            v.resume()
        else:
            v.pause()
    await until(lambda: not v._asked)        # every request answered
    assert (sched.max_parallel, v.max_parallel, v.view.max_parallel) == (4, 4, 4)
    assert (sched.paused, v.paused) == (False, False)
    v.close()
    sched.cancel_run()
    sched.close()
    await asyncio.wait_for(job, 5)
    events = [json.loads(line) for line in Path(sched.run_dir, "events.jsonl").read_text().splitlines()]
    assert [(e["control"], e["applied"]) for e in events if e["event"] == "control" and e["by"]] == [
        ("set_max_parallel", True)] * 4 + [("pause", True), ("resume", True)]


async def test_a_read_only_viewer_steers_nothing(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("long", "sleep:30"))
    job = asyncio.create_task(sched.run(stay_open=True))
    v, _ = await viewer(server, read_only=True)
    await until(lambda: v.view.tasks.get("long") is not None and v.view.tasks["long"].state is S.RUNNING)
    assert v.read_only and not v.can("cancel", "long") and not v.can("pause")
    with pytest.raises(OSError, match="read-only"):
        await v.request("control", control="cancel_run")
    v.cancel("long")       # the UI would not offer it; sent anyway, nothing happens
    await asyncio.sleep(0.1)
    assert sched.state("long") is S.RUNNING
    sched.cancel_run()
    await until(lambda: v.view.state.ended)
    v.close()
    await asyncio.wait_for(job, 5)


async def test_output_only_for_watched_tasks_and_sizes_for_the_others(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(server_mod, "SIZES_INTERVAL", 0.05)
    sched, server, _ = engine(tmp_path, t("shown", "spam:5000 && sleep:0.3"), t("hidden", "spam:3000 && sleep:0.3"))
    v, seen = await viewer(server, watch=("shown",))
    await until(lambda: server.viewers and next(iter(server.viewers)).subscribed)
    job = asyncio.create_task(sched.run(stay_open=True))
    await until(lambda: v.view.state.ended)
    shown = b"".join(e.data for e in seen.of(TaskOutput) if e.task == "shown")
    assert {e.task for e in seen.of(TaskOutput)} == {"shown"}
    assert shown == (b"x" * 60 + b"\n") * 5000                  # every byte, in order
    assert seen.of(OutputSizes)                                  # the rest only as sizes
    assert v.view.tasks["hidden"].output.bytes == 3000 * 61 and v.view.tasks["hidden"].output.lines == 3000
    text = await v.logs.tail("hidden", 1, None, 10)              # and readable on request
    assert text.data == (b"x" * 60 + b"\n") * 10
    v.close()
    await asyncio.wait_for(job, 5)


async def test_a_viewer_that_stops_reading_is_never_waited_for_and_is_brought_up_to_date(
        tmp_path: Path, monkeypatch) -> None:
    """A viewer that reads nothing while a task floods: the run goes on, what is queued for the
    viewer stays bounded, and once it reads again it gets a fresh snapshot, not a gap."""
    monkeypatch.setattr(server_mod, "STALE_BYTES", 256 * 1024)
    sched, server, _ = engine(tmp_path, t("flood", "spam:200000"), t("after", "ok", "flood"))
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    await server.adopt(theirs)
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    writer.write(frame({"op": "hello", "version": PROTOCOL}) + frame({"op": "subscribe", "watch": ["flood"]}))
    await until(lambda: server.viewers and next(iter(server.viewers)).subscribed)
    job = asyncio.create_task(sched.run(stay_open=True))
    peak = 0
    while not server.view.state.ended:          # the viewer reads nothing meanwhile
        (stalled,) = server.viewers
        peak = max(peak, stalled._out_bytes + stalled.writer.transport.get_write_buffer_size())
        await asyncio.sleep(0.001)
    assert stalled.stale, "a viewer that reads nothing must be marked behind"
    assert peak <= server_mod.STALE_BYTES + 2 * 61000          # bounded: never the whole 12 MB flood
    kinds, resynced = [], None
    while resynced is None:
        header, payload = await asyncio.wait_for(read_frame(reader), 5)
        kinds.append(header["t"])
        if header["t"] == "snapshot" and header.get("resync"):
            resynced = json.loads(payload)
    assert kinds[0] == "hello" and "snapshot" in kinds
    assert resynced["run"]["state"] == "SUCCEEDED"           # the truth, as of now
    assert {t["name"]: t["state"] for t in resynced["tasks"]} == {"flood": "succeeded", "after": "succeeded"}
    writer.close()
    await asyncio.wait_for(job, 5)


async def test_another_protocol_version_is_refused_with_a_reason(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("a"))
    job = asyncio.create_task(sched.run(stay_open=True))
    ours, theirs = socket.socketpair()
    await server.adopt(theirs)
    ours.sendall(frame({"op": "hello", "version": PROTOCOL + 1}))
    ours.settimeout(5)
    reply = json.loads(await asyncio.to_thread(ours.makefile("rb").readline))
    assert reply["t"] == "refused" and f"protocol {PROTOCOL}" in reply["reason"] and "same tuiflow version" in reply["reason"]
    ours.close()
    await asyncio.wait_for(job, 5)


async def test_a_viewer_knows_when_the_engine_vanishes(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("long", "sleep:30"))
    job = asyncio.create_task(sched.run(stay_open=True))
    v, _ = await viewer(server)
    await until(lambda: "long" in v.view.tasks)
    for w in list(server.viewers):   # the engine dies: its end of the socket just closes
        w.writer.transport.abort()
    with pytest.raises(EngineGone, match="engine gone"):
        await asyncio.wait_for(v.task, 5)
    sched.close()
    await asyncio.wait_for(job, 5)


async def test_a_headless_run_says_goodbye_when_it_ends(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("a", "sleep:0.2"), linger=False)
    job = asyncio.create_task(sched.run())
    v, _ = await viewer(server)
    assert await asyncio.wait_for(job, 5) == 0
    await server.aclose("the run ended")
    assert await asyncio.wait_for(v.task, 5) == 0 and v.end_reason == "the run ended"
    assert v.view.state is RunState.SUCCEEDED


def test_a_socket_path_longer_than_af_unix_allows_still_works(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / "engine.sock")
    assert len(path) > 108
    listener = bind_unix(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    client = connect_unix(path)
    conn, _ = listener.accept()
    client.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    for s in (client, conn, listener):
        s.close()


async def test_a_peer_that_does_not_speak_the_protocol_is_cut_off(tmp_path: Path) -> None:
    sched, server, _ = engine(tmp_path, t("a"))
    job = asyncio.create_task(sched.run(stay_open=True))
    ours, theirs = socket.socketpair()
    await server.adopt(theirs)
    ours.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    ours.settimeout(5)
    assert await asyncio.to_thread(ours.recv, 100) == b""     # no answer, just the end of the connection
    ours.close()
    await asyncio.wait_for(job, 5)


async def test_the_viewer_that_started_the_run_hears_it_from_the_first_event(tmp_path: Path) -> None:
    """The launcher's viewer connects before the run starts and subscribes later (its screen is
    coming up): it is replayed every event, as if it had been there; anyone else gets a snapshot."""
    sched, server, _ = engine(tmp_path, t("doomed", "fail:4"), t("slow", "sleep:0.5"))
    ours, theirs = socket.socketpair()
    await server.adopt(theirs)
    job = asyncio.create_task(sched.run(stay_open=True))
    await until(lambda: sched.state("doomed") is S.FAILED)        # before the viewer subscribes
    channel = Channel(ours)
    first = RemoteRun(channel, await asyncio.to_thread(channel.hello))
    seen = Recorder()
    first.subscribe(seen)
    first.task = asyncio.create_task(first.run())
    late, late_seen = await viewer(server)
    await until(lambda: first.view.state.ended and late.view.state.ended)
    kinds = [e.kind for e in seen.events]
    assert kinds[:2] == ["snapshot", "run_started"]                # from the very beginning
    assert any(e.kind == "task_state" and e.task == "doomed" and e.state is S.FAILED for e in seen.events)
    assert late_seen.events[0].kind == "snapshot" and "run_started" not in [e.kind for e in late_seen.events]
    assert first.view.counts == late.view.counts == server.view.counts
    for v in (first, late):
        v.close()
    await asyncio.wait_for(job, 5)


async def test_a_viewer_sending_nonsense_is_dropped_and_the_run_goes_on(tmp_path: Path) -> None:
    logged: list[str] = []
    sched, server, _ = engine(tmp_path, t("a", "sleep:0.3"))
    server._log = logged.append
    ours, theirs = socket.socketpair()
    await server.adopt(theirs)
    job = asyncio.create_task(sched.run(stay_open=True))
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    writer.write(frame({"op": "hello", "version": PROTOCOL}) + frame({"op": "control", "control": ["x"]})
                 + frame({"op": "tail", "id": 1, "task": "a", "attempt": "one"}))
    replies = [(await asyncio.wait_for(read_frame(reader), 5))[0] for _ in range(3)]
    writer.write(b"[1, 2]\n")
    assert await asyncio.wait_for(read_frame(reader), 5) is None     # cut off
    assert [r["t"] for r in replies] == ["hello", "reply", "reply"]
    assert "unknown control" in replies[1]["error"] and "bad tail request" in replies[2]["error"]
    assert any("not a tuiflow frame" in line for line in logged)   # and then it was cut off
    await until(lambda: sched.state("a") is S.SUCCEEDED)
    sched.close()
    await asyncio.wait_for(job, 5)
