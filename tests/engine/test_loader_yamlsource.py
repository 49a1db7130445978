"""yamlsource.parse: plain data with marks, and every unreadable input as a positioned error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tuiflow.engine.errors import Mark, PipelineInvalid
from tuiflow.engine.yamlsource import parse


def write(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def errors_of(file: str) -> list[str]:
    with pytest.raises(PipelineInvalid) as info:
        parse(file)
    return [f"{e.line}:{e.col}: {e.message}" for e in info.value.errors]


def test_data_and_marks(tmp_path: Path) -> None:
    f = write(tmp_path, "name: x\ntasks:\n  - name: a\n    command: [echo, '1']\n    retries: 2\n")
    src = parse(f)
    assert src.data == {"name": "x", "tasks": [{"name": "a", "command": ["echo", "1"], "retries": 2}]}
    assert src.marks[("tasks", 0)] == Mark(f, 3, 5)
    assert src.marks[("tasks", 0, "command", 1)] == Mark(f, 4, 21)
    assert src.key_marks[("tasks", 0, "retries")] == Mark(f, 5, 5)
    assert src.mark(("tasks", 0, "nope", 3)) == Mark(f, 3, 5)   # nearest known ancestor


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    f = write(tmp_path, "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert errors_of(f) == [
        "4:3: duplicate key 'c' (first defined at line 3); YAML would silently keep only the last one",
        "5:1: duplicate key 'a' (first defined at line 1); YAML would silently keep only the last one",
    ]


@pytest.mark.parametrize("word,as_bool", [("no", "false"), ("yes", "true"), ("on", "true"), ("Off", "false")])
def test_yaml11_booleans_must_be_quoted(tmp_path: Path, word: str, as_bool: str) -> None:
    f = write(tmp_path, f"env:\n  FLAG: {word}\n")
    (msg,) = errors_of(f)
    assert msg.startswith(f"2:9: '{word}' is read as the boolean {as_bool} by YAML 1.1: quote it")


def test_quoted_words_and_real_booleans_are_fine(tmp_path: Path) -> None:
    f = write(tmp_path, "a: 'no'\nb: \"on\"\nc: true\nd: False\ne: 2026-11-23\nf: 1_000\ng: 1.5\nh: ~\n")
    assert parse(f).data == {"a": "no", "b": "on", "c": True, "d": False, "e": "2026-11-23",
                             "f": 1000, "g": 1.5, "h": None}


def test_sexagesimal_and_octal_traps(tmp_path: Path) -> None:
    f = write(tmp_path, "a: 1:30\nb: 0755\n")
    assert errors_of(f) == [
        "1:4: '1:30' is read as a base-60 or octal number by YAML 1.1: quote it (\"1:30\") for text",
        "2:4: '0755' is read as a base-60 or octal number by YAML 1.1: quote it (\"0755\") for text",
    ]


def test_boolean_key(tmp_path: Path) -> None:
    f = write(tmp_path, "tasks: []\non: 1\n")
    (msg,) = errors_of(f)
    assert msg.startswith("2:1: 'on' is read as the boolean true")


def test_merge_keys_and_aliases(tmp_path: Path) -> None:
    f = write(tmp_path, "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nn: *b\n")
    assert parse(f).data == {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}, "n": {"x": 1, "y": 2}}


def test_recursive_alias(tmp_path: Path) -> None:
    f = write(tmp_path, "x: &a\n  y: *a\n")
    assert errors_of(f) == ["2:6: an alias refers to a node that contains it (recursive YAML)"]


def test_syntax_error_position(tmp_path: Path) -> None:
    f = write(tmp_path, "tasks:\n  - name: a\n   command: x\n")
    (msg,) = errors_of(f)
    assert msg.startswith("3:4: YAML syntax error: while parsing a block collection")


@pytest.mark.parametrize("content,expected", [
    ("", "1:1: the file is empty: a pipeline needs `tasks:`"),
    ("# only a comment\n", "1:1: the file is empty: a pipeline needs `tasks:`"),
    ("- a\n- b\n", "1:1: the top level must be a mapping (keys like `tasks:`), not a list"),
    ("hello\n", "1:1: the top level must be a mapping (keys like `tasks:`), not a single value (text)"),
    (b"\x00\x01\x02binary", "1:1: the file is binary (it contains NUL bytes), not YAML text"),
    (b"a: 1\nb: \xff\xfe\n", "2:4: the file is not UTF-8 text (a pipeline file must be UTF-8)"),
    ("a: !custom 1\n", "1:4: unsupported YAML tag '!custom'"),
    ("a: 1\n---\nb: 2\n", "2:1: YAML syntax error: expected a single document in the stream: but found another document"),
])
def test_bad_inputs(tmp_path: Path, content: str | bytes, expected: str) -> None:
    assert errors_of(write(tmp_path, content)) == [expected]


def test_directory_missing_and_unreadable(tmp_path: Path) -> None:
    assert errors_of(str(tmp_path)) == ["1:1: is a directory, not a pipeline file"]
    assert errors_of(str(tmp_path / "nope.yaml")) == ["1:1: no such file"]
    f = write(tmp_path, "a: 1\n")
    os.chmod(f, 0)
    if os.access(f, os.R_OK):   # root reads anything
        pytest.skip("running as root")
    assert errors_of(f) == ["1:1: cannot read the file: permission denied"]


def test_huge_file_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path, b"a: " + b"x" * (50 * 1024 * 1024) + b"\n")
    (msg,) = errors_of(f)
    assert "larger than 16 MB" in msg
