"""The value helpers the loader uses: durations, sizes, `${VAR}` substitution; and the Dagu guard."""

from __future__ import annotations

import pytest

from tuiflow.engine.durations import format_duration, parse_duration, parse_size
from tuiflow.engine.substitution import SubstitutionError, as_text, substitute


@pytest.mark.parametrize("text,seconds", [
    ("500ms", 0.5), ("30s", 30.0), ("10m", 600.0), ("1h", 3600.0), ("1h30m", 5400.0), ("2d", 172800.0),
    ("1.5s", 1.5), (" 1m 30s ", 90.0), ("45", 45.0), ("0.25", 0.25), (0, 0.0), (12, 12.0), (2.5, 2.5),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10 minutes", "10x", "m", "", "1h-30m", "-1s", -1, True, None, [1]])
def test_bad_durations_say_what_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match="use 500ms, 30s, 10m, 1h, 1h30m or a number of seconds"):
        parse_duration(bad)


@pytest.mark.parametrize("seconds,text", [(0.5, "500ms"), (30, "30s"), (600, "10m"), (5400, "1h30m"),
                                          (3723, "1h2m3s"), (1.5, "1.5s"), (0, "0s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text,size", [
    ("100MB", 100 * 1024**2), ("1GB", 1024**3), ("512KiB", 512 * 1024), ("1.5k", 1536), ("10 mb", 10 * 1024**2),
    ("2048", 2048), (4096, 4096), ("7B", 7),
])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["1 gigabyte", "MB", "0", 0, -5, True, "1PB"])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match="use 100MB, 1GB, 512KiB or a number of bytes"):
        parse_size(bad)


def test_substitution() -> None:
    scope = {"A": "1", "EMPTY": "", "PATH_LIKE": "/x/y"}
    assert substitute("no refs, $A stays", scope) == "no refs, $A stays"
    assert substitute("${A}-${PATH_LIKE}/z", scope) == "1-/x/y/z"
    assert substitute("${NOPE:-fallback} ${EMPTY:-e} ${EMPTY-kept}|", scope) == "fallback e |"
    assert substitute("${NOPE-d} ${NOPE:-}", scope) == "d "
    assert substitute("$${A} is literal", scope) == "${A} is literal"


@pytest.mark.parametrize("text,message", [
    ("${NOPE}", "${NOPE} is not defined: set it in params or env, pass --param NOPE=..., or write ${NOPE:-default}"),
    ("${1X}", "'${1X}' is not a variable reference"),
    ("${A", "`${` is not closed"),
])
def test_substitution_errors(text: str, message: str) -> None:
    with pytest.raises(SubstitutionError) as info:
        substitute(text, {"A": "1"})
    assert message in str(info.value)


def test_as_text() -> None:
    assert [as_text(v) for v in (True, False, None, 3, 1.5, "x")] == ["true", "false", "", "3", "1.5", "x"]
