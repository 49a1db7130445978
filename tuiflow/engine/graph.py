"""Pure DAG algorithms over `{task: upstreams}` mappings. No I/O, no state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def downstream_map(deps: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Invert `{task: upstreams}` into `{task: direct downstreams}` (every task present)."""
    down: dict[str, list[str]] = {name: [] for name in deps}
    for name, ups in deps.items():
        for up in ups:
            down.setdefault(up, []).append(name)
    return down


def find_cycles(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each cycle once, as a path that returns to its start: ['a', 'b', 'c', 'a']."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(deps, WHITE)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for root in deps:
        if color[root] != WHITE:
            continue
        stack: list[tuple[str, Iterable[str]]] = [(root, iter(deps[root]))]
        path = [root]
        color[root] = GREY
        while stack:
            node, it = stack[-1]
            for up in it:
                if up not in color:
                    continue  # unknown names are reported elsewhere
                if color[up] == GREY:
                    cyc = path[path.index(up):] + [up]
                    key = frozenset(cyc)
                    if key not in seen:
                        seen.add(key)
                        cycles.append(list(reversed(cyc)))  # upstream -> downstream order
                elif color[up] == WHITE:
                    color[up] = GREY
                    stack.append((up, iter(deps[up])))
                    path.append(up)
                    break
            else:
                color[node] = BLACK
                stack.pop()
                path.pop()
    return cycles


def topological_levels(deps: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Stages: level 0 has no upstreams; level k depends only on levels < k. Acyclic input."""
    indeg = {n: 0 for n in deps}
    for name, ups in deps.items():
        indeg[name] = sum(1 for u in ups if u in indeg)
    down = downstream_map(deps)
    level = [n for n, d in indeg.items() if d == 0]
    levels: list[list[str]] = []
    while level:
        levels.append(level)
        nxt: list[str] = []
        for n in level:
            for d in down.get(n, ()):
                indeg[d] -= 1
                if indeg[d] == 0:
                    nxt.append(d)
        level = nxt
    return levels


def topological_order(deps: Mapping[str, Iterable[str]]) -> list[str]:
    return [n for level in topological_levels(deps) for n in level]


def descendants(down: Mapping[str, Iterable[str]], start: str) -> list[str]:
    """Every task reachable downstream of `start` (not including it), breadth first."""
    seen = {start}
    out: list[str] = []
    frontier = [start]
    while frontier:
        nxt = []
        for n in frontier:
            for d in down.get(n, ()):
                if d not in seen:
                    seen.add(d)
                    out.append(d)
                    nxt.append(d)
        frontier = nxt
    return out


def remaining_path(deps: Mapping[str, Iterable[str]], weight: Mapping[str, float] | None = None,
                   default: float = 1.0) -> dict[str, float]:
    """For each task, the longest weighted path from it to the end of the graph (itself included).

    The scheduler starts the ready task with the largest value first (critical path first).
    """
    order = topological_order(deps)
    down = downstream_map(deps)
    w = weight or {}
    rem: dict[str, float] = {}
    for n in reversed(order):
        rem[n] = w.get(n, default) + max((rem[d] for d in down.get(n, ()) if d in rem), default=0.0)
    return rem


def critical_path(deps: Mapping[str, Iterable[str]], weight: Mapping[str, float] | None = None,
                  default: float = 1.0) -> list[str]:
    """The tasks of one longest weighted path, upstream first."""
    rem = remaining_path(deps, weight, default)
    if not rem:
        return []
    down = downstream_map(deps)
    roots = [n for n, ups in deps.items() if not any(u in rem for u in ups)]
    node = max(roots, key=lambda n: rem[n])
    path = [node]
    while True:
        nxt = [d for d in down.get(node, ()) if d in rem]
        if not nxt:
            return path
        node = max(nxt, key=lambda n: rem[n])
        path.append(node)
