"""Dagu DAG files -> tuiflow's native pipeline data, before the schema sees it.

A file whose top level has `steps:` is Dagu's. `translate` rewrites it into the native
form of SPEC §1 (tasks, depends_on, max_parallel, ...) and carries every source position
over to the new paths, so that a problem the loader finds later (a bad duration, an
unknown dependency, a duplicate name) still points at the line the person wrote.
Everything Dagu-specific is decided here: camelCase and snake_case spellings, `type:
chain`, ids, the many shapes of `params` and `env`, `run:` sub-DAGs, positional params.
Any key tuiflow does not support is an error that names it; nothing is silently dropped,
except what tuiflow ignores in its own format too: `x-` keys, a place for YAML anchors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

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

CONTINUE_ON_KEYS = ("failure", "skipped")
RETRY_KEYS = {"limit": "retries", "intervalSec": "retry_delay", "interval_sec": "retry_delay",
              "backoff": "retry_backoff"}
PRECONDITION_KEYS = ("condition", "expected")

#: Real Dagu keys that tuiflow does not implement: named as such instead of "unknown".
DAG_UNSUPPORTED = frozenset({
    "schedule", "skipIfSuccessful", "skip_if_successful", "logDir", "log_dir", "dotenv",
    "handlerOn", "handler_on", "smtp", "mailOn", "mail_on", "errorMail", "error_mail",
    "infoMail", "info_mail", "timeoutSec", "timeout_sec", "delaySec", "delay_sec",
    "restartWaitSec", "restart_wait_sec", "histRetentionDays", "hist_retention_days",
    "precondition", "preconditions", "maxActiveRuns", "max_active_runs", "tags", "queue",
    "maxOutputSize", "max_output_size", "otel", "workerSelector", "worker_selector",
    "container", "ssh", "secrets", "runConfig", "run_config", "logOutput", "log_output",
    "registryAuths", "registry_auths", "defaults", "stop_schedule", "restart_schedule",
})
STEP_UNSUPPORTED = frozenset({
    "executor", "shellPackages", "shell_packages", "stdout", "stderr", "repeatPolicy",
    "repeat_policy", "mailOnError", "mail_on_error", "signalOnStop", "signal_on_stop",
    "parallel", "workerSelector", "worker_selector", "container", "type", "with", "env_file",
    "log_output", "approval", "router", "routes", "value", "llm", "messages", "agent",
})

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"})
# `$NAME` (Dagu expands it everywhere); tuiflow substitutes `${NAME}` outside commands.
_BARE_VAR = re.compile(r"(?<![$\\])\$([A-Za-z_][A-Za-z0-9_]*)")
# A reference to a shell positional parameter: $1, ${2}, $@, $*, $#.
_POSITIONAL_REF = re.compile(r"\$(?:\{?[0-9]|[@*#])")
_POSITIONAL_VALUE = re.compile(r"(?<![$\\])\$(?:([1-9])|\{([1-9][0-9]*)\})")
# One `K=V` or `V` item of a Dagu params string; values may be "double quoted".
_PARAM_ITEM = re.compile(r'(?:([^\s="]+)=)?("(?:\\"|[^"])*"|`[^`]*`|[^"\s]+)')


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
        # direct children of every source path, so a subtree is copied without a full scan
        self._children: dict[Path, list[Path]] = {}
        for path in {*src.marks, *src.key_marks}:
            if path:
                self._children.setdefault(path[:-1], []).append(path)

    def error(self, old: Path, message: str, key: bool = False) -> None:
        self.errors.append(PipelineError.at(self.src.mark(old, key=key), message, self.src.file))

    def link(self, new: Path, old: Path, deep: bool = False) -> None:
        """The value at native `new` came from Dagu `old`: give it `old`'s positions."""
        self.marks[new] = self.src.mark(old)
        self.key_marks[new] = self.src.mark(old, key=True)
        if deep:
            for child in self._children.get(old, ()):
                self.link(new + child[len(old):], child, deep=True)


