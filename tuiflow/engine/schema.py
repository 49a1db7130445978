"""The JSON Schema of the native pipeline format, and its errors as positioned sentences.

jsonschema is the authority but takes seconds on 10 000 tasks, so a document is first run
through a small compiled checker of the same schema; only the parts that fail it (the top
level, or one task) go through jsonschema for the precise error. One clear message per
problem: unknown keys with "did you mean", wrong types in words, the schema's own
`errorMessage` (which editors show too) for patterns and enums.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, NamedTuple

from .errors import did_you_mean
from .yamlsource import Path

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"description", "errorMessage", "title", "$schema", "$id", "$defs", "default",
                          "examples", "markdownDescription"})
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
               "number": "a number", "boolean": "true or false", "null": "null"}


class SchemaProblem(NamedTuple):
    """One schema violation: where (`key` = at the mapping key rather than the value) and what."""

    path: Path
    message: str
    key: bool = False


@cache
def schema_text() -> str:
    """The schema file as shipped in the package (what `tuiflow schema` prints)."""
    # package data beside this module (a plain open: importlib.resources costs ~9 ms of start-up)
    with open(os.path.join(os.path.dirname(__file__), "pipeline.schema.json"), encoding="utf-8") as f:
        return f.read()


@cache
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


def validate(data: Any) -> list[SchemaProblem]:
    """Every schema problem in `data` (a native document), each as one sentence."""
    root_check, task_check = _fast_checks()
    if root_check(data):
        return []
    problems: list[SchemaProblem] = []
    top, task_lists = _split(data)
    root_validator, task_validator = _validators()
    for error in root_validator.iter_errors(top):
        problems.extend(_explain(error, (), data))
    for base, tasks in task_lists:
        for index, task in enumerate(tasks):
            if not task_check(task):
                for error in task_validator.iter_errors(task):
                    problems.extend(_explain(error, (*base, index), data))
    unique = dict.fromkeys(problems)
    return list(unique)


def _split(data: Any) -> tuple[Any, list[tuple[Path, list[Any]]]]:
    """The document with its task lists emptied, and those lists, so each task is checked alone."""
    if not isinstance(data, dict):
        return data, []
    top = dict(data)
    lists: list[tuple[Path, list[Any]]] = []
    if isinstance(data.get("tasks"), list):
        top["tasks"] = []
        lists.append((("tasks",), data["tasks"]))
    if isinstance(data.get("groups"), dict):
        groups = dict(data["groups"])
        for name, tasks in groups.items():
            if isinstance(tasks, list):
                groups[name] = []
                lists.append((("groups", name), tasks))
        top["groups"] = groups
    return top, lists


@cache
def _validators() -> tuple[Any, Any]:
    import jsonschema  # only when a document is invalid: it costs ~0.1 s to import

    root = schema()
    task = {"$ref": "#/$defs/task", "$defs": root["$defs"]}
    cls = jsonschema.Draft202012Validator
    return cls(root), cls(task)


# --- the compiled checker ----------------------------------------------------------------


@cache
def _fast_checks() -> tuple[Check, Check]:
    root = schema()
    defs = root["$defs"]
    compiled: dict[str, Check] = {}

    def ref(name: str) -> Check:
        def check(value: Any) -> bool:
            return compiled[name](value)
        return check

    for name, sub in defs.items():
        compiled[name] = _compile(sub, ref)
    return _compile(root, ref), compiled["task"]


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)   # number


_PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "object": (dict,), "array": (list,),
                                          "boolean": (bool,), "null": (type(None),), "integer": (int,),
                                          "number": (int, float)}


def _type_check(kinds: list[str]) -> Check:
    """`type` as one isinstance: booleans are not numbers, 2.0 is an integer (as in jsonschema)."""
    py = tuple(t for k in kinds for t in _PY_TYPES[k])
    allow_bool = "boolean" in kinds
    integral_float = "integer" in kinds and "number" not in kinds

    def check(v: Any) -> bool:
        if v is True or v is False:
            return allow_bool
        if isinstance(v, py):
            return True
        return integral_float and isinstance(v, float) and v.is_integer()
    return check


def _compile(node: dict[str, Any], ref: Callable[[str], Check]) -> Check:
    """A predicate equivalent to jsonschema's `is_valid` for the keywords this schema uses."""
    checks: list[Check] = []
    for keyword, arg in node.items():
        if keyword in _ANNOTATIONS:
            continue
        checks.append(_keyword(keyword, arg, node, ref))
    if len(checks) == 1:
        return checks[0]

    def check_all(value: Any) -> bool:
        for check in checks:
            if not check(value):
                return False
        return True
    return check_all


