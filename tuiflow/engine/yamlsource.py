"""YAML text -> plain data plus the source position of every node (for file:line:col errors)."""

from __future__ import annotations

import copy
import gc
import hashlib
import os
import re
import select
import stat
from collections.abc import Callable
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
# Aliases are copied where they are used: past this many copied nodes a file is an alias bomb
# ("billion laughs": 342 bytes that would grow without end), not a pipeline.
MAX_ALIAS_NODES = 100_000
# A pipe, FIFO or terminal given as the pipeline file is read to its end, but never waited on
# longer than this for its next bytes (a FIFO nobody writes to would block forever).
STREAM_TIMEOUT = 10.0

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
    texts: dict[Path, str] = field(default_factory=dict)   # numbers as written, where YAML reads them
    # otherwise (`1.10` -> 1.1, `1_000` -> 1000): env and params values keep what was written
    errors: list[PipelineError] = field(default_factory=list)   # problems that left the data usable
    bad_paths: set[Path] = field(default_factory=set)            # ...and the nodes they are at

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


def parse(file: str, marks_depth: int | None = None, *, partial: bool = False,
          contents: dict[str, bytes | PipelineInvalid] | None = None) -> Source:
    """Read and parse `file`; raise PipelineInvalid for unreadable files, syntax errors,
    duplicate keys and YAML 1.1 traps (an unquoted `no` / `on` read as a boolean).

    `marks_depth` keeps marks only for paths that short (`Source.mark` falls back to the nearest
    ancestor): the loader's fast first pass, repeated with every mark when it finds a problem.
    With `partial`, problems that leave the data usable (a duplicate key keeps its first value, a
    trap keeps the text) are returned in `Source.errors` instead, so later checks can report
    theirs too. `contents` holds what was read before, by file, and gets what is read now: a
    file is read once however often it is parsed (a pipe can be read only once).
    """
    return parse_documents(file, marks_depth, single=True, partial=partial, contents=contents)[0]


def parse_documents(file: str, marks_depth: int | None = None, single: bool = False, *,
                    partial: bool = False,
                    contents: dict[str, bytes | PipelineInvalid] | None = None) -> list[Source]:
    """`parse`, for a file of one or more YAML documents (`---` between them): one Source each.

    With `single`, a second document is a syntax error. Every Source carries the digest of the
    whole file.
    """
    raw = contents.get(file) if contents is not None else None
    if raw is None:
        try:
            raw = _read(file)
        except PipelineInvalid as exc:
            raw = exc
        if contents is not None:
            contents[file] = raw
    if isinstance(raw, PipelineInvalid):
        raise PipelineInvalid(raw.errors)
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
    errors = [e for src in sources for e in src.errors]
    if errors and not partial:
        raise PipelineInvalid(errors)
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
    if builder.errors and (builder.stopped or not builder.documents or any(
            not isinstance(d.result, dict) for d in builder.documents if not d.empty)):
        raise PipelineInvalid(builder.errors)
    documents = [d for d in builder.documents if not d.empty]
    if not documents:
        raise PipelineInvalid([PipelineError(file, 1, 1, "the file is empty: a pipeline needs `tasks:`")])
    for doc in documents:
        if not isinstance(doc.result, dict):
            kind = "a list" if isinstance(doc.result, list) else f"a single value ({_kind(doc.result)})"
            raise PipelineInvalid([PipelineError.at(
                doc.marks[()], f"the top level must be a mapping (keys like `tasks:`), not {kind}")])
    return [Source(file, doc.result, doc.marks, doc.key_marks, texts=doc.texts, errors=doc.errors,
                   bad_paths=doc.bad) for doc in documents]