# --- translation ---------------------------------------------------------------------


def translate(src: Source) -> tuple[Source, list[PipelineError]]:
    """Rewrite a Dagu document into native tuiflow data with positions kept.

    Returns the native Source and the Dagu-level problems (unsupported or unknown keys,
    wrong shapes). The native Source still goes through the schema and graph checks.
    """
    out = _Out(src)
    doc = src.data
    if not isinstance(doc, dict):
        out.error((), f"a Dagu file must be a mapping with 'steps', not {_typename(doc)}")
        return replace(src, data={}, marks=out.marks, key_marks=out.key_marks), out.errors
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

    flow = doc.get("type", "graph")
    if flow not in ("graph", "chain"):
        out.error(("type",), f"type {flow!r} is not supported: use 'graph' (the default) or 'chain'"
                  + (did_you_mean(flow, ("graph", "chain")) if isinstance(flow, str) else ""))
        flow = "graph"

    positional: list[int] = []
    if "params" in doc:
        params, positional = _params(out, ("params",), ("params",))
        native["params"] = params
    if "env" in doc:
        native["env"] = _env(out, ("env",), ("env",))

    steps = doc.get("steps")
    if isinstance(steps, dict):  # newer Dagu: `steps: {name: {...}}`
        items = [((("steps", k), k)) for k in steps]
        step_values = [steps[k] for k in steps]
    elif isinstance(steps, list):
        items = [(("steps", i), None) for i in range(len(steps))]
        step_values = list(steps)
    else:
        out.error(("steps",), f"'steps' must be a list of steps, not {_typename(steps)}")
        items, step_values = [], []

    tasks: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for index, ((old, key_name), step) in enumerate(zip(items, step_values, strict=True)):
        new = ("tasks", index)
        out.link(new, old)
        task = _step(out, step, old, new, key_name, index, group, shell, positional, ids)
        tasks.append(task)
    _resolve_ids(tasks, ids)
    if flow == "chain":
        _chain(out, tasks)
    native["tasks"] = tasks
    out.link(("tasks",), ("steps",))
    out.errors.sort(key=lambda e: (e.line, e.col))
    return replace(src, data=native, marks=out.marks, key_marks=out.key_marks), out.errors


def _unknown_key(out: _Out, old: Path, key: Any, known: Iterable[str],
                 unsupported: frozenset[str], where: str) -> None:
    """Report a key nobody handles: a Dagu feature tuiflow lacks, or a probable typo."""
    if isinstance(key, str) and key in unsupported:
        out.error(old, f"{where}Dagu key '{key}' is not supported by tuiflow; remove it", key=True)
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


def _step(out: _Out, step: Any, old: Path, new: Path, key_name: str | None, index: int,
          group: str | None, shell: str | None, positional: list[int],
          ids: dict[str, str]) -> dict[str, Any]:
    """One Dagu step -> one native task (dependencies on ids resolved later)."""
    if not isinstance(step, dict):
        out.error(old, f"step {index + 1} must be a mapping with name and command, not {_typename(step)}")
        return {"name": key_name or f"step {index + 1}", "command": None}
    task: dict[str, Any] = {}
    name = step.get("name", key_name)
    if name is None and isinstance(step.get("id"), str):
        name = step["id"]
    if name is None:
        name = f"step {index + 1}"  # Dagu allows unnamed steps; give a stable, readable name
    if isinstance(name, int | float) and not isinstance(name, bool):
        name = str(name)  # `name: 1` unquoted is still the step called "1"
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
    _continue_on(out, step, old, new, task, where)
    _retry(out, step, old, new, task, where)
    _preconditions(out, step, old, new, task, where, positional)
    _sub_dag(out, step, old, new, task, where)
    return task


