"""What a log pane knows of a task's logs: a window over whole files it never holds.

Pure and widget-free, so it is tested without a terminal. A `PaneDoc` is the rows of a pane:
for each attempt shown, a marker row between attempts, then every line of its log. It holds
only the line counts, the last lines (`LiveLines`: output as it arrives, rendered as a
terminal shows it) and a bounded cache of lines fetched by number from the engine
(`BlockCache`); a row that is neither is asked for (`wanted`) and drawn when it comes. A
`PaneSearch` is a search over all of it: the engine scans the files in pieces, the pane
scans what arrives meanwhile.
"""

from __future__ import annotations

import codecs
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from tuiflow.engine.logsearch import Matcher
from tuiflow.engine.termline import MAX_CELLS, LineRenderer, cut, plain_enough, render_line

BLOCK = 128                    # lines fetched from the engine at a time
CACHE_CHARS = 4_000_000        # characters of fetched lines kept (the least recently used go)
RECENT_CHARS = 4_000_000       # characters of the last lines kept
OPEN_RAW = 64 * 1024           # bytes of the line being written kept as they came (for search)
MAX_HITS = 1_000_000           # a search stops counting there (8 MB of line numbers)
MISSING = "\x00"               # a row that is not in the log file (cut by the run's log_limit)


def rendered(lines: list[str], text: str | None = None) -> list[str]:
    """Lines as a terminal shows them (termline.render_line), quickly when there is nothing to do
    (`text`: the same lines joined, when the caller has it)."""
    if plain_enough("\n".join(lines) if text is None else text):
        if lines and max(map(len, lines)) > MAX_CELLS:
            return [cut(line) for line in lines]
        return lines
    return [render_line(line) for line in lines]


