"""YAML text -> plain data plus the source position of every node (for file:line:col errors)."""

from __future__ import annotations

import copy
import gc
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from .errors import Mark, PipelineError, PipelineInvalid

Path = tuple[str | int, ...]

# A pipeline file bigger than this is refused before parsing: it is a mistake, not a pipeline
# (10 000 tasks take about 1 MB).
MAX_BYTES = 16 * 1024 * 1024
# Deeper nesting than this is a mistake (pipelines need about 6 levels) and would make the
# recursive checks after the parser slow or fail.
MAX_DEPTH = 64
_TOO_DEEP = f"the YAML document is nested too deeply (more than {MAX_DEPTH} levels)"

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = (_TAG + t for t in ("map", "seq", "merge", "timestamp"))
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")
_construct = yaml.constructor.SafeConstructor()
# first character -> [(tag, regexp)]: YAML 1.1 implicit typing of plain scalars ('' is null)
_IMPLICIT: dict[str, list[tuple[str, Any]]] = {
    k: v for k, v in _Loader.yaml_implicit_resolvers.items() if k is not None}
_SYNTAX_HINTS = (
    ("mapping values are not allowed", " (check this line's indentation, or quote a value that contains ': ')"),
    ("cannot start any token", " (YAML indents with spaces, never tabs; quote values starting with @ or `)"),
    ("did not find expected key", " (check the indentation of this block)"),
    ("did not find expected '-' indicator", " (check the indentation of this list)"),
)


@dataclass(eq=False)
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

    def find(self, path: Path, needle: str) -> Mark:
        """Where `needle` is written inside the value at `path` (a word in a multi-line command).

        Searched in the file's text from the value's own position on; the value's position
        when it is not found there (an alias, a value built from several places).
        """
        start = self.mark(path)
        try:
            with open(self.file, encoding="utf-8-sig") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError):
            return start
        for number in range(start.line, min(len(lines), start.line + 10_000) + 1):
            line = lines[number - 1]
            col = line.find(needle, start.col - 1 if number == start.line else 0)
            if col >= 0:
                return Mark(self.file, number, col + 1)
        return start


def parse(file: str, marks_depth: int | None = None) -> Source:
    """Read and parse `file`; raise PipelineInvalid for unreadable files, syntax errors,
    duplicate keys and YAML 1.1 traps (an unquoted `no` / `on` read as a boolean).

    `marks_depth` keeps marks only for paths that short (`Source.mark` falls back to the nearest
    ancestor): the loader's fast first pass, repeated with every mark when it finds a problem.
    """
    return parse_documents(file, marks_depth, single=True)[0]


def parse_documents(file: str, marks_depth: int | None = None, single: bool = False) -> list[Source]:
    """`parse`, for a file of one or more YAML documents (`---` between them): one Source each.

    With `single`, a second document is a syntax error. Every Source carries the digest of the
    whole file.
    """
    raw = _read(file)
    text = _decode(file, raw)
    # The cyclic GC rescans the growing node tree again and again while it is built: off, parsing
    # 10 000 tasks takes a third of the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        sources = _parse_text(file, text, marks_depth, single)
    finally:
        if gc_was_enabled:
            gc.enable()
    digest = hashlib.sha256(raw).hexdigest()
    for src in sources:
        src.digest = digest
    return sources