def _keyword(keyword: str, arg: Any, node: dict[str, Any], ref: Callable[[str], Check]) -> Check:
    if keyword == "$ref":
        return ref(arg.rsplit("/", 1)[1])
    if keyword == "type":
        return _type_check([arg] if isinstance(arg, str) else list(arg))
    if keyword == "enum":
        return lambda v: any(type(v) is type(e) and v == e for e in arg)
    if keyword == "pattern":
        search = re.compile(arg).search
        return lambda v: not isinstance(v, str) or search(v) is not None
    if keyword == "minimum":
        return lambda v: isinstance(v, bool) or not isinstance(v, int | float) or v >= arg
    if keyword == "minLength":
        return lambda v: not isinstance(v, str) or len(v) >= arg
    if keyword == "minItems":
        return lambda v: not isinstance(v, list) or len(v) >= arg
    if keyword == "minProperties":
        return lambda v: not isinstance(v, dict) or len(v) >= arg
    if keyword == "required":
        return lambda v: not isinstance(v, dict) or all(r in v for r in arg)
    if keyword == "items":
        item = _compile(arg, ref)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)
    if keyword == "propertyNames":
        name = _compile(arg, ref)
        return lambda v: not isinstance(v, dict) or all(name(k) for k in v)
    if keyword == "anyOf":
        subs = [_compile(s, ref) for s in arg]
        return lambda v: any(s(v) for s in subs)
    if keyword == "properties":
        props = {k: _compile(s, ref) for k, s in arg.items()}

        def check_properties(v: Any) -> bool:
            if isinstance(v, dict):
                for k, x in v.items():
                    check = props.get(k)
                    if check is not None and not check(x):
                        return False
            return True
        return check_properties
    if keyword == "patternProperties":
        pats = [(re.compile(p).search, _compile(s, ref)) for p, s in arg.items()]
        return lambda v: not isinstance(v, dict) or all(c(x) for k, x in v.items() for m, c in pats if m(k))
    if keyword == "additionalProperties":
        known = frozenset(node.get("properties", ()))
        patterns = [re.compile(p).search for p in node.get("patternProperties", ())]

        def extra_keys(v: dict[str, Any]) -> list[str]:
            return [k for k in v if k not in known and not any(m(k) for m in patterns)]
        if arg is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v) or not extra_keys(v)
        extra = _compile(arg, ref)
        return lambda v: not isinstance(v, dict) or all(extra(v[k]) for k in extra_keys(v))
    raise ValueError(f"schema keyword {keyword!r} is not supported by the compiled checker")


# --- errors in words ---------------------------------------------------------------------


def describe(data: Any, path: Path) -> str:
    """`task 'load': env.FOO` for a path, naming the task instead of its list index."""
    owner, rest = owner_of(data, path)
    field = ""
    for part in rest:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    if owner and field:
        return f"{owner}: {field}"
    return owner or field or "the pipeline"


def owner_of(data: Any, path: Path) -> tuple[str, Path]:
    """(`task 'x'` or `task #3`, the path inside that task) — or ('', path) outside tasks."""
    if len(path) >= 2 and path[0] == "tasks" and isinstance(path[1], int):
        base, rest = path[:2], path[2:]
    elif len(path) >= 3 and path[0] == "groups" and isinstance(path[2], int):
        base, rest = path[:3], path[3:]
    else:
        return "", path
    task = _get(data, base)
    name = task.get("name") if isinstance(task, dict) else None
    return (f"task '{name}'" if isinstance(name, str) else f"task #{base[-1] + 1}"), rest


def _get(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "[]"
    return "null" if value is None else str(value)


def _kind(value: Any) -> str:
    for kind in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _is_type(value, kind):
            return _TYPE_WORDS[kind]
    return type(value).__name__


def _explain(error: Any, base: Path, data: Any) -> Iterator[SchemaProblem]:
    """One jsonschema ValidationError (from a subtree at `base`) as sentences."""
    path: Path = (*base, *error.absolute_path)
    what = describe(data, path)
    keyword, arg, value = error.validator, error.validator_value, error.instance
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if "propertyNames" in error.absolute_schema_path:
        yield SchemaProblem((*path, value), f"{what}: {_show(value)} is {custom or 'not a valid name'}", True)
    elif keyword == "additionalProperties":
        known = list(error.schema.get("properties", ()))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", ())]
        owner = f"{what}: " if path else ""
        for key in value:
            if key not in known and not any(p.search(key) for p in patterns):
                yield SchemaProblem((*path, key), f"{owner}unknown key '{key}'{did_you_mean(str(key), known)}",
                                    True)
    elif keyword == "required":
        for name in arg:
            if isinstance(value, dict) and name not in value:
                yield SchemaProblem(path, f"{what} has no `{name}`")
    elif keyword == "anyOf" and not path:
        yield SchemaProblem(path, custom or "the pipeline does not match the schema")
    elif keyword == "enum":
        hint = did_you_mean(value, [str(e) for e in arg]) if isinstance(value, str) else ""
        choices = ", ".join(str(e) for e in arg)
        yield SchemaProblem(path, f"{what} {_show(value)} is {custom or f'not one of {choices}'}{hint}")
    elif keyword == "type" and not custom:
        kinds = [arg] if isinstance(arg, str) else arg
        words = [_TYPE_WORDS[k] for k in kinds]
        expected = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
        shown = "" if isinstance(value, dict | list) else f" ({_show(value)})"
        yield SchemaProblem(path, f"{what} must be {expected}, not {_kind(value)}{shown}")
    elif custom:
        yield SchemaProblem(path, f"{what} {_show(value)} is {custom}")
    elif keyword in ("minItems", "minLength", "minProperties"):
        yield SchemaProblem(path, f"{what} must not be empty")
    elif keyword == "minimum":
        yield SchemaProblem(path, f"{what} must be at least {arg}, not {_show(value)}")
    else:
        yield SchemaProblem(path, f"{what}: {error.message}")
