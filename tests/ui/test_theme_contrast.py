"""Every theme keeps text and state symbols readable (WCAG AA: 4.5:1), computed from the theme
files; the default theme keeps every task state apart on a 16-colour terminal (TERM=xterm)."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.terminal_theme import MONOKAI
from textual.color import Color

from tuiflow.engine.model import TaskState
from tuiflow.ui import status
from tuiflow.ui.themes import DEFAULT_THEME, load_themes

THEMES = {theme.name: theme for theme in load_themes()[0]}
AA = 4.5
TERMINAL = MONOKAI   # a dark terminal's palette, for the theme that uses the terminal's own colours


def luminance(c: Color) -> float:
    def channel(v: int) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)


def ratio(a: Color, b: Color) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def resolve(value: str, under: Color, role: str = "foreground") -> Color:
    """A theme value as the terminal shows it over `under`: alpha composited, `auto` made the
    contrasting text colour, ANSI names through a dark terminal's palette."""
    value = value.strip()
    if value.startswith("auto"):
        alpha = float(value.split()[1].rstrip("%")) / 100 if " " in value else 1.0
        return under + under.get_contrast_text(alpha)
    if value == "transparent":
        return under
    if value.startswith("ansi_"):
        name, _, alpha = value.partition(" ")
        if name == "ansi_default":
            triplet = TERMINAL.foreground_color if role == "foreground" else TERMINAL.background_color
        else:
            triplet = RichColor.parse(name.removeprefix("ansi_")).get_truecolor(TERMINAL)
        color = Color(*triplet)
        if alpha:
            color = color.with_alpha(float(alpha.rstrip("%")) / 100)
        return under + color
    return under + Color.parse(value)


def palette(name: str) -> dict[str, str]:
    theme = THEMES[name]
    variables = theme.to_color_system().generate()
    variables.update({k: v for k, v in status.DEFAULT_COLORS.items() if k not in variables})
    variables.update(theme.variables)
    return variables


def grounds(v: dict[str, str]) -> dict[str, Color]:
    """What text sits on: the screen, the tree (surface), the header, progress and title lines (panel)."""
    base = resolve(v["background"], Color(0, 0, 0), "background")
    return {"background": base, "surface": resolve(v["surface"], base, "background"),
            "panel": resolve(v["panel"], base, "background")}


@pytest.mark.parametrize("name", sorted(THEMES))
def test_text_and_state_symbols_reach_aa_contrast_in_every_theme(name):
    v = palette(name)
    bad = []
    for ground, bg in grounds(v).items():
        for key in ["foreground", "foreground-muted", *(status.variable(s) for s in TaskState)]:
            r = ratio(resolve(v[key], bg), bg)
            if r < AA:
                bad.append(f"{key} on {ground}: {r:.2f}")
    panel = grounds(v)["panel"]
    footer = resolve(v["footer-key-foreground"], panel)
    if ratio(footer, panel) < AA:
        bad.append(f"footer keys: {ratio(footer, panel):.2f}")
    cursor_bg = resolve(v["block-cursor-background"], grounds(v)["surface"], "background")
    cursor_fg = resolve(v["block-cursor-foreground"], cursor_bg)
    if ratio(cursor_fg, cursor_bg) < AA:   # the selected row, its state symbol included
        bad.append(f"selected row: {ratio(cursor_fg, cursor_bg):.2f}")
    assert not bad, f"{name}: " + ", ".join(bad)


def test_the_default_theme_keeps_every_state_apart_in_16_and_256_colours():
    v = palette(DEFAULT_THEME)
    for system in (ColorSystem.STANDARD, ColorSystem.EIGHT_BIT):
        mapped = {s: RichColor.parse(v[status.variable(s)]).downgrade(system).number for s in TaskState}
        same = {n: [s.value for s in mapped if mapped[s] == n] for n in set(mapped.values())}
        clashes = [states for states in same.values() if len(states) > 1]
        assert not clashes, f"{system.name}: the same colour for {clashes}"


async def test_the_selected_row_is_drawn_in_the_cursors_colours_symbol_included():
    from tests.ui.helpers import make_app, t, until

    app, sched, _ = make_app(t("a", "fail"), t("b"))
    async with app.run_test(size=(100, 20)) as pilot:
        await until(pilot, lambda: app.model.result == "failed" and app.selected == "a")
        await pilot.pause(0.1)
        strip = app.dag.render_line(app.dag.cursor_line - app.dag.scroll_offset.y)
        colours = {seg.style.color for seg in strip if seg.text.strip() and seg.style is not None}
        symbol = next(seg for seg in strip if "✗" in seg.text)
        name = next(seg for seg in strip if "a" in seg.text.strip() and "✗" not in seg.text)
        assert symbol.style.color == name.style.color, colours
