"""YAML text -> plain data plus the source position of every node (for file:line:col errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Mark

Path = tuple[str | int, ...]


@dataclass
class Source:
    """A parsed YAML document: `data` is plain Python data; positions are kept by path.

    `marks[path]` is the position of the value at `path` (`()` is the document);
    `key_marks[path]` is the position of the mapping key that leads to `path`.
    """

    file: str
    data: Any
    marks: dict[Path, Mark] = field(default_factory=dict)
    key_marks: dict[Path, Mark] = field(default_factory=dict)

    def mark(self, path: Path, key: bool = False) -> Mark:
        """The position of `path` (of its key when `key`), or of its nearest known ancestor."""
        table = self.key_marks if key else self.marks
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), Mark(self.file, 1, 1))


def parse(file: str) -> Source:
    """Read and parse `file`; raise PipelineInvalid for unreadable files, syntax errors,
    duplicate keys and YAML 1.1 traps (an unquoted `no` / `on` read as a boolean)."""
    raise NotImplementedError  # implemented by the loader work (issue 2)
