"""The shipped JSON Schema: valid draft 2020-12, documented, and the compiled checker agrees with jsonschema."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema

from tuiflow.engine import schema

VALUES: list[Any] = [None, True, False, 0, 1, -1, 2.0, 1.5, "", "x", "10m", "1h30m", "100MB", "${X}", "a/b",
                     "9x", "all_done", [], ["a"], [1, "b"], [[]], {}, {"A": "b"}, {"1A": "b"}, {"r": ["us"]},
                     {"r": []}, [{"condition": "c"}], [{"expected": "x"}], {"x-y": 1}]


def test_schema_is_valid_draft_2020_12() -> None:
    doc = schema.schema()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)


def _properties(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                found.extend((f"{where}.{name}", sub) for name, sub in value.items())
            found.extend(_properties(value, f"{where}.{key}"))
    elif isinstance(node, list):
        for item in node:
            found.extend(_properties(item, where))
    return found


def test_every_property_has_a_description() -> None:
    doc = schema.schema()
    defs = doc["$defs"]
    missing = []
    for where, sub in _properties(doc):
        target = defs[sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else {}
        if not (sub.get("description") or target.get("description")):
            missing.append(where)
    assert missing == []
    assert len(_properties(doc)) > 35


def _documents() -> list[Any]:
    task_keys = list(schema.schema()["$defs"]["task"]["properties"]) + ["x-anchor", "nope"]
    top_keys = list(schema.schema()["properties"]) + ["x-top", "taks"]
    docs: list[Any] = [None, [], "tasks", {}, {"tasks": []}, {"groups": {}}, {"groups": {"g": "x"}}]
    base = {"name": "a", "command": "echo"}
    for key, value in itertools.product(task_keys, VALUES):
        docs.append({"tasks": [{**base, key: value}]})
    for key, value in itertools.product(top_keys, VALUES):
        docs.append({"tasks": [base], key: value})
    for value in VALUES:
        docs.append({"groups": {"g": [{**base, "timeout": value}]}})
        docs.append({"tasks": [value]})
    return docs


def test_compiled_checker_agrees_with_jsonschema() -> None:
    validator = jsonschema.Draft202012Validator(schema.schema())
    fast, _ = schema._fast_checks()
    docs = _documents()
    disagree = [doc for doc in docs if fast(doc) != validator.is_valid(doc)]
    assert disagree == []
    valid = sum(1 for doc in docs if validator.is_valid(doc))
    assert 50 < valid < len(docs) - 50   # the corpus has both kinds in numbers


def test_every_invalid_document_gets_a_plain_message() -> None:
    validator = jsonschema.Draft202012Validator(schema.schema())
    unexplained = []
    for doc in _documents():
        if validator.is_valid(doc):
            continue
        problems = schema.validate(doc)
        if not problems or any("is not valid under any of the given schemas" in p.message for p in problems):
            unexplained.append((doc, problems))
    assert unexplained == []
