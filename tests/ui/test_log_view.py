"""The live log view: batching, follow / pause, search, wrap, bounded buffer, save and copy."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult

from deployer_tui.ui.clipboard import clipboard_for
from deployer_tui.ui.widgets.log_view import (
    LogBuffer,
    LogLines,
    LogView,
    SaveLogScreen,
    clean_lines,
    compile_search,
    line_level,
    tail_within,
)
from tests.ui.helpers import wait_for


class LogApp(App):
    def __init__(self, max_lines: int = 50_000) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines, name="test-log")

    def on_mount(self) -> None:
        self.query_one(LogLines).focus()



def numbered(n: int, start: int = 0) -> list[str]:
    return [f"line {i}" for i in range(start, start + n)]


# ---- pure pieces ---------------------------------------------------------------------------------


def test_clean_lines_splits_and_strips_controls() -> None:
    out = clean_lines(["a\tb", "two\nlines", "\x1b[31mred\x1b[0m", "bell\x07", "crlf\r\n"])
    assert out == ["a       b", "two", "lines", "red", "bell\ufffd", "crlf"]


def test_line_level_uses_upper_case_words() -> None:
    assert line_level("[2024/06/10] [ERROR] node down") == "error"
    assert line_level("Update FAILED on 1 node") == "error"
    assert line_level("[WARN] slow") == "warning"
    assert line_level("0 failed, 2 ok") is None


def test_smart_case_search() -> None:
    assert compile_search("node").search("NODE up")
    assert not compile_search("Node").search("node up")
    assert compile_search("a.b").search("a.b") and not compile_search("a.b").search("axb")


def test_buffer_keeps_the_last_lines_and_counts_dropped() -> None:
    buffer = LogBuffer(max_lines=5)
    assert buffer.extend(numbered(3)) == 0
    assert buffer.extend(numbered(4, 3)) == 2
    assert list(buffer.lines) == [f"line {i}" for i in range(2, 7)]
    assert buffer.dropped == 2 and buffer.total == 7
    assert buffer.get(2) == "line 2"
    with pytest.raises(IndexError):
        buffer.get(1)
    assert buffer.find_all(compile_search("line 6")) == [6]
    with pytest.raises(ValueError):
        LogBuffer(0)


def test_tail_within_cap() -> None:
    lines = ["x" * 9] * 10  # 10 bytes each with the newline
    assert tail_within(lines, 35) == lines[-3:]
    assert tail_within(lines, 1000) == lines


# ---- the widget ----------------------------------------------------------------------------------


async def test_batches_follow_and_pause() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        lines = app.query_one(LogLines)
        view.write_lines(numbered(500))
        assert view.pending == 500 and len(view.buffer) == 0  # nothing written before the tick
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.pause()
        assert len(view.buffer) == 500
        assert lines.following and lines.is_vertical_scroll_end
        assert "FOLLOW" in view.status_text

        await pilot.press("pageup")
        await pilot.pause()
        assert not lines.following
        top = lines.scroll_y
        view.write_lines(numbered(30, 500))
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.pause()
        assert lines.scroll_y == top  # paused: new lines do not move the view
        assert "PAUSED" in view.status_text and "30 new lines" in view.status_text

        await pilot.press("end")
        await pilot.pause()
        assert lines.following and lines.is_vertical_scroll_end
        assert "FOLLOW" in view.status_text
        view.write_lines(numbered(10, 530))
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.pause()
        assert lines.is_vertical_scroll_end
        assert lines.line_at_row(int(lines.scroll_y) + lines.scrollable_content_region.height - 1) == (539, 0)


async def test_scrolling_back_to_the_bottom_resumes() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        lines = app.query_one(LogLines)
        view.write_lines(numbered(100))
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.press("k", "k")
        assert not lines.following
        await pilot.press("j", "j")
        await pilot.pause()
        assert lines.following


async def test_search_next_previous_and_highlight() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        lines = app.query_one(LogLines)
        content = numbered(300)
        for i in (40, 150, 260):
            content[i] = f"line {i} [ERROR] node unreachable"
        view.write_lines(content)
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.press("slash")
        await pilot.press(*"unreachable")
        await pilot.press("enter")
        await pilot.pause()
        assert view.matches == [40, 150, 260]
        assert lines.current_match == 40 and not lines.following
        assert "1/3" in view.status_text
        assert lines.has_focus
        top = int(lines.scroll_y)
        assert top <= lines.row_of_line(40) < top + lines.scrollable_content_region.height
        await pilot.press("n")
        assert lines.current_match == 150 and "2/3" in view.status_text
        await pilot.press("n", "n")
        assert lines.current_match == 40  # wraps around
        await pilot.press("N")
        assert lines.current_match == 260
        # Matches in lines arriving later are found too.
        view.write_lines(["late line: unreachable"])
        await wait_for(pilot, lambda: view.pending == 0)
        assert view.matches == [40, 150, 260, 300]
        # The current match is styled differently from the line's plain text.
        row = lines.row_of_line(260) - int(lines.scroll_y)
        strip = lines.render_line(row)
        styles = {seg.style for seg in strip if "unreachable" in seg.text}
        assert styles and all(style is not None and style.bgcolor is not None for style in styles)

        assert view.search("no such text") == 0
        assert "no match" in view.status_text


async def test_escape_closes_search_without_searching() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        await pilot.press("slash", "x", "escape")
        assert not view.has_class("-searching")
        assert view.lines_widget.pattern is None


async def test_wrap_keeps_every_character_visible() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(LogView)
        lines = app.query_one(LogLines)
        long = "".join(chr(ord("a") + i % 26) for i in range(100))
        view.write_lines(["short", long, "end"])
        await wait_for(pilot, lambda: view.pending == 0)
        assert lines.row_count() == 3
        await pilot.press("w")
        assert lines.wrap and "wrap" in view.status_text
        width = lines.scrollable_content_region.width
        rows = -(-100 // width)
        assert lines.row_count() == 2 + rows
        assert lines.line_at_row(1) == (1, 0) and lines.line_at_row(rows) == (1, rows - 1)
        assert lines.line_at_row(1 + rows) == (2, 0)
        text = "".join(lines.render_line(r - int(lines.scroll_y)).text for r in range(1, 1 + rows))
        assert text.rstrip() == long
        await pilot.press("w")
        assert lines.row_count() == 3


async def test_bounded_buffer_shows_a_dropped_marker() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        lines = app.query_one(LogLines)
        view.write_lines(numbered(250))
        await wait_for(pilot, lambda: view.pending == 0)
        assert len(view.buffer) == 100 and view.buffer.dropped == 150
        assert "150 older dropped" in view.status_text
        await pilot.press("g")
        await pilot.pause()
        assert "150 older lines dropped" in lines.render_line(0).text
        assert lines.render_line(1).text.startswith("line 150")
        # Paused on a line: lines falling off the front do not move it.
        view.lines_widget.show_line(200)
        await pilot.pause()
        top = lines.top_line()
        view.write_lines(numbered(20, 250))
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.pause()
        assert lines.top_line() == top


async def test_jump_to_first_error() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        content = numbered(200)
        content[120] = "[ERROR] Node http://127.0.0.1:1 unreachable"
        content[150] = "[ERROR] second"
        view.write_lines(content)
        assert view.jump_to_first("error") == 120
        await pilot.pause()
        lines = view.lines_widget
        top = int(lines.scroll_y)
        assert top <= lines.row_of_line(120) < top + lines.scrollable_content_region.height
        assert view.jump_to_first("warning") is None


async def test_save_refuses_overwrite_and_writes_all_lines(tmp_path) -> None:
    app = LogApp()
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.query_one(LogView)
        view.write_lines(numbered(50))
        existing = tmp_path / "exists.log"
        existing.write_text("keep me")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveLogScreen)
        box = app.screen.query_one("#save-path")
        box.value = str(existing)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveLogScreen)  # still open, nothing lost
        assert "already exists" in str(app.screen.query_one("#save-error").render())
        assert existing.read_text() == "keep me"
        target = tmp_path / "update.log"
        box.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, SaveLogScreen)
        assert target.read_text().splitlines() == numbered(50)


async def test_copy_uses_the_clipboard_service() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.write_lines(numbered(3))
        await pilot.press("y")
        assert app.clipboard == "line 0\nline 1\nline 2"
        assert clipboard_for(app).last.what == "3 log lines"


async def test_large_burst_is_ingested_in_bounded_ticks() -> None:
    """100k lines end up in the buffer without one flush handling them all at once."""
    app = LogApp(max_lines=50_000)
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.write_lines(numbered(100_000))
        await wait_for(pilot, lambda: view.pending == 0, timeout=20)
        await asyncio.sleep(0)
        assert view.buffer.total == 100_000 and len(view.buffer) == 50_000
        assert view.lines[-1] == "line 99999"


async def test_copy_of_a_large_log_takes_the_tail_that_fits() -> None:
    from deployer_tui.ui.clipboard import MAX_COPY_BYTES

    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(LogView)
        view.write_lines(f"line {i:06d}" for i in range(20_000))  # 12 bytes a line with its newline: 240 kB
        await pilot.press("y")
        copied = app.clipboard
        assert len(copied.encode()) <= MAX_COPY_BYTES
        assert copied.endswith("line 019999")
        assert copied.splitlines()[0] == f"line {20_000 - len(copied.splitlines()):06d}"  # a whole tail
        assert clipboard_for(app).last.what.startswith("the last ")


async def test_search_in_wrapped_lines_shows_the_match() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(LogView)
        lines = app.query_one(LogLines)
        view.write_lines(["x" * 200 for _ in range(50)] + ["needle here"] + ["y" * 200 for _ in range(50)])
        await wait_for(pilot, lambda: view.pending == 0)
        await pilot.press("w")
        assert view.search("needle") == 1
        await pilot.pause()
        top, height = int(lines.scroll_y), lines.scrollable_content_region.height
        assert top <= lines.row_of_line(50) < top + height
        shown = [lines.render_line(y).text for y in range(height)]
        assert any(row.startswith("needle here") for row in shown)
