"""Dagu DAG files -> tuiflow's native pipeline data, before the schema sees it.

A file whose top level has `steps:` (or keys only Dagu has) is Dagu's. `translate` rewrites
it into the native form of docs/pipeline-language.md (tasks, depends_on, max_parallel, ...)
and carries every source position over to the new paths, so that a problem the loader finds
later (a bad duration, an unknown dependency, a duplicate name) still points at the line the
person wrote. Everything Dagu-specific is decided here: camelCase and snake_case spellings,
`type: chain`, ids, shorthand steps and parallel groups, the many shapes of `params` and
`env`, sub-DAGs (`run:` / `call:`, also the later YAML documents of the same file),
positional params. Any key tuiflow does not run is an error that names it as a Dagu feature;
nothing is silently dropped, except what tuiflow ignores in its own format too: `x-` keys, a
place for YAML anchors. What tuiflow runs differently from Dagu (no `type:`) is a note.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from .documents import shebang, unquoted
from .errors import Mark, PipelineError, did_you_mean
from .yamlsource import Path, Source

# --- the keys -------------------------------------------------------------------------

#: DAG-level keys tuiflow understands, with the native key each one becomes.
DAG_KEYS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "group": "group",
    "type": "type",
    "env": "env",
    "params": "params",
    "steps": "tasks",
    "maxActiveSteps": "max_parallel",
    "max_active_steps": "max_parallel",
    "maxCleanUpTimeSec": "kill_grace",
    "max_clean_up_time_sec": "kill_grace",
    "shell": "shell",
    "working_dir": "workdir",
    "workingDir": "workdir",
}

#: Step-level keys tuiflow understands, with the native key each one becomes.
STEP_KEYS: dict[str, str] = {
    "name": "name",
    "id": "id",
    "description": "description",
    "command": "command",
    "script": "script",
    "shell": "shell",
    "depends": "depends_on",
    "depends_on": "depends_on",
    "output": "output",
    "env": "env",
    "dir": "cwd",
    "working_dir": "cwd",
    "workingDir": "cwd",
    "continueOn": "continue_on_failure",
    "continue_on": "continue_on_failure",
    "retryPolicy": "retry",
    "retry_policy": "retry",
    "preconditions": "preconditions",
    "precondition": "preconditions",
    "run": "pipeline",
    "call": "pipeline",
    "params": "params",
    "group": "group",
    "timeoutSec": "timeout",
    "timeout_sec": "timeout",
}

CONTINUE_ON_KEYS = {"failure": "continue_on_failure", "skipped": ""}
RETRY_KEYS = {"limit": "retries", "intervalSec": "retry_delay", "interval_sec": "retry_delay",
              "backoff": "retry_backoff"}
PRECONDITION_KEYS = ("condition", "expected", "command")
#: The keys of one typed param (`- name: X, type: string, default: a`).
TYPED_PARAM_KEYS = frozenset({"name", "type", "default", "required", "description", "enum"})

_SCHEDULES = "cron schedules"
_MAIL = "e-mail notifications"
_LOGS = "Dagu's own log storage"
_QUEUES = "run queues and limits across runs"
_REMOTE = "containers, remote hosts and workers"
_EXECUTORS = "executors (docker, http, ssh, mail, jq...)"

#: Real Dagu keys that tuiflow does not run, with the feature each belongs to: named as such
#: instead of "unknown".
DAG_UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(("schedule", "skipIfSuccessful", "skip_if_successful", "stop_schedule",
                     "restart_schedule", "restartWaitSec", "restart_wait_sec"), _SCHEDULES),
    **dict.fromkeys(("smtp", "mailOn", "mail_on", "errorMail", "error_mail", "infoMail", "info_mail"), _MAIL),
    **dict.fromkeys(("logDir", "log_dir", "histRetentionDays", "hist_retention_days", "maxOutputSize",
                     "max_output_size", "logOutput", "log_output"), _LOGS),
    **dict.fromkeys(("maxActiveRuns", "max_active_runs", "queue", "queues"), _QUEUES),
    **dict.fromkeys(("container", "ssh", "registryAuths", "registry_auths", "workerSelector",
                     "worker_selector"), _REMOTE),
    "dotenv": ".env files",
    "handlerOn": "lifecycle handlers", "handler_on": "lifecycle handlers",
    "timeoutSec": "a time limit for the whole run", "timeout_sec": "a time limit for the whole run",
    "delaySec": "a delay before the run", "delay_sec": "a delay before the run",
    "precondition": "preconditions of the whole DAG", "preconditions": "preconditions of the whole DAG",
    "tags": "tags", "otel": "OpenTelemetry tracing", "secrets": "secret providers",
    "runConfig": "run settings of Dagu's web UI", "run_config": "run settings of Dagu's web UI",
    "defaults": "step defaults", "harness": "test harnesses", "artifacts": "artifacts",
    "step_types": "custom step types", "stepTypes": "custom step types",
}
STEP_UNSUPPORTED: dict[str, str] = {
    "executor": _EXECUTORS, "type": _EXECUTORS, "with": _EXECUTORS, "shellPackages": "shell packages",
    "shell_packages": "shell packages",
    "stdout": "writing output to files", "stderr": "writing output to files",
    "log_output": "writing output to files",
    "repeatPolicy": "repeating steps", "repeat_policy": "repeating steps",
    "mailOnError": _MAIL, "mail_on_error": _MAIL,
    "signalOnStop": "a custom stop signal", "signal_on_stop": "a custom stop signal",
    "parallel": "parallel runs of a sub-DAG", "foreach": "parallel runs over a list",
    "workerSelector": _REMOTE, "worker_selector": _REMOTE, "container": _REMOTE,
    "env_file": ".env files", "approval": "waiting for a person's approval",
    "router": "routing", "routes": "routing", "value": "routing",
    "llm": "LLM steps", "messages": "LLM steps", "agent": "LLM steps",
}
CONTINUE_ON_UNSUPPORTED = {**dict.fromkeys(("exitCode", "exit_code"), "continuing on chosen exit codes"),
                           "output": "continuing on matching output",
                           **dict.fromkeys(("markSuccess", "mark_success"), "marking a failure as success")}
RETRY_UNSUPPORTED = {**dict.fromkeys(("exitCode", "exit_code"), "retrying on chosen exit codes"),
                     **dict.fromkeys(("maxIntervalSec", "max_interval_sec"), "a cap on the retry interval")}

#: Keys only a Dagu DAG has at its top level: a file with one of them (and no `tasks`) is Dagu's,
#: even without `steps` (a base configuration, a fixture).
DAGU_ONLY_KEYS = frozenset(DAG_KEYS.keys() - {"name", "description", "env", "params", "shell", "group"}
                           | DAG_UNSUPPORTED.keys() - {"secrets"})


def is_dagu(data: object) -> bool:
    """Whether a document is a Dagu DAG: `steps:`; or no `tasks`/`groups` but a key only Dagu has,
    or Dagu's shapes of `env` (a list) or `params` (a string or a list)."""
    if not isinstance(data, dict) or "tasks" in data or "groups" in data:
        return False
    return ("steps" in data or any(isinstance(k, str) and k in DAGU_ONLY_KEYS for k in data)
            or isinstance(data.get("env"), list) or isinstance(data.get("params"), str | list))