_STREAMS = {stat.S_IFIFO: "a pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFSOCK: "a socket"}


_STREAMED: dict[str, bytes] = {}   # a pipe given as a file, as it was read (it cannot be read twice)


def read_if_stream(file: str) -> bytes | None:
    """What a pipe, FIFO or terminal given as `file` holds, read here once (PipelineInvalid when it
    cannot be): a TUI hands it to its engine process, which could not read it again. None for
    anything else, which the engine reads (and reports on) itself."""
    try:
        if stat.S_IFMT(os.stat(file).st_mode) not in _STREAMS:
            return None
    except (OSError, ValueError):
        return None
    return _read(file)


def provide(file: str, raw: bytes) -> None:
    """Read `file` as these bytes from now on (an engine process given its launcher's pipe)."""
    _STREAMED[file] = raw


def _read(file: str) -> bytes:
    """The file's bytes, or a PipelineInvalid saying in words why it cannot be read.

    A pipe (`tuiflow run <(cat p.yaml)`), FIFO or terminal is read to its end, waiting at most
    STREAM_TIMEOUT for each piece, and only once: a second read in the process gets the same
    bytes. Anything else that is not a regular file is refused.
    """
    if file in _STREAMED:
        return _STREAMED[file]

    def fail(message: str) -> PipelineInvalid:
        return PipelineInvalid([PipelineError(file, 1, 1, message)])

    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)   # a FIFO's open would wait
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise fail("is a directory, not a pipeline file")
            if stat.S_ISREG(mode):
                with os.fdopen(os.dup(fd), "rb") as fh:
                    raw = fh.read(MAX_BYTES + 1)
            elif stat.S_IFMT(mode) in _STREAMS:
                raw = _STREAMED[file] = _read_stream(fd, _STREAMS[stat.S_IFMT(mode)], fail)
            else:
                raise fail("is not a regular file (a device?): give the pipeline's YAML file")
        finally:
            os.close(fd)
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


