"""Where a run's commands run: which executor, and which Dask scheduler.

The local runner is the default and needs nothing; `executor: dask` (or `--executor dask`)
needs a scheduler address and the optional `distributed` package, imported only here, only then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from .errors import UsageError
from .model import Executor

KINDS = ("local", "dask")
ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"   # Dask's own variable for the same thing
# the same as the schema's `scheduler` pattern: [tcp:// | tls://]HOST:PORT
_ADDRESS = re.compile(r"\s*(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):([0-9]+)\s*")
EXTRA_HINT = 'pip install "tuiflow[dask]"'


class ExecutorUnavailable(UsageError):
    """The executor a run asks for cannot be used (a missing package, an unreachable scheduler,
    a pool no worker offers): said before the run starts, exit code 2."""


def scheduler_address(text: str) -> str | None:
    """`text` as a Dask address with its protocol (`host:8786` -> `tcp://host:8786`); None if it is none."""
    m = _ADDRESS.fullmatch(text)
    if m is None or not 0 < int(m.group(3)) < 65536:
        return None
    return f"{m.group(1) or 'tcp'}://{m.group(2)}:{int(m.group(3))}"


def choose(executor: Executor, kind: str | None, scheduler: str | None,
           environ: Mapping[str, str]) -> Executor:
    """The run's executor: the file's, overridden by --executor / --scheduler.

    `--scheduler` alone means the Dask executor; a Dask executor with no address anywhere takes
    DASK_SCHEDULER_ADDRESS, as Dask's own client does. UsageError when that leaves no address.
    """
    if scheduler is not None and kind == "local":
        raise UsageError("--scheduler is for --executor dask, not --executor local")
    if scheduler is not None:
        address = scheduler_address(scheduler)
        if address is None:
            raise UsageError(f"--scheduler {scheduler!r} is not a Dask scheduler address: "
                             "use tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")
        return Executor("dask", address, None)
    if kind is not None and kind != executor.kind:
        executor = replace(executor, kind=kind, mark=None if not executor.scheduler else executor.mark)
    if executor.kind != "dask" or executor.scheduler:
        return executor
    env_address = environ.get(ADDRESS_ENV, "")
    if env_address:
        address = scheduler_address(env_address)
        if address is None:
            raise UsageError(f"{ADDRESS_ENV}={env_address!r} is not a Dask scheduler address: "
                             "use tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")
        return replace(executor, scheduler=address)
    where = f"{executor.mark}: " if executor.mark is not None else ""
    raise UsageError(f"{where}executor dask needs the scheduler's address: --scheduler tcp://HOST:PORT, "
                     f"`scheduler:` in the pipeline file, or {ADDRESS_ENV}")


__all__ = ["ADDRESS_ENV", "EXTRA_HINT", "KINDS", "ExecutorUnavailable", "choose", "scheduler_address"]
