"""The resource table: a Line-API `ScrollView` fed whole record sets and applied as keyed diffs.

The records (key -> cells) are the source of truth; the table shows the ones matching the live
filter, in the chosen sort order, and paints only the lines in sight (as `log_view.LogLines` does).
Nothing is ever cleared on refresh: the shown order is recomputed, and the cursor stays on the key
it was on. Column widths belong to the table: cells are measured as records arrive (columns only
grow), never through Rich while painting. A cell is rendered once per value, width and style (most
columns repeat a few values) and the row/column metadata mouse clicks read is added after.

It looks as Textual's DataTable looked here (same component styles, same segments), so the SVG
snapshots of the screens did not move when this replaced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from deployer_tui.ui.gc_pause import GcPause, freeze_startup
from deployer_tui.ui.view.rows import KEEP, Column

__all__ = ["Column", "ResourceTable", "plain"]

HEADER_HEIGHT = 1
CELL_PADDING = 1
# Plain strings with none of these need no markup parsing, emoji codes or line cut: measured and
# painted without Rich.
_SPECIAL = ("[", ":", "\n", "\r", "\t")


def plain(value: Any) -> str:
    return value.plain if isinstance(value, Text) else "" if value is None else str(value)


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, plain(value).lower())


def _shown_text(value: Any) -> str | None:
    """The text a cell shows when it needs no Rich rendering, else None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return None if any(c in value for c in _SPECIAL) else value
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):  # bool too: str() is what is shown
        return str(value)
    return None


def _renderable(value: Any) -> Text:
    """A cell as a one-line Rich Text (strings are markup, as they were in DataTable)."""
    if isinstance(value, Text):
        return value
    if isinstance(value, str):
        first = value.split("\n", 1)[0] if "\n" in value else value
        return Text.from_markup(first, end="")
    shown = _shown_text(value)
    return Text(str(value) if shown is None else shown, no_wrap=True, end="")


def _cell_width(value: Any) -> int:
    shown = _shown_text(value)
    if shown is not None:
        return cell_len(shown)
    if isinstance(value, Text):
        return max((cell_len(line) for line in value.plain.splitlines()), default=0)
    return _renderable(value).cell_len


def _value_key(value: Any) -> tuple | None:
    """A hashable stand-in for a cell value (Text is not hashable), or None if there is none."""
    if isinstance(value, Text):
        return (Text, value.plain, tuple(value.spans), value.style, value.justify, value.overflow, value.no_wrap,
                value.end, value.tab_size)
    if value is None or isinstance(value, (str, int, float)):
        return (type(value), value)
    return None


def _distinct_key(value: Any) -> Any:
    """What tells cell values apart when measuring: interned Texts (see ResourceTable._interned) are one
    object per look, so their identity is enough and no key of their spans is built again."""
    if isinstance(value, Text):
        return (Text, id(value))
    if value is None or isinstance(value, (str, int, float)):
        return (type(value), value)
    return (id(value),)


def _haystack(cells: Sequence[Any]) -> str:
    return " ".join(plain(cell) for cell in cells).lower()


