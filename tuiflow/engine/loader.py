"""The only reader of pipeline YAML: parse with marks -> (Dagu translation) -> schema -> model -> graph.

`load` returns a fully resolved `Pipeline` or raises `PipelineInvalid` with every problem of
every file it read (sub-pipelines included), each at its `file:line:col`.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from . import schema
from .documents import Document, DocumentBuilder
from .errors import PipelineError, PipelineInvalid
from .model import Pipeline, TaskSpec
from .yamlsource import Source, parse_documents

# ("groups", name, index) is a task: deep enough for every TaskSpec.mark
FAST_MARKS_DEPTH = 3


def load(file: str, params: Mapping[str, str] | None = None,
         environ: Mapping[str, str] | None = None) -> Pipeline:
    """The pipeline in `file`; `params` override its `params:` (--param), `environ` is the
    environment `${VAR}` falls back to (default: os.environ)."""
    env = os.environ if environ is None else environ
    path = os.path.abspath(file)
    # Loading allocates hundreds of thousands of objects and frees almost none: the cyclic GC
    # would rescan them again and again (a third of the time on 10 000 tasks).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # First with the marks of tasks only (most files are valid); on any problem, again
        # with every mark, so each message points at the exact line and column.
        contents: dict[str, bytes | PipelineInvalid] = {}   # each file is read once, for both passes
        loader = _Loader(env, FAST_MARKS_DEPTH, contents)
        doc = loader.document(path, dict(params or {}), (), {})
        if loader.errors or doc is None:
            loader = _Loader(env, None, contents)
            doc = loader.document(path, dict(params or {}), (), {})
    finally:
        if gc_was_enabled:
            gc.enable()
    if loader.errors or doc is None:
        raise PipelineInvalid(list(dict.fromkeys(loader.errors)))
    return Pipeline(
        name=doc.name,
        file=path,
        tasks=tuple(doc.tasks),
        description=doc.description,
        max_parallel=doc.max_parallel or os.cpu_count() or 1,
        fail_fast=doc.fail_fast,
        kill_grace=doc.kill_grace,
        pools=doc.pools,
        secrets=doc.secrets,
        params=doc.params,
        workdir=doc.workdir,
        source_digest=loader.source_digest(),
        task_digests=TaskDigests(doc.tasks),
        notes=tuple(dict.fromkeys(loader.notes)),
        dialect="dagu" if loader.files[path].dagu else "tuiflow",
        executor=doc.executor,
    )


def validate(file: str, params: Mapping[str, str] | None = None,
             environ: Mapping[str, str] | None = None) -> list[PipelineError]:
    """Every problem in `file` (empty when it loads)."""
    try:
        load(file, params, environ)
    except PipelineInvalid as exc:
        return exc.errors
    return []


class Sources(NamedTuple):
    """A file as native data: its Source, the problems and notes of reading it, and the Sources of
    the sub-pipelines it holds itself (a Dagu file's later documents), by the name `pipeline:` uses."""

    source: Source
    errors: list[PipelineError]
    notes: list[str]
    inner: dict[str, Source]
    dagu: bool = False


def load_sources(file: str, marks_depth: int | None = None,
                 contents: dict[str, bytes | PipelineInvalid] | None = None) -> Sources:
    """`file` parsed, as native data (a Dagu file translated).

    Raises PipelineInvalid when the file cannot be parsed at all. `marks_depth`, `contents`: see
    `parse`. Problems that leave the data usable (a duplicate key) are among those returned, so
    the later checks report theirs too.
    """
    documents = parse_documents(file, marks_depth, partial=True, contents=contents)
    src = documents[0]
    found = [e for doc in documents for e in doc.errors]
    if isinstance(src.data, dict) and ("steps" in src.data or "tasks" not in src.data and "groups" not in src.data):
        from .dagu import is_dagu, translate

        if is_dagu(src.data):
            if found:   # Dagu's own parser stops at these: the translation would guess at the rest
                raise PipelineInvalid(found)
            result = translate(src, documents[1:])
            return Sources(result.source, result.errors, result.notes, result.subdags, dagu=True)
    if len(documents) > 1:
        raise PipelineInvalid([*found, PipelineError.at(documents[1].mark(()), "a pipeline file holds one YAML "
                                                        "document: a second one starts here, after `---` (only a "
                                                        "Dagu file may hold sub-DAGs after its first document)")])
    return Sources(src, found, [], {})


def task_digest(task: TaskSpec) -> str:
    """A stable digest of what a task does (command, environment, place, rules), for --resume."""
    parts = [task.name, repr(task.command), repr(sorted(task.env.items())), task.cwd, task.shell,
             repr(task.depends_on), repr(task.timeout), repr(task.retry), repr(task.continue_on_failure), repr(task.approval),
             task.when.value, repr(task.pool), repr(task.output), repr(task.foreach), repr(task.script),
             repr(task.preconditions), repr(task.log_limit), repr(sorted(task.variables.items()))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class TaskDigests(Mapping[str, str]):
    """`{task: task_digest(task)}`, each computed on first use: only --resume reads them."""

    def __init__(self, tasks: Iterable[TaskSpec]):
        self._tasks = {t.name: t for t in tasks}
        self._digests: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        digest = self._digests.get(name)
        if digest is None:
            digest = self._digests[name] = task_digest(self._tasks[name])
        return digest

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"TaskDigests({len(self)} tasks)"


@dataclass(eq=False)
class _Loaded:
    """One file as read: the native Source, its own problems, and the paths those problems are at."""

    source: Source | None
    errors: list[PipelineError] = field(default_factory=list)
    bad_paths: set[tuple[str | int, ...]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    dagu: bool = False


class _Loader:
    """Loads a file and, recursively, its sub-pipelines, collecting every error."""

    def __init__(self, environ: Mapping[str, str], marks_depth: int | None,
                 contents: dict[str, bytes | PipelineInvalid] | None = None):
        self.environ = environ
        self.marks_depth = marks_depth
        self.contents = {} if contents is None else contents
        self.errors: list[PipelineError] = []
        self.notes: list[str] = []
        self.files: dict[str, _Loaded] = {}

    def read(self, file: str) -> _Loaded:
        """Parse, translate and schema-check `file` once, however often it is included."""
        if file in self.files:
            return self.files[file]
        try:
            sources = load_sources(file, self.marks_depth, self.contents)
        except PipelineInvalid as exc:
            loaded = _Loaded(None, list(exc.errors))
        else:
            loaded = self._checked(sources.source, file, sources.errors)
            loaded.notes, loaded.dagu = sources.notes, sources.dagu
            if sources.dagu and sources.errors:
                loaded.bad_paths.add(())   # "the pipeline has no tasks" would only repeat them
            for name, inner in sources.inner.items():
                self.files[name] = self._checked(inner, file, [])
                self.files[name].dagu = True
                self.errors.extend(self.files[name].errors)
        self.files[file] = loaded
        self.errors.extend(loaded.errors)
        self.notes.extend(loaded.notes)
        return loaded

    @staticmethod
    def _checked(src: Source, file: str, errors: list[PipelineError]) -> _Loaded:
        """A native Source with its schema problems added to `errors`."""
        loaded = _Loaded(src, list(errors), set(src.bad_paths))
        for problem in schema.validate(src.data):
            if any(problem.path[:len(bad)] == bad for bad in src.bad_paths):
                continue   # already told: a YAML problem at this node
            loaded.bad_paths.add(problem.path)
            loaded.errors.append(PipelineError.at(src.mark(problem.path, key=problem.key), problem.message, file))
        return loaded

    def exists(self, file: str) -> bool:
        """Whether a sub-pipeline can be read: a file, or a sub-DAG document of a file read already."""
        return file in self.files or os.path.exists(file)

    def document(self, file: str, params: dict[str, str], stack: tuple[str, ...],
                 inherited_pools: Mapping[str, int]) -> Document | None:
        """The tasks of `file` with `params` overriding its own; `stack` is the include chain."""
        loaded = self.read(file)
        if loaded.source is None:
            return None
        builder = DocumentBuilder(loaded.source, loaded.bad_paths, self.environ, params, inherited_pools,
                                  (*stack, file), self.document, self.exists)
        doc = builder.build()
        self.errors.extend(builder.errors)
        self.notes.extend(builder.notes)
        return doc

    def source_digest(self) -> str:
        """sha256 over every file read, in the order they were first read."""
        h = hashlib.sha256()
        for loaded in self.files.values():
            h.update((loaded.source.digest if loaded.source else "").encode())
        return h.hexdigest()

