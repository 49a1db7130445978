"""What Textual does to every rendered line before it reaches the terminal, adjusted for tuiflow.

- A task's 16 ANSI colours go to the terminal as they are (SGR 31, 92, ...), so the user's own
  palette applies: Textual's ANSI-to-truecolor conversion is left out (it turns them into fixed
  RGB values, which a 256-colour terminal then shows as palette approximations).
- NO_COLOR: Textual's monochrome filter fails on a segment without a style (Rich gives plain
  Text exactly that); every segment gets one first.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor, LineFilter

NULL = Style.null()


class WithStyles(LineFilter):
    """`inner`, given a style on every segment."""

    def __init__(self, inner: LineFilter) -> None:
        super().__init__(enabled=inner.enabled)
        self.inner = inner

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if any(segment.style is None for segment in segments):
            segments = [s if s.style is not None else Segment(s.text, NULL, s.control) for s in segments]
        return self.inner.apply(segments, background)


class TuiflowFilters:
    """Textual's enabled filters, adjusted (see the module); rebuilt only when they change."""

    def __init__(self) -> None:
        self._source: tuple[LineFilter, ...] = ()
        self._filters: list[LineFilter] = []

    def adjust(self, filters: Sequence[LineFilter]) -> list[LineFilter]:
        source = tuple(filters)
        if source != self._source:
            self._source = source
            self._filters = [WithStyles(f) for f in source if not isinstance(f, ANSIToTruecolor)]
        return self._filters
