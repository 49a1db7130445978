"""One pipeline document (native data with marks) -> resolved settings and TaskSpecs.

Here live the model rules: `${VAR}` substitution outside commands, durations and sizes,
matrix and static-foreach expansion into `task[k=v]` instances plus a virtual fan-in task,
sub-pipelines joined as `caller/step`, and the graph checks (unknown names with "did you
mean", cycles with their path, `foreach` upstream, pools). Schema problems were reported
before; the paths they are at are skipped here so one mistake gives one message.
"""

from __future__ import annotations

import itertools
import os
import re
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .durations import parse_duration, parse_size
from .errors import Mark, PipelineError, did_you_mean
from .graph import find_cycles
from .model import (
    DEFAULT_LOG_LIMIT,
    NOT_IN_TASK_NAMES,
    Executor,
    Precondition,
    RetryPolicy,
    TaskSpec,
    TriggerRule,
    instance_label,
)
from .schema import describe
from .substitution import SubstitutionError, as_text, substitute
from .yamlsource import Path, Source

MAX_NAME = 200   # characters in a task name as written (Airflow allows 250): a name is shown on one line
_INT = re.compile(r"\s*[0-9]+\s*")
_NUMBER = re.compile(r"\s*[0-9]+(?:\.[0-9]+)?\s*")


@dataclass(eq=False)
class Document:
    """A pipeline file's settings and expanded tasks (names local to the file)."""

    name: str
    file: str
    workdir: str
    tasks: list[TaskSpec] = field(default_factory=list)
    description: str = ""
    max_parallel: int | None = None
    fail_fast: bool = False
    kill_grace: float = 5.0
    pools: dict[str, int] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    executor: Executor = Executor()


#: (file, params, include stack, pools known to the caller) -> the sub-pipeline's Document
SubLoader = Callable[[str, dict[str, str], tuple[str, ...], Mapping[str, int]], "Document | None"]


@dataclass(slots=True, eq=False)
class _Fields:
    """One mapping of the document (the top level, a task, ...) and its keys that failed the schema."""

    data: dict[str, Any]
    path: Path
    bad: frozenset[str]    # keys whose value failed the schema: read as absent
    deep: frozenset[str]   # keys with a problem further inside (one env entry, one matrix axis)


def _bad_index(bad: set[Path]) -> dict[Path, tuple[frozenset[str], frozenset[str]]]:
    """For each mapping path, (keys that are bad, keys with something bad inside)."""
    index: dict[Path, tuple[set[str], set[str]]] = {}
    for path in bad:
        for k in range(len(path)):
            key = path[k]
            if isinstance(key, str):
                exact, deep = index.setdefault(path[:k], (set(), set()))
                (exact if k == len(path) - 1 else deep).add(key)
    return {p: (frozenset(e), frozenset(d)) for p, (e, d) in index.items()}


@dataclass(eq=False)
class _Raw:
    """A task as written (before expansion), with what the graph checks need."""

    f: _Fields
    name: str
    group: str | None
    deps: list[tuple[str, Path]]
    foreach_target: tuple[str, Path] | None = None
    produced: list[str] = field(default_factory=list)   # every model name this task became


def folder_of(file: str) -> str:
    """The folder relative paths of a pipeline file start from: its own, or the current one for
    a pipeline that is not a file in a folder (`tuiflow run <(cat p.yaml)`: /dev/fd/63)."""
    if os.path.isfile(file):
        return os.path.dirname(os.path.abspath(file))
    return os.getcwd()


def owner(name: str) -> str:
    """The task as written that a model name comes from: `build[region=us]`, `sub/x` -> `build`, `sub`."""
    return name.split("/", 1)[0].split("[", 1)[0]


