"""Secret masking: whole values, values split across reads, the no-secret fast path."""

from __future__ import annotations

import random
import re

import pytest

from tuiflow.engine.masking import Masker


def stream(masker: Masker, data: bytes, sizes: list[int]) -> bytes:
    out, pos = [], 0
    for n in sizes:
        out.append(masker.feed(data[pos:pos + n]))
        pos += n
    out.append(masker.feed(data[pos:]))
    out.append(masker.flush())
    return b"".join(out)


def test_no_secrets_is_zero_copy() -> None:
    m = Masker([])
    chunk = b"x" * 1000
    assert m.feed(chunk) is chunk
    assert m.flush() == b""
    assert not m.active


def test_whole_value_masked() -> None:
    m = Masker(["hunter22"])
    assert m.feed(b"password=hunter22\n") + m.flush() == b"password=***\n"


def test_value_split_byte_by_byte() -> None:
    m = Masker(["s3cr3t-token", "other"])
    data = b"a s3cr3t-token b s3cr3t-toke c other d s3cr3t-token"
    out = b"".join(m.feed(data[i:i + 1]) for i in range(len(data))) + m.flush()
    assert out == b"a *** b s3cr3t-toke c *** d ***"


@pytest.mark.parametrize("secrets", [
    ["abcabd", "xyz", "zzzzz", "ümlaut", "abc", "bcab"],                    # found with bytes.find
    ["abcabd", "xyz", "zzzzz", "ümlaut", "abc", "bcab", "dxy", "cdx"],      # found with one regex
])
def test_random_splits_match_whole_masking(secrets: list[str]) -> None:
    rng = random.Random(7)
    alphabet = b"abcdxyz \n" + "ü".encode()
    data = bytes(rng.choice(alphabet) for _ in range(5000)) + "ümlaut abcabd".encode()
    values = sorted((v.encode() for v in secrets), key=len, reverse=True)
    expected = re.compile(b"|".join(re.escape(v) for v in values)).sub(b"***", data)  # independent oracle
    whole = Masker(secrets)
    assert whole.feed(data) + whole.flush() == expected
    for _ in range(50):
        sizes = [rng.randint(0, 9) for _ in range(800)]
        assert stream(Masker(secrets), data, sizes) == expected
    assert b"abcabd" not in expected and "ümlaut".encode() not in expected


def test_longest_secret_wins_when_one_contains_another() -> None:
    m = Masker(["abc", "abcdef"])
    data = b"abcdef abc abcde"
    out = b"".join(m.feed(data[i:i + 1]) for i in range(len(data))) + m.flush()
    assert out == b"*** *** ***de"


def test_short_values_are_not_masked() -> None:
    m = Masker(["on", "1", ""])
    assert not m.active
    assert m.feed(b"on 1") == b"on 1"


def test_held_back_bytes_never_exceed_longest_secret() -> None:
    m = Masker(["abcdefgh"])
    assert m.feed(b"xxxxabcdefg") == b"xxxx"
    assert m.feed(b"Z") == b"abcdefgZ"


def test_mask_text() -> None:
    assert Masker(["hunter22"]).mask_text("pw hunter22!") == "pw ***!"
    assert Masker(["hunter22"]).mask_text("hunter22") == "***"
    assert Masker([]).mask_text("hunter22") == "hunter22"
