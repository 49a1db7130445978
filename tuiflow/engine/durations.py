"""Durations (`500ms`, `1h30m`, a number of seconds) and sizes (`100MB`, a number of bytes).

The loader turns every such field into a number once; everything later reads seconds and bytes.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*")
_NUMBER = re.compile(r"\s*[0-9]+(?:\.[0-9]+)?\s*")
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b|[kmgt]|b)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

DURATION_HELP = "use 500ms, 30s, 10m, 1h, 1h30m or a number of seconds"
SIZE_HELP = "use 100MB, 1GB, 512KiB or a number of bytes"


def parse_duration(value: object) -> float:
    """Seconds in `value`; ValueError (saying what is accepted) for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HELP}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is not a duration (negative): {DURATION_HELP}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HELP}")
    if _NUMBER.fullmatch(value):
        return float(value)
    pos, total, parts = 0, 0.0, 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos, parts = match.end(), parts + 1
    if not parts or pos != len(value):
        raise ValueError(f"'{value}' is not a duration: {DURATION_HELP}")
    return total


def parse_size(value: object) -> int:
    """Bytes in `value` (KB/MB/GB are powers of 1024, as `ls -h` shows); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size: {SIZE_HELP}")
    if isinstance(value, int | float):
        size = int(value)
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        unit = (match.group(2) or "").lower().replace("i", "").rstrip("b") or "b"
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"'{value}' is not a size: {SIZE_HELP}")
    if size < 1:
        raise ValueError(f"'{value}' is not a size (it must be at least 1 byte): {SIZE_HELP}")
    return size


def format_duration(seconds: float) -> str:
    """The short form people write: `500ms`, `30s`, `10m`, `1h30m`, `1h2m3s`."""
    if seconds < 1 and seconds != 0:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9 and seconds < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"
