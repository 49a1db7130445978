"""Drive the real `tuiflow` command in a real terminal: tmux, one private server per test."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

# TUIFLOW_E2E_CMD (a command line) runs the tests against another launcher, e.g. while developing:
#   TUIFLOW_E2E_CMD="python tests/ui/dev_run.py"
TUIFLOW_CMD = shlex.split(os.environ.get("TUIFLOW_E2E_CMD", "")) or [str(Path(sys.executable).parent / "tuiflow")]
TUIFLOW = TUIFLOW_CMD[0]


class Tmux:
    def __init__(self, cwd: Path, width: int = 120, height: int = 36) -> None:
        self.socket = f"tuiflow-e2e-{uuid.uuid4().hex[:10]}"
        self.cwd = cwd
        self.width, self.height = width, height

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=check, timeout=10)

    def start(self, *argv: str, env: dict[str, str] | None = None) -> None:
        environment = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "PAGER": "cat", **(env or {})}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment.items())
        command = f"env {exports} {shlex.join(argv)}; echo EXIT=$?; sleep 600"
        self._tmux("-f", "/dev/null", "new-session", "-d", "-x", str(self.width), "-y", str(self.height),
                   "-c", str(self.cwd), command)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", check=False).stdout

    def history(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-500", check=False).stdout

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "") -> str:
        end = time.monotonic() + timeout
        text = ""
        while time.monotonic() < end:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or predicate}; screen was:\n{text}")

    def wait_text(self, needle: str, timeout: float = 30.0) -> str:
        return self.wait_for(lambda s: needle in s, timeout, repr(needle))

    def kill(self) -> None:
        self._tmux("kill-server", check=False)
