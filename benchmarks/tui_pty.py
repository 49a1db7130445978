"""Run the TUI in a pseudo-terminal and record every byte it sends, with timestamps.

Shared by the tui_* benchmarks. The app is started the way a person starts it (`tuiflow FILE`,
or TUIFLOW_BENCH_CMD while the cli is not there yet), with TERM=xterm-256color and no
COLORTERM, as over SSH.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work"
TRUECOLOR = re.compile(rb"\x1b\[[0-9;]*[34]8;2;")


def tuiflow_cmd() -> list[str]:
    env = os.environ.get("TUIFLOW_BENCH_CMD")
    if env:
        return shlex.split(env)
    exe = Path(sys.executable).parent / "tuiflow"
    probe = subprocess.run([str(exe), "--help"], capture_output=True)
    if probe.returncode == 0:
        return [str(exe)]
    return [sys.executable, str(ROOT / "tests" / "ui" / "dev_run.py")]


class PtyApp:
    def __init__(self, argv: list[str], cwd: Path, width: int = 120, height: int = 40,
                 env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        environment = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR")}
        environment.update({"TERM": "xterm-256color", "LANG": "C.UTF-8"}, **(env or {}))
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                     env=environment, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.chunks.append((time.monotonic(), data))

    def send(self, data: bytes) -> float:
        t = time.monotonic()
        os.write(self.master, data)
        return t

    def bytes_between(self, start: float, end: float) -> bytes:
        with self._lock:
            return b"".join(d for t, d in self.chunks if start <= t < end)

    def all_bytes(self) -> bytes:
        with self._lock:
            return b"".join(d for _, d in self.chunks)

    def wait_for(self, needle: bytes, timeout: float = 30.0, since: float = 0.0) -> float:
        """Time at which `needle` first appears in output sent after `since` (monotonic)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                buf = b""
                for t, d in self.chunks:
                    if t < since:
                        continue
                    buf += d
                    if needle in buf:
                        return t
            time.sleep(0.002)
        raise TimeoutError(f"{needle!r} not seen in {timeout}s")

    def rss_peak_kib(self) -> int:
        """Peak resident memory of the app process (VmHWM)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return -1

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)


def write_pipeline(name: str, text: str) -> Path:
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path