def _read_stream(fd: int, kind: str, fail: Callable[[str], PipelineInvalid]) -> bytes:
    """Everything until the writer closes its end, waiting at most STREAM_TIMEOUT for each piece."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BYTES:
        if not poller.poll(STREAM_TIMEOUT * 1000):
            raise fail(f"is {kind} and nothing was written to it for {STREAM_TIMEOUT:g} s: "
                       "give the pipeline's YAML file, or write it there")
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


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


class _Stop(Exception):
    """The document cannot be read further (too deep, an alias bomb): the error is recorded."""


class _Document(NamedTuple):
    result: Any
    marks: dict[Path, Mark]
    key_marks: dict[Path, Mark]
    empty: bool
    texts: dict[Path, str]
    errors: list[PipelineError]   # its problems that left the data usable (see Source)
    bad: set[Path]


class _Frame:
    """An open mapping or sequence while events stream in."""

    __slots__ = ("obj", "path", "key", "seen", "merges", "anchor", "start", "is_key", "logs", "size")

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
        self.size = 1             # nodes in this subtree so far (what an alias of it copies)


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
        self.stopped = False   # an error that ended the reading: the data is incomplete
        self.copied = 0        # nodes copied by aliases so far, in the whole file
        self.documents: list[_Document] = []
        self.new_document()

    def new_document(self) -> None:
        """Start a document: its own data, marks and anchors (YAML's anchors end with their document)."""
        self.marks: dict[Path, Mark] = {}
        self.key_marks: dict[Path, Mark] = {}
        self.texts: dict[Path, str] = {}   # see Source.texts
        self.bad: set[Path] = set()        # where this document's errors are (their values are not judged again)
        self.first_error = len(self.errors)
        self.empty = True
        # the marks recorded inside anchored (or merged) subtrees, in document order, so such a
        # subtree's marks are a slice of it; `logging` counts the open ones
        self.log: list[tuple[Path, Mark, bool]] = []
        self.logging = 0
        self.anchors: dict[str, tuple[Any, Path | None, int, int, int] | None] = {}   # None: still open
        self.stack: list[_Frame] = []
        self.result: Any = None

    def mark(self, event: Any) -> Mark:
        m = event.start_mark
        return Mark(self.file, m.line + 1, m.column + 1)

    def error(self, event: Any, message: str, path: Path | None = None) -> None:
        self.errors.append(PipelineError.at(self.mark(event), message))
        if path is not None:
            self.bad.add(path)

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
                        self.stopped = True
                        break
                    if documents > 1:
                        self.new_document()
                elif kind is yaml.DocumentEndEvent:
                    self.documents.append(_Document(self.result, self.marks, self.key_marks, self.empty,
                                                    self.texts, self.errors[self.first_error:], self.bad))
        except _Stop:
            self.stopped = True
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

    def attach(self, value: Any, path: Path | None, start: int, size: int = 1) -> None:
        """Give a finished value node (of `size` nodes) to its parent (or make it the document)."""
        if not self.stack:
            self.result = value
            return
        top = self.stack[-1]
        top.size += size
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
        value = self.scalar(event, path=path)
        if path is not None and (type(value) is float or type(value) is int) and str(value) != event.value:
            self.texts[path] = event.value
        if event.anchor:
            self.anchors[event.anchor] = (value, path, start, len(self.log), 1)
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
            raise _Stop
        if event.tag not in (None, "!", _MAP if mapping else _SEQ):
            self.error(event, f"unsupported YAML tag {event.tag!r}", path)
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
            self.anchors[frame.anchor] = (frame.obj, frame.path, frame.start, len(self.log), frame.size)
        self.logging -= frame.logs
        if frame.is_key:
            self.stack[-1].key = _SKIP
        else:
            self.attach(frame.obj, frame.path, frame.start, frame.size)

    def alias(self, event: Any) -> None:
        path, is_key = self.place()
        if is_key:
            self.error(event, "an alias cannot be a mapping key here")
            self.stack[-1].key = _SKIP
            return
        if event.anchor not in self.anchors:
            self.error(event, f"unknown alias '*{event.anchor}'", path)
            self.attach(None, path, len(self.log))
            return
        anchored = self.anchors[event.anchor]
        if anchored is None:
            self.error(event, "an alias refers to a node that contains it (recursive YAML)", path)
            self.attach(None, path, len(self.log))
            return
        value, src_path, lo, hi, size = anchored
        self.copied += size
        if self.copied > MAX_ALIAS_NODES:
            self.error(event, f"the aliases of this file expand to more than {MAX_ALIAS_NODES:,} nodes "
                       f"('*{event.anchor}' is {size:,} of them): an alias bomb, not a pipeline")
            raise _Stop
        logs = self.merging()
        self.logging += logs
        start = len(self.log)
        if path is not None:
            self.note(path, event)
            if src_path is not None:
                self.copy_marks(src_path, path, lo, hi)
        self.attach(copy.deepcopy(value) if size > 1 else value, path, start, size)
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

    def scalar(self, event: Any, tag: str | None = None, path: Path | None = None) -> Any:
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
                           f"quote it (\"{value}\") for text, or write {word}", path)
                return value
            return value.lower() in ("true", "yes", "on")
        if tag in (_INT, _FLOAT):
            if plain and (_SEXAGESIMAL.match(value) or (tag == _INT and _OCTAL.match(value))):
                self.error(event, f"'{value}' is read as a base-60 or octal number by YAML 1.1: "
                           f"quote it (\"{value}\") for text", path)
                return value
            node = yaml.ScalarNode(tag, value)
            try:
                if tag == _INT:
                    return _construct.construct_yaml_int(node)
                return _construct.construct_yaml_float(node)
            except (ValueError, yaml.YAMLError):
                self.error(event, f"'{value}' is not a valid number", path)
                return value
        if tag == _TIMESTAMP:
            return value   # a date stays the text it was written as (`DATE: 2026-11-23`)
        self.error(event, f"unsupported YAML tag {tag!r}", path)
        return value
