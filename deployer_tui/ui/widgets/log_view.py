"""A live log view for update futures and update history.

One heavy widget, in the spirit of toolong's: a Line-API `ScrollView` (`LogLines`) renders only the rows on
screen from a bounded ring buffer (`LogBuffer`), so 100,000 lines cost what the visible 40 cost. Writers never
touch the widget directly: `LogView.write_lines` only queues, and a timer flushes the queue in one batch per
tick, so a burst of lines is one layout and one repaint instead of thousands.

Behaviour (what operators expect of a log pager):
- follows the end by default; scrolling up pauses and the status bar counts lines that arrived since;
  `end` (or scrolling back to the bottom) resumes;
- `/` search (case-insensitive unless the pattern has a capital), `n` / `N` next / previous match;
- `w` wraps long lines to the width (the view keeps the top line in place);
- `ctrl+s` saves the whole buffer to a file, `y` copies (the tail that fits the clipboard cap);
- the buffer keeps `max_lines`; older lines fall off the front and a marker row says how many.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from itertools import accumulate
from pathlib import Path
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Label, Static

from deployer_tui.ui.clipboard import MAX_COPY_BYTES, copy_text
from deployer_tui.ui.view.log_text import DEFAULT_MAX_LINES, line_level

# Lines handled per flush: bounds the work one tick does, so a 100k burst never stalls the UI for long.
FLUSH_CHUNK = 5_000
FLUSH_INTERVAL = 1 / 30

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_lines(batch: Iterable[str]) -> list[str]:
    """Split on embedded newlines, expand tabs, strip ANSI sequences and other control codes.

    Done on the joined batch so the regexes and `splitlines` run once in C rather than once per line.
    """
    text = "\n".join(batch)
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\t" in text:
        text = text.expandtabs()
    text = _CONTROL.sub("\ufffd", text)
    return text.splitlines()


def compile_search(pattern: str) -> re.Pattern[str]:
    """Plain-text search, smart case: case-insensitive unless the pattern has a capital letter."""
    flags = 0 if any(ch.isupper() for ch in pattern) else re.IGNORECASE
    return re.compile(re.escape(pattern), flags)


class LogBuffer:
    """A ring buffer of lines numbered from the first line ever written (absolute numbers).

    Absolute numbers survive lines falling off the front, so render caches and search hits never need
    renumbering; `dropped` says how many fell off.
    """

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = max_lines
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.dropped = 0
        self.width = 0

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def total(self) -> int:
        """Lines ever written (kept + dropped)."""
        return self.dropped + len(self.lines)

    def extend(self, lines: list[str]) -> int:
        """Append clean lines; returns how many old lines this pushed out."""
        if not lines:
            return 0
        overflow = max(0, len(self.lines) + len(lines) - self.max_lines)
        if len(lines) > self.max_lines:
            lines = lines[-self.max_lines :]
        widths = map(len, lines) if all(map(str.isascii, lines)) else map(cell_len, lines)
        self.width = max(self.width, max(widths))
        self.lines.extend(lines)
        self.dropped += overflow
        return overflow

    def clear(self) -> None:
        self.lines.clear()
        self.dropped = 0
        self.width = 0

    def get(self, number: int) -> str:
        """The line with absolute number `number` (IndexError if dropped or not written yet)."""
        index = number - self.dropped
        if index < 0:
            raise IndexError(number)
        return self.lines[index]

    def find_all(self, pattern: re.Pattern[str], start: int | None = None) -> list[int]:
        """Absolute numbers of the lines matching, from `start` (absolute) on."""
        first = self.dropped if start is None else max(start, self.dropped)
        search = pattern.search
        lines = self.lines
        base = self.dropped
        return [base + i for i in range(first - base, len(lines)) if search(lines[i])]


class LogLines(ScrollView, can_focus=True):
    """The scrolling line renderer. Owned by `LogView`, which feeds it and drives search."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-lines--match",
        "log-lines--current",
        "log-lines--error",
        "log-lines--warning",
        "log-lines--marker",
    }

    DEFAULT_CSS = """
    LogLines {
        background: $surface;
        color: $text;
        overflow: scroll;
        height: 1fr;
        &:focus { background-tint: $foreground 5%; }
        & > .log-lines--match { background: $warning 40%; }
        & > .log-lines--current { background: $accent; color: $text; text-style: bold; }
        & > .log-lines--error { color: $text-error; }
        & > .log-lines--warning { color: $text-warning; }
        & > .log-lines--marker { color: $text-muted; text-style: italic; }
    }
    """

    following: reactive[bool] = reactive(True, init=False)
    wrap: reactive[bool] = reactive(False, init=False)

    class FollowChanged(Message):
        """Posted when following switches on or off (by scrolling, `end`, a search jump...)."""

        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, buffer: LogBuffer, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.buffer = buffer
        self.new_while_paused = 0
        self.pattern: re.Pattern[str] | None = None
        self.current_match: int | None = None
        self._strip_cache: LRUCache[int, Strip] = LRUCache(2048)
        self._styles: dict[str, Style] = {}
        self._adjusting = False
        # Wrap layout: cumulative visual rows per kept line, rebuilt lazily for the current width.
        self._wrap_prefix: list[int] = []
        self._wrap_width = 0
        self._wrap_dirty = True

    # ---- geometry -------------------------------------------------------------------------------

    @property
    def marker_rows(self) -> int:
        return 1 if self.buffer.dropped else 0

    def _text_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _wrap_layout(self) -> list[int]:
        width = self._text_width()
        if self._wrap_dirty or width != self._wrap_width:
            self._wrap_prefix = list(accumulate(max(1, -(-len(line) // width)) for line in self.buffer.lines))
            self._wrap_width = width
            self._wrap_dirty = False
        return self._wrap_prefix

    def row_count(self) -> int:
        if self.wrap:
            layout = self._wrap_layout()
            return self.marker_rows + (layout[-1] if layout else 0)
        return self.marker_rows + len(self.buffer)

    def row_of_line(self, number: int) -> int:
        """First visual row of absolute line `number` (clamped to the kept lines)."""
        index = min(max(0, number - self.buffer.dropped), max(0, len(self.buffer) - 1))
        if self.wrap:
            layout = self._wrap_layout()
            return self.marker_rows + (layout[index - 1] if index else 0)
        return self.marker_rows + index

    def line_at_row(self, row: int) -> tuple[int, int] | None:
        """(absolute line number, wrapped sub-row) shown at visual `row`; None for the marker / past the end."""
        row -= self.marker_rows
        if row < 0:
            return None
        if self.wrap:
            layout = self._wrap_layout()
            index = bisect_right(layout, row)
            if index >= len(layout):
                return None
            return self.buffer.dropped + index, row - (layout[index - 1] if index else 0)
        if row >= len(self.buffer):
            return None
        return self.buffer.dropped + row, 0

    def top_line(self) -> int:
        located = self.line_at_row(int(self.scroll_y))
        return located[0] if located else self.buffer.dropped

    def update_virtual_size(self) -> None:
        width = self._text_width() if self.wrap else self.buffer.width
        self.virtual_size = Size(width, self.row_count())

    # ---- feeding --------------------------------------------------------------------------------

    def appended(self, added: int, dropped_now: int, anchor: int) -> None:
        """Called by LogView after it extended the buffer: resize, then follow or keep the view still.

        `anchor` is the absolute number of the top line before the append: when paused, that line stays at
        the top while the front of the buffer falls off.
        """
        self._wrap_dirty = True
        self.update_virtual_size()
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.new_while_paused += added
            if dropped_now:
                row = 0 if anchor < self.buffer.dropped else self.row_of_line(anchor)
                self._adjust(lambda: self.scroll_to(y=row, animate=False, immediate=True))
        self.refresh()

    def reset(self) -> None:
        self._strip_cache.clear()
        self._wrap_dirty = True
        self.new_while_paused = 0
        self.current_match = None
        self.update_virtual_size()
        self.refresh()

    def _adjust(self, change) -> None:
        """Run a programmatic scroll without it being taken for the reader scrolling up."""
        self._adjusting = True
        try:
            change()
        finally:
            self._adjusting = False

    # ---- follow / pause -------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._adjusting:
            return
        if new_value < old_value and not self.is_vertical_scroll_end:
            self.following = False
        elif not self.following and self.is_vertical_scroll_end and new_value > old_value:
            self.following = True

    def watch_following(self, following: bool) -> None:
        if following:
            self.new_while_paused = 0
        self.post_message(self.FollowChanged(following))

    def follow(self) -> None:
        """Resume following: jump to the end."""
        self.new_while_paused = 0
        self.following = True
        self._adjust(lambda: self.scroll_end(animate=False, immediate=True, x_axis=False))

    def pause(self) -> None:
        self.following = False

    # ScrollView's own `end` / `home` bindings reach this widget first: make them follow / pause outright.
    def action_scroll_end(self) -> None:
        self.follow()

    def action_scroll_home(self) -> None:
        self.pause()
        self._adjust(lambda: self.scroll_home(animate=False, immediate=True))

    def show_line(self, number: int) -> None:
        """Pause and bring absolute line `number` into view (a few rows below the top)."""
        self.pause()
        row = self.row_of_line(number)
        target = max(0, row - max(0, self.scrollable_content_region.height // 3))
        self._adjust(lambda: self.scroll_to(y=target, animate=False, immediate=True))
        self.refresh()

    def watch_wrap(self, wrap: bool) -> None:
        top = self.top_line()
        self._strip_cache.clear()
        self._wrap_dirty = True
        self.update_virtual_size()
        if self.following:
            self._adjust(lambda: self.scroll_end(animate=False, immediate=True, x_axis=False))
        else:
            row = self.row_of_line(top)
            self._adjust(lambda: self.scroll_to(x=0, y=row, animate=False, immediate=True))
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap:
            self.update_virtual_size()
            if self.following:
                self._adjust(lambda: self.scroll_end(animate=False, immediate=True, x_axis=False))

    # ---- rendering ------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip_cache.clear()
        self._styles.clear()

    def set_pattern(self, pattern: re.Pattern[str] | None) -> None:
        self.pattern = pattern
        self.current_match = None
        self._strip_cache.clear()
        self.refresh()

    def set_current_match(self, number: int | None) -> None:
        previous = self.current_match
        self.current_match = number
        for line in (previous, number):
            if line is not None:
                self._strip_cache.discard(line)
        self.refresh()

    def _style(self, name: str) -> Style:
        """Base style plus a component class, cached until the styles change (every rendered line needs one)."""
        style = self._styles.get(name)
        if style is None:
            base = self.rich_style
            style = base if name == "base" else base + self.get_component_rich_style(name, partial=True)
            self._styles[name] = style
        return style

    def _line_strip(self, number: int) -> Strip:
        """Segments built directly (no Rich Text render): the line is already clean, one style per span."""
        cached = self._strip_cache.get(number)
        if cached is not None:
            return cached
        line = self.buffer.get(number)
        level = line_level(line)
        style = self._style(f"log-lines--{level}" if level else "base")
        segments: list[Segment] = []
        position = 0
        if self.pattern is not None:
            hit = self._style("log-lines--current" if number == self.current_match else "log-lines--match")
            for match in self.pattern.finditer(line):
                start, end = match.span()
                if end <= start:
                    continue
                if start > position:
                    segments.append(Segment(line[position:start], style))
                segments.append(Segment(line[start:end], style + hit))
                position = end
        if position < len(line) or not segments:
            segments.append(Segment(line[position:], style))
        strip = Strip(segments, cell_len(line))
        self._strip_cache[number] = strip
        return strip

    def _marker_strip(self, width: int) -> Strip:
        dropped = self.buffer.dropped
        text = Text(
            f"··· {dropped:,} older line{'s' if dropped != 1 else ''} dropped "
            f"(the view keeps the last {self.buffer.max_lines:,}) ···",
            style=self.rich_style + self.get_component_rich_style("log-lines--marker", partial=True),
            no_wrap=True,
            end="",
        )
        return Strip(text.render(self.app.console), text.cell_len).crop_extend(0, width, self.rich_style)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        style: Style = self.rich_style
        if self.marker_rows and row == 0:
            return self._marker_strip(width).apply_offsets(scroll_x, row)
        located = self.line_at_row(row)
        if located is None:
            return Strip.blank(width, style)
        number, sub_row = located
        strip = self._line_strip(number)
        start = sub_row * width if self.wrap else scroll_x
        return strip.crop_extend(start, start + width, style).apply_offsets(start, row)


class SaveLogScreen(ModalScreen[Path | None]):
    """Ask where to save; refuses to overwrite and keeps the dialog open on errors."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="log.save.cancel")]

    DEFAULT_CSS = """
    SaveLogScreen { align: center middle; }
    SaveLogScreen > Vertical {
        width: 80%; max-width: 100; height: auto; padding: 1 2;
        border: round $primary; background: $panel;
    }
    SaveLogScreen #save-error { color: $text-error; height: auto; }
    """

    def __init__(self, lines: list[str], default_path: Path) -> None:
        super().__init__()
        self._lines = lines
        self._default = default_path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Save {lines_count(len(self._lines))} to:")
            yield Input(str(self._default), id="save-path")
            yield Label("", id="save-error")
            yield Label("[dim]enter save · esc cancel[/]")

    @on(Input.Submitted, "#save-path")
    def _save(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        error = self.query_one("#save-error", Label)
        if not event.value.strip():
            error.update("Give a file name.")
            return
        if path.exists():
            error.update(f"{path} already exists; choose another name.")
            return
        try:
            write_log(path, self._lines)
        except OSError as exc:
            error.update(f"Could not save: {exc.strerror or exc}")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


def lines_count(n: int) -> str:
    return f"{n:,} line{'s' if n != 1 else ''}"


def write_log(path: Path, lines: Iterable[str]) -> None:
    """Write lines to a new file (never overwrites: mode "x")."""
    with open(path, "x", encoding="utf-8") as out:
        for line in lines:
            out.write(line)
            out.write("\n")


def tail_within(lines: list[str], cap_bytes: int) -> list[str]:
    """The longest tail of `lines` whose UTF-8 text (newline-joined) fits in `cap_bytes`."""
    size = 0
    start = len(lines)
    while start > 0:
        cost = len(lines[start - 1].encode("utf-8")) + 1
        if size + cost > cap_bytes:
            break
        size += cost
        start -= 1
    return lines[start:]


class LogView(Vertical):
    """Lines + search box + status bar. Feed it with `write_lines`; it batches and keeps a bounded buffer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end,G", "follow", "Follow", key_display="end", id="log.follow"),
        Binding("home,g", "top", "Top", show=False, id="log.top"),
        Binding("j", "line_down", "Down", show=False, id="log.down"),
        Binding("k", "line_up", "Up", show=False, id="log.up"),
        Binding("slash", "search", "Search", id="log.search"),
        Binding("n", "next_match", "Next match", show=False, id="log.next"),
        Binding("N", "previous_match", "Previous match", show=False, id="log.previous"),
        Binding("w", "toggle_wrap", "Wrap", id="log.wrap"),
        Binding("ctrl+s", "save", "Save", id="log.save"),
        Binding("y", "copy", "Copy", show=False, id="log.copy"),
    ]

    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView > #log-search { display: none; height: 3; }
    LogView.-searching > #log-search { display: block; }
    LogView > #log-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    LogView > #log-status.-paused { background: $warning 30%; color: $text; }
    """

    def __init__(
        self,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        name: str = "log",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.log_name = name
        self.buffer = LogBuffer(max_lines)
        self._pending: list[str] = []
        self._matches: list[int] = []
        self._search_text = ""
        self._flush_timer = None
        # A finished log gets no more lines: "follow" and "paused" mean nothing for it (see set_complete).
        self._complete = False
        # Children held directly: feeding and status updates work before they are mounted (no DOM query).
        self._lines_widget = LogLines(self.buffer, id="log-lines")
        self._search_box = Input(placeholder="search (enter: find, esc: close)", id="log-search")
        self._status = Static("", id="log-status")

    def compose(self) -> ComposeResult:
        yield self._lines_widget
        yield self._search_box
        yield self._status

    @property
    def lines_widget(self) -> LogLines:
        return self._lines_widget

    def on_mount(self) -> None:
        self._flush_timer = self.set_interval(FLUSH_INTERVAL, self._flush, pause=not self._pending)
        self._update_status()

    # ---- feeding --------------------------------------------------------------------------------

    def write_lines(self, lines: Iterable[str]) -> None:
        """Queue lines; they appear at the next flush tick (one batch per tick)."""
        was_empty = not self._pending
        self._pending.extend(lines)
        if was_empty and self._pending and self._flush_timer is not None:
            self._flush_timer.resume()

    def set_lines(self, lines: Iterable[str]) -> None:
        """Replace everything (e.g. a finished update's full log)."""
        self._pending.clear()
        self.buffer.clear()
        self._matches = []
        self.lines_widget.reset()
        self.write_lines(lines)

    def set_complete(self, complete: bool = True) -> None:
        """Mark the log finished (a past update, or a live one that ended): the status says so instead of
        following or "paused · end to follow"."""
        if complete != self._complete:
            self._complete = complete
            self._update_status()

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def lines(self) -> list[str]:
        return list(self.buffer.lines)

    def flush_now(self) -> None:
        """Flush everything queued at once (tests, and before saving/copying)."""
        while self._pending:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            if self._flush_timer is not None:
                self._flush_timer.pause()
            return
        pending = self._pending
        skipped = 0
        if len(pending) > self.buffer.max_lines + FLUSH_CHUNK:
            # Lines that would fall off before ever being shown: count them, skip the work.
            skipped = len(pending) - self.buffer.max_lines
            del pending[:skipped]
        batch = pending[:FLUSH_CHUNK]
        del pending[:FLUSH_CHUNK]
        clean = clean_lines(batch)
        widget = self.lines_widget
        anchor = widget.top_line()
        first_new = self.buffer.total + skipped
        self.buffer.dropped += skipped
        dropped_now = self.buffer.extend(clean) + skipped
        if widget.pattern is not None:
            self._matches = [m for m in self._matches if m >= self.buffer.dropped]
            self._matches.extend(self.buffer.find_all(widget.pattern, first_new))
        widget.appended(len(clean), dropped_now, anchor)
        self._update_status()

    # ---- status ---------------------------------------------------------------------------------

    def _update_status(self) -> None:
        widget = self.lines_widget
        parts = []
        if self._complete:
            parts.append("■ COMPLETE")
        elif widget.following:
            parts.append("● FOLLOW")
        else:
            news = widget.new_while_paused
            if news:
                parts.append(f"‖ PAUSED · {news:,} new line{'s' if news != 1 else ''} · end to follow")
            else:
                parts.append("‖ PAUSED · end to follow")
        parts.append(lines_count(len(self.buffer)))
        if self.buffer.dropped:
            parts.append(f"{self.buffer.dropped:,} older dropped")
        if widget.wrap:
            parts.append("wrap")
        if widget.pattern is not None:
            if self._matches:
                position = self._match_position()
                where = f"{position + 1}/{len(self._matches)}" if position is not None else f"{len(self._matches)}"
                parts.append(f"/{self._search_text}  {where}")
            else:
                parts.append(f"/{self._search_text}  no match")
        status = self._status
        status.update(" · ".join(parts))
        status.set_class(not widget.following and not self._complete, "-paused")

    @property
    def status_text(self) -> str:
        return str(self._status.render())

    @on(LogLines.FollowChanged)
    def _follow_changed(self, event: LogLines.FollowChanged) -> None:
        event.stop()
        self._update_status()

    # ---- search ---------------------------------------------------------------------------------

    def search(self, text: str) -> int:
        """Set the search text (empty clears it); jumps to the first match at or after the top line."""
        widget = self.lines_widget
        self._search_text = text
        if not text:
            widget.set_pattern(None)
            self._matches = []
            self._update_status()
            return 0
        self.flush_now()
        pattern = compile_search(text)
        widget.set_pattern(pattern)
        self._matches = self.buffer.find_all(pattern)
        if self._matches:
            top = widget.top_line() if not widget.following else self.buffer.dropped
            index = bisect_right(self._matches, top - 1)
            self._goto_match(self._matches[index % len(self._matches)])
        self._update_status()
        return len(self._matches)

    @property
    def matches(self) -> list[int]:
        return list(self._matches)

    def _match_position(self) -> int | None:
        current = self.lines_widget.current_match
        if current is None:
            return None
        index = bisect_right(self._matches, current) - 1
        return index if index >= 0 and self._matches[index] == current else None

    def _goto_match(self, number: int) -> None:
        widget = self.lines_widget
        widget.set_current_match(number)
        widget.show_line(number)
        self._update_status()

    def next_match(self, backwards: bool = False) -> int | None:
        """Move to the next (or previous) match, wrapping around; returns its absolute line number."""
        if not self._matches:
            if self._search_text:
                self.notify(f"No match for {self._search_text!r}", severity="warning")
            return None
        current = self.lines_widget.current_match
        if current is None:
            current = self.lines_widget.top_line() - (0 if backwards else 1)
        if backwards:
            index = bisect_right(self._matches, current - 1) - 1
        else:
            index = bisect_right(self._matches, current)
        number = self._matches[index % len(self._matches)]
        self._goto_match(number)
        return number

    def jump_to_first(self, level: str = "error") -> int | None:
        """Show the first kept line of this level ("error" / "warning"); returns its number or None."""
        self.flush_now()
        for offset, line in enumerate(self.buffer.lines):
            if line_level(line) == level:
                number = self.buffer.dropped + offset
                self.lines_widget.show_line(number)
                self._update_status()
                return number
        return None

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search(event.value)
        self.remove_class("-searching")
        self.lines_widget.focus()

    def on_key(self, event) -> None:
        if event.key == "escape" and self.has_class("-searching"):
            event.stop()
            self.remove_class("-searching")
            self.lines_widget.focus()

    # ---- actions --------------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.lines_widget.follow()
        self._update_status()

    def action_top(self) -> None:
        widget = self.lines_widget
        widget.pause()
        widget._adjust(lambda: widget.scroll_home(animate=False, immediate=True))

    def action_line_down(self) -> None:
        self.lines_widget.scroll_down(animate=False)

    def action_line_up(self) -> None:
        self.lines_widget.scroll_up(animate=False)

    def action_search(self) -> None:
        self.add_class("-searching")
        box = self._search_box
        box.value = self._search_text
        box.focus()

    def action_next_match(self) -> None:
        self.next_match()

    def action_previous_match(self) -> None:
        self.next_match(backwards=True)

    def action_toggle_wrap(self) -> None:
        widget = self.lines_widget
        widget.wrap = not widget.wrap
        self._update_status()

    def default_save_path(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.log_name) or "log"
        return Path.cwd() / f"{safe}-{stamp}.log"

    def action_save(self) -> None:
        self.flush_now()

        def saved(path: Path | None) -> None:
            if path is not None:
                self.notify(f"Saved {lines_count(len(self.buffer))} to {path}", title="Log saved")

        self.app.push_screen(SaveLogScreen(self.lines, self.default_save_path()), saved)

    def action_copy(self) -> None:
        """Copy the log through the app's clipboard service: all of it, or the tail that fits the cap."""
        self.flush_now()
        lines = self.lines
        if not lines:
            self.notify("Nothing to copy: the log is empty.", severity="warning")
            return
        kept = tail_within(lines, MAX_COPY_BYTES)
        if len(kept) < len(lines):
            what = f"the last {len(kept):,} of {len(lines):,} log lines (ctrl+s saves all)"
        else:
            what = f"{len(lines):,} log line{'s' if len(lines) != 1 else ''}"
        copy_text(self.app, "\n".join(kept), what)