_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"})
# `$NAME` (Dagu expands it everywhere); tuiflow substitutes `${NAME}` outside commands.
_BARE_VAR = re.compile(r"(?<![$\\])\$([A-Za-z_][A-Za-z0-9_]*)")
# A reference to a shell positional parameter: $1, ${2}, $@, $*, $#.
_POSITIONAL_REF = re.compile(r"\$(?:\{?[0-9]|[@*#])")
_POSITIONAL_VALUE = re.compile(r"(?<![$\\])\$(?:([1-9])|\{([1-9][0-9]*)\})")
# One `K=V` or `V` item of a Dagu params string; values may be "double quoted".
_PARAM_ITEM = re.compile(r'(?:([^\s="]+)=)?("(?:\\"|[^"])*"|`[^`]*`|[^"\s]+)')
# Dagu's references into a value: `${STEP.outputs.x}`, `${VAR.path.to.field}`, `${step.stdout}`.
_DOTTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_-]*\.[^}]*\}")
# A `${...}` that tuiflow's substitution understands: NAME, NAME:-default, NAME-default.
_SIMPLE_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-[^}]*)?\}")
_ANY_REF = re.compile(r"(?<!\$)\$\{[^}]*\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# characters a task name cannot hold (`caller/step` and `task[item]` are tuiflow's own)
_NAME_CHARS = re.compile(r"[/\[\]]")


def _typename(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _scalar(value: Any) -> str:
    """A YAML scalar as the string a shell would see (`true`, `3`, `1.5`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _braced(text: str) -> str:
    """Rewrite Dagu's bare `$NAME` into `${NAME}`, the form tuiflow substitutes."""
    return _BARE_VAR.sub(r"${\1}", text)


# --- position bookkeeping ------------------------------------------------------------


class _Out:
    """The native document under construction plus its marks, remapped from the Dagu ones."""

    def __init__(self, src: Source):
        self.src = src
        self.marks: dict[Path, Mark] = {(): src.mark(())}
        self.key_marks: dict[Path, Mark] = {}
        self.errors: list[PipelineError] = []
        self.notes: list[str] = []
        self.named_params: list[str] = []   # the DAG's params when every one has a name
        # direct children of every source path, so a subtree is copied without a full scan
        self._children: dict[Path, list[Path]] = {}
        for path in {*src.marks, *src.key_marks}:
            if path:
                self._children.setdefault(path[:-1], []).append(path)

    def error(self, old: Path, message: str, key: bool = False) -> None:
        self.errors.append(PipelineError.at(self.src.mark(old, key=key), message, self.src.file))

    def error_at(self, old: Path, needle: str, message: str) -> None:
        """An error at the place inside the value at `old` where `needle` is written."""
        self.errors.append(PipelineError.at(self.src.find(old, needle), message, self.src.file))

    def unsupported(self, old: Path, key: str, what: str, where: str) -> None:
        self.error(old, f"{where}unsupported Dagu key '{key}' ({what}): a Dagu feature tuiflow "
                   "does not run; remove it", key=True)

    def link(self, new: Path, old: Path, deep: bool = False) -> None:
        """The value at native `new` came from Dagu `old`: give it `old`'s positions."""
        self.marks[new] = self.src.mark(old)
        self.key_marks[new] = self.src.mark(old, key=True)
        if deep:
            for child in self._children.get(old, ()):
                self.link(new + child[len(old):], child, deep=True)


# --- translation ---------------------------------------------------------------------


class Translation(NamedTuple):
    """A Dagu file in native form: its first document, the problems, the notes, its sub-DAGs."""

    source: Source
    errors: list[PipelineError]
    notes: list[str]
    #: the later YAML documents (sub-DAGs callable by name), by the file name `run:` resolves to
    subdags: dict[str, Source]


def subdag_file(file: str, name: str) -> str:
    """The name the loader knows a sub-DAG document by: `/dir/dag.yaml#name`."""
    return f"{os.path.abspath(file)}#{name}"


def translate(src: Source, later: Sequence[Source] = ()) -> Translation:
    """Rewrite a Dagu file (its first document and the `later` ones) into native tuiflow data.

    Positions are kept. Returns the native form of every document and the Dagu-level problems
    (unsupported or unknown keys, wrong shapes) and notes (what tuiflow does differently); the
    native data still goes through the schema and graph checks.
    """
    local: dict[str, str] = {}
    errors: list[PipelineError] = []
    for doc in later:
        name = doc.data.get("name") if isinstance(doc.data, dict) else None
        if not isinstance(name, str) or not name.strip():
            errors.append(PipelineError.at(doc.mark(()), "a Dagu sub-DAG after `---` needs a `name:` "
                                           "(steps call it with `call: NAME`)", doc.file))
        elif name in local:
            errors.append(PipelineError.at(doc.mark(("name",)), f"a sub-DAG named {name!r} is already "
                                           "defined in this file", doc.file))
        else:
            local[name] = os.path.basename(subdag_file(doc.file, name))
    main = _translate(src, local)
    errors.extend(main.errors)
    notes = list(main.notes)
    subdags: dict[str, Source] = {}
    for doc in later:
        name = doc.data.get("name") if isinstance(doc.data, dict) else None
        if isinstance(name, str) and local.get(name) and subdag_file(doc.file, name) not in subdags:
            sub = _translate(doc, local)
            errors.extend(sub.errors)
            notes.extend(sub.notes)
            subdags[subdag_file(doc.file, name)] = sub.source
    errors.sort(key=lambda e: (e.line, e.col))
    return Translation(main.source, errors, notes, subdags)


def _translate(src: Source, local: Mapping[str, str]) -> Translation:
    out = _Out(src)
    doc = src.data
    if not isinstance(doc, dict):
        out.error((), f"a Dagu file must be a mapping with 'steps', not {_typename(doc)}")
        return Translation(replace(src, data={}, marks=out.marks, key_marks=out.key_marks), out.errors, [], {})
    native: dict[str, Any] = {}
    for key in doc:
        if not isinstance(key, str) or key not in DAG_KEYS and not key.startswith("x-"):
            _unknown_key(out, (key,), key, DAG_KEYS, DAG_UNSUPPORTED, "")
    _one_spelling(out, doc, (), DAG_KEYS, "")
    shell = doc.get("shell") if isinstance(doc.get("shell"), str) else None

    for key in ("name", "description"):
        if key in doc:
            native[key] = doc[key]
            out.link((key,), (key,))
    for dkey, nkey in (("maxActiveSteps", "max_parallel"), ("max_active_steps", "max_parallel"),
                       ("maxCleanUpTimeSec", "kill_grace"), ("max_clean_up_time_sec", "kill_grace"),
                       ("shell", "shell"), ("working_dir", "workdir"), ("workingDir", "workdir")):
        if dkey in doc:
            value = doc[dkey]
            native[nkey] = _braced(value) if isinstance(value, str) else value
            out.link((nkey,), (dkey,))
    group = doc.get("group")
    if group is not None and not isinstance(group, str):
        out.error(("group",), f"'group' must be a string, not {_typename(group)}")
        group = None

    flow = doc.get("type")
    if flow is not None and flow not in ("graph", "chain"):
        out.error(("type",), f"type {flow!r} is not supported: use 'graph' (the default) or 'chain'"
                  + (did_you_mean(flow, ("graph", "chain")) if isinstance(flow, str) else ""))
        flow = "graph"

    positional: list[int] = []
    if "params" in doc:
        params, positional = _params(out, ("params",), ("params",))
        native["params"] = params
        if not positional:
            out.named_params = list(params)
    if "env" in doc:
        native["env"] = _env(out, ("env",), ("env",))

    items = _step_items(out, doc)
    tasks: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    renamed: dict[str, str] = {}
    for index, (old, step, key_name, _) in enumerate(items):
        new = ("tasks", index)
        out.link(new, old)
        tasks.append(_step(out, step, old, new, key_name, index, group, shell, positional, ids, renamed,
                           local))
    _resolve_ids(tasks, ids, renamed)
    if flow == "chain":
        _chain(out, tasks, [item[3] for item in items])
    elif flow is None:
        _note_no_type(out, tasks, items)
    native["tasks"] = tasks
    out.link(("tasks",), ("steps",))
    if "steps" not in doc:
        out.error((), "a Dagu DAG needs `steps:` (this file has none: a Dagu base configuration or "
                  "a fragment is not something tuiflow runs on its own)")
    out.errors.sort(key=lambda e: (e.line, e.col))
    source = replace(src, data=native, marks=out.marks, key_marks=out.key_marks)
    return Translation(source, out.errors, out.notes, {})


def _step_items(out: _Out, doc: dict[str, Any]) -> list[tuple[Path, Any, str | None, int]]:
    """Every step as (its path, its value, the mapping key naming it, its position in the order).

    Steps are a list or a mapping of name -> step; a list item may be a string (the command)
    or a list of steps that run side by side (one position in the order).
    """
    steps = doc.get("steps")
    if "steps" not in doc:
        return []
    if isinstance(steps, dict):  # newer Dagu: `steps: {name: {...}}`
        return [(("steps", k), v, k, i) for i, (k, v) in enumerate(steps.items())]
    if not isinstance(steps, list):
        out.error(("steps",), f"'steps' must be a list of steps, not {_typename(steps)}")
        return []
    items: list[tuple[Path, Any, str | None, int]] = []
    for i, step in enumerate(steps):
        if isinstance(step, list):
            items.extend((("steps", i, j), sub, None, i) for j, sub in enumerate(step))
        else:
            items.append((("steps", i), step, None, i))
    return items


def _note_no_type(out: _Out, tasks: list[dict[str, Any]], items: list[tuple[Path, Any, str | None, int]]) -> None:
    """No `type:` and several steps without `depends`: say that they start at once, unlike Dagu 1.17+."""
    roots = [t["name"] for t in tasks if "depends_on" not in t and isinstance(t.get("name"), str)]
    if len(roots) < 2:
        return
    shown = ", ".join(repr(r) for r in roots[:4]) + (f" and {len(roots) - 4} more" if len(roots) > 4 else "")
    mark = out.src.mark(("steps",), key=True)
    out.notes.append(f"{mark}: note: no `type:`, so tuiflow runs this DAG as a graph: the {len(roots)} "
                     f"steps without `depends` ({shown}) start at once. Dagu 1.17 and later run a file "
                     "without `type` as a chain, each step after the one before: write `type: chain` "
                     "for that order, or `type: graph` to keep this one and drop this note")


def _unknown_key(out: _Out, old: Path, key: Any, known: Iterable[str],
                 unsupported: Mapping[str, str], where: str) -> None:
    """Report a key nobody handles: a Dagu feature tuiflow lacks, or a probable typo."""
    if isinstance(key, str) and key in unsupported:
        out.unsupported(old, key, unsupported[key], where)
    else:
        hint = did_you_mean(key, known) if isinstance(key, str) else ""
        out.error(old, f"{where}unknown key {key!r}{hint}", key=True)


def _one_spelling(out: _Out, mapping: dict[str, Any], old: Path, keys: dict[str, str], where: str) -> None:
    """Two spellings of one key (`depends` and `depends_on`) would silently drop one: an error."""
    seen: dict[str, str] = {}
    for key in mapping:
        target = keys.get(key) if isinstance(key, str) else None
        if target is None or target in ("preconditions", "name"):  # Dagu merges precondition(s)
            continue
        if target in seen:
            out.error(old + (key,), f"{where}'{key}' and '{seen[target]}' mean the same; keep one",
                      key=True)
        else:
            seen[target] = key


def _default_name(step: Any, index: int) -> str:
    """Dagu's name for an unnamed step: `cmd_3`, `script_3`, `dag_3` (its position, from 1)."""
    kind = "cmd"
    if isinstance(step, dict):
        if "run" in step or "call" in step:
            kind = "dag"
        elif "script" in step and "command" not in step:
            kind = "script"
    return f"{kind}_{index + 1}"


def _step(out: _Out, step: Any, old: Path, new: Path, key_name: str | None, index: int,
          group: str | None, shell: str | None, positional: list[int],
          ids: dict[str, str], renamed: dict[str, str], local: Mapping[str, str]) -> dict[str, Any]:
    """One Dagu step -> one native task (dependencies on ids resolved later)."""
    if isinstance(step, str):  # shorthand: the string is the command
        step = {"command": step}
    elif not isinstance(step, dict):
        out.error(old, f"step {index + 1} must be a command or a mapping with a command, not {_typename(step)}")
        return {"name": key_name or _default_name(None, index), "command": None}
    task: dict[str, Any] = {}
    name = step.get("name", key_name)
    if name is None and isinstance(step.get("id"), str):
        name = step["id"]
    if name is None:
        name = _default_name(step, index)
    if isinstance(name, int | float) and not isinstance(name, bool):
        name = str(name)  # `name: 1` unquoted is still the step called "1"
    if isinstance(name, str) and _NAME_CHARS.search(name):
        # `/`, `[` and `]` have a meaning in tuiflow's names; Dagu's step keeps its own in DAG_RUN_STEP_NAME
        renamed[name] = _NAME_CHARS.sub("_", name)
        name = renamed[name]
    task["name"] = name
    out.link(new + ("name",), old + (("name",) if "name" in step else ()))
    if "name" not in step and key_name is not None:  # `steps: {name: {...}}`: the key is the name
        out.marks[new + ("name",)] = out.src.mark(old, key=True)
    where = f"step {name!r}: " if isinstance(name, str) else f"step {index + 1}: "

    for key in step:
        if not isinstance(key, str) or key not in STEP_KEYS and not key.startswith("x-"):
            _unknown_key(out, old + (key,), key, STEP_KEYS, STEP_UNSUPPORTED, where)
    _one_spelling(out, step, old, STEP_KEYS, where)
    if "id" in step:
        sid = step["id"]
        if not isinstance(sid, str) or not sid:
            out.error(old + ("id",), f"{where}'id' must be a non-empty string")
        elif sid in ids and ids[sid] != name:
            out.error(old + ("id",), f"{where}id {sid!r} is already used by step {ids[sid]!r}")
        else:
            ids[sid] = name

    def copy(dkeys: Iterable[str], nkey: str, convert: Callable[[Any], Any] | None = None) -> None:
        for dkey in dkeys:
            if dkey in step:
                value = step[dkey]
                task[nkey] = convert(value) if convert else value
                out.link(new + (nkey,), old + (dkey,), deep=True)

    copy(("description",), "description")
    copy(("group",), "group")
    if "group" not in task and group is not None:
        task["group"] = group  # DAG-level group: the folder its steps show in
        out.link(new + ("group",), ("group",))
    copy(("output",), "output", lambda v: v[1:] if isinstance(v, str) and v.startswith("$") else v)
    if isinstance(task.get("output"), str) and not _NAME.fullmatch(task["output"]):
        out.error(old + ("output",), f"{where}output {step['output']!r}: a variable name built from "
                  "other values is a Dagu feature tuiflow does not run; name it with letters, digits and _")
        del task["output"]
    copy(("dir", "working_dir", "workingDir"), "cwd", lambda v: _braced(v) if isinstance(v, str) else v)
    copy(("timeoutSec", "timeout_sec"), "timeout")
    copy(("shell",), "shell")
    copy(("depends", "depends_on"), "depends_on",
         lambda v: [v] if isinstance(v, str) else v)
    if task.get("depends_on", ()) is None:
        del task["depends_on"]  # `depends:` left empty means no explicit dependencies
    if "depends_on" in task and isinstance(step.get("depends", step.get("depends_on")), str):
        dkey = "depends" if "depends" in step else "depends_on"
        out.link(new + ("depends_on", 0), old + (dkey,))
    if "env" in step:
        task["env"] = _env(out, old + ("env",), new + ("env",))

    _command(out, step, old, new, task, where, shell, positional)
    _policy(out, step, old, new, task, where, ("continueOn", "continue_on"), CONTINUE_ON_KEYS,
            CONTINUE_ON_UNSUPPORTED, "{failure: true}")
    _policy(out, step, old, new, task, where, ("retryPolicy", "retry_policy"), RETRY_KEYS,
            RETRY_UNSUPPORTED, "{limit: 3, intervalSec: 5}")
    _preconditions(out, step, old, new, task, where, positional)
    _sub_dag(out, step, old, new, task, where, local)
    return task


def _command(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
             where: str, shell: str | None, positional: list[int]) -> None:
    """`command` (+ `script`), with Dagu's positional params made visible as $1, $2..."""
    command = step.get("command")
    script = step.get("script")
    path = old + (("command",) if "command" in step else ())  # a shorthand step is its command
    for dkey, text in (("command", command), ("script", script)):
        if isinstance(text, str):
            _check_references(out, old + (dkey,) if dkey in step else path, text, where, bool(positional))
    if "script" in step:
        if not isinstance(script, str):
            out.error(old + ("script",), f"{where}'script' must be a string, not {_typename(script)}")
            script = None
        else:
            # without `command`, Dagu (and tuiflow) run the script with its #! line, else the shell
            interpreter = command if isinstance(command, str) else (
                shebang(script) or step.get("shell") or shell or "sh")
            words = str(interpreter).split()
            if positional and words and os.path.basename(words[0]) in _SHELLS \
                    and _POSITIONAL_REF.search(script):
                first, nl, rest = script.partition("\n")
                script = (first + nl + _set_positional(positional) + rest if first.startswith("#!")
                          else _set_positional(positional) + script)
            task["script"] = script
            out.link(new + ("script",), old + ("script",))
    if "command" in step:
        if isinstance(command, str) and script is None and positional and _POSITIONAL_REF.search(command):
            command = _set_positional(positional) + command
        task["command"] = command
        out.link(new + ("command",), path, deep=True)
    elif "script" not in step and "run" not in step and "call" not in step:
        if not any(key in STEP_UNSUPPORTED for key in step):  # an executor's step was reported already
            out.error(old, f"{where}a step needs 'command', 'script' or 'run'")
        task["command"] = ":"   # never runs (the file has errors); spares a second message


def _check_references(out: _Out, old: Path, text: str, where: str, positional: bool) -> None:
    """Dagu forms a shell cannot expand: refused where they are written, not left to fail at run time.

    `${STEP.outputs.x}` and `${VAR.path}` read into a step's result or a JSON value; `$1`
    in a file whose params all have names would be empty here.
    """
    shell_text = unquoted(text)
    for match in _DOTTED.finditer(shell_text):
        out.error_at(old, match.group(0), f"{where}'{match.group(0)}': references into a step's result "
                     "or a JSON value are a Dagu feature tuiflow does not run; pass the value in its own "
                     "`output:` variable and read that ($NAME)")
    named_only = out.named_params
    if named_only and not positional:
        match = re.search(r"(?<![$\\])\$\{?([1-9])\b", shell_text)
        if match:
            out.error_at(old, match.group(0), f"{where}'{match.group(0)}' reads a positional param, "
                         f"but every param of this DAG has a name ({', '.join(named_only)}): reading "
                         f"named params by position is a Dagu feature tuiflow does not run; write "
                         f"${named_only[0]}")


def _set_positional(positional: list[int]) -> str:
    """Shell code that makes Dagu's positional params the shell's own $1, $2...

    Positional param n is the native param `ARGn` (a name a shell can read, and that
    `--param ARG1=x` overrides); `set --` turns them back into positional arguments, so
    `$1`, `"$@"` and `shift` behave as in Dagu.
    """
    args = (f'"$ARG{n}"' if n in positional else '""' for n in range(1, max(positional) + 1))
    return "set -- " + " ".join(args) + "\n"


def _run_time(condition: str, positional: list[int]) -> str:
    """A Dagu condition, kept for the shell to expand when the step is about to start.

    It may name outputs of upstream steps, which exist only then, so every `${` is escaped
    (`$${`) from tuiflow's load-time substitution; `$1` / `${1}` become `${ARGn}`.
    """
    def sub(match: re.Match[str]) -> str:
        n = int(match.group(1) or match.group(2))
        return f"${{ARG{n}}}" if n in positional else match.group(0)
    return _POSITIONAL_VALUE.sub(sub, condition.replace("$${", "${")).replace("${", "$${")


def _policy(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any], where: str,
            spellings: tuple[str, str], keys: Mapping[str, str], unsupported: Mapping[str, str],
            example: str) -> None:
    """`continueOn` / `retryPolicy`: a mapping whose keys become native task keys."""
    for dkey in spellings:
        if dkey not in step:
            continue
        value = step[dkey]
        path = old + (dkey,)
        if not isinstance(value, dict):
            out.error(path, f"{where}'{dkey}' must be a mapping like {example}, not {_typename(value)}")
            continue
        for key, item in value.items():
            nkey = keys.get(key) if isinstance(key, str) else None
            if nkey is None:
                _unknown_key(out, path + (key,), key, keys, unsupported, f"{where}{dkey}: ")
                continue
            item = _policy_value(out, path, dkey, key, item, where)
            if nkey and item is not None:
                task[nkey] = item
                out.link(new + (nkey,), path + (key,))


def _policy_value(out: _Out, path: Path, dkey: str, key: str, item: Any, where: str) -> Any:
    """One policy value in native form; None when it is reported or means nothing natively."""
    if key in CONTINUE_ON_KEYS:
        if not isinstance(item, bool):
            out.error(path + (key,), f"{where}{dkey}.{key} must be true or false, not {_typename(item)}")
            return None
        if key == "skipped":
            # `skipped: true` is what tuiflow always does: a skipped task counts as succeeded for
            # its downstream. `skipped: false` (Dagu's default) cannot be honoured.
            if not item:
                out.error(path + (key,), f"{where}{dkey}.skipped: false is not supported: in tuiflow "
                          "a skipped step always lets its downstream run")
            return None
        return item
    if key == "backoff" and isinstance(item, bool):
        return 2.0 if item else 1.0  # Dagu: `backoff: true` doubles the interval
    if isinstance(item, str):
        item = _braced(item)
        if item.strip().isdigit():
            return int(item)
    return item


def _preconditions(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
                   where: str, positional: list[int]) -> None:
    """`preconditions` / `precondition`: one or a list of `{condition, expected}`, `{command}` or strings."""
    result: list[dict[str, Any]] = []
    for dkey in ("preconditions", "precondition"):
        if dkey not in step:
            continue
        value = step[dkey]
        items: list[tuple[Any, Path]]
        if isinstance(value, list):
            items = [(item, old + (dkey, i)) for i, item in enumerate(value)]
        else:
            items = [(value, old + (dkey,))]
        for item, path in items:
            npath = new + ("preconditions", len(result))
            condition = item if isinstance(item, str) else item.get("condition", item.get("command")) \
                if isinstance(item, dict) else None
            if isinstance(condition, str):
                _check_references(out, path, condition, where, True)
            if isinstance(item, str):
                result.append({"condition": _run_time(item, positional)})
                out.link(npath, path)
                out.link(npath + ("condition",), path)
            elif isinstance(item, dict):
                for key in item:
                    if key not in PRECONDITION_KEYS:
                        _unknown_key(out, path + (key,), key, PRECONDITION_KEYS, {}, f"{where}{dkey}: ")
                if "command" in item:  # Dagu: a command that must exit 0
                    if "condition" in item or "expected" in item:
                        out.error(path + ("command",), f"{where}a precondition has either 'command' or "
                                  "'condition' (with 'expected'), not both", key=True)
                        continue
                    result.append({"condition": _run_time(_scalar(item["command"]), positional)})
                    out.link(npath, path)
                    out.link(npath + ("condition",), path + ("command",))
                    continue
                if "condition" not in item:
                    out.error(path, f"{where}a precondition needs 'condition' or 'command'")
                    continue
                entry = {k: _scalar(item[k]) for k in PRECONDITION_KEYS if k in item}
                entry["condition"] = _run_time(entry["condition"], positional)
                result.append(entry)
                out.link(npath, path, deep=True)
            else:
                out.error(path, f"{where}a precondition is a string, {{command}} or {{condition, expected}}, "
                          f"not {_typename(item)}")
    if result:
        task["preconditions"] = result
        out.link(new + ("preconditions",), old + (("preconditions",) if "preconditions" in step
                                                  else ("precondition",)))


def _sub_dag(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
             where: str, local: Mapping[str, str]) -> None:
    """`run:` / `call:` a sub-DAG: a document of this file by name, else `name.yaml` beside it."""
    dkey = "run" if "run" in step else "call" if "call" in step else None
    if dkey is None:
        if "params" in step and not any(key in STEP_UNSUPPORTED for key in step):  # an executor's input
            out.error(old + ("params",), f"{where}'params' on a step needs 'run' or 'call' (a sub-DAG)",
                      key=True)
        return
    target = step[dkey]
    if not isinstance(target, str) or not target.strip():
        out.error(old + (dkey,), f"{where}'{dkey}' must name a DAG, not {_typename(target)}")
        return
    if "command" in step or "script" in step:
        out.error(old + (dkey,), f"{where}a step has either '{dkey}' or 'command', not both", key=True)
    if "output" in step:
        out.error(old + ("output",), f"{where}'output' on a step that runs a sub-DAG (the sub-DAG's "
                  "outputs) is a Dagu feature tuiflow does not run; give the sub-DAG's own step an "
                  "`output:`", key=True)
        task.pop("output", None)
    name = target.strip()
    task["pipeline"] = local.get(name) or _sub_file(out.src.file, _braced(name))
    out.link(new + ("pipeline",), old + (dkey,))
    if "params" in step:
        params, _ = _params(out, old + ("params",), new + ("params",))
        task["params"] = params


def _sub_file(file: str, target: str) -> str:
    """Dagu names a sub-DAG without its extension; find `name.yaml` / `name.yml` beside `file`."""
    if target.endswith((".yaml", ".yml")):
        return target
    folder = os.path.dirname(os.path.abspath(file))
    for ext in (".yaml", ".yml"):
        if os.path.isfile(os.path.join(folder, target + ext)):
            return target + ext
    return target + ".yaml"


def _resolve_ids(tasks: list[dict[str, Any]], ids: dict[str, str], renamed: dict[str, str]) -> None:
    """Dependencies may name a step by its `id` or by a name tuiflow had to change."""
    names = {t["name"] for t in tasks if isinstance(t.get("name"), str)}
    for task in tasks:
        deps = task.get("depends_on")
        if not isinstance(deps, list):
            continue
        # `depends: [1]` names the step called "1", as it does in Dagu
        deps = [str(d) if isinstance(d, int | float) and not isinstance(d, bool) else d for d in deps]
        deps = [renamed.get(d, d) if isinstance(d, str) else d for d in deps]
        task["depends_on"] = [ids[d] if isinstance(d, str) and d not in names and d in ids else d
                              for d in deps]


def _chain(out: _Out, tasks: list[dict[str, Any]], order: list[int]) -> None:
    """`type: chain`: each step depends on the one before (all of a parallel group), unless it says otherwise."""
    previous: list[int] = []
    current: list[int] = []
    for index, position in enumerate(order):
        if index and position != order[index - 1]:
            previous, current = current, []
        current.append(index)
        task = tasks[index]
        if "depends_on" in task or not previous:
            continue
        task["depends_on"] = [tasks[i].get("name") for i in previous]
        step_mark = out.marks.get(("tasks", index))
        if step_mark is not None:
            out.marks[("tasks", index, "depends_on")] = step_mark
            for k in range(len(previous)):
                out.marks[("tasks", index, "depends_on", k)] = step_mark


def _env(out: _Out, old: Path, new: Path) -> dict[str, Any]:
    """Dagu `env`: a mapping, or a list of one-key maps / `K=V` strings, in order."""
    value = _get(out.src.data, old)
    result: dict[str, Any] = {}
    out.link(new, old)
    if isinstance(value, dict):
        entries = [(k, v, old + (k,)) for k, v in value.items()]
    elif isinstance(value, list):
        entries = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and len(item) == 1:
                (k, v), = item.items()
                entries.append((k, v, old + (i, k)))
            elif isinstance(item, str) and "=" in item:
                k, _, v = item.partition("=")
                entries.append((k.strip(), v, old + (i,)))
            else:
                out.error(old + (i,), f"env entries are one-key maps (- KEY: value) or 'KEY=value' "
                          f"strings, not {_typename(item)}")
    else:
        out.error(old, f"'env' must be a mapping or a list of KEY: value, not {_typename(value)}")
        return result
    for key, val, path in entries:
        if isinstance(val, dict | list):
            out.error(path, f"env {key!r} must be a single value, not {_typename(val)}")
            continue
        if not _plain_value(out, path, val, f"env {key!r}"):
            continue
        result[str(key)] = _braced(_scalar(val))
        out.link(new + (str(key),), path)
    return result


def _plain_value(out: _Out, path: Path, value: Any, what: str) -> bool:
    """Whether an env or params value is one tuiflow can compute; else say which Dagu feature it uses.

    Dagu runs `` `cmd` `` in these values, reads `${STEP.output}` and shell forms like
    `${A:0:5}`; tuiflow substitutes only `${NAME}`, `${NAME:-default}` and `${NAME-default}`.
    """
    if not isinstance(value, str):
        return True
    match = re.search(r"`[^`]+`", value)
    if match:
        out.error_at(path, match.group(0), f"{what}: command substitution in values "
                     f"({match.group(0)}) is a Dagu feature tuiflow does not run; compute the value "
                     "in a step with 'output' instead")
        return False
    for match in _ANY_REF.finditer(_braced(value)):
        if not _SIMPLE_REF.fullmatch(match.group(0)):
            kind = ("references into a step's result or a JSON value" if _DOTTED.fullmatch(match.group(0))
                    else "shell expansions in values (substrings, replacements...)")
            out.error_at(path, match.group(0).split(".")[0].split(":")[0], f"{what}: '{match.group(0)}': "
                         f"{kind} are a Dagu feature tuiflow does not run; use ${{NAME}} or "
                         "${NAME:-default}, or compute the value in a step with 'output'")
            return False
    return True


def _params(out: _Out, old: Path, new: Path) -> tuple[dict[str, str], list[int]]:
    """Dagu `params` in any of its shapes -> (native mapping, positions of positional ones).

    Shapes: a mapping; a list of one-key maps, typed params (`{name, type, default, required}`)
    or strings; a string of `K=V` items and bare values. A bare value is positional: like
    Dagu, the n-th item (counting every item) is `$n`; natively it is the param `ARGn`.
    """
    value = _get(out.src.data, old)
    out.link(new, old)
    params: dict[str, str] = {}
    positional: list[int] = []
    items: list[tuple[str | None, Any, Path]] = []
    if isinstance(value, str):
        items = _split_params(value, old)
    elif isinstance(value, dict):
        items = [(str(k), v, old + (k,)) for k, v in value.items()]
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict) and "name" in item and set(item) <= TYPED_PARAM_KEYS and len(item) > 1:
                items.append(_typed_param(out, item, old + (i,)))
            elif isinstance(item, dict):
                items.extend((str(k), v, old + (i, k)) for k, v in item.items())
            elif isinstance(item, str):
                items.extend(_split_params(item, old + (i,)))
            else:
                items.append((None, item, old + (i,)))
    elif value is not None:
        out.error(old, f"'params' must be a mapping, a list or a 'KEY=value' string, not {_typename(value)}")
    for number, (key, val, path) in enumerate(items, start=1):
        if isinstance(val, dict | list):
            out.error(path, f"param {key or number!r} must be a single value, not {_typename(val)}")
            continue
        if not _plain_value(out, path, val, f"param {key or number!r}"):
            continue
        text = _braced(_scalar(val))
        if key is None:
            key = f"ARG{number}"
            positional.append(number)
        if key in params:
            out.error(path, f"param {key!r} is given twice")
            continue
        params[key] = text
        out.link(new + (key,), path)
    return params, positional


def _typed_param(out: _Out, item: dict[str, Any], path: Path) -> tuple[str | None, Any, Path]:
    """`{name: X, type: string, default: a, required: true}` -> the param X (its default, if any).

    A required param without a default must be given: its value is `${X}`, which the loader
    reports as undefined unless `--param X=...` (or the environment) sets it.
    """
    name = item.get("name")
    if not isinstance(name, str) or not name:
        out.error(path + ("name",), f"a typed param's 'name' must be text, not {_typename(name)}")
        return None, None, path
    if "default" in item:
        return name, item["default"], path + ("default",)
    return name, "${" + name + "}" if item.get("required") is True else "", path + ("name",)


def _split_params(text: str, path: Path) -> list[tuple[str | None, Any, Path]]:
    """`FOO=foo BAR="b c" baz` -> [(FOO, foo), (BAR, b c), (None, baz)], Dagu's own rules."""
    items: list[tuple[str | None, Any, Path]] = []
    for match in _PARAM_ITEM.finditer(text):
        key, val = match.group(1), match.group(2)
        if val.startswith('"'):
            val = val[1:-1].replace('\\"', '"') if len(val) > 1 and val.endswith('"') else val[1:]
        items.append((key, val, path))
    return items


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data
