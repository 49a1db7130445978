"""How a command runs: the CommandRunner protocol, and the local process runner.

The scheduler only knows the protocol, so a remote executor (Dask, SPEC §7) can implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandRequest:
    task: str
    attempt: int
    command: str | tuple[str, ...]   # str: run by `shell -c`; tuple: exec'd directly
    cwd: str
    env: Mapping[str, str]           # the complete environment of the process
    shell: str = "sh"
    script: str | None = None        # Dagu: written to a file and run by `command` as interpreter
    timeout: float | None = None
    kill_grace: float = 5.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    exit_code: int | None            # None when the process died of a signal or never started
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    duration: float = 0.0
    reason: str = ""                 # "" on success; `exit 3`, `killed by SIGKILL`, `timed out after 30s`, `cancelled`, `cannot start: ...`

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.cancelled)


OutputCallback = Callable[[int, bytes], None]
"""Called with (stream, chunk) for each chunk read (stream 1 = stdout, 2 = stderr), in order per stream."""


class RunningCommand(Protocol):
    pid: int | None

    async def wait(self) -> CommandResult:
        """Wait until the command and its pipes are done; never raises for a failing command."""
        ...

    def cancel(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after the grace. Idempotent, safe after exit."""
        ...


class CommandRunner(Protocol):
    async def start(self, request: CommandRequest, on_output: OutputCallback) -> RunningCommand: ...

    async def aclose(self) -> None:
        """End every process this runner started that is still alive."""
        ...