class DocumentBuilder:
    """Builds one Document; problems collect in `errors`."""

    def __init__(self, src: Source, bad_paths: set[Path], environ: Mapping[str, str],
                 params: Mapping[str, str], inherited_pools: Mapping[str, int], stack: tuple[str, ...],
                 load_sub: SubLoader, exists: Callable[[str], bool] = os.path.exists):
        self.src = src
        self.data: dict[str, Any] = src.data if isinstance(src.data, dict) else {}
        self.bad = bad_paths
        self.environ = environ
        self.overrides = params
        self.inherited_pools = inherited_pools
        self.stack = stack
        self.load_sub = load_sub
        self.exists = exists
        self.errors: list[PipelineError] = []
        self.notes: list[str] = []
        self.folder = folder_of(src.file)
        self._bad_index = _bad_index(bad_paths)

    # --- reporting and reading ---------------------------------------------------------

    def error(self, path: Path, message: str, key: bool = False) -> None:
        self.errors.append(PipelineError.at(self.src.mark(path, key=key), message, self.src.file))

    def fields(self, data: dict[str, Any], path: Path) -> _Fields:
        bad, deep = self._bad_index.get(path, (frozenset(), frozenset()))
        return _Fields(data, path, bad, deep)

    def get(self, f: _Fields, key: str, types: tuple[type, ...]) -> Any:
        """`f.data[key]` when present, schema-clean and of `types`; else None."""
        value = f.data.get(key)
        if value is None or key in f.bad or not isinstance(value, types):
            return None
        if (value is True or value is False) and bool not in types:
            return None
        return value

    def as_written(self, path: Path, value: Any) -> str:
        """A scalar as text: a number as the file wrote it (`1.10`, not YAML's 1.1)."""
        if type(value) is str:
            return value
        return self.src.texts.get(path) or as_text(value)

    def subst(self, path: Path, value: Any, scope: Mapping[str, str]) -> str | None:
        """`value` as text with `${VAR}` substituted; None (reported) when a variable is missing."""
        text = self.as_written(path, value)
        if "${" not in text:
            return text
        try:
            return substitute(text, scope)
        except SubstitutionError as exc:
            self.error(path, f"{describe(self.data, path)}: {exc}")
            return None

    def text(self, f: _Fields, key: str, scope: Mapping[str, str]) -> str | None:
        value = f.data.get(key)
        if type(value) is not str or key in f.bad:
            return None
        return value if "${" not in value else self.subst((*f.path, key), value, scope)

    def number(self, f: _Fields, key: str, scope: Mapping[str, str], kind: str) -> float | None:
        """An int/float field that may be written as `${VAR}`; kind is 'int' or 'float'."""
        value = self.get(f, key, (int, float, str))
        if value is None or not isinstance(value, str):
            return value
        path = (*f.path, key)
        text = self.subst(path, value, scope)
        if text is None:
            return None
        if not (_INT if kind == "int" else _NUMBER).fullmatch(text):
            what = "a whole number" if kind == "int" else "a number"
            self.error(path, f"{describe(self.data, path)}: '{value}' gives '{text}', not {what}")
            return None
        return int(text) if kind == "int" else float(text)

    def duration(self, f: _Fields, key: str, scope: Mapping[str, str]) -> float | None:
        value = self.get(f, key, (int, float, str))
        if value is None:
            return None
        if type(value) is not str:
            return float(value)
        path = (*f.path, key)
        text = self.subst(path, value, scope)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.error(path, f"{describe(self.data, path)}: {exc}")
            return None

    def size(self, f: _Fields, key: str, scope: Mapping[str, str]) -> int | None:
        value = self.get(f, key, (int, str))
        if isinstance(value, str):
            value = self.subst((*f.path, key), value, scope)
        if value is None:
            return None
        try:
            return parse_size(value)
        except ValueError as exc:
            path = (*f.path, key)
            self.error(path, f"{describe(self.data, path)}: {exc}")
            return None

    def variables(self, f: _Fields, key: str, scope: Mapping[str, str], into: dict[str, str]) -> dict[str, str]:
        """A NAME: value mapping (params, env) substituted in order; each entry sees the earlier ones."""
        mapping = self.get(f, key, (dict,))
        if not mapping:
            return into
        path = (*f.path, key)
        check = key in f.deep
        chained = ChainMap(into, scope)
        for name, value in mapping.items():
            if (check and (*path, name) in self.bad) or isinstance(value, dict | list):
                continue
            if type(value) is str and "${" not in value:
                into[name] = value
                continue
            text = self.subst((*path, name), value, chained)
            if text is not None:
                into[name] = text
        return into

    # --- the document ------------------------------------------------------------------

    def build(self) -> Document:
        environ = self.environ
        top = self.fields(self.data, ())
        params = self._params(top)
        env = self.variables(top, "env", ChainMap(params, environ), {})
        scope: dict[str, str] = {**environ, **params, **env}
        doc = Document(name=self.text(top, "name", scope) or _stem(self.src.file), file=self.src.file,
                       workdir=self.folder, params=params)
        doc.description = self.text(top, "description", scope) or ""
        max_parallel = self.number(top, "max_parallel", scope, "int")
        if max_parallel is not None:
            if max_parallel < 1:
                self.error(("max_parallel",), f"max_parallel must be at least 1, not {max_parallel}")
            else:
                doc.max_parallel = int(max_parallel)
        doc.fail_fast = bool(self.get(top, "fail_fast", (bool,)))
        kill_grace = self.duration(top, "kill_grace", scope)
        if kill_grace is not None:
            doc.kill_grace = kill_grace
        workdir = self.text(top, "workdir", scope)
        if workdir:
            doc.workdir = os.path.normpath(os.path.join(self.folder, os.path.expanduser(workdir)))
        doc.pools = self._pools(top, scope)
        secrets = self.get(top, "secrets", (list,)) or []
        doc.secrets = tuple(s for s in secrets if isinstance(s, str))
        doc.executor = self._executor(top, scope)

        base = _TaskBase(
            scope=scope,
            shared_env={**params, **env},
            shell=self.text(top, "shell", scope) or "sh",
            workdir=doc.workdir,
            log_limit=self.size(top, "log_limit", scope) or DEFAULT_LOG_LIMIT,
        )
        raws = self._raw_tasks(scope)
        known_pools = {**self.inherited_pools, **doc.pools}
        for raw in raws:
            self._expand(raw, base, doc, known_pools)
        self._check_graph(raws, doc)
        return doc

    def _params(self, top: _Fields) -> dict[str, str]:
        """The file's params, each overridable (--param, or the caller's `params:`)."""
        declared = self.get(top, "params", (dict,)) or {}
        params: dict[str, str] = {}
        chained = ChainMap(params, self.overrides, self.environ)
        for name, value in declared.items():
            if name in self.overrides:
                params[name] = self.overrides[name]
            elif ("params", name) not in self.bad and not isinstance(value, dict | list):
                text = self.subst(("params", name), value, chained)
                if text is not None:
                    params[name] = text
        for name, value in self.overrides.items():
            params.setdefault(name, value)
        return params

    def _pools(self, top: _Fields, scope: Mapping[str, str]) -> dict[str, int]:
        pools: dict[str, int] = {}
        declared = self.get(top, "pools", (dict,)) or {}
        entries = self.fields(declared, ("pools",))
        for name in declared:
            size = self.number(entries, name, scope, "int")
            if size is not None:
                if size < 1:
                    self.error(("pools", name), f"pools.{name} must be at least 1, not {size}")
                else:
                    pools[name] = int(size)
        return pools

    def _executor(self, top: _Fields, scope: Mapping[str, str]) -> Executor:
        """`executor:` and `scheduler:` (the address checked once `${VAR}` is substituted)."""
        from .executor import scheduler_address

        kind = self.get(top, "executor", (str,)) or "local"
        written = self.text(top, "scheduler", scope)
        address = ""
        if written is not None:
            address = scheduler_address(written) or ""
            if not address:
                self.error(("scheduler",), f"scheduler: '{top.data['scheduler']}' gives '{written}', not a Dask "
                                           "scheduler address: use tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786")
        key = "scheduler" if written is not None else "executor"
        mark = self.src.mark((key,)) if key in top.data else None
        return Executor(kind, address, mark)

    def _raw_tasks(self, scope: Mapping[str, str]) -> list[_Raw]:
        """Every task as written, in file order (`tasks:` and `groups:`), names checked unique."""
        entries: list[tuple[Path, Any, str | None]] = []
        for key in self.data:
            if key == "tasks" and isinstance(self.data["tasks"], list):
                entries.extend((("tasks", i), t, None) for i, t in enumerate(self.data["tasks"]))
            elif key == "groups" and isinstance(self.data["groups"], dict):
                for group, tasks in self.data["groups"].items():
                    if isinstance(tasks, list):
                        entries.extend((("groups", group, i), t, str(group)) for i, t in enumerate(tasks))
        raws: list[_Raw] = []
        seen: dict[str, Path] = {}
        for path, task, group in entries:
            if not isinstance(task, dict) or path in self.bad:
                continue
            f = self.fields(task, path)
            name = self.text(f, "name", scope)
            if name is None:
                continue
            if len(name) > MAX_NAME:
                self.error((*path, "name"), f"task name '{name[:40]}…' is {len(name):,} characters long: "
                           f"at most {MAX_NAME}")
                continue
            if NOT_IN_TASK_NAMES.search(name) or not name:
                self.error((*path, "name"), f"task name '{name}' (after substitution) is not valid: "
                           "use any text without / [ ] or control characters")
                continue
            if name in seen:
                first = self.src.mark((*seen[name], "name"))
                self.error((*path, "name"), f"duplicate task name '{name}' (first defined at line {first.line})")
                continue
            seen[name] = path
            raws.append(_Raw(f, name, group or self.get(f, "group", (str,)), self._deps(f, scope)))
        if not raws and not self.errors and not any(p[:1] in ((), ("tasks",), ("groups",)) for p in self.bad):
            where = ("tasks",) if "tasks" in self.data else ("groups",) if "groups" in self.data else ()
            self.error(where, "the pipeline has no tasks")
        return raws

    def _deps(self, f: _Fields, scope: Mapping[str, str]) -> list[tuple[str, Path]]:
        deps: list[tuple[str, Path]] = []
        path = f.path
        for key in ("depends_on", "depends"):
            value = self.get(f, key, (str, list))
            if isinstance(value, str):
                items: list[tuple[Any, Path]] = [(value, (*path, key))]
            else:
                items = [(v, (*path, key, j)) for j, v in enumerate(value or ())]
            for item, where in items:
                if isinstance(item, str):
                    name = item if "${" not in item else self.subst(where, item, scope)
                    if name is not None and all(name != d for d, _ in deps):
                        deps.append((name, where))
        return deps

    # --- one task -> TaskSpecs -----------------------------------------------------------

    def _expand(self, raw: _Raw, base: _TaskBase, doc: Document, pools: Mapping[str, int]) -> None:
        """Append the TaskSpec(s) `raw` becomes: itself, or instances + fan-in, or a sub-pipeline."""
        f, path, data = raw.f, raw.f.path, raw.f.data
        mark = self.src.mark(path)
        deps = tuple(d for d, _ in raw.deps)
        has_command = "command" in data or "script" in data
        if "pipeline" in data and has_command:
            self.error((*path, "pipeline"), f"task '{raw.name}' has both `command` and `pipeline`: "
                       "a task runs a command or a sub-pipeline, not both", key=True)
            return
        if not has_command and "pipeline" not in data:
            self.error(path, f"task '{raw.name}' has no `command` (or `pipeline:` to run a sub-pipeline)")
            return
        instances = self._instances(raw)
        if instances is None:
            return
        pool = self.text(f, "pool", base.scope)
        if pool is not None and pool not in pools:
            self.error((*path, "pool"), f"task '{raw.name}': pool '{pool}' is not defined in `pools:`"
                       f"{did_you_mean(pool, pools)}")
        if not instances:   # a plain task (or a dynamic foreach, expanded at run time)
            self._one(raw, raw.name, deps, {}, base, doc, mark, None, None)
            return
        names: list[str] = []
        for label, variables in instances:
            name = f"{raw.name}[{label}]"
            names.append(name)
            self._one(raw, name, deps, variables, base, doc, mark, raw.name, raw.name)
        doc.tasks.append(TaskSpec(name=raw.name, command=None, depends_on=tuple(names), group=raw.group,
                                  cwd=base.workdir, description=self.text(f, "description", base.scope) or "", mark=mark))
        raw.produced.append(raw.name)

    def _instances(self, raw: _Raw) -> list[tuple[str, dict[str, str]]] | None:
        """[(label, variables)] for a matrix or a static foreach; [] for neither; None on error."""
        f, path = raw.f, raw.f.path
        matrix = self.get(f, "matrix", (dict,))
        foreach = self.get(f, "foreach", (str, list))
        if matrix is not None and foreach is not None:
            self.error((*path, "foreach"), f"task '{raw.name}' has both `matrix` and `foreach`: use one", key=True)
            return None
        if isinstance(foreach, str):
            raw.foreach_target = (foreach, (*path, "foreach"))
            return []
        axes: list[tuple[str, list[str]]] = []
        if matrix:
            for axis, values in matrix.items():
                where = (*path, "matrix", axis)
                if isinstance(values, list) and where not in self.bad:
                    axes.append((axis, [self.as_written((*where, i), v) for i, v in enumerate(values)]))
        elif foreach:
            axes.append(("ITEM", [self.as_written((*path, "foreach", i), v) for i, v in enumerate(foreach)]))
        if not axes:
            return [] if matrix is None and foreach is None else None
        out: list[tuple[str, dict[str, str]]] = []
        seen: set[str] = set()
        for combo in itertools.product(*(values for _, values in axes)):
            variables = {axis: value for (axis, _), value in zip(axes, combo, strict=True)}
            if matrix:
                label = ",".join(f"{axis}={instance_label(value)}" for axis, value in variables.items())
            else:
                label = instance_label(combo[0])
            if label in seen:
                where = (*path, "matrix") if matrix else (*path, "foreach")
                self.error(where, f"task '{raw.name}': the instance '{raw.name}[{label}]' appears twice "
                           "(repeated values)")
                return None
            seen.add(label)
            out.append((label, variables))
        return out

    def _one(self, raw: _Raw, name: str, deps: tuple[str, ...], variables: dict[str, str], base: _TaskBase,
             doc: Document, mark: Mark, parent: str | None, template: str | None) -> None:
        """One command task or one sub-pipeline call named `name`."""
        f, data = raw.f, raw.f.data
        own_env = self.get(f, "env", (dict,))
        if own_env or variables:
            env = self.variables(f, "env", ChainMap(variables, base.scope), {}) if own_env else {}
            env.update(variables)
            scope: Mapping[str, str] = ChainMap(env, base.scope)
            task_env: Mapping[str, str] = {**base.shared_env, **env}
        else:
            scope, task_env = base.scope, base.shared_env
        if "pipeline" in data:
            self._call(raw, name, deps, variables, scope, doc, mark, parent, template)
            return
        command: str | tuple[str, ...] | None
        value = self.get(f, "command", (str, list))
        shell = self.text(f, "shell", scope) or base.shell
        script = self.get(f, "script", (str,))
        if isinstance(value, list):
            command = tuple(self.as_written((*f.path, "command", i), v) for i, v in enumerate(value))
        elif isinstance(value, str):
            command = value
        elif script is not None:
            command = shebang(script) or shell   # a bare `script:` runs with its #! line, else the shell
        else:
            return   # the schema already reported the command
        cwd = self.text(f, "cwd", scope)
        timeout = self.duration(f, "timeout", scope)
        retries = self.number(f, "retries", scope, "int")
        delay = self.duration(f, "retry_delay", scope)
        backoff = self.number(f, "retry_backoff", scope, "float")
        when = self.get(f, "when", (str,))
        log_limit = self.size(f, "log_limit", scope)
        foreach = raw.foreach_target[0] if raw.foreach_target else None
        doc.tasks.append(TaskSpec(
            name=name,
            command=command,
            depends_on=deps,
            env=task_env,
            cwd=os.path.normpath(os.path.join(base.workdir, os.path.expanduser(cwd))) if cwd else base.workdir,
            shell=shell,
            timeout=timeout or None,
            retry=RetryPolicy(int(retries or 0), delay or 0.0, float(backoff) if backoff is not None else 1.0),
            continue_on_failure=bool(self.get(f, "continue_on_failure", (bool,))),
            approval=bool(self.get(f, "approval", (bool,))),
            when=TriggerRule(when) if when else TriggerRule.ALL_SUCCESS,
            pool=self.text(f, "pool", scope),
            output=self.get(f, "output", (str,)),
            foreach=foreach,
            script=script,
            preconditions=self._preconditions(f, scope) if "preconditions" in data else (),
            log_limit=log_limit or base.log_limit,
            group=raw.group,
            parent=parent,
            template=template,
            variables=variables,
            description=self.text(f, "description", scope) or "",
            mark=mark,
        ))
        raw.produced.append(name)

    def _preconditions(self, f: _Fields, scope: Mapping[str, str]) -> tuple[Precondition, ...]:
        out: list[Precondition] = []
        path = f.path
        for j, item in enumerate(self.get(f, "preconditions", (list,)) or ()):
            where = (*path, "preconditions", j)
            if isinstance(item, str):
                condition = self.subst(where, item, scope)
                if condition is not None:
                    out.append(Precondition(condition))
            elif isinstance(item, dict) and isinstance(item.get("condition"), str) and where not in self.bad:
                condition = self.subst((*where, "condition"), item["condition"], scope)
                expected = item.get("expected")
                if expected is not None:
                    expected = self.subst((*where, "expected"), expected, scope)
                if condition is not None:
                    out.append(Precondition(condition, expected))
        return tuple(out)

    def _call(self, raw: _Raw, name: str, deps: tuple[str, ...], variables: dict[str, str],
              scope: Mapping[str, str], doc: Document, mark: Mark, parent: str | None,
              template: str | None) -> None:
        """A sub-pipeline: its tasks join as `name/step`; `name` becomes a virtual task over them."""
        f, path = raw.f, raw.f.path
        target = self.text(f, "pipeline", scope)
        if raw.foreach_target:
            self.error((*path, "foreach"), f"task '{raw.name}': `foreach` over a task's output cannot "
                       "call a sub-pipeline; use a static list or a matrix", key=True)
        sub_tasks: list[TaskSpec] = []
        if target:
            file = os.path.normpath(os.path.join(self.folder, os.path.expanduser(target)))
            params = dict(self.variables(f, "params", scope, {}))
            params.update(variables)
            if file in self.stack:
                chain = " -> ".join(os.path.basename(f) for f in (*self.stack[self.stack.index(file):], file))
                self.error((*path, "pipeline"), f"task '{raw.name}': sub-pipeline include cycle: {chain}")
            elif not self.exists(file):
                self.error((*path, "pipeline"), f"task '{raw.name}': sub-pipeline '{target}' not found "
                           f"(looked for {file})")
            else:
                sub = self.load_sub(file, params, self.stack, {**self.inherited_pools, **doc.pools})
                if sub is not None:
                    sub_tasks = _prefixed(sub.tasks, name, deps, raw.group)
                    for pool, size in sub.pools.items():
                        doc.pools.setdefault(pool, size)
                    doc.secrets = tuple(dict.fromkeys((*doc.secrets, *sub.secrets)))
        doc.tasks.extend(sub_tasks)
        doc.tasks.append(TaskSpec(
            name=name, command=None, cwd=doc.workdir,
            depends_on=tuple(t.name for t in sub_tasks) or deps,
            group=raw.group, parent=parent, template=template, variables=variables,
            description=self.text(f, "description", scope) or "", mark=mark))
        raw.produced.extend(t.name for t in sub_tasks)
        raw.produced.append(name)

    # --- graph checks --------------------------------------------------------------------

    def _check_graph(self, raws: list[_Raw], doc: Document) -> None:
        """Unknown names (with "did you mean"), cycles as `a -> b -> a`, foreach upstream."""
        known = {name for raw in raws for name in raw.produced}
        written = [raw.name for raw in raws]
        by_name = {raw.name: raw for raw in raws}
        graph: dict[str, list[str]] = {}
        for raw in raws:
            ups: list[str] = []
            for dep, where in raw.deps:
                up = by_name.get(owner(dep))
                if dep in known or (up is not None and not up.produced):
                    ups.append(owner(dep))   # a task that failed to build was reported already
                elif up is not None:
                    self.error(where, f"task '{raw.name}': depends_on '{dep}' is not a task"
                               f"{did_you_mean(dep, up.produced)}")
                else:
                    self.error(where, f"task '{raw.name}': depends_on '{dep}' is not a task"
                               f"{did_you_mean(dep, written)}")
            graph[raw.name] = ups
        cycles = find_cycles(graph)
        for cycle in cycles:
            first = by_name[cycle[0]]
            self.error(first.f.path, "dependency cycle: " + " -> ".join(cycle))
        if not cycles:
            self._check_outputs(raws, graph)
        for raw in raws:
            if raw.foreach_target is None:
                continue
            target, where = raw.foreach_target
            if owner(target) not in by_name:
                self.error(where, f"task '{raw.name}': foreach '{target}' is not a task{did_you_mean(target, written)}")
            elif owner(target) not in _ancestors(graph, raw.name):
                self.error(where, f"task '{raw.name}': foreach '{target}' is not upstream of it: "
                           f"add '{target}' to its depends_on")


    def _check_outputs(self, raws: list[_Raw], graph: Mapping[str, list[str]]) -> None:
        """A task that reads another task's `output` must run after it, or it reads nothing: warn.

        The most common way a Dagu file written for a chain goes wrong as a graph; a likely bug
        in any pipeline. Read means `$NAME` / `${NAME}` outside single quotes in the command,
        the script or a precondition.
        """
        outputs: dict[str, str] = {}
        for raw in raws:
            name = self.get(raw.f, "output", (str,))
            if name:
                outputs.setdefault(name, raw.name)
        if not outputs:
            return
        downstream: dict[str, set[str]] = {}   # of each task whose output is read: few of them
        down: dict[str, list[str]] = {}
        for name, ups in graph.items():
            for up in ups:
                down.setdefault(up, []).append(name)
        for raw in raws:
            for path, text in _shell_texts(raw.f):
                for match in _VAR_REF.finditer(unquoted(text)):
                    owner_name = outputs.get(match.group(1))
                    if owner_name is None or owner_name == raw.name:
                        continue
                    if owner_name not in downstream:
                        downstream[owner_name] = _ancestors(down, owner_name)   # reversed: descendants
                    if raw.name not in downstream[owner_name]:
                        mark = self.src.find(path, match.group(0))
                        written = match.group(0) + ("}" if match.group(0).startswith("${") else "")
                        self.notes.append(
                            f"{mark}: warning: task '{raw.name}' reads {written}, the output of "
                            f"'{owner_name}', which is not upstream of it: it runs without that value "
                            f"(empty) unless it waits for '{owner_name}' (add it to its dependencies)")


