"""Themes from YAML files: Textual theme colours plus the task-state colours.

Looked up in the installed package first (`tuiflow/_themes`, force-included by the wheel
build; a plain path, no importlib.resources on start-up), then in the repository's top-level
`themes/` folder, so both `pip install .` and a
checkout find them. A broken file never stops the app: it is reported with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "tuiflow-dark"
COLOR_KEYS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
              "background", "surface", "panel", "boost")
OTHER_KEYS = {"name", "dark", "luminosity_spread", "text_alpha", "variables", "ansi", "description"}
# libyaml: a tenth of the time at start-up (yamlsource makes the same choice; importing it here
# would cost the TUI's start more than this line)
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class ThemeProblem:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def theme_dirs() -> list[Path]:
    """`tuiflow/_themes` of an installed package first, then the checkout's `themes/`."""
    package = Path(__file__).resolve().parents[1]
    candidates = [package / "_themes", package.parent / "themes"]
    return [d for d in candidates if d.is_dir()]


def parse_theme(data: Any, source: str) -> Theme:
    """One theme from YAML data; raises ValueError with a reason a person can act on."""
    if not isinstance(data, dict):
        raise ValueError("a theme file must be a mapping of keys to values")
    unknown = sorted(set(data) - set(COLOR_KEYS) - OTHER_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(COLOR_KEYS + tuple(sorted(OTHER_KEYS)))})")
    name = data.get("name") or Path(source).stem
    if not isinstance(name, str):
        raise ValueError("'name' must be text")
    if "primary" not in data:
        raise ValueError("'primary' colour is required")
    colors: dict[str, str] = {}
    for key in COLOR_KEYS:
        if key in data and data[key] is not None:
            colors[key] = _color(data[key], key)
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError("'variables' must be a mapping")
    clean_vars: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(key, str):
            raise ValueError(f"variable {key!r}: names must be text")
        clean_vars[key] = _color(value, f"variables.{key}") if key.startswith("status-") else str(value)
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("'dark' must be true or false")
    return Theme(name=name, dark=dark, variables=clean_vars, ansi=bool(data.get("ansi", False)),
                 luminosity_spread=float(data.get("luminosity_spread", 0.15)),
                 text_alpha=float(data.get("text_alpha", 0.95)), **colors)


def _color(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key}: {value!r} is not a colour")
    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ValueError(f"{key}: {value!r} is not a colour ({exc})") from None
    return value


def load_themes(dirs: Iterable[Path] | None = None) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every `*.yaml` theme in the first folder that has any; problems collected, not raised."""
    themes: list[Theme] = []
    problems: list[ThemeProblem] = []
    seen: set[str] = set()
    for folder in theme_dirs() if dirs is None else dirs:
        for path in sorted(folder.glob("*.y*ml")):
            try:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
                theme = parse_theme(data, path.name)
            except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
                problems.append(ThemeProblem(path.name, _first_line(exc)))
                continue
            if theme.name in seen:
                continue
            seen.add(theme.name)
            themes.append(theme)
    return themes, problems


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in text[:3]) or type(exc).__name__
