"""The node ↔ worker wire: length-prefixed JSON frames over the worker's stdin/stdout pipes.

Kept to the standard library because the worker imports it before any user code, and JSON
rather than pickle so that nothing a worker sends can run code in the node's process.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")
# A frame bigger than this is a bug or an attack, not a query.
MAX_FRAME = 256 * 1024 * 1024


# A reply frame starting with this byte carries a JSON header (its size first) and then the result,
# already JSON-encoded, which the node splices into its answer without decoding it.
RAW_MARK = b"\x00"
# Results larger than this travel that way.
RAW_RESULT_BYTES = 256 * 1024


# Built once: json.dumps with options builds a new encoder on every call, on both sides of every query.
_to_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode(message: Any) -> bytes:
    payload = _to_json(message).encode("utf-8")
    return HEADER.pack(len(payload)) + payload


def encode_reply(reply: dict[str, Any], result_json: bytes) -> bytes:
    """A RAW_MARK frame: `reply` (without its result) then the result's JSON bytes."""
    header = _to_json(reply).encode("utf-8")
    payload_size = 1 + HEADER.size + len(header) + len(result_json)
    return b"".join((HEADER.pack(payload_size), RAW_MARK, HEADER.pack(len(header)), header, result_json))


def read_exact(stream: BinaryIO, n: int) -> bytes | None:
    """Blocking read of exactly n bytes; None on a clean end of stream."""
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> Any:
    """Blocking read of one frame (the worker side); None when the node closed the pipe."""
    header = read_exact(stream, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    payload = read_exact(stream, size)
    if payload is None:
        return None
    return json.loads(payload.decode("utf-8"))
