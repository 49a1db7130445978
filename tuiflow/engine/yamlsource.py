"""YAML text -> plain data plus the source position of every node (for file:line:col errors)."""

from __future__ import annotations

import gc
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Mark, PipelineError, PipelineInvalid

Path = tuple[str | int, ...]

# A pipeline file bigger than this is refused before parsing: it is a mistake, not a pipeline
# (10 000 tasks take about 1 MB).
MAX_BYTES = 16 * 1024 * 1024

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = (_TAG + t for t in ("map", "seq", "merge", "timestamp"))
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_construct = yaml.constructor.SafeConstructor()


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
    digest: str = ""   # sha256 of the file's bytes (Pipeline.source_digest, for --resume)

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
    raw = _read(file)
    text = _decode(file, raw)
    # The cyclic GC rescans the growing node tree again and again while it is built: off, parsing
    # 10 000 tasks takes a third of the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        src = _parse_text(file, text)
    finally:
        if gc_was_enabled:
            gc.enable()
    src.digest = hashlib.sha256(raw).hexdigest()
    return src


def _parse_text(file: str, text: str) -> Source:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise PipelineInvalid([PipelineError.at(where, f"YAML syntax error: {problem}")]) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise PipelineInvalid([PipelineError(file, 1, 1, f"YAML syntax error: {exc}")]) from None
    if node is None:
        raise PipelineInvalid([PipelineError(file, 1, 1, "the file is empty: a pipeline needs `tasks:`")])
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise PipelineInvalid([PipelineError(file, 1, 1, "the YAML document is nested too deeply")]) from None
    if builder.errors:
        raise PipelineInvalid(builder.errors)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({_kind(data)})"
        raise PipelineInvalid([PipelineError.at(
            builder.marks[()], f"the top level must be a mapping (keys like `tasks:`), not {kind}")])
    return Source(file, data, builder.marks, builder.key_marks)


def _read(file: str) -> bytes:
    """The file's bytes, or a PipelineInvalid saying in words why it cannot be read."""
    def fail(message: str) -> PipelineInvalid:
        return PipelineInvalid([PipelineError(file, 1, 1, message)])

    try:
        if os.path.isdir(file):
            raise fail("is a directory, not a pipeline file")
        with open(file, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except PipelineInvalid:
        raise
    except FileNotFoundError:
        raise fail("no such file") from None
    except PermissionError:
        raise fail("cannot read the file: permission denied") from None
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise fail(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: not a pipeline file")
    return raw


def _decode(file: str, raw: bytes) -> str:
    if b"\0" in raw:
        raise PipelineInvalid([PipelineError(file, 1, 1, "the file is binary (it contains NUL bytes), not YAML text")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PipelineInvalid([PipelineError(
            file, line, col, "the file is not UTF-8 text (a pipeline file must be UTF-8)")]) from None
    return text


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(
        type(value), "text")


class _Builder:
    """Turns a composed node tree into plain data, recording marks and collecting errors."""

    def __init__(self, file: str):
        self.file = file
        self.marks: dict[Path, Mark] = {}
        self.key_marks: dict[Path, Mark] = {}
        self.errors: list[PipelineError] = []
        self._active: set[int] = set()   # collections being built: a recursive alias is an error

    def mark(self, node: yaml.Node) -> Mark:
        m = node.start_mark
        return Mark(self.file, m.line + 1, m.column + 1)

    def error(self, node: yaml.Node, message: str) -> None:
        self.errors.append(PipelineError.at(self.mark(node), message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        m = node.start_mark
        self.marks[path] = Mark(self.file, m.line + 1, m.column + 1)
        if node.tag == _STR:   # the common case first: plain text
            return node.value
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self._active:
            self.error(node, "an alias refers to a node that contains it (recursive YAML)")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self.check_tag(node, _SEQ)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            self.check_tag(node, _MAP)
            return self.mapping(node, path)
        finally:
            self._active.discard(id(node))

    def check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            self.error(node, f"unsupported YAML tag {node.tag!r}")

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        merged: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge(value_node, path, out, seen, merged)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, "a mapping key must be plain text, not a list or a mapping")
                continue
            key = key_node.value if key_node.tag == _STR else self.scalar(key_node)
            if key is None or isinstance(key, bool):
                shown = "null" if key is None else str(key).lower()
                self.error(key_node, f"the key {key_node.value!r} is read as {shown} by YAML; "
                           f"quote it: \"{key_node.value}\"")
                continue
            key = str(key) if not isinstance(key, str) else key
            if key in seen and key not in merged:
                first = self.mark(seen[key])
                self.error(key_node, f"duplicate key '{key}' (first defined at line {first.line}); "
                           "YAML would silently keep only the last one")
                continue
            seen[key] = key_node
            if merged:
                merged.discard(key)
            sub = (*path, key)
            m = key_node.start_mark
            self.key_marks[sub] = Mark(self.file, m.line + 1, m.column + 1)
            out[key] = self.build(value_node, sub)
        return out

    def merge(self, value: yaml.Node, path: Path, out: dict[str, Any], seen: dict[str, yaml.Node],
              merged: set[str]) -> None:
        """`<<: *anchor` (or a list of anchors): copy keys not already set, as YAML 1.1 does."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for src in sources:
            if not isinstance(src, yaml.MappingNode):
                self.error(src, "`<<` (merge) needs a mapping or a list of mappings")
                continue
            for k_node, v_node in src.value:
                if not isinstance(k_node, yaml.ScalarNode):
                    continue
                key = str(self.scalar(k_node))
                if key in seen:
                    continue
                seen[key] = k_node
                merged.add(key)
                sub = (*path, key)
                self.key_marks[sub] = self.mark(k_node)
                out[key] = self.build(v_node, sub)

    def scalar(self, node: yaml.ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        plain = not node.style   # None (pure-Python loader) or "" (libyaml)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if plain and value.lower() not in ("true", "false"):
                word = "true" if value.lower() in ("yes", "on") else "false"
                self.error(node, f"'{value}' is read as the boolean {word} by YAML 1.1: "
                           f"quote it (\"{value}\") for text, or write {word}")
                return value
            return value.lower() in ("true", "yes", "on")
        if tag in (_INT, _FLOAT):
            if plain and (_SEXAGESIMAL.match(value) or (tag == _INT and _OCTAL.match(value))):
                self.error(node, f"'{value}' is read as a base-60 or octal number by YAML 1.1: "
                           f"quote it (\"{value}\") for text")
                return value
            try:
                if tag == _INT:
                    return _construct.construct_yaml_int(node)
                return _construct.construct_yaml_float(node)
            except (ValueError, yaml.YAMLError):
                self.error(node, f"'{value}' is not a valid number")
                return value
        if tag == _TIMESTAMP:
            return value   # a date stays the text it was written as (`DATE: 2026-11-23`)
        self.error(node, f"unsupported YAML tag {tag!r}")
        return value
