"""Every problem a person must act on is a PipelineError: file, line, column and what to do."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

# Small immutable records are NamedTuples: a tenth of a frozen dataclass's cost to define,
# which every start-up pays (see "Start-up" in docs/architecture.md).


class Mark(NamedTuple):
    """A position in a source file; line and col are 1-based, as editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class PipelineError(NamedTuple):
    """One problem found in a pipeline file, printed as `file:line:col: message`."""

    file: str
    line: int
    col: int
    message: str

    @classmethod
    def at(cls, mark: Mark | None, message: str, file: str = "<unknown>") -> PipelineError:
        if mark is None:
            return cls(file, 1, 1, message)
        return cls(mark.file, mark.line, mark.col, message)

    def __str__(self) -> str:
        """One line, with control characters from the file escaped (they would act on a terminal)."""
        from .termsafe import escape_controls
        return escape_controls(f"{self.file}:{self.line}:{self.col}: {self.message}")


class PipelineInvalid(Exception):
    """Raised by the loader with every problem found in one pass."""

    def __init__(self, errors: list[PipelineError]):
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.col))
        super().__init__("\n".join(str(e) for e in self.errors))


class UsageError(Exception):
    """A bad command line or run request (exit code 2), not tied to a position in a file."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or an empty string."""
    import difflib  # only when there is a problem to explain

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class StartFailed(Exception):
    """The run could not be started (its engine said why): printed on the normal screen, with
    the exit code it gives."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