class ResourceTable(ScrollView, can_focus=True):
    """One pane's table. `set_records` replaces the data set, `patch_records` changes some rows."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header",
        "resource-table--cursor",
        "resource-table--hover",
        "resource-table--header-cursor",
        "resource-table--header-hover",
    }
    # The look of Textual's DataTable (the row cursor, the header, the focus tint).
    DEFAULT_CSS = """
    ResourceTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .resource-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .resource-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .resource-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .resource-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .resource-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .resource-table--header-cursor {
            background: $accent-darken-1;
            color: $foreground;
        }
        & > .resource-table--header-hover {
            background: $accent 30%;
        }
        & > .resource-table--hover {
            background: $block-hover-background;
        }
    }
    """
    # Ids so a keymap can remap them, and one description per action, so the help groups "j down"
    # as one line.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=False, id="table.open"),
        Binding("j,down", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="table.up"),
        Binding("home,ctrl+home,g", "scroll_top", "Top", show=False, id="table.top"),
        Binding("end,ctrl+end,G", "scroll_bottom", "Bottom", show=False, id="table.bottom"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        # A row cursor has no column to move to: left/right scroll (the names DataTable gave them).
        Binding("left", "scroll_left", "Cursor left", show=False),
        Binding("right", "scroll_right", "Cursor right", show=False),
    ]

    # Not repaint=True: a move repaints the two lines it changes, not the whole table.
    cursor_row: reactive[int] = reactive(0, init=False, repaint=False)
    """Index of the highlighted row among the shown ones."""
    hover_row: reactive[int] = reactive(-2, init=False, repaint=False)
    """Index of the row under the mouse (-1: the header, -2: none)."""

    class _RowMessage(Message):
        """A message about one row: the table, the row's index among the shown ones, and its key."""

        def __init__(self, table: ResourceTable, cursor_row: int, key: str) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.key = key

        @property
        def control(self) -> ResourceTable:
            return self.table

    class RowHighlighted(_RowMessage):
        """The cursor moved onto another row (or the first rows arrived)."""

    class RowSelected(_RowMessage):
        """`enter` on a row, or a click on the highlighted row."""

    def __init__(self, columns: Sequence[Column], *, title: str = "", id: str | None = None,
                 display: Sequence[str] | None = None) -> None:
        """`columns` is the order of the cells in a record; `display` (column keys) the order on screen."""
        super().__init__(id=id)
        self.columns_spec = list(columns)
        by_key = {column.key: column for column in self.columns_spec}
        self.display_columns = [by_key[key] for key in display] if display else list(self.columns_spec)
        if sorted(c.key for c in self.display_columns) != sorted(by_key):
            raise ValueError("display must name every column once")
        # record index of each displayed column
        self._perm = [self.columns_spec.index(column) for column in self.display_columns]
        self._labels = [Text.from_markup(column.label) for column in self.display_columns]
        # Content width per displayed column (without padding): fixed, or the widest cell seen so far.
        self._widths = [column.width if column.width is not None else label.cell_len
                        for column, label in zip(self.display_columns, self._labels, strict=True)]
        # Displayed columns that fit the pane's width (indices into display_columns): the lowest
        # priority goes first when the width runs out (see Column.priority).
        self._shown = list(range(len(self.display_columns)))
        self._fit_width: int | None = None
        self.pane_title = title
        self._records: dict[str, tuple[Any, ...]] = {}
        # Per record: its cells as one lowercase string, for the filter (built as records arrive, so the
        # first keystroke does not build 10,000 of them).
        self._haystack: dict[str, str] = {}
        # Records whose cells the column widths already fit (columns never shrink).
        self._measured: set[str] = set()
        self._order: list[str] = []  # keys shown, in display order
        self._index: dict[str, int] | None = {}  # key -> position in _order, rebuilt when needed
        self.filter_text = ""
        self.sort_index = 0
        self.sort_reverse = False
        self._show_hover = False
        # Painting: one cell rendered per (value, width, styles); one strip per shown line, by key.
        self._cells: LRUCache[tuple, list[Segment] | None] = LRUCache(4096)
        self._lines: dict[str, tuple[tuple, Strip]] = {}
        self._metas: LRUCache[tuple[int, int], Style] = LRUCache(4096)
        self._styles: dict[tuple, tuple[Style, Style]] = {}
        self._paint_key: tuple = ()
        self._base = self._header = Style()  # read by render_lines for the lines of one paint
        self._layout = 0  # moves when a column width changes
        self._shared: dict[tuple, Text] = {}
        # No collector pause while cursor keys arrive (see gc_pause): at 10,000 rows one took 0.3 s.
        self._moving = GcPause(self)

    # -- public reading ----------------------------------------------------------------------
    @property
    def records(self) -> Mapping[str, tuple[Any, ...]]:
        return self._records

    @property
    def visible_keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def column_widths(self) -> list[int]:
        """Content width of each displayed column (padding not included)."""
        return list(self._widths)

    @property
    def shown_columns(self) -> list[str]:
        """Keys of the displayed columns the pane's width leaves in sight, in display order."""
        return [self.display_columns[i].key for i in self._shown]

    @property
    def current_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def get_row_index(self, key: str) -> int:
        index = self._positions().get(key)
        if index is None:
            raise KeyError(key)
        return index

    def get_row(self, key: str) -> list[Any]:
        """A shown row's cells, in display order."""
        cells = self._records[key]
        return [cells[i] for i in self._perm]

    def get_row_at(self, index: int) -> list[Any]:
        return self.get_row(self._order[index])

    def get_cell(self, key: str, column: str) -> Any:
        return self._records[key][[c.key for c in self.columns_spec].index(column)]

    # -- cursor ------------------------------------------------------------------------------
    def select_key(self, key: str) -> bool:
        index = self._positions().get(key)
        if index is None:
            return False
        self.move_cursor(row=index)
        return True

    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        self.cursor_row = row
        if scroll:
            self._scroll_cursor_into_view()

    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self._order) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_rows(old, new)
        self._scroll_cursor_into_view()
        if self._order:
            self.post_message(self.RowHighlighted(self, new, self._order[new]))

    def watch_hover_row(self, old: int, new: int) -> None:
        self._refresh_rows(old, new)

    def _refresh_rows(self, *rows: int) -> None:
        # Read once: a batch of health cells passes thousands of rows, and `size` is computed on each read.
        size = self.size
        width, height = max(size.width, self.virtual_size.width), size.height
        top = int(self.scroll_y)
        for row in rows:
            y = row + HEADER_HEIGHT - top if row >= 0 else 0
            if 0 <= y < height:
                self.refresh(Region(0, y, width, 1))

    def _scroll_cursor_into_view(self) -> None:
        if not self._order:
            return
        region = Region(int(self.scroll_x), HEADER_HEIGHT + self.cursor_row, self._table_width(), 1)
        self.scroll_to_region(region, animate=False, spacing=Spacing(HEADER_HEIGHT, 0, 0, 0), force=True)

    def _keyed(self) -> None:
        """A cursor key: the mouse hover goes, and the collector waits for the keys to stop."""
        self._set_hover(False)
        self._moving.hold()

    def _set_hover(self, active: bool) -> None:
        if self._show_hover != active:
            self._show_hover = active
            self._refresh_rows(self.hover_row)

    def action_cursor_down(self) -> None:
        self._keyed()
        self.cursor_row += 1

    def action_cursor_up(self) -> None:
        self._keyed()
        self.cursor_row -= 1

    def action_scroll_top(self) -> None:
        self._keyed()
        self.cursor_row = 0

    def action_scroll_bottom(self) -> None:
        self._keyed()
        self.cursor_row = len(self._order) - 1

    def _page_height(self) -> int:
        return max(0, self.scrollable_content_region.height - HEADER_HEIGHT)

    def action_page_down(self) -> None:
        self._keyed()
        height = self._page_height()
        self.scroll_relative(y=height, animate=False, force=True)
        self.cursor_row += height

    def action_page_up(self) -> None:
        self._keyed()
        height = self._page_height()
        self.scroll_relative(y=-height, animate=False)
        self.cursor_row -= height

    def action_select_cursor(self) -> None:
        self._set_hover(False)
        if self._order:
            self.post_message(self.RowSelected(self, self.cursor_row, self._order[self.cursor_row]))

    # -- mouse -------------------------------------------------------------------------------
    def on_mouse_move(self, event: events.MouseMove) -> None:
        meta = event.style.meta
        if "row" not in meta:
            self._set_hover(False)
            return
        self._show_hover = True
        self.hover_row = meta["row"]

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(False)

    def on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        if "row" not in meta:
            return
        self._show_hover = True
        event.stop()
        row = meta["row"]
        if row == -1:
            if not meta.get("out_of_bounds"):
                self.sort_by(meta["column"])
            return
        if not 0 <= row < len(self._order):
            return
        was = self.cursor_row
        self.cursor_row = row
        if row == was:
            self.post_message(self.RowSelected(self, row, self._order[row]))

    # -- data --------------------------------------------------------------------------------
    def _interned(self, cells: Sequence[Any]) -> tuple[Any, ...]:
        """The cells with each Text replaced by one shared instance per look: 10,000 "HEALTHY" cells are
        one object, not 10,000 Texts (three objects each) for the collector to walk. Cells are never
        changed in place (a change is a new record), so sharing is safe."""
        if not any(isinstance(cell, Text) for cell in cells):
            return tuple(cells)
        shared = self._shared
        out = []
        for cell in cells:
            if isinstance(cell, Text):
                key = _value_key(cell)
                cell = shared.setdefault(key, cell)
                if len(shared) > 4096:  # e.g. one marked id per row: keep the table bounded
                    shared.clear()
            out.append(cell)
        return tuple(out)

    def set_records(self, records: Mapping[str, Sequence[Any]]) -> None:
        new = {key: self._interned(cells) for key, cells in records.items()}
        old, haystack, measured = self._records, self._haystack, self._measured
        fresh: dict[str, str] = {}
        changed: list[str] = []
        for key, cells in new.items():
            text = haystack.get(key)
            if text is None or old.get(key) != cells:
                text = _haystack(cells)
                measured.discard(key)
                changed.append(key)
            fresh[key] = text
        self._haystack = fresh
        self._measured = {key for key in measured if key in new}
        self._records = new
        self._forget_lines(changed)
        self._grow(changed)
        self._sync(self._matching(new), resort=bool(changed) or len(new) != len(old))

    def patch_records(self, records: Mapping[str, Sequence[Any]]) -> None:
        """Change some rows (e.g. health cells as heavy statuses arrive); unknown keys are ignored."""
        changed = [key for key in records if key in self._records]
        if not changed:
            return
        sort_at = self._perm[self.sort_index]
        first_at = self._perm[0]
        resort = False
        # A batch of health cells changes one column of thousands of rows at once (as heavy statuses
        # arrive, or after a burst of keys): only the changed columns are compared further and measured.
        columns: set[int] = set()
        width = len(self.columns_spec)
        for key in changed:
            before = self._records[key]
            cells = self._records[key] = self._interned(records[key])
            if len(before) != width or len(cells) != width:
                columns.update(range(width))
            else:
                columns.update(i for i in range(width) if before[i] is not cells[i] and before[i] != cells[i])
            if before[sort_at] != cells[sort_at] or before[first_at] != cells[first_at]:
                resort = True
            self._haystack[key] = _haystack(cells)
            self._measured.discard(key)
        self._forget_lines(changed)
        self._grow(changed, columns)
        # Only these rows can have moved in or out of the filter.
        positions = self._positions()
        wanted = set(self._order)
        for key in changed:
            if self._matches(key):
                if key not in positions:
                    wanted.add(key)
                    resort = True
            else:
                wanted.discard(key)
        if len(wanted) == len(self._order) and not resort:
            self._refresh_keys(changed)
            return
        self._sync(wanted, resort=resort)

    def set_filter(self, text: str) -> None:
        text = text.strip().lower()
        # Typing on: what matches the longer text is among what matched the shorter one, so only the
        # rows shown now are searched (10,000 records otherwise, on each keystroke).
        narrowing = bool(self.filter_text) and self.filter_text in text
        self.filter_text = text
        self._sync(self._matching(self._order if narrowing else self._records), resort=not narrowing)

    def cycle_sort(self) -> None:
        # Through the columns in sight: a sort by a column the width hid would look like no order at all.
        count = len(self.display_columns)
        following = [(self.sort_index + step) % count for step in range(1, count + 1)]
        self.sort_index = next(i for i in following if i in self._shown)
        self._sync(set(self._order), resort=True)

    def reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._sync(set(self._order), resort=True)

    def sort_by(self, column_index: int) -> None:
        """A header click: sort by that column, or reverse the order if it is the sort column already."""
        if column_index == self.sort_index:
            self.reverse_sort()
            return
        self.sort_index = column_index
        self.sort_reverse = False
        self._sync(set(self._order), resort=True)

    # -- the diff ----------------------------------------------------------------------------
    def _positions(self) -> dict[str, int]:
        if self._index is None:
            self._index = {key: i for i, key in enumerate(self._order)}
        return self._index

    def _matches(self, key: str) -> bool:
        return not self.filter_text or self.filter_text in self._haystack[key]

    def _matching(self, keys: Iterable[str]) -> set[str]:
        needle = self.filter_text
        if not needle:
            return set(keys)
        haystacks = self._haystack
        return {key for key in keys if needle in haystacks[key]}

    def _grow(self, keys: Iterable[str], columns: set[int] | None = None) -> None:
        """Widen the auto-width columns to fit these records' cells (each distinct value measured once).
        `columns` (record indices): only those changed, so only those are measured."""
        records, measured = self._records, self._measured
        fresh = [records[key] for key in keys if key not in measured]
        if not fresh:
            return
        measured.update(key for key in keys)
        grew = False
        for position, (column, at) in enumerate(zip(self.display_columns, self._perm, strict=True)):
            if column.width is not None or (columns is not None and at not in columns):
                continue
            distinct: dict[Any, Any] = {}
            for cells in fresh:
                value = cells[at]
                distinct.setdefault(_distinct_key(value), value)
            width = max(map(_cell_width, distinct.values()), default=0)
            if width > self._widths[position]:
                self._widths[position] = width
                grew = True
        if grew:
            self._layout += 1
            self._lines.clear()
            self._fit_columns()
            self._update_virtual_size()
            self.refresh()

    def _fit_columns(self) -> None:
        """Choose the columns shown at this width: drop the lowest priorities until the rest fit, then take
        back, most useful first, any dropped column that still fits in what is left. Columns of priority
        KEEP always stay (at the left of the display order they are cut last, if ever)."""
        width = self.scrollable_content_region.width if self.is_mounted else 0
        self._fit_width = width
        count = len(self.display_columns)
        padded = [w + 2 * CELL_PADDING for w in self._widths]
        shown = set(range(count))
        if width > 0 and sum(padded) > width:
            by_use = sorted(range(count), key=lambda i: (self.display_columns[i].priority, -i))
            for i in by_use:
                if sum(padded[j] for j in shown) <= width or self.display_columns[i].priority >= KEEP:
                    break
                shown.discard(i)
            for i in reversed(by_use):
                if i not in shown and sum(padded[j] for j in shown) + padded[i] <= width:
                    shown.add(i)
        fitted = sorted(shown)
        if fitted != self._shown:
            self._shown = fitted
            self._layout += 1
            self._lines.clear()
            self._update_virtual_size()
            self.refresh()

    def _sort_key(self):
        sort_at = self._perm[self.sort_index]
        first_at = self._perm[0]
        records = self._records
        if sort_at == first_at:
            return lambda key: _sortable(records[key][sort_at])
        # ties broken by the first column (the id) so the order is stable across refreshes
        return lambda key: (_sortable(records[key][sort_at]), _sortable(records[key][first_at]))

    def _sync(self, wanted: set[str], resort: bool) -> None:
        """Show `wanted` (a set of record keys): in the old order if nothing asks for a new one."""
        anchor = self.current_key
        was_empty = not self._order
        if resort:
            order = sorted(wanted, key=self._sort_key(), reverse=self.sort_reverse)
        else:  # a narrowing filter: the rows that stay keep their order
            order = [key for key in self._order if key in wanted]
        if order != self._order:
            self._order = order
            self._index = None
            self._update_virtual_size()
            self.refresh()
        index = self._positions().get(anchor) if anchor is not None else None
        if index is not None:
            self.cursor_row = index  # its watcher scrolls to it and tells (only if it moved)
        else:
            self.cursor_row = self.validate_cursor_row(self.cursor_row)
        if was_empty and self._order:
            self.post_message(self.RowHighlighted(self, self.cursor_row, self._order[self.cursor_row]))
        self._update_border_title()

    def _forget_lines(self, keys: Iterable[str]) -> None:
        lines = self._lines
        for key in keys:
            lines.pop(key, None)

    def _refresh_keys(self, keys: Iterable[str]) -> None:
        positions = self._positions()
        self._refresh_rows(*(positions[key] for key in keys if key in positions))

    def _update_border_title(self) -> None:
        column = self.display_columns[self.sort_index].label
        arrow = "↓" if self.sort_reverse else "↑"
        shown, total = len(self._order), len(self._records)
        count = f"{shown}" if shown == total else f"{shown}/{total}"
        flt = f" /{self.filter_text}" if self.filter_text else ""
        self.border_title = f"{self.pane_title} [{count}]{flt}"
        self.border_subtitle = f"sort: {column}{arrow}"

    # -- painting ----------------------------------------------------------------------------
    def _table_width(self) -> int:
        return sum(self._widths[i] for i in self._shown) + 2 * CELL_PADDING * len(self._shown)

    def _update_virtual_size(self) -> None:
        # Until the first fit to a real width, claim no width: records that arrive before the first layout
        # would otherwise show a horizontal scrollbar for a moment, and the repaint after the fit races
        # with whatever reads the screen then.
        width = self._table_width() if self._fit_width else 0
        self.virtual_size = Size(width, HEADER_HEIGHT + len(self._order))

    def on_mount(self) -> None:
        freeze_startup()
        self._update_virtual_size()
        self._update_border_title()

    def on_unmount(self) -> None:
        self._moving.release()

    def on_resize(self) -> None:
        self._lines.clear()  # the filler after the last column follows the width
        if self.scrollable_content_region.width != self._fit_width:
            self._fit_columns()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cells.clear()
        self._lines.clear()
        self._styles.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        # The styles depend on focus and hover states: read once per paint, not per line.
        base = self.rich_style
        header = self.get_component_styles("resource-table--header").rich_style
        self._base, self._header = base, header
        paint_key = (base, header, self._show_hover, self.has_focus, self.app.current_theme.name)
        if paint_key != self._paint_key:
            self._paint_key = paint_key
            self._styles.clear()
            self._lines.clear()
        return super().render_lines(crop)

    def _cell_styles(self, header: bool, hover: bool, cursor: bool) -> tuple[Style, Style]:
        """(component style, post style) of a cell, as DataTable layered them."""
        cache_key = (header, hover and self._show_hover, cursor)
        styles = self._styles.get(cache_key)
        if styles is None:
            get = self.get_component_rich_style
            component = Style()
            if hover and self._show_hover:
                component += get("resource-table--hover")
                if header:
                    component += get("resource-table--header-hover")
            if cursor:
                component += get("resource-table--cursor")
                if header:
                    component += get("resource-table--header-cursor")
            # The cursor's foreground wins over a cell's own colour; its background does not.
            styles = self._styles[cache_key] = (component, Style.from_color(color=component.color))
        return styles

    def _meta(self, row: int, column: int) -> Style:
        meta = self._metas.get((row, column))
        if meta is None:
            meta = self._metas[(row, column)] = Style.from_meta({"row": row, "column": column})
        return meta

    def _cell(self, value: Any, width: int, pre: Style, post: Style, meta: Style) -> list[Segment]:
        """One line of one cell, padded to `width`, with the styles layered as Textual's Styled does."""
        shown = _shown_text(value)
        inner = width - 2 * CELL_PADDING
        if shown is not None and cell_len(shown) <= inner:
            text = " " * CELL_PADDING + shown + " " * (inner - cell_len(shown) + CELL_PADDING)
            return [Segment(text, pre + post + meta)]
        value_key = _value_key(value)
        cache_key = (value_key, width, pre, post) if value_key is not None else None
        lines = self._cells.get(cache_key) if cache_key is not None else None
        if lines is None:
            lines = self._render_cell(value, width, pre, post)
            if cache_key is not None:
                self._cells[cache_key] = lines
        if not lines:  # the cell carries metadata of its own: ours goes first, as DataTable put it
            return self._render_cell(value, width, pre + meta, post) or []
        return [Segment(text, meta if style is None else style + meta, control) for text, style, control in lines]

    def _render_cell(self, value: Any, width: int, pre: Style, post: Style) -> list[Segment] | None:
        options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
        lines = self.app.console.render_lines(Padding(_renderable(value), (0, CELL_PADDING)), options)
        segments = list(Segment.apply_style(lines[0] if lines else [], style=pre, post_style=post))
        if any(segment.style is not None and segment.style.meta for segment in lines[0] if lines):
            return None
        return segments

    def _row_strip(self, row: int, values: Sequence[Any], row_style: Style, cursor: bool, hover: bool,
                   width: int) -> Strip:
        header = row == -1
        component, post = self._cell_styles(header, hover, cursor)
        pre = row_style + component
        segments: list[Segment] = []
        widths = self._widths
        # `column` in the metadata is the display index, which a header click sorts by.
        for column, value in zip(self._shown, values, strict=True):
            segments.extend(self._cell(value, widths[column] + 2 * CELL_PADDING, pre, post, self._meta(row, column)))
        remaining = max(0, width - self._table_width())
        extend = row_style + self._cell_styles(header, hover, cursor)[0]
        segments.append(Segment(" " * remaining,
                                extend + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self._base
        hover_row = self.hover_row
        if y < HEADER_HEIGHT:
            strip = self._row_strip(-1, [self._labels[i] for i in self._shown], self._header, False,
                                    hover_row == -1, width)
        else:
            row = scroll_y + y - HEADER_HEIGHT
            if row >= len(self._order):
                return Strip.blank(width, base)
            key = self._order[row]
            cursor = row == self.cursor_row
            hover = row == hover_row
            token = (row, cursor, hover, self._layout, width, scroll_x)
            cached = self._lines.get(key)
            if cached is not None and cached[0] == token:
                return cached[1]
            cells = self._records[key]
            perm = self._perm
            strip = self._row_strip(row, [cells[perm[i]] for i in self._shown], base, cursor, hover, width)
            strip = strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, base).simplify()
            if len(self._lines) > 160:  # a few screens: each Strip carries caches of its own
                self._lines.clear()
            self._lines[key] = (token, strip)
            return strip
        return strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, base).simplify()
