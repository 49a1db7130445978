"""Secret masking for task output: every value of a `secrets:` variable becomes `***`.

A task's output arrives in chunks of arbitrary size, so a value may be split across two reads;
`Masker.feed` holds back the few trailing bytes that could still be the start of a secret.

Values shorter than MIN_SECRET_LEN characters are not masked: a one- or two-character value
("1", "on", "us") occurs everywhere in ordinary output, so masking it would wreck every log
while protecting nothing that could not be guessed anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

MASK = "***"
MIN_SECRET_LEN = 3
FIND_MAX = 6

class Masker:
    """Streaming replacement of secret values by `***` in one task attempt's output."""

    __slots__ = ("_values", "_re", "_text_re", "_hold", "_prefixes", "_first", "_tail")

    def __init__(self, secrets: Iterable[str]) -> None:
        texts = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        # Longest first, so a secret that contains another is masked whole.
        self._values = sorted({t.encode("utf-8") for t in texts}, key=len, reverse=True)
        values = self._values
        # A few values: one bytes.find each (GB/s whatever the text). Many: one regex pass, which
        # is fast too unless a value starts with a byte the text is full of.
        self._re = re.compile(b"|".join(re.escape(v) for v in values)) if len(values) > FIND_MAX else None
        self._text_re = re.compile("|".join(re.escape(t) for t in texts)) if texts else None
        self._hold = max((len(v) for v in values), default=1) - 1
        self._prefixes = frozenset(v[:k] for v in values for k in range(1, len(v)))
        self._first = frozenset(v[0] for v in values)
        self._tail = b""

    @property
    def active(self) -> bool:
        return bool(self._values)

    def feed(self, data: bytes) -> bytes:
        """Masked bytes that are final now; up to len(longest secret) - 1 bytes may be held back."""
        if not self._values:
            return data
        return self._mask(self._tail + data if self._tail else data, self._hold)

    def flush(self) -> bytes:
        """The held-back bytes at the end of the stream, masked."""
        tail = self._tail
        if not tail:
            return tail
        return self._mask(tail, 0)

    def _mask(self, buf: bytes, hold: int) -> bytes:
        n = len(buf)
        cut = self._hold_from(buf, n - hold) if hold else n
        out: list[bytes] = []
        pos = 0
        for start, end in self._spans(buf):
            if start >= cut:
                break
            out.append(buf[pos:start])
            out.append(b"***")
            pos = end
            if pos > cut:
                cut = self._hold_from(buf, pos)
        out.append(buf[pos:cut])
        self._tail = buf[cut:]
        return b"".join(out)

    def _spans(self, buf: bytes) -> Iterator[tuple[int, int]]:
        """Occurrences in buf: leftmost first, the longest value at a position, never overlapping."""
        if self._re is not None:
            for m in self._re.finditer(buf):
                yield m.start(), m.end()
            return
        values = self._values
        n = len(buf)
        nxt = [buf.find(v) for v in values]
        while True:
            best, start = -1, n
            for j, at in enumerate(nxt):
                if at != -1 and at < start:
                    best, start = j, at
            if best < 0:
                return
            end = start + len(values[best])
            yield start, end
            for j, at in enumerate(nxt):
                if at != -1 and at < end:
                    nxt[j] = buf.find(values[j], end)

    def _hold_from(self, buf: bytes, lo: int) -> int:
        """First position >= lo where the rest of buf could still grow into a secret."""
        first, prefixes = self._first, self._prefixes
        for p in range(max(0, lo), len(buf)):
            if buf[p] in first and buf[p:] in prefixes:
                return p
        return len(buf)

    def mask_text(self, text: str) -> str:
        """`text` with every secret value replaced (for run.json, outputs, messages)."""
        if self._text_re is None:
            return text
        return self._text_re.sub(MASK, text)


__all__ = ["MASK", "MIN_SECRET_LEN", "Masker"]
