"""The benchmark DAGs, written as a tuiflow pipeline and as a Makefile with the same graph.

Copied from the peer baseline's gen.py (../shared/bench, outside this repository) so that the
repo measures itself without it: the same task names, commands and edges, so the figures
compare with the baseline's own.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

Task = tuple[str, str, list[str]]  # (name, command, depends_on)

FLOOD_LINE = b"%099d\n"
"""What `seq -f '%099.0f'` prints for each number: 99 zero-padded digits and a newline (100 bytes)."""


def build(kind: str, *sizes: int) -> list[Task]:
    """Tasks in topological order, named as gen.py names them."""
    if kind == "wide":
        (n,) = sizes
        w = len(str(n))
        return [(f"t{i:0{w}d}", "true", []) for i in range(1, n + 1)]
    if kind == "chain":
        (n,) = sizes
        w = len(str(n))
        names = [f"c{i:0{w}d}" for i in range(1, n + 1)]
        return [(name, "true", [names[i - 1]] if i else []) for i, name in enumerate(names)]
    if kind == "layers":
        width, depth = sizes
        ww, wd = len(str(width)), len(str(depth))
        tasks: list[Task] = []
        prev: list[str] = []
        for d in range(1, depth + 1):
            cur = [f"L{d:0{wd}d}_t{i:0{ww}d}" for i in range(1, width + 1)]
            tasks.extend((name, "true", list(prev)) for name in cur)
            prev = cur
        return tasks
    if kind == "sleepers":
        k, s = sizes
        w = len(str(k))
        return [(f"s{i:0{w}d}", f"sleep {s}", []) for i in range(1, k + 1)]
    if kind == "flood":
        (lines,) = sizes
        return [("flood", f"seq -f '%099.0f' 1 {lines}", [])]
    raise ValueError(f"unknown workload {kind!r}")


def tuiflow_yaml(name: str, max_parallel: int, tasks: list[Task]) -> str:
    out = [f"name: {name}", f"max_parallel: {max_parallel}", "tasks:"]
    for tname, cmd, deps in tasks:
        out.append(f"  - name: {tname}")
        out.append(f"    command: {json.dumps(cmd)}")  # a JSON string is a valid YAML double-quoted scalar
        if deps:
            out.append(f"    depends_on: [{', '.join(deps)}]")
    return "\n".join(out) + "\n"


def makefile(tasks: list[Task]) -> str:
    names = [t[0] for t in tasks]
    out = [".PHONY: all " + " ".join(names), "", "all: " + " ".join(names), ""]
    for tname, cmd, deps in tasks:
        out.append(f"{tname}:" + ("" if not deps else " " + " ".join(deps)))
        out.append("\t" + cmd.replace("$", "$$"))
    return "\n".join(out) + "\n"


def write(directory: Path, kind: str, sizes: tuple[int, ...], max_parallel: int) -> Path:
    """Write `tuiflow.yaml` and `Makefile` for one workload into `directory`; return it."""
    tasks = build(kind, *sizes)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tuiflow.yaml").write_text(tuiflow_yaml(kind, max_parallel, tasks))
    (directory / "Makefile").write_text(makefile(tasks))
    return directory


def flood_sha256(lines: int) -> str:
    """sha256 of what the flood task prints (`seq -f '%099.0f' 1 LINES`), made in slices to stay small."""
    h = hashlib.sha256()
    step = 10_000
    for start in range(1, lines + 1, step):
        h.update(b"".join(FLOOD_LINE % i for i in range(start, min(lines, start + step - 1) + 1)))
    return h.hexdigest()