_VAR_REF = re.compile(r"(?<![$\\])\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_SINGLE_QUOTED = re.compile(r"'[^']*'")


def unquoted(shell_text: str) -> str:
    """Shell text without its single-quoted parts, where `$` means nothing (`awk '{print $1}'`)."""
    return _SINGLE_QUOTED.sub("''", shell_text)


def _shell_texts(f: _Fields) -> list[tuple[Path, str]]:
    """The shell text of a task as written, with where each piece is: command, script, preconditions."""
    data, path = f.data, f.path
    out: list[tuple[Path, str]] = []
    command = data.get("command")
    if isinstance(command, str):
        out.append(((*path, "command"), command))
    elif isinstance(command, list):
        out.extend(((*path, "command", i), v) for i, v in enumerate(command) if isinstance(v, str))
    if isinstance(data.get("script"), str):
        out.append(((*path, "script"), data["script"]))
    preconditions = data.get("preconditions")
    for i, item in enumerate(preconditions if isinstance(preconditions, list) else ()):
        condition = item.get("condition") if isinstance(item, dict) else item
        if isinstance(condition, str):
            out.append(((*path, "preconditions", i), condition))
    return out


def shebang(script: str) -> str | None:
    """The interpreter a script's `#!` line names (`/usr/bin/env python3`), as Dagu and a kernel read it."""
    if script.startswith("#!"):
        return script[2:].partition("\n")[0].strip() or None
    return None


@dataclass(eq=False)
class _TaskBase:
    """What every task of a document starts from."""

    scope: Mapping[str, str]
    shared_env: Mapping[str, str]
    shell: str
    workdir: str
    log_limit: int


def _prefixed(tasks: list[TaskSpec], caller: str, deps: tuple[str, ...], group: str | None) -> list[TaskSpec]:
    """A sub-pipeline's tasks renamed `caller/x`; its roots get the caller's dependencies."""
    out = []
    for t in tasks:
        out.append(replace(
            t,
            name=f"{caller}/{t.name}",
            depends_on=tuple(f"{caller}/{d}" for d in t.depends_on) if t.depends_on else deps,
            parent=f"{caller}/{t.parent}" if t.parent else caller,
            template=f"{caller}/{t.template}" if t.template else None,
            foreach=f"{caller}/{t.foreach}" if isinstance(t.foreach, str) else t.foreach,
            group=t.group or group,
        ))
    return out


def _ancestors(graph: Mapping[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return seen


def _stem(file: str) -> str:
    base = os.path.basename(file)
    for ext in (".yaml", ".yml"):
        if base.endswith(ext):
            return base[: -len(ext)]
    return base
