"""Where each task shows in the dependency tree: a pure function of the task list.

Rules (docs/tui.md, "What is on screen"): a task sits under its first upstream; under each further upstream it shows
again as a dimmed reference row without children. Groups, matrix/foreach instances and
sub-pipelines are folders. A folder task (one with instances or sub-pipeline members) is
placed by the upstreams of its members, and its downstream hangs under it after its members.
Very long chains stop nesting at MAX_DEPTH and continue at that depth, so a 1 000-step chain
stays readable at 80 columns.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tuiflow.engine.events import TaskInfo

MAX_DEPTH = 8

Kind = Literal["task", "ref", "group", "stage"]


@dataclass(slots=True, eq=False)
class Row:
    kind: Kind
    name: str
    depth: int = 0
    children: list[Row] = field(default_factory=list)
    parent: Row | None = field(default=None, repr=False)

    def add(self, row: Row) -> Row:
        row.parent, row.depth = self, self.depth + 1
        self.children.append(row)
        return row

    def walk(self) -> Iterable[Row]:
        yield self
        for child in self.children:
            yield from child.walk()


Container = tuple[str, str]  # ("root", "") | ("group", name) | ("task", folder name)
ROOT: Container = ("root", "")


class TreeLayout:
    """Computes rows for a set of tasks; keeps what is needed to place tasks added later."""

    def __init__(self, infos: Sequence[TaskInfo]) -> None:
        self.infos: dict[str, TaskInfo] = {i.name: i for i in infos}
        self.index = {name: n for n, name in enumerate(self.infos)}
        self.kids: dict[str, list[str]] = {}
        for info in infos:
            if info.parent and info.parent in self.infos:
                self.kids.setdefault(info.parent, []).append(info.name)
        self.primary: dict[str, Row] = {}      # task -> its full row
        self.groups: dict[str, Row] = {}
        self.roots: list[Row] = []
        self._late_refs: dict[str, list[str]] = {}

    # --------------------------------------------------------------- helpers
    def home(self, name: str) -> Container:
        info = self.infos[name]
        if info.parent and info.parent in self.infos:
            return ("task", info.parent)
        if info.group:
            return ("group", info.group)
        return ROOT

    def _inside(self, name: str, folder: str) -> bool:
        seen = 0
        parent = self.infos[name].parent
        while parent and parent in self.infos and seen < 1000:
            if parent == folder:
                return True
            parent = self.infos[parent].parent
            seen += 1
        return False

    def external_ups(self, name: str) -> list[str]:
        """Upstreams of a unit; for a folder, those of its members that lie outside it."""
        out: list[str] = []
        seen: set[str] = set()
        stack = [name]
        while stack:
            current = stack.pop()
            for up in self.infos[current].depends_on:
                if up in self.infos and up not in seen and up != name and not self._inside(up, name):
                    seen.add(up)
                    out.append(up)
            stack.extend(reversed(self.kids.get(current, [])))
        return out

    def unit_at(self, name: str, container: Container) -> str | None:
        """The member of `container` that is or contains `name`."""
        current: str | None = name
        for _ in range(1000):
            if current is None or current not in self.infos:
                return None
            if self.home(current) == container:
                return current
            parent = self.infos[current].parent
            current = parent if parent in self.infos else None
        return None

    # ----------------------------------------------------------------- build
    def build(self) -> list[Row]:
        members: dict[Container, list[str]] = {}
        for name in self.infos:
            members.setdefault(self.home(name), []).append(name)
        for group in dict.fromkeys(c[1] for c in members if c[0] == "group"):
            row = Row("group", group)
            self.groups[group] = row
        # Containers are processed outside-in so that a folder's row exists before its members.
        top = self._place_container(ROOT, members, None)
        self.roots = top + list(self.groups.values())
        self._order_roots()
        return self.roots

    def _order_roots(self) -> None:
        def key(row: Row) -> int:
            if row.kind == "group":
                return min((self.index[m] for m in self._group_members(row.name)), default=0)
            return self.index.get(row.name, 0)
        self.roots.sort(key=key)

    def _group_members(self, group: str) -> list[str]:
        return [n for n, i in self.infos.items() if self.home(n) == ("group", group)]

    def _place_container(self, container: Container, members: dict[Container, list[str]],
                         holder: Row | None) -> list[Row]:
        names = members.get(container, [])
        units = set(names)
        ups: dict[str, list[str]] = {n: self.external_ups(n) for n in names}
        sibling_ups = {n: [u for u in dict.fromkeys(self.unit_at(x, container) for x in ups[n])
                           if u is not None and u in units and u != n] for n in names}
        top: list[Row] = []
        depth0 = holder.depth + 1 if holder is not None else 0
        for name in self._topo(names, sibling_ups):
            sib = sibling_ups[name]
            row = Row("task", name, depth0)
            if not sib:
                if holder is not None:
                    row.parent = holder
                top.append(row)
            else:
                anchor = self.primary[sib[0]]
                if anchor.depth - depth0 < MAX_DEPTH - 1:
                    anchor.add(row)
                elif anchor.parent is not None and anchor.parent is not holder:
                    anchor.parent.add(row)   # too deep: continue the chain at this depth
                else:
                    row.parent = holder
                    top.append(row)
            self.primary[name] = row
            self._refs(name, row, ups[name], sib[0] if sib else None, container)
            if name in self.kids:
                row.children[:0] = self._place_container(("task", name), members, row)
        if container[0] == "root":
            for group, grow in self.groups.items():
                grow.children = self._place_container(("group", group), members, grow)
        return top

    def _refs(self, name: str, row: Row, ups: list[str], placed_under: str | None,
              container: Container) -> None:
        """Dimmed rows under each further upstream; a folder's outside upstreams are its own."""
        for up in ups:
            unit = self.unit_at(up, container)
            if unit is not None and unit == placed_under:
                continue
            if unit is None and container[0] == "task":
                continue
            target = unit if unit is not None else up
            if target in self.primary:
                tgt = self.primary[target]
                if not any(c.kind == "ref" and c.name == name for c in tgt.children):
                    tgt.add(Row("ref", name))
            else:
                self._late_refs.setdefault(target, []).append(name)
        for pending in self._late_refs.pop(name, []):
            row.add(Row("ref", pending))

    def place_added(self, info: TaskInfo) -> tuple[Row | None, Row, bool]:
        """Place a task that joined at run time: (row to add under, new row, new group?).

        The tree widget adds only this row; nothing else moves (no rebuild).
        """
        self.infos[info.name] = info
        self.index[info.name] = len(self.index)
        if info.parent and info.parent in self.infos:
            self.kids.setdefault(info.parent, []).append(info.name)
        container = self.home(info.name)
        row = Row("task", info.name)
        new_group = False
        if container[0] == "task":
            holder: Row | None = self.primary.get(container[1])
        elif container[0] == "group":
            holder = self.groups.get(container[1])
            if holder is None:
                holder = self.groups[container[1]] = Row("group", container[1])
                self.roots.append(holder)
                new_group = True
        else:
            holder = None
        anchor = holder
        for up in info.depends_on:
            unit = self.unit_at(up, container) if up in self.infos else None
            if unit is not None and unit in self.primary:
                anchor = self.primary[unit]
                break
        if anchor is None:
            self.roots.append(row)
        else:
            anchor.add(row)
        self.primary[info.name] = row
        return anchor, row, new_group

    def _topo(self, names: list[str], sibling_ups: dict[str, list[str]]) -> list[str]:
        """Upstreams first, file order among equals."""
        indeg = {n: len(sibling_ups[n]) for n in names}
        down: dict[str, list[str]] = {}
        for n in names:
            for u in sibling_ups[n]:
                down.setdefault(u, []).append(n)
        heap = [(self.index[n], n) for n in names if indeg[n] == 0]
        heapq.heapify(heap)
        out: list[str] = []
        while heap:
            _, n = heapq.heappop(heap)
            out.append(n)
            for d in down.get(n, ()):
                indeg[d] -= 1
                if indeg[d] == 0:
                    heapq.heappush(heap, (self.index[d], d))
        if len(out) < len(names):  # a cycle cannot pass validation; never lose a task anyway
            out += [n for n in names if n not in set(out)]
        return out


def layout(infos: Sequence[TaskInfo]) -> tuple[list[Row], TreeLayout]:
    tl = TreeLayout(infos)
    return tl.build(), tl


def stages(levels: Sequence[Sequence[str]]) -> list[Row]:
    """The stages view: one folder per topological level."""
    return [Row("stage", f"stage {n} ({len(level)})", 0, [Row("task", t, 1) for t in level])
            for n, level in enumerate(levels, 1)]