class LiveLines:
    """Output as it arrives: decoded, cut into lines, each rendered once it is complete."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.open = LineRenderer()
        self.open_raw = b""        # the open line's bytes as written (its first OPEN_RAW)
        self.open_bytes = 0        # and how many there are

    def feed(self, data: bytes, keep: int) -> tuple[list[str], int]:
        """(the last `keep` lines that `data` completes, how many it completes in all).

        A flood is cut in bytes first: lines before the last `keep` are counted, never decoded.
        """
        newlines = data.count(b"\n")
        if not newlines:
            if len(self.open_raw) < OPEN_RAW:
                self.open_raw += data[:OPEN_RAW - len(self.open_raw)]
            self.open_bytes += len(data)
            self._extend_open(self._decoder.decode(data))
            return [], 0
        last = data.rfind(b"\n")
        self.open_raw = data[last + 1:last + 1 + OPEN_RAW]
        self.open_bytes = len(data) - last - 1
        if newlines > keep:
            start = _start_of_last(data, keep + 1)
            self._decoder.reset()      # a character cut there belonged to a dropped line
            self.open = LineRenderer()
            text = self._decoder.decode(data[start:])
            first = None
        else:
            text = self._decoder.decode(data)
            first = ""
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")
        parts = text.split("\n")
        rest = parts.pop()
        if first is not None:          # the line that was open ends here
            self._extend_open(parts[0])
            parts[0] = self.open.text()
            done = [parts[0], *rendered(parts[1:], text)] if len(parts) > 1 else [parts[0]]
        else:
            done = rendered(parts, text)
        self.open = LineRenderer()
        self._extend_open(rest)
        return done, newlines

    def _extend_open(self, text: str) -> None:
        if text:
            self.open.feed(text)

    @property
    def open_text(self) -> str:
        return "" if self.open.empty else self.open.text()


def _start_of_last(data: bytes, lines: int) -> int:
    """Where the last `lines` pieces between newlines of `data` start (the last one open)."""
    pos = len(data)
    for _ in range(lines):
        pos = data.rfind(b"\n", 0, pos)
    return pos + 1


@dataclass(eq=False)
class AttemptLog:
    """One attempt's log as the pane knows it.

    Its rows are its lines: `before` lines (counted by the engine; None until they are), then
    `after` lines counted here (the tail read when the pane opened, and what came since), then
    the line being written. The last lines are kept (`recent`); the others are fetched.
    """

    number: int
    marker: str = ""
    before: int | None = 0
    after: int = 0
    start: int | None = 0                         # byte where the lines counted here start (None: at the end)
    end: int = 0                                  # bytes of the log this covers
    recent: deque[str] = field(default_factory=deque)
    recent_chars: int = 0
    live: LiveLines = field(default_factory=LiveLines)

    @property
    def lines(self) -> int:
        """Rows of lines (the marker not included)."""
        return (self.before or 0) + self.after + (0 if self.live.open.empty else 1)

    @property
    def complete(self) -> int | None:
        """Lines of the log that are whole (numbered from 0), when counted."""
        return None if self.before is None else self.before + self.after

    def add(self, lines: list[str], count: int, keep: int) -> None:
        self.after += count
        if count > len(lines):
            self.recent.clear()
            self.recent_chars = 0
        self.recent.extend(lines)
        self.recent_chars += sum(map(len, lines))
        while self.recent and (len(self.recent) > keep or self.recent_chars > RECENT_CHARS):
            self.recent_chars -= len(self.recent.popleft())


class BlockCache:
    """Lines fetched from the engine, by (attempt, block): the least recently used go first."""

    def __init__(self, max_chars: int = CACHE_CHARS) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._blocks: OrderedDict[tuple[int, int], list[str]] = OrderedDict()

    def get(self, attempt: int, line: int) -> str | None:
        block = self._blocks.get((attempt, line // BLOCK))
        if block is None:
            return None
        self._blocks.move_to_end((attempt, line // BLOCK))
        i = line % BLOCK
        return block[i] if i < len(block) else MISSING

    def has(self, attempt: int, block: int) -> bool:
        return (attempt, block) in self._blocks

    def put(self, attempt: int, block: int, lines: list[str]) -> None:
        old = self._blocks.pop((attempt, block), None)
        if old is not None:
            self.chars -= sum(map(len, old))
        self._blocks[(attempt, block)] = lines
        self.chars += sum(map(len, lines))
        while self.chars > self.max_chars and len(self._blocks) > 1:
            _, dropped = self._blocks.popitem(last=False)
            self.chars -= sum(map(len, dropped))

    def clear(self) -> None:
        self._blocks.clear()
        self.chars = 0


class PaneDoc:
    """The rows of a pane: for each attempt, its marker row (if any), then its lines."""

    def __init__(self, keep: int = 10_000) -> None:
        self.keep = keep
        self.attempts: list[AttemptLog] = []
        self.cache = BlockCache()
        self.wanted: set[tuple[int, int]] = set()   # (attempt, block) rows drawn as not loaded
        self.version = 0                            # bumps when rows move (render caches key on it)
        self.max_width = 0                          # longest line seen, in characters

    # ---------------------------------------------------------------- building
    def add_attempt(self, attempt: AttemptLog) -> None:
        self.attempts.append(attempt)
        self.version += 1

    def feed(self, parts: list[bytes]) -> int:
        """Output of the last attempt, in consecutive pieces; returns how many lines it completed.

        In a flood only the pieces that hold the last `keep` lines are joined; the newlines of
        the others are counted.
        """
        log = self.attempts[-1]
        skipped = 0
        if len(parts) > 1:
            newlines, i = 0, len(parts)
            while i > 0 and newlines <= self.keep:
                i -= 1
                newlines += parts[i].count(b"\n")
            if i > 0:
                skipped = sum(part.count(b"\n") for part in parts[:i])
                log.end += sum(map(len, parts[:i]))
                parts = parts[i:]
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        done, count = log.live.feed(data, self.keep)
        count += skipped
        log.end += len(data)
        if done:
            log.add(done, count, self.keep)
            widest = max(map(len, done))
            if widest > self.max_width:
                self.max_width = widest
        return count

    def set_before(self, log: AttemptLog, before: int) -> int:
        """The engine counted the lines before what the pane read: returns the row where they go."""
        log.before = before
        self.version += 1
        return self.first_row(log)

    # ---------------------------------------------------------------- geometry
    @property
    def rows(self) -> int:
        return sum(len(log.marker and "x") + log.lines for log in self.attempts)

    def first_row(self, log: AttemptLog) -> int:
        """Row of an attempt's first line."""
        row = 0
        for other in self.attempts:
            row += 1 if other.marker else 0
            if other is log:
                return row
            row += other.lines
        raise ValueError(f"attempt {log.number} is not in this pane")

    def locate(self, row: int) -> tuple[AttemptLog, int] | None:
        """(attempt, index of its line: -1 for its marker) of a row; None past the end."""
        for log in self.attempts:
            if log.marker:
                if row == 0:
                    return log, -1
                row -= 1
            if row < log.lines:
                return log, row
            row -= log.lines
        return None

    def row_of(self, attempt: int, line: int) -> int | None:
        """Row of 0-based `line` of an attempt's log (its lines must be counted)."""
        for log in self.attempts:
            if log.number == attempt and log.before is not None:
                return self.first_row(log) + min(line, max(0, log.lines - 1))
        return None

    def log(self, attempt: int) -> AttemptLog | None:
        for log in self.attempts:
            if log.number == attempt:
                return log
        return None

    # ---------------------------------------------------------------- lines
    def text(self, row: int) -> str | None:
        """A row's text (rendered: printable characters and colours), or None when it is not
        loaded yet (it is then `wanted`). A marker row starts with "\\x00MARK"."""
        found = self.locate(row)
        if found is None:
            return ""
        log, index = found
        if index < 0:
            return "\x00MARK" + log.marker
        before = log.before or 0
        rel = index - before                       # from the first line read with the tail
        if rel == log.after:
            return log.live.open_text
        if rel >= log.after - len(log.recent) and rel >= 0:
            return log.recent[rel - log.after + len(log.recent)]
        if log.before is None:
            return None                            # its number is not known yet: nothing to ask
        text = self.cache.get(log.number, index)
        if text is None:
            self.wanted.add((log.number, index // BLOCK))
        return text

    def missing(self, log: AttemptLog, block: int) -> tuple[int, int] | None:
        """(first line, count) of a block that must be fetched (lines before the kept ones)."""
        if log.before is None:
            return None
        limit = log.before + log.after - len(log.recent)
        first = block * BLOCK
        if first >= limit or self.cache.has(log.number, block):
            return None
        return first, min(BLOCK, limit - first)

    def store(self, attempt: int, block: int, lines: list[str]) -> None:
        self.cache.put(attempt, block, rendered(lines))
        if lines:
            widest = max(map(len, lines))
            if widest > self.max_width:
                self.max_width = min(widest, MAX_CELLS)


class Hits:
    """One attempt's matches, in line order: those the engine found (up to where the search
    began), then those found here in output that came later (all after them)."""

    __slots__ = ("early", "late")

    def __init__(self) -> None:
        self.early = array("q")
        self.late = array("q")

    def add(self, lines: list[int], late: bool) -> None:
        part = self.late if late else self.early
        if part and lines and lines[0] <= part[-1]:   # the same line again (a long line's pieces)
            lines = [n for n in lines if n > part[-1]]
        part.extend(lines)

    def __len__(self) -> int:
        return len(self.early) + len(self.late)

    def __getitem__(self, i: int) -> int:
        if i < 0:
            i += len(self)
        early = self.early
        return early[i] if i < len(early) else self.late[i - len(early)]

    def tolist(self) -> list[int]:
        return self.early.tolist() + self.late.tolist()


@dataclass(eq=False)
class PaneSearch:
    """A search over every line of a pane: the line numbers that show the query, per attempt.

    The engine scans each log up to `end` (`scan`), in pieces; lines completed after that are
    scanned here as they arrive (`feed`). Hits are in line order per attempt.
    """

    query: str
    matcher: Matcher = field(init=False)
    hits: dict[int, Hits] = field(default_factory=dict)
    current: tuple[int, int] | None = None          # (attempt, line) of the current match
    steps: int = 0                                  # n (+1) / N (-1) typed before there was one
    total: int = 0                                  # bytes the engine has to scan
    done: int = 0                                   # of which scanned
    scanning: bool = True
    full: bool = False                              # MAX_HITS reached: counting stopped
    live: bool = False                              # lines that arrive are scanned here
    live_attempt: int = 0
    live_line: int = 0                              # number of the line `live_carry` starts
    live_carry: bytes = b""

    def __post_init__(self) -> None:
        self.matcher = Matcher(self.query)

    def add(self, attempt: int, lines: list[int], late: bool = False) -> None:
        """Matches the engine found (`late`: found here, in output that came after)."""
        if self.full or not lines:
            return
        room = MAX_HITS - self.count
        if len(lines) >= room:
            lines, self.full = lines[:room], True
        self.hits.setdefault(attempt, Hits()).add(lines, late)

    def start_live(self, attempt: int, line: int, carry: bytes) -> None:
        """Lines of `attempt` from `line` on are scanned here; `carry`: what of it is written."""
        self.live, self.live_attempt, self.live_line, self.live_carry = True, attempt, line, carry

    def feed(self, attempt: int, data: bytes) -> None:
        if attempt != self.live_attempt:
            self.start_live(attempt, 0, b"")
        data = self.live_carry + data if self.live_carry else data
        cut = data.rfind(b"\n") + 1
        if cut:
            found, _ = self.matcher.scan(data, self.live_line, MAX_HITS, cut)
            self.add(attempt, found, late=True)
            self.live_line += data.count(b"\n", 0, cut)
        self.live_carry = data[cut:cut + OPEN_RAW]

    @property
    def count(self) -> int:
        return sum(map(len, self.hits.values()))

    def ordinal(self) -> int:
        """1-based position of the current match among all (0: none)."""
        if self.current is None:
            return 0
        attempt, line = self.current
        before = sum(len(h) for a, h in self.hits.items() if a < attempt)
        hits = self.hits.get(attempt)
        return before + (bisect_left(hits, line) + 1 if hits is not None else 0)

    def step(self, order: list[int], attempt: int, line: int, forward: bool,
             inclusive: bool = False) -> tuple[int, int] | None:
        """The match after (before) line `line` of `attempt`, attempts in the pane's `order`,
        wrapping around; `inclusive`: that line itself counts."""
        if not self.count:
            return None
        at = order.index(attempt) if attempt in order else 0
        if forward:
            for k, number in enumerate(order[at:]):
                hits = self.hits.get(number)
                if hits:
                    i = 0 if k else (bisect_left(hits, line) if inclusive else bisect_right(hits, line))
                    if i < len(hits):
                        return number, hits[i]
            first = next(n for n in order if self.hits.get(n))
            return first, self.hits[first][0]
        for k, number in enumerate(reversed(order[:at + 1])):
            hits = self.hits.get(number)
            if hits:
                i = len(hits) - 1 if k else (bisect_right(hits, line) if inclusive else bisect_left(hits, line)) - 1
                if i >= 0:
                    return number, hits[i]
        last = next(n for n in reversed(order) if self.hits.get(n))
        return last, self.hits[last][-1]


__all__ = ["AttemptLog", "BLOCK", "BlockCache", "Hits", "LiveLines", "MISSING", "PaneDoc", "PaneSearch", "rendered"]
