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

from deployer_tui.server.apinode.frames import encode, read_frame


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill us if the node dies, even while user code hangs."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return


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

    spec = read_frame(proto_in)
    if spec is None:
        return
    sys.path.insert(0, spec["shimDir"])
    try:
        from deployer_tui.server.apinode.endpoint_code import BUILDERS, to_json

        gen_dir = Path(spec["genDir"])
        handler = BUILDERS[spec["endpoint"]["type"]](spec["endpoint"], gen_dir, spec)
    except BaseException as exc:  # noqa: BLE001 - any load failure is reported, not raised
        reply = _error(exc)
        proto_out.write(encode({"ready": False, "error": reply["error"], "trace": reply.get("trace", "")}))
        return
    proto_out.write(encode({"ready": True, "pid": os.getpid()}))

    while True:
        message = read_frame(proto_in)
        if message is None:
            return
        start = time.perf_counter_ns()
        try:
            result = handler(message)
            us = (time.perf_counter_ns() - start) // 1000
            try:
                frame = encode({"ok": True, "result": result, "us": us})
            except (TypeError, ValueError):
                frame = encode({"ok": True, "result": to_json(result), "us": us})
        except BaseException as exc:  # noqa: BLE001 - the caller gets the error, the worker lives on
            try:
                frame = encode(_error(exc))
            except (TypeError, ValueError):
                frame = encode({"ok": False, "status": 500, "error": json.dumps(str(exc))})
        proto_out.write(frame)


if __name__ == "__main__":
    main()