def _command(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
             where: str, shell: str | None, positional: list[int]) -> None:
    """`command` (+ `script`), with Dagu's positional params made visible as $1, $2..."""
    command = step.get("command")
    script = step.get("script")
    if "script" in step:
        if not isinstance(script, str):
            out.error(old + ("script",), f"{where}'script' must be a string, not {_typename(script)}")
            script = None
        else:
            # without `command`, Dagu (and tuiflow) run the script with the shell
            interpreter = command if isinstance(command, str) else step.get("shell") or shell or "sh"
            words = str(interpreter).split()
            if positional and words and os.path.basename(words[0]) in _SHELLS \
                    and _POSITIONAL_REF.search(script):
                script = _set_positional(positional) + script
            task["script"] = script
            out.link(new + ("script",), old + ("script",))
    if "command" in step:
        if isinstance(command, str) and script is None and positional and _POSITIONAL_REF.search(command):
            command = _set_positional(positional) + command
        task["command"] = command
        out.link(new + ("command",), old + ("command",), deep=True)
    elif "script" not in step and "run" not in step and "call" not in step:
        out.error(old, f"{where}a step needs 'command', 'script' or 'run'")


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


def _continue_on(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
                 where: str) -> None:
    for dkey in ("continueOn", "continue_on"):
        if dkey not in step:
            continue
        value = step[dkey]
        path = old + (dkey,)
        if not isinstance(value, dict):
            out.error(path, f"{where}'{dkey}' must be a mapping like {{failure: true}}, not {_typename(value)}")
            continue
        for key, flag in value.items():
            if key not in CONTINUE_ON_KEYS:
                supported = frozenset({"exitCode", "exit_code", "output", "markSuccess", "mark_success"})
                _unknown_key(out, path + (key,), key, CONTINUE_ON_KEYS, supported, f"{where}{dkey}: ")
            elif not isinstance(flag, bool):
                out.error(path + (key,), f"{where}{dkey}.{key} must be true or false, not {_typename(flag)}")
            elif key == "failure":
                task["continue_on_failure"] = flag
                out.link(new + ("continue_on_failure",), path + (key,))
            # `skipped: true` is what tuiflow always does: a skipped task counts as succeeded
            # for its downstream. `skipped: false` (Dagu's default) cannot be honoured.
            elif not flag:
                out.error(path + (key,), f"{where}{dkey}.skipped: false is not supported: in tuiflow "
                          "a skipped step always lets its downstream run")


def _retry(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
           where: str) -> None:
    for dkey in ("retryPolicy", "retry_policy"):
        if dkey not in step:
            continue
        value = step[dkey]
        path = old + (dkey,)
        if not isinstance(value, dict):
            out.error(path, f"{where}'{dkey}' must be a mapping like {{limit: 3, intervalSec: 5}}, "
                      f"not {_typename(value)}")
            continue
        for key, item in value.items():
            nkey = RETRY_KEYS.get(key) if isinstance(key, str) else None
            if nkey is None:
                supported = frozenset({"exitCode", "exit_code", "maxIntervalSec", "max_interval_sec"})
                _unknown_key(out, path + (key,), key, RETRY_KEYS, supported, f"{where}{dkey}: ")
                continue
            if key == "backoff" and isinstance(item, bool):
                item = 2.0 if item else 1.0  # Dagu: `backoff: true` doubles the interval
            elif isinstance(item, str):
                item = _braced(item)
                if item.strip().isdigit():
                    item = int(item)
            task[nkey] = item
            out.link(new + (nkey,), path + (key,))


