"""The wire format between a run's engine and its viewers (docs/protocol.md has the whole story).

A frame is one JSON object on one line; when it has `"n": N`, N raw bytes follow the newline
(task output, a log window, a snapshot), so bulk data is never escaped or base64'd. Headers are
bounded (MAX_HEADER) and so are payloads (MAX_PAYLOAD): a peer that sends more is cut off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

PROTOCOL = 1
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 256 << 20

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class ProtocolError(Exception):
    """The peer does not speak this protocol (garbage, a frame too large, a wrong version)."""


def frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    if payload:
        header = {**header, "n": len(payload)}
        return _encode(header).encode() + b"\n" + payload
    return _encode(header).encode() + b"\n"


def parse_header(line: bytes) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not a tuiflow frame: {line[:80]!r}") from exc
    if not isinstance(header, dict):
        raise ProtocolError(f"not a tuiflow frame: {line[:80]!r}")
    n = header.get("n", 0)
    if not isinstance(n, int) or not 0 <= n <= MAX_PAYLOAD:
        raise ProtocolError(f"a payload of {n!r} bytes is not acceptable")
    return header


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or None at the end of the stream (a frame cut short counts as the end)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"a frame header longer than {MAX_HEADER} bytes") from exc
    header = parse_header(line)
    n = header.get("n", 0)
    if not n:
        return header, b""
    try:
        return header, await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        return None


def read_frame_blocking(recv: Callable[[int], bytes]) -> dict[str, Any] | None:
    """One header-only frame from a blocking socket's `recv`, a byte at a time, so nothing after it
    is taken from the stream (the handshake, before the event loop owns the connection)."""
    header = _header_blocking(recv)
    if header is not None and header.get("n"):
        raise ProtocolError("a handshake frame carries no payload")
    return header


def read_payload_frame_blocking(recv: Callable[[int], bytes]) -> tuple[dict[str, Any], bytes] | None:
    """One frame, payload included, from a blocking socket's `recv`, taking nothing after it
    (the pipeline a launcher hands its engine, with `go` right behind it)."""
    header = _header_blocking(recv)
    if header is None:
        return None
    size, payload = int(header.get("n") or 0), bytearray()
    while len(payload) < size:
        piece = recv(min(size - len(payload), 1 << 20))
        if not piece:
            return None
        payload += piece
    return header, bytes(payload)


def _header_blocking(recv: Callable[[int], bytes]) -> dict[str, Any] | None:
    line = bytearray()
    while not line.endswith(b"\n"):
        try:
            byte = recv(1)
        except ConnectionResetError:
            byte = b""
        if not byte:
            return None
        line += byte
        if len(line) > MAX_HEADER:
            raise ProtocolError(f"a frame header longer than {MAX_HEADER} bytes")
    return parse_header(bytes(line))


__all__ = ["MAX_HEADER", "MAX_PAYLOAD", "PROTOCOL", "ProtocolError", "frame", "parse_header", "read_frame",
           "read_frame_blocking", "read_payload_frame_blocking"]
