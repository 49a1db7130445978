"""The state directory is trusted only when it is the user's own: another user (simulated with
`setpriv` as nobody), a group/world-writable mode, a symlink, or a swap during the run must never
redirect a write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuiflow.engine.privdir import (
    GROUP_OR_OTHER_ANY,
    UnsafeDirectory,
    check_private_dir,
    open_private_dir,
    open_private_tree,
)

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
as_root_with_setpriv = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                          reason="simulating another user needs root and setpriv")


def tuiflow(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tuiflow.cli", *argv], capture_output=True, text=True,
                          timeout=timeout)


def as_nobody(script: str) -> None:
    subprocess.run([SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sh", "-ec", script],
                   check=True, timeout=30)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every user can reach, with a sticky world-writable `shared/` in it (like /tmp)."""
    top = Path(tempfile.mkdtemp(prefix="tuiflow-privdir-"))
    try:
        top.chmod(0o755)
        (top / "shared").mkdir()
        (top / "shared").chmod(0o1777)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def victim(top: Path) -> Path:
    file = top / "victim"
    file.write_text("precious\n")
    file.chmod(0o600)
    return file


def pipeline(folder: Path, body: str = "    command: echo hi\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "p.yaml"
    file.write_text("tasks:\n  - name: a\n" + body)
    return file


# --- the check itself -------------------------------------------------------------------


def test_a_missing_tree_is_made_private_and_every_level_is_checked(tmp_path: Path) -> None:
    fd = open_private_tree(str(tmp_path / "a" / "b"))
    os.close(fd)
    assert [(tmp_path / p).stat().st_mode & 0o777 for p in ("a", "a/b")] == [0o700, 0o700]
    (tmp_path / "loose").mkdir(mode=0o775)
    (tmp_path / "loose").chmod(0o775)
    with pytest.raises(UnsafeDirectory) as info:
        check_private_dir(str(tmp_path / "loose"))
    assert str(info.value) == (f"{tmp_path}/loose: group can write to it (mode 0775): "
                               f"`chmod go-w {tmp_path}/loose`, or use another directory")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(UnsafeDirectory, match="link: is a symbolic link"):
        check_private_dir(str(tmp_path / "link"))
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafeDirectory, match="file: is not a directory"):
        check_private_dir(str(tmp_path / "file"))