def _preconditions(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
                   where: str, positional: list[int]) -> None:
    """`preconditions` / `precondition`: one or a list of `{condition, expected}` or strings."""
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
            if isinstance(item, str):
                result.append({"condition": _run_time(item, positional)})
                out.link(npath, path)
                out.link(npath + ("condition",), path)
            elif isinstance(item, dict):
                for key in item:
                    if key not in PRECONDITION_KEYS:
                        _unknown_key(out, path + (key,), key, PRECONDITION_KEYS, frozenset(),
                                     f"{where}{dkey}: ")
                if "condition" not in item:
                    out.error(path, f"{where}a precondition needs 'condition'")
                    continue
                entry = {k: _scalar(item[k]) for k in PRECONDITION_KEYS if k in item}
                entry["condition"] = _run_time(entry["condition"], positional)
                result.append(entry)
                out.link(npath, path, deep=True)
            else:
                out.error(path, f"{where}a precondition is a string or {{condition, expected}}, "
                          f"not {_typename(item)}")
    if result:
        task["preconditions"] = result
        out.link(new + ("preconditions",), old + (("preconditions",) if "preconditions" in step
                                                  else ("precondition",)))


def _sub_dag(out: _Out, step: dict[str, Any], old: Path, new: Path, task: dict[str, Any],
             where: str) -> None:
    """`run:` / `call:` a sub-DAG: Dagu's `run: sub` means `sub.yaml` next to this file."""
    dkey = "run" if "run" in step else "call" if "call" in step else None
    if dkey is None:
        if "params" in step:
            out.error(old + ("params",), f"{where}'params' on a step needs 'run' (a sub-DAG)", key=True)
        return
    target = step[dkey]
    if not isinstance(target, str) or not target.strip():
        out.error(old + (dkey,), f"{where}'{dkey}' must name a DAG file, not {_typename(target)}")
        return
    if "command" in step or "script" in step:
        out.error(old + (dkey,), f"{where}a step has either '{dkey}' or 'command', not both", key=True)
    task["pipeline"] = _sub_file(out.src.file, _braced(target.strip()))
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


def _resolve_ids(tasks: list[dict[str, Any]], ids: dict[str, str]) -> None:
    """Dependencies may name a step by its `id`; the native form knows only names."""
    names = {t["name"] for t in tasks if isinstance(t.get("name"), str)}
    for task in tasks:
        deps = task.get("depends_on")
        if not isinstance(deps, list):
            continue
        # `depends: [1]` names the step called "1", as it does in Dagu
        deps = [str(d) if isinstance(d, int | float) and not isinstance(d, bool) else d for d in deps]
        task["depends_on"] = [ids[d] if isinstance(d, str) and d not in names and d in ids else d
                              for d in deps]


def _chain(out: _Out, tasks: list[dict[str, Any]]) -> None:
    """`type: chain`: each step depends on the one before, unless it says otherwise."""
    for index in range(1, len(tasks)):
        task = tasks[index]
        if "depends_on" in task:
            continue
        task["depends_on"] = [tasks[index - 1].get("name")]
        step_mark = out.marks.get(("tasks", index))
        if step_mark is not None:
            out.marks[("tasks", index, "depends_on")] = step_mark
            out.marks[("tasks", index, "depends_on", 0)] = step_mark


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
        if _backticks(out, path, val, f"env {key!r}"):
            continue
        result[str(key)] = _braced(_scalar(val))
        out.link(new + (str(key),), path)
    return result


def _backticks(out: _Out, path: Path, value: Any, what: str) -> bool:
    """Dagu runs `` `cmd` `` in env and params values; tuiflow does not, so say so."""
    if isinstance(value, str) and re.search(r"`[^`]+`", value):
        out.error(path, f"{what}: command substitution (`...`) in values is not supported; "
                  "compute the value in a step with 'output' instead")
        return True
    return False


def _params(out: _Out, old: Path, new: Path) -> tuple[dict[str, str], list[int]]:
    """Dagu `params` in any of its shapes -> (native mapping, positions of positional ones).

    Shapes: a mapping; a list of one-key maps or strings; a string of `K=V` items and
    bare values. A bare value is positional: like Dagu, the n-th item (counting every
    item) is `$n`; natively it is the param `ARGn`.
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
            if isinstance(item, dict):
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
        if _backticks(out, path, val, f"param {key or number!r}"):
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