def _parse_text(file: str, text: str, marks_depth: int | None, single: bool) -> list[Source]:
    builder = _Builder(file, marks_depth, single)
    try:
        builder.run(_Loader(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if "maximum nesting depth" in problem:   # the libyaml in PyYAML 6.0.4 wheels stops it first
            raise PipelineInvalid([PipelineError.at(where, _TOO_DEEP)]) from None
        problem += next((hint for text, hint in _SYNTAX_HINTS if text in problem), "")
        raise PipelineInvalid([PipelineError.at(where, f"YAML syntax error: {problem}")]) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise PipelineInvalid([PipelineError(file, 1, 1, f"YAML syntax error: {exc}")]) from None
    if builder.errors:
        raise PipelineInvalid(builder.errors)
    documents = [d for d in builder.documents if not d.empty]
    if not documents:
        raise PipelineInvalid([PipelineError(file, 1, 1, "the file is empty: a pipeline needs `tasks:`")])
    for doc in documents:
        if not isinstance(doc.result, dict):
            kind = "a list" if isinstance(doc.result, list) else f"a single value ({_kind(doc.result)})"
            raise PipelineInvalid([PipelineError.at(
                doc.marks[()], f"the top level must be a mapping (keys like `tasks:`), not {kind}")])
    return [Source(file, doc.result, doc.marks, doc.key_marks) for doc in documents]


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


_NO_KEY = object()     # a mapping frame waiting for its next key
_SKIP = object()       # the key was unusable: its value is read and dropped
_MERGING = object()    # the key was `<<`: the value is merged at the mapping's end


class _TooDeep(Exception):
    pass


class _Document(NamedTuple):
    result: Any
    marks: dict[Path, Mark]
    key_marks: dict[Path, Mark]
    empty: bool


class _Frame:
    """An open mapping or sequence while events stream in."""

    __slots__ = ("obj", "path", "key", "seen", "merges", "anchor", "start", "is_key", "logs")

    def __init__(self, obj: dict[str, Any] | list[Any], path: Path | None, anchor: str | None,
                 start: int, is_key: bool):
        self.obj = obj
        self.path = path          # None: inside something that is dropped
        self.key: Any = _NO_KEY
        self.seen: dict[str, int] = {}          # key -> line, for duplicate-key errors
        self.merges: list[tuple[Any, Path, int, int]] = []
        self.anchor = anchor
        self.start = start        # where this subtree's marks begin in the log
        self.is_key = is_key      # a list or mapping used as a key: an error, dropped with its value
        self.logs = False         # anchored or merged: its marks go to the log


class _Builder:
    """Builds plain data from libyaml's event stream, recording marks and collecting errors.

    Events instead of a composed node tree: no recursion, so no nesting depth can crash the
    parser, and no Node objects to allocate.
    """

    def __init__(self, file: str, marks_depth: int | None = None, single: bool = True):
        self.file = file
        self.depth = 10**9 if marks_depth is None else marks_depth   # deeper paths get no mark
        self.single = single
        self.errors: list[PipelineError] = []
        self.documents: list[_Document] = []
        self.new_document()

    def new_document(self) -> None:
        """Start a document: its own data, marks and anchors (YAML's anchors end with their document)."""
        self.marks: dict[Path, Mark] = {}
        self.key_marks: dict[Path, Mark] = {}
        self.empty = True
        # the marks recorded inside anchored (or merged) subtrees, in document order, so such a
        # subtree's marks are a slice of it; `logging` counts the open ones
        self.log: list[tuple[Path, Mark, bool]] = []
        self.logging = 0
        self.anchors: dict[str, tuple[Any, Path | None, int, int] | None] = {}   # None: still open
        self.stack: list[_Frame] = []
        self.result: Any = None

    def mark(self, event: Any) -> Mark:
        m = event.start_mark
        return Mark(self.file, m.line + 1, m.column + 1)

    def error(self, event: Any, message: str) -> None:
        self.errors.append(PipelineError.at(self.mark(event), message))

    def record(self, path: Path, mark: Mark, key: bool = False) -> None:
        if len(path) <= self.depth:
            (self.key_marks if key else self.marks)[path] = mark
            if self.logging:
                self.log.append((path, mark, key))

    def note(self, path: Path, event: Any, key: bool = False) -> None:
        """Record the mark of `event` at `path` (cheap when the path is beyond `depth`)."""
        if len(path) <= self.depth:
            m = event.start_mark
            self.record(path, Mark(self.file, m.line + 1, m.column + 1), key)

    def merging(self) -> bool:
        """Whether the next node is the value of a `<<` key (its marks must be logged)."""
        return bool(self.stack) and self.stack[-1].key is _MERGING

    def run(self, loader: Any) -> Any:
        documents = 0
        try:
            while loader.check_event():
                event = loader.get_event()
                kind = type(event)
                if kind is yaml.ScalarEvent:
                    self.scalar_event(event)
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    self.start(event, kind is yaml.MappingStartEvent)
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    self.end()
                elif kind is yaml.AliasEvent:
                    self.alias(event)
                elif kind is yaml.DocumentStartEvent:
                    documents += 1
                    if documents > 1 and self.single:
                        self.error(event, "YAML syntax error: expected a single document in the stream: "
                                   "but found another document")
                        break
                    if documents > 1:
                        self.new_document()
                elif kind is yaml.DocumentEndEvent:
                    self.documents.append(_Document(self.result, self.marks, self.key_marks, self.empty))
        except _TooDeep:
            pass
        finally:
            loader.dispose()

    # --- where a node goes ---------------------------------------------------------------

    def place(self) -> tuple[Path | None, bool]:
        """(path of the next node or None when it is dropped, whether it is a mapping key)."""
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if type(top.obj) is list:
            return (None if top.path is None else (*top.path, len(top.obj))), False
        if top.key is _NO_KEY:
            return None, True
        if top.path is None or top.key is _SKIP:
            return None, False
        if top.key is _MERGING:
            return (*top.path, "<<"), False
        return (*top.path, top.key), False

    def attach(self, value: Any, path: Path | None, start: int) -> None:
        """Give a finished value node to its parent (or make it the document)."""
        if not self.stack:
            self.result = value
            return
        top = self.stack[-1]
        if type(top.obj) is list:
            top.obj.append(value)
            return
        if top.key is _MERGING and path is not None:
            top.merges.append((value, path, start, len(self.log)))
        elif top.key is not _SKIP and top.path is not None:
            top.obj[top.key] = value
        top.key = _NO_KEY

    # --- events ----------------------------------------------------------------------------

    def scalar_event(self, event: Any) -> None:
        self.empty = False
        path, is_key = self.place()
        if is_key:
            self.key(event)
            return
        logs = bool(event.anchor) or self.merging()
        self.logging += logs
        start = len(self.log)
        if path is not None:
            self.note(path, event)
        value = self.scalar(event)
        if event.anchor:
            self.anchors[event.anchor] = (value, path, start, len(self.log))
        self.attach(value, path, start)
        self.logging -= logs

    def key(self, event: Any) -> None:
        top = self.stack[-1]
        if top.path is None:
            top.key = _SKIP
            return
        tag = self.tag_of(event)
        if tag == _MERGE:
            top.key = _MERGING
            return
        key = event.value if tag == _STR else self.scalar(event, tag)
        if key is None or isinstance(key, bool):
            if key is None:
                self.error(event, f"the key {event.value!r} is read as null by YAML; quote it: \"{event.value}\"")
            top.key = _SKIP
            return
        key = key if isinstance(key, str) else str(key)
        if key in top.seen:
            self.error(event, f"duplicate key '{key}' (first defined at line {top.seen[key]}); "
                       "YAML would silently keep only the last one")
            top.key = _SKIP
            return
        top.seen[key] = event.start_mark.line + 1
        top.key = key
        self.note((*top.path, key), event, key=True)

    def start(self, event: Any, mapping: bool) -> None:
        self.empty = False
        path, is_key = self.place()
        if is_key:
            if self.stack[-1].path is not None:
                self.error(event, "a mapping key must be plain text, not a list or a mapping")
        if len(self.stack) >= MAX_DEPTH:
            self.error(event, _TOO_DEEP)
            raise _TooDeep
        if event.tag not in (None, "!", _MAP if mapping else _SEQ):
            self.error(event, f"unsupported YAML tag {event.tag!r}")
        logs = bool(event.anchor) or self.merging()
        self.logging += logs
        start = len(self.log)
        if path is not None:
            self.note(path, event)
        if event.anchor:
            self.anchors[event.anchor] = None
        frame = _Frame({} if mapping else [], path, event.anchor, start, is_key)
        frame.logs = logs
        self.stack.append(frame)

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.merges:
            self.merge(frame)
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.obj, frame.path, frame.start, len(self.log))
        self.logging -= frame.logs
        if frame.is_key:
            self.stack[-1].key = _SKIP
        else:
            self.attach(frame.obj, frame.path, frame.start)

    def alias(self, event: Any) -> None:
        path, is_key = self.place()
        if is_key:
            self.error(event, "an alias cannot be a mapping key here")
            self.stack[-1].key = _SKIP
            return
        if event.anchor not in self.anchors:
            self.error(event, f"unknown alias '*{event.anchor}'")
            self.attach(None, path, len(self.log))
            return
        anchored = self.anchors[event.anchor]
        if anchored is None:
            self.error(event, "an alias refers to a node that contains it (recursive YAML)")
            self.attach(None, path, len(self.log))
            return
        value, src_path, lo, hi = anchored
        logs = self.merging()
        self.logging += logs
        start = len(self.log)
        if path is not None:
            self.note(path, event)
            if src_path is not None:
                self.copy_marks(src_path, path, lo, hi)
        self.attach(copy.deepcopy(value), path, start)
        self.logging -= logs

    def copy_marks(self, src: Path, dst: Path, lo: int, hi: int, only: str | None = None) -> None:
        """Give `dst`'s subtree the marks of `src`'s (an alias or a merge shows where it was written)."""
        n = len(src)
        for path, mark, is_key in self.log[lo:hi]:
            if len(path) > n and path[:n] == src and (only is None or path[n] == only):
                self.record((*dst, *path[n:]), mark, is_key)

    def merge(self, frame: _Frame) -> None:
        """`<<: *defaults` (or a list of them): keys not set explicitly come from the sources."""
        assert isinstance(frame.obj, dict)
        sources: list[tuple[Any, Path, int, int]] = []
        for value, path, lo, hi in frame.merges:
            if isinstance(value, list):
                sources.extend((item, (*path, i), lo, hi) for i, item in enumerate(value))
            else:
                sources.append((value, path, lo, hi))
        for value, path, lo, hi in sources:
            if not isinstance(value, dict):
                self.errors.append(PipelineError.at(self.marks.get(path, Mark(self.file, 1, 1)),
                                                    "`<<` (merge) needs a mapping or a list of mappings"))
                continue
            for key, item in value.items():
                if key in frame.obj:
                    continue
                frame.obj[key] = item
                if frame.path is not None:
                    self.copy_marks(path, frame.path, lo, hi, only=key)

    # --- scalars ---------------------------------------------------------------------------

    def tag_of(self, event: Any) -> str:
        """The resolved tag, as PyYAML's resolver gives it, without its per-call overhead."""
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return _STR   # quoted
            value = event.value
            for candidate, regexp in _IMPLICIT.get(value[:1], ()):
                if regexp.match(value):
                    return candidate
            return _STR
        return tag

    def scalar(self, event: Any, tag: str | None = None) -> Any:
        tag = tag or self.tag_of(event)
        value = event.value
        if tag == _STR:
            return value
        plain = not event.style   # None (pure-Python loader) or "" (libyaml)
        if tag == _NULL:
            return None
        if tag == _BOOL:
            if plain and value.lower() not in ("true", "false"):
                word = "true" if value.lower() in ("yes", "on") else "false"
                self.error(event, f"'{value}' is read as the boolean {word} by YAML 1.1: "
                           f"quote it (\"{value}\") for text, or write {word}")
                return value
            return value.lower() in ("true", "yes", "on")
        if tag in (_INT, _FLOAT):
            if plain and (_SEXAGESIMAL.match(value) or (tag == _INT and _OCTAL.match(value))):
                self.error(event, f"'{value}' is read as a base-60 or octal number by YAML 1.1: "
                           f"quote it (\"{value}\") for text")
                return value
            node = yaml.ScalarNode(tag, value)
            try:
                if tag == _INT:
                    return _construct.construct_yaml_int(node)
                return _construct.construct_yaml_float(node)
            except (ValueError, yaml.YAMLError):
                self.error(event, f"'{value}' is not a valid number")
                return value
        if tag == _TIMESTAMP:
            return value   # a date stays the text it was written as (`DATE: 2026-11-23`)
        self.error(event, f"unsupported YAML tag {tag!r}")
        return value
