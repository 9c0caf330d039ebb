"""The servers' coalescing transport (runner.py): a response's head and body leave in one send."""

from __future__ import annotations

import asyncio

from deployer_tui.server.runner import COALESCE_MAX_BYTES, _CoalescingTransport


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_writes_of_one_loop_step_leave_as_one_send() -> None:
    real = FakeTransport()
    transport = _CoalescingTransport(real)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b'{"ok":true}')
    assert real.sent == [] and transport.get_write_buffer_size() == 30
    await asyncio.sleep(0)
    assert real.sent == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":true}']
    assert transport.get_write_buffer_size() == 0
    assert transport.get_extra_info("peername") == "info:peername"  # the rest is the real transport's


async def test_a_big_body_goes_out_at_once_and_close_flushes_first() -> None:
    real = FakeTransport()
    transport = _CoalescingTransport(real)  # type: ignore[arg-type]
    transport.write(b"head")
    transport.write(b"x" * COALESCE_MAX_BYTES)
    assert real.sent == [b"head" + b"x" * COALESCE_MAX_BYTES]  # no waiting for the loop
    transport.write(b"last")
    transport.close()
    assert real.sent[-1] == b"last" and real.closed
    await asyncio.sleep(0)  # the flush scheduled earlier finds nothing left to send
    assert len(real.sent) == 2
