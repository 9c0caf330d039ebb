"""The entry point of a worker process: load one endpoint, then answer queries one at a time.

Started by `workers.Worker` as `python -c ...`. The first frame on stdin is the endpoint spec;
the worker answers `{"ready": true}` once the endpoint code is loaded (or `{"ready": false,
"error": ...}`), then one reply frame per request frame until stdin closes. The protocol uses
private copies of fds 0 and 1: user code printing to stdout writes to stderr (the node's log),
and user code reading stdin reads /dev/null.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from deployer_tui.server.apinode import confine
from deployer_tui.server.apinode.frames import HEADER, RAW_RESULT_BYTES, encode, encode_reply, read_frame

# Endpoint types whose handler runs no endpoint code: built before confinement, so that e.g. a SQL
# endpoint holds its database open, and what its queries can reach is then confined like code.
NO_USER_CODE = ("SQL_QUERY", "DATASETS_LOOKUP")


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill us if the node dies, even while user code hangs."""
    try:
        confine.die_with_parent()
    except (OSError, AttributeError):
        return


class Channel:
    """The worker's answer pipe, which only the worker process itself may write.

    Endpoint code that forks (and returns in both processes) would otherwise answer twice, the
    copy's answer reaching whoever asks next; a forked copy that tries to answer exits instead.
    """

    def __init__(self, out: Any) -> None:
        self.out = out
        self.pid = os.getpid()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.out = None

    def write(self, frame: bytes) -> None:
        if self.out is None or os.getpid() != self.pid:
            os._exit(0)
        self.out.write(frame)


def _error(exc: BaseException, status: int = 500) -> dict[str, Any]:
    from deployer_tui.server.apinode.endpoint_code import QueryError

    if isinstance(exc, QueryError):
        return {"ok": False, "status": exc.status, "error": str(exc), "errorType": "QueryError"}
    custom_status = getattr(exc, "http_status_code", None)  # DkuCustomApiException
    if type(exc).__name__ == "DkuCustomApiException" and isinstance(custom_status, int):
        return {"ok": False, "status": custom_status, "error": str(exc), "errorType": type(exc).__name__}
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return {"ok": False, "status": status, "error": text, "errorType": type(exc).__name__,
            "trace": "".join(traceback.format_exception(exc))[-20000:]}


def main() -> None:
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the node died before prctl took effect
        os._exit(1)
    proto_in = os.fdopen(os.dup(0), "rb")  # buffered: a frame's header and body come in one read
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    # sys.stdout was opened on a pipe (block-buffered); endpoint prints should reach the log as they happen.
    sys.stdout.reconfigure(line_buffering=True)

    channel = Channel(proto_out)
    spec = read_frame(proto_in)
    if spec is None:
        return
    seq = spec.get("seq")
    sys.path.insert(0, spec["shimDir"])
    sys.dont_write_bytecode = True  # the version folder is read-only to endpoint code
    max_answer = int(spec.get("maxAnswerBytes") or 0)
    try:
        from deployer_tui.server.apinode.endpoint_code import BUILDERS, to_json

        gen_dir = Path(spec["genDir"])
        build = BUILDERS[spec["endpoint"]["type"]]
        if spec["endpoint"]["type"] in NO_USER_CODE:
            handler = build(spec["endpoint"], gen_dir, spec)
            _confine(spec)
        else:
            _confine(spec)
            handler = build(spec["endpoint"], gen_dir, spec)
    except BaseException as exc:  # noqa: BLE001 - any load failure is reported, not raised
        reply = _error(exc)
        channel.write(encode({"ready": False, "error": reply["error"], "trace": reply.get("trace", ""),
                              "seq": seq}))
        return
    channel.write(encode({"ready": True, "pid": os.getpid(), "seq": seq}))

    while True:
        message = read_frame(proto_in)
        if message is None:
            return
        seq = message.pop("seq", None)
        start = time.perf_counter_ns()
        try:
            result = handler(message)
            us = (time.perf_counter_ns() - start) // 1000
            try:
                result_json = _to_json(result)
            except (TypeError, ValueError):
                result_json = _to_json(to_json(result))
            if max_answer and len(result_json) > max_answer:
                raise AnswerTooLarge(f"The endpoint's answer is {len(result_json)} bytes, more than this API "
                                     f"node's limit of {max_answer} bytes (limits.maxAnswerBytes)")
            if len(result_json) > RAW_RESULT_BYTES:
                frame = encode_reply({"ok": True, "us": us, "seq": seq}, result_json)
            else:  # the result is encoded once, not once to measure it and again inside the reply
                payload = b'{"ok":true,"us":%d,"seq":%s,"result":%s}' % (us, _to_json(seq), result_json)
                frame = HEADER.pack(len(payload)) + payload
        except BaseException as exc:  # noqa: BLE001 - the caller gets the error, the worker lives on
            try:
                frame = encode({**_error(exc), "seq": seq})
            except (TypeError, ValueError):
                frame = encode({"ok": False, "status": 500, "error": json.dumps(str(exc)), "seq": seq})
        result = result_json = None  # a big answer is not kept alive until the next query
        channel.write(frame)


class AnswerTooLarge(Exception):
    """The endpoint returned more than the node accepts in one answer."""


_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _to_json(value: Any) -> bytes:
    return _encoder(value).encode("utf-8")


def _confine(spec: dict[str, Any]) -> None:
    plan = spec.get("confine")
    if plan:
        confine.confine_worker(plan)


if __name__ == "__main__":
    main()