def test_a_socket_directory_can_forbid_any_access(tmp_path: Path) -> None:
    """What a per-user runtime directory of sockets needs (tmux's /tmp/tmux-UID): nobody else may look."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run").chmod(0o750)
    check_private_dir(str(tmp_path / "run"))   # only writes are forbidden by default
    with pytest.raises(UnsafeDirectory, match=r"group can read it \(mode 0750\): `chmod go-rwx "):
        check_private_dir(str(tmp_path / "run"), forbid=GROUP_OR_OTHER_ANY)
    fd = open_private_dir(str(tmp_path / "new"), forbid=GROUP_OR_OTHER_ANY)
    os.close(fd)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700


# --- the run refuses what is not the user's own ----------------------------------------------


@as_root_with_setpriv
def test_a_state_dir_owned_by_another_user_is_refused(shared: Path) -> None:
    target = victim(shared)
    file = pipeline(shared / "shared" / "proj")
    (shared / "shared" / "proj").chmod(0o777)
    as_nobody(f"mkdir -m 700 {shared}/shared/proj/.tuiflow")
    proc = tuiflow(str(file), "--headless")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"tuiflow: unsafe state directory {shared}/shared/proj/.tuiflow: is owned by "
                           "nobody (uid 65534), not by root (uid 0) (you): use a directory of your own\n")
    assert proc.stdout == "" and target.read_text() == "precious\n"


@as_root_with_setpriv
def test_the_audit_attack_on_a_shared_state_dir_cannot_overwrite_a_file(shared: Path) -> None:
    """The audit's reproduction: on a shared state dir, another user prepares `runs/<next id>` as a
    link to a folder of theirs holding `.run.json.tmp -> victim`; the run must not write through it."""
    target = victim(shared)
    state = shared / "shared" / "state"
    state.mkdir()
    state.chmod(0o1777)
    ids = [time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(time.time() + d)) for d in range(-1, 5)]
    links = "\n".join(f"ln -s {shared}/shared/trap {state}/runs/{i}" for i in ids)
    as_nobody(f"mkdir -m 777 {state}/runs {shared}/shared/trap\n"
              f"ln -s {target} {shared}/shared/trap/.run.json.tmp\n{links}")
    proc = tuiflow(str(pipeline(shared / "proj")), "--headless", "--state-dir", str(state))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"tuiflow: unsafe state directory {state}: group and others can write to it")
    assert target.read_text() == "precious\n"
    assert os.listdir(shared / "shared" / "trap") == [".run.json.tmp"]


def test_a_world_writable_or_linked_state_dir_is_refused_and_left_alone(tmp_path: Path) -> None:
    file = pipeline(tmp_path / "proj")
    state = tmp_path / "proj" / ".tuiflow"
    state.mkdir()
    state.chmod(0o777)
    proc = tuiflow(str(file), "--headless")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (f"tuiflow: unsafe state directory {state}: group and others can write to it "
                           f"(mode 0777): `chmod go-w {state}`, or use another directory\n")
    assert os.listdir(state) == []
    state.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    state.symlink_to(tmp_path / "elsewhere")
    proc = tuiflow(str(file), "--headless")
    assert proc.returncode == 2 and "is a symbolic link" in proc.stderr
    assert os.listdir(tmp_path / "elsewhere") == []


def test_a_level_below_the_state_dir_is_checked_too(tmp_path: Path) -> None:
    file = pipeline(tmp_path / "proj")
    runs = tmp_path / "proj" / ".tuiflow" / "runs"
    runs.mkdir(parents=True, mode=0o700)
    runs.chmod(0o770)
    proc = tuiflow(str(file), "--headless")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"tuiflow: unsafe state directory {runs}: group can write to it (mode 0770)")


def test_a_swap_in_the_middle_of_a_run_cannot_redirect_a_write(tmp_path: Path) -> None:
    """The run folder is renamed away and a link put in its place, pointing at a folder whose
    `.run.json.tmp` and log folder are links to a victim: every later write still lands in the
    run's own folder."""
    target = victim(tmp_path)
    file = pipeline(tmp_path / "proj", "    command: sleep 1\n  - name: b\n    command: echo late\n"
                                       "    depends_on: [a]\n")
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "tuiflow.cli", str(file), "--headless", "--state-dir", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list(state.glob("runs/*/run.json")) and time.monotonic() < deadline:
        time.sleep(0.01)
    (run,) = state.glob("runs/*")
    moved = state / "moved"
    run.rename(moved)
    trap = tmp_path / "trap"
    (trap / "logs").mkdir(parents=True)
    (trap / ".run.json.tmp").symlink_to(target)
    (trap / "logs" / "b").symlink_to(tmp_path)
    run.symlink_to(trap)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert target.read_text() == "precious\n"
    assert sorted(os.listdir(trap)) == [".run.json.tmp", "logs"] and os.listdir(trap / "logs") == ["b"]
    assert json.loads((moved / "run.json").read_text())["state"] == "succeeded"
    assert (moved / "logs" / "b" / "1.log").read_bytes() == b"late\n"


def test_the_runtime_directory_of_sockets_uses_the_same_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tuiflow ps / attach keep live-run entries in $XDG_RUNTIME_DIR/tuiflow/live: nobody else may look."""
    from tuiflow.engine.errors import UsageError
    from tuiflow.remote.registry import runtime_dir

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert runtime_dir() == f"{tmp_path}/tuiflow/live"
    assert (tmp_path / "tuiflow").stat().st_mode & 0o777 == 0o700
    (tmp_path / "tuiflow").chmod(0o755)
    with pytest.raises(UsageError) as info:
        runtime_dir()
    assert str(info.value) == (f"{tmp_path}/tuiflow: group and others can read it (mode 0755): "
                               f"`chmod go-rwx {tmp_path}/tuiflow`, or use another directory: tuiflow will "
                               "not keep run sockets there; remove it or set XDG_RUNTIME_DIR to a private directory")
