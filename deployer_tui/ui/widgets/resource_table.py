"""A DataTable that is fed whole record sets and applies them as keyed diffs.

The records (key -> cells) are the source of truth; the table shows the ones matching the live
filter, in the chosen sort order. Updates never `clear()` a live table on refresh (tui-notes §5.2):
stale rows are removed, changed cells updated, new rows added, and the cursor is put back on the
row key it was on. Only when a filter hides most rows is a clear-and-refill cheaper, and then the
cursor is re-anchored by key as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region
from textual.render import measure
from textual.renderables.styled import Styled
from textual.widgets import DataTable
from textual.widgets._data_table import _EMPTY_TEXT, default_cell_formatter
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, DuplicateKey, Row, RowKey


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None


def plain(value: Any) -> str:
    return value.plain if isinstance(value, Text) else "" if value is None else str(value)


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, plain(value).lower())


class ResourceTable(DataTable):
    """One pane's table. `set_records` replaces the data set, `patch_records` changes some rows."""

    DEFAULT_CSS = """
    ResourceTable { height: 1fr; }
    """
    # DataTable's own bindings again, with ids (so a keymap can remap them) and one description per
    # action, so the help groups "j down" as one line; left/right (a row cursor) are left out.
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", show=False, id="table.open"),
        Binding("j,down", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k,up", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g,home,ctrl+home", "scroll_top", "Top", show=False, id="table.top"),
        Binding("G,end,ctrl+end", "scroll_bottom", "Bottom", show=False, id="table.bottom"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
    ]

    def __init__(self, columns: Sequence[Column], *, title: str = "", id: str | None = None,
                 display: Sequence[str] | None = None) -> None:
        """`columns` is the order of the cells in a record; `display` (column keys) the order on screen."""
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        # A few DataTable internals are used for speed (bulk insert, measuring cells without Rich,
        # repainting only the rows whose cells changed); with a Textual whose DataTable differs, the
        # plain API is used.
        self._internals_ok = all(hasattr(self, name) for name in (
            "_row_locations", "_data", "_new_rows", "_require_update_dimensions", "_update_count",
            "_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache",
            "_refresh_region", "_get_styles_to_render_cell", "_show_hover_cursor", "_pseudo_class_state"))
        # Rendered cells by what they show (value, width, styles), not by where: see `_render_cell`.
        self._cells_by_value: LRUCache[tuple, list[list[Segment]] | None] = LRUCache(4096)
        self.columns_spec = list(columns)
        by_key = {column.key: column for column in self.columns_spec}
        self.display_columns = [by_key[key] for key in display] if display else list(self.columns_spec)
        if sorted(c.key for c in self.display_columns) != sorted(by_key):
            raise ValueError("display must name every column once")
        # record index of each displayed column
        self._perm = [self.columns_spec.index(column) for column in self.display_columns]
        self.pane_title = title
        self._records: dict[str, tuple[Any, ...]] = {}
        # Per record: its cells as one lowercase string, for the filter (built as records arrive, so the
        # first keystroke does not build 10,000 of them).
        self._haystack: dict[str, str] = {}
        # Records whose cells the column widths already fit: when a filter brings them back, they are
        # not measured again (columns never shrink).
        self._measured: set[str] = set()
        self._columns_added = False
        self.filter_text = ""
        self.sort_index = 0
        self.sort_reverse = False

    def on_mount(self) -> None:
        for column in self.display_columns:
            self.add_column(column.label, key=column.key, width=column.width)
        self._columns_added = True
        if self._records:  # given before the table was mounted
            self._sync(changed=None)
        self._update_border_title()

    async def _on_idle(self, event: events.Idle) -> None:
        # Rows added here are measured as they are added (`_add_rows`), but with the plain-API fallback
        # DataTable measures new rows on idle, while its render caches are keyed by its update counter,
        # not by widths: a row painted before that measurement would stay truncated (seen as "passeng"
        # for "passengers"). Bump the counter when widths changed.
        before = [column.content_width for column in self.columns.values()]
        await super()._on_idle(event)
        if [column.content_width for column in self.columns.values()] != before:
            self._update_count += 1
            self.refresh()

    # Every row here is one line high, so line y is row y. DataTable finds a line's row in a list of
    # every line of every row, rebuilt after each change (each sort, filter or row added): at 10,000
    # rows that rebuild cost more than painting the rows on screen.
    def _get_offsets(self, y: int) -> tuple[RowKey, int]:
        if not self._internals_ok:
            return super()._get_offsets(y)
        if self.show_header:
            if y < self.header_height:
                return self._header_row_key, y
            y -= self.header_height
        row_key = self._row_locations.get_key(y) if y >= 0 else None
        if row_key is None:
            raise LookupError(f"Y coord {y!r} is greater than total height")
        return row_key, 0

    @property
    def _total_row_height(self) -> int:
        return len(self.rows) if self._internals_ok else super()._total_row_height

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """A data cell as DataTable renders it, from a cache keyed by what the cell shows.

        DataTable caches rendered cells by row key and its update counter, which moves on every sort,
        filter step or added row: after each, every cell in sight went through Rich again (0.2-0.5 ms a
        cell, 40-200 ms a repaint at 7 columns). Here a cell is rendered once per value, width and
        style: most columns repeat (service, version, stage, health), so a repaint mostly reuses them.
        What differs per position is the row/column metadata mouse clicks read; it is added after,
        which gives the same styles as adding it first (tests/ui/test_resource_table.py checks).
        """
        value_key = None
        if self._internals_ok and row_index >= self.fixed_rows and column_index >= self.fixed_columns >= 0:
            row_key = self._row_locations.get_key(row_index)
            row = self.rows.get(row_key) if row_key is not None else None
            if row is not None and row.height == 1:
                column_key = self._column_locations.get_key(column_index)
                value = self._data[row_key].get(column_key)
                value_key = _value_key(value)
        if value_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (value_key, width, base_style, cursor, hover, self._show_hover_cursor, self._pseudo_class_state,
                     self.show_cursor, self.cell_padding, self.cursor_foreground_priority,
                     self.cursor_background_priority)
        if cache_key in self._cells_by_value:
            lines = self._cells_by_value[cache_key]
        else:
            lines = self._render_cell_once(value, base_style, width, cursor, hover)
            self._cells_by_value[cache_key] = lines
        if lines is None:  # styles with metadata of their own: merging ours after would differ
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        meta = Style.from_meta({"row": row_index, "column": column_index})
        return [
            [segment if control else Segment(text, meta if style is None else style + meta, control)
             for segment in line for text, style, control in (segment,)]
            for line in lines
        ]

    def _render_cell_once(self, value: Any, base_style: Style, width: int, cursor: bool,
                          hover: bool) -> list[list[Segment]] | None:
        """What DataTable._render_cell draws for a one-line data cell, without the row/column metadata."""
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        cell = _EMPTY_TEXT if value is None else default_cell_formatter(value, wrap=False, height=1) or _EMPTY_TEXT
        options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
        lines = self.app.console.render_lines(
            Styled(Padding(cell, (0, self.cell_padding)), pre_style=base_style + component_style,
                   post_style=post_style),
            options)
        if any(segment.style is not None and segment.style.meta for line in lines for segment in line):
            return None
        return lines

    def notify_style_update(self) -> None:
        self._cells_by_value.clear()
        super().notify_style_update()

    def _clear_caches(self) -> None:
        self._cells_by_value.clear()
        super()._clear_caches()

    # -- data ------------------------------------------------------------------------------
    @property
    def records(self) -> Mapping[str, tuple[Any, ...]]:
        return self._records

    def set_records(self, records: Mapping[str, Sequence[Any]]) -> None:
        new = {key: tuple(cells) for key, cells in records.items()}
        old, haystack, measured = self._records, self._haystack, self._measured
        fresh: dict[str, str] = {}
        for key, cells in new.items():
            text = haystack.get(key)
            if text is None or old.get(key) != cells:
                text = _haystack(cells)
                measured.discard(key)
            fresh[key] = text
        self._haystack = fresh
        self._measured = {key for key in measured if key in new}
        self._records = new
        self._sync(changed=None, previous=old)

    def patch_records(self, records: Mapping[str, Sequence[Any]]) -> None:
        """Change some rows (e.g. health cells as heavy statuses arrive); unknown keys are ignored."""
        changed = [key for key in records if key in self._records]
        previous = {}
        for key in changed:
            previous[key] = self._records[key]
            cells = self._records[key] = tuple(records[key])
            self._haystack[key] = _haystack(cells)
            self._measured.discard(key)
        if changed:
            self._sync(changed=changed, previous=previous)

    def set_filter(self, text: str) -> None:
        text = text.strip().lower()
        # Typing on: what matches the longer text is among what matched the shorter one, so only the
        # rows shown now are searched (10,000 records otherwise, on each keystroke).
        narrowing = bool(self.filter_text) and self.filter_text in text
        self.filter_text = text
        self._sync(changed=None, compare=False, narrowing=narrowing)

    def cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(self.display_columns)
        self._sync(changed=None, resort=True, compare=False)

    def reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._sync(changed=None, resort=True, compare=False)

    @property
    def visible_keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def select_key(self, key: str) -> bool:
        if RowKey(key) not in self.rows:
            return False
        self.move_cursor(row=self.get_row_index(key))
        return True

    # -- the diff --------------------------------------------------------------------------
    def _matches(self, key: str) -> bool:
        if not self.filter_text:
            return True
        haystack = self._haystack.get(key)
        if haystack is None:
            haystack = self._haystack[key] = _haystack(self._records[key])
        return self.filter_text in haystack

    def _matching(self, keys: Iterable[str]) -> set[str]:
        """`_matches` over many keys (one keystroke at 10,000 rows: the loop itself matters)."""
        needle = self.filter_text
        if not needle:
            return set(keys)
        haystacks = self._haystack
        if haystacks.keys() == self._records.keys():  # always, as records get one when they arrive
            return {key for key in keys if needle in haystacks[key]}
        return {key for key in keys if self._matches(key)}

    def _cell_width(self, value: Any) -> int:
        """The width DataTable would measure for a cell of a one-line row, without Rich for the usual
        cells (measuring with Rich cost about 0.3 s per 1,000 rows of 7 cells)."""
        if isinstance(value, Text):
            return max((cell_len(line) for line in value.plain.splitlines()), default=0)
        if isinstance(value, int):  # bool too: str() is what DataTable shows
            return cell_len(str(value))
        if isinstance(value, str) and not any(c in value for c in "[:\n"):  # no markup, emoji code or cut
            return max((cell_len(line) for line in value.splitlines()), default=0)
        if value is None:
            return 0
        return measure(self.app.console, default_cell_formatter(value, wrap=False, height=1) or Text(), 1)

    def _grow_columns(self, values: Mapping[int, Iterable[Any]]) -> bool:
        """Widen the auto-width columns (by display index) to fit these values. Columns only grow here;
        they never shrink (DataTable's own `update_width=True` re-measures the whole column whenever a
        cell gets narrower: at 1,000 rows and a health cell per heavy status that was quadratic). True
        if a column grew."""
        columns = self.ordered_columns
        grew = False
        for index, cells in values.items():
            column = columns[index]
            if not column.auto_width:
                continue
            # Most columns repeat a few values (service, stage, health): each distinct one is measured once.
            distinct: dict[tuple, Any] = {}
            for cell in cells:
                key = _value_key(cell)
                if key is None:
                    key = (id(cell),)
                distinct.setdefault(key, cell)
            width = max(map(self._cell_width, distinct.values()), default=0)
            if width > column.content_width:
                column.content_width = width
                grew = True
        return grew

    def _add_rows(self, rows: list[tuple[str, list[Any]]]) -> None:
        """`add_row` for many rows at once. DataTable.add_row re-assigns its cursor reactive on every
        row (watchers, message-pump context: about half the cost of a 1,000-row refill), and measures
        every cell with Rich on idle; this does what add_row does for plain one-line rows, measures
        the cells itself and touches the cursor once. Falls back to add_row if DataTable's internals
        are not the ones this was written against (Textual 8)."""
        if not rows:
            return
        if not self._internals_ok:
            for key, cells in rows:
                self.add_row(*cells, key=key)
            return
        was_empty = self.row_count == 0
        columns = self.ordered_columns
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            self._row_locations[row_key] = len(self.rows)
            self._data[row_key] = {column.key: cell for column, cell in zip_longest(columns, cells)}
            self.rows[row_key] = Row(row_key, 1, None, False)
        measured = self._measured
        unmeasured = [cells for key, cells in rows if key not in measured]
        if unmeasured:
            self._grow_columns({i: [cells[i] for cells in unmeasured if i < len(cells)] for i in range(len(columns))})
            measured.update(key for key, _ in rows)
        # No `_new_rows`: they are measured above. The flag still has DataTable recompute its virtual
        # size on idle.
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # once: re-validates the cursor against the rows
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self.check_idle()
        self.refresh()

    def _remove_rows(self, keys: set[str]) -> None:
        """`remove_row` for many rows at once: DataTable.remove_row renumbers every row per call (about
        5 ms each at 10,000 rows); this renumbers once, keeping the order of the rows that stay."""
        if not keys:
            return
        if not self._internals_ok or len(keys) == 1:
            for key in keys:
                self.remove_row(key)
            return
        rows, data = self.rows, self._data
        ordered = list(map(self._row_locations.get_key, range(len(rows))))
        staying = [row_key for row_key in ordered if row_key.value not in keys]
        if self._updated_cells:  # cells waiting to be measured on idle (plain-API updates only)
            self._updated_cells = {cell for cell in self._updated_cells if cell.row_key.value not in keys}
        if len(staying) < len(keys):  # most rows go: copying the others is cheaper than removing those
            self.rows = {row_key: rows[row_key] for row_key in staying}
            self._data = {row_key: data[row_key] for row_key in staying}
        else:
            for row_key in ordered:
                if row_key.value in keys:
                    del rows[row_key], data[row_key]
        self._row_locations = TwoWayDict({row_key: index for index, row_key in enumerate(staying)})
        self._require_update_dimensions = True
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=True)

    def _update_cells(self, changes: list[tuple[str, str, Any]]) -> None:
        """`update_cell` for many cells, repainting only the rows they are in. DataTable.update_cell bumps
        its update counter, which every render cache is keyed by: each change re-rendered every visible
        cell through Rich (40-80 ms a paint) and rebuilt the row-order and line-offset lists of all rows,
        even when the changed row was out of sight. Here the counter moves only if a column had to
        grow (every row's layout moves then)."""
        if not changes:
            return
        if not self._internals_ok:
            by_key = {column.key: column for column in self.columns_spec}
            for key, column_key, value in changes:
                self.update_cell(key, column_key, value, update_width=self._widens(by_key[column_key], value))
            return
        touched: set[RowKey] = set()
        for key, column_key, value in changes:
            row_key = RowKey(key)
            self._data[row_key][ColumnKey(column_key)] = value
            touched.add(row_key)
        position = {column.key: i for i, column in enumerate(self.ordered_columns)}
        by_column: dict[int, list[Any]] = {}
        for _, column_key, value in changes:
            by_column.setdefault(position[ColumnKey(column_key)], []).append(value)
        if self._grow_columns(by_column):
            self._require_update_dimensions = True
            self._update_count += 1
            self.check_idle()
            self.refresh()
            return
        self._forget_rendered(touched)

    def _forget_rendered(self, row_keys: set[RowKey]) -> None:
        """Drop what DataTable cached for these rows (one-line rows) and repaint those still in sight."""
        header = self.header_height if self.show_header else 0
        indexes = [index for index in map(self._row_locations.get, row_keys) if index is not None]
        for index in indexes:
            self._row_renderable_cache.discard((self._update_count, index))
        # LRUCache has keys() but no __iter__. The cell and row caches are keyed by row key first, the
        # line cache by line.
        for cache in (self._cell_render_cache, self._row_render_cache):
            for cache_key in [k for k in cache.keys() if k[0] in row_keys]:  # noqa: SIM118 (no __iter__)
                cache.discard(cache_key)
        lines = {header + index for index in indexes}
        for cache_key in [k for k in self._line_cache.keys() if k[0] in lines]:  # noqa: SIM118
            self._line_cache.discard(cache_key)
        top = int(self.scroll_y)
        bottom = top + self.size.height
        in_sight = sorted(line for line in lines if top <= line < bottom)
        if in_sight:
            row_width = max(self.size.width, self.virtual_size.width)
            for line in in_sight:
                self._refresh_region(Region(0, line, row_width, 1))

    def _widens(self, column: Column, value: Any) -> bool:
        """Whether a new cell value needs a wider column (the plain-API fallback's `update_width`)."""
        if column.width is not None:
            return False
        return self._cell_width(value) > self.columns[ColumnKey(column.key)].content_width

    def _sync(self, changed: Iterable[str] | None, resort: bool = False, compare: bool = True,
              narrowing: bool = False, previous: Mapping[str, tuple] | None = None) -> None:
        """Bring the rows in line with the records, the filter and the sort. `changed`: only these records
        changed; `previous`: the records as they were at the last sync (which the rows shown still
        show), to find changed cells without reading them back from the table."""
        if not self._columns_added:
            return
        anchor = self.current_key
        rows = self.rows
        if changed is None:
            shown = {row_key.value for row_key in rows}
            wanted = self._matching(shown if narrowing else self._records)
        else:
            # Only these rows can have moved in or out of the filter.
            scope = set(changed)
            wanted = {key for key in scope if self._matches(key)}
            shown = {key for key in scope if RowKey(key) in rows}
        stale = shown - wanted
        new = wanted - shown
        kept = wanted & shown
        sort_key = self.display_columns[self.sort_index].key
        # Removing rows keeps the order of the others: only new rows (or a new order) need a sort.
        order_changed = bool(new or resort)
        with self.app.batch_update():
            self._remove_rows(stale)
            # A filter or sort change leaves the records as they were: nothing to compare.
            changes = []
            column_keys = [column.key for column in self.columns_spec]
            for key in kept if compare else ():
                row = self._records[key]
                before = previous.get(key) if previous is not None else None
                if before is None:
                    old = self._data[RowKey(key)]
                    before = tuple(old.get(column_key) for column_key in column_keys)
                elif before == row:
                    continue
                for column_key, was, value in zip(column_keys, before, row, strict=False):
                    if was != value:
                        changes.append((key, column_key, value))
                        if column_key == sort_key:
                            order_changed = True
            self._update_cells(changes)
            self._add_rows([(key, [self._records[key][i] for i in self._perm]) for key in new])
            if order_changed and self.row_count:
                first = self.display_columns[0].key
                if sort_key == first:
                    self.sort(sort_key, key=_sortable, reverse=self.sort_reverse)
                else:  # ties broken by the first column (the id) so the order is stable across refreshes
                    self.sort(sort_key, first, key=_sortable_pair, reverse=self.sort_reverse)
            if anchor is not None and RowKey(anchor) in self.rows:
                index = self.get_row_index(anchor)
                if index != self.cursor_row:  # moving it re-posts RowHighlighted: only when it moved
                    self.move_cursor(row=index, scroll=True)
        self._update_border_title()

    def _update_border_title(self) -> None:
        column = self.display_columns[self.sort_index].label
        arrow = "↓" if self.sort_reverse else "↑"
        shown, total = self.row_count, len(self._records)
        count = f"{shown}" if shown == total else f"{shown}/{total}"
        flt = f" /{self.filter_text}" if self.filter_text else ""
        self.border_title = f"{self.pane_title} [{count}]{flt}"
        self.border_subtitle = f"sort: {column}{arrow}"


def _value_key(value: Any) -> tuple | None:
    """A hashable stand-in for a cell value (Text is not hashable), or None for values to leave to
    DataTable."""
    if isinstance(value, Text):
        return (Text, value.plain, tuple(value.spans), value.style, value.justify, value.overflow, value.no_wrap,
                value.end, value.tab_size)
    if value is None or isinstance(value, (str, int, float)):
        return (type(value), value)
    return None


def _haystack(cells: Sequence[Any]) -> str:
    return " ".join(plain(cell) for cell in cells).lower()


def _sortable_pair(values: tuple[Any, Any]) -> tuple[tuple[int, Any], tuple[int, Any]]:
    return (_sortable(values[0]), _sortable(values[1]))
