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
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable
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
        # A few DataTable internals are used for speed (bulk insert, skipping re-measures, repainting
        # after late width changes); with a Textual whose DataTable differs, the plain API is used.
        self._internals_ok = all(hasattr(self, name) for name in (
            "_row_locations", "_data", "_new_rows", "_require_update_dimensions", "_update_count"))
        self.columns_spec = list(columns)
        by_key = {column.key: column for column in self.columns_spec}
        self.display_columns = [by_key[key] for key in display] if display else list(self.columns_spec)
        if sorted(c.key for c in self.display_columns) != sorted(by_key):
            raise ValueError("display must name every column once")
        # record index of each displayed column
        self._perm = [self.columns_spec.index(column) for column in self.display_columns]
        self.pane_title = title
        self._records: dict[str, tuple[Any, ...]] = {}
        self._haystack: dict[str, str] = {}
        # Rows whose current cells DataTable has measured for column widths: when a filter brings them
        # back, measuring them again (Rich, every cell) cannot widen anything, so it is skipped.
        self._measured: set[str] = set()
        self.filter_text = ""
        self.sort_index = 0
        self.sort_reverse = False

    def on_mount(self) -> None:
        for column in self.display_columns:
            self.add_column(column.label, key=column.key, width=column.width)
        self._update_border_title()

    async def _on_idle(self, event: events.Idle) -> None:
        # DataTable measures new rows' column widths on idle, but its render caches are keyed by
        # its update counter, not by widths: a row painted before that measurement would stay
        # truncated (seen as "passeng" for "passengers"). Bump the counter when widths changed.
        if not self._internals_ok:
            await super()._on_idle(event)
            return
        before = [column.content_width for column in self.columns.values()]
        pending = {key.value for key in self._new_rows}
        await super()._on_idle(event)
        self._measured.update(key for key in pending if key is not None and RowKey(key) in self.rows)
        if [column.content_width for column in self.columns.values()] != before:
            self._update_count += 1
            self.refresh()

    # -- data ------------------------------------------------------------------------------
    @property
    def records(self) -> Mapping[str, tuple[Any, ...]]:
        return self._records

    def set_records(self, records: Mapping[str, Sequence[Any]]) -> None:
        new = {key: tuple(cells) for key, cells in records.items()}
        old = self._records
        self._measured = {key for key in self._measured if key in new and old.get(key) == new[key]}
        self._haystack = {key: text for key, text in self._haystack.items() if key in new and old.get(key) == new[key]}
        self._records = new
        self._sync(changed=None)

    def patch_records(self, records: Mapping[str, Sequence[Any]]) -> None:
        """Change some rows (e.g. health cells as heavy statuses arrive); unknown keys are ignored."""
        changed = [key for key in records if key in self._records]
        for key in changed:
            self._records[key] = tuple(records[key])
            self._haystack.pop(key, None)
            self._measured.discard(key)
        if changed:
            self._sync(changed=changed)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self._sync(changed=None, compare=False)

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
            haystack = " ".join(plain(cell) for cell in self._records[key]).lower()
            self._haystack[key] = haystack
        return self.filter_text in haystack

    def _add_rows(self, rows: list[tuple[str, list[Any]]]) -> None:
        """`add_row` for many rows at once. DataTable.add_row re-assigns its cursor reactive on every
        row (watchers, message-pump context: about half the cost of a 1,000-row refill); this does
        what add_row does for plain one-line rows and touches the cursor once. Falls back to add_row
        if DataTable's internals are not the ones this was written against (Textual 8)."""
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
            self._new_rows.add(row_key)
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # once: re-validates the cursor against the rows
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self.check_idle()

    def _widens(self, column: Column, value: Any) -> bool:
        """Whether a new cell value needs a wider column. DataTable's own `update_width=True` re-measures
        the whole column whenever a cell gets narrower (every row, with Rich): at 1,000 rows and a health
        cell per heavy status that was quadratic. Columns only grow here; they never shrink."""
        if column.width is not None:
            return False
        return cell_len(plain(value)) > self.columns[ColumnKey(column.key)].content_width

    def _sync(self, changed: Iterable[str] | None, resort: bool = False, compare: bool = True) -> None:
        if not self.is_mounted:
            return
        anchor = self.current_key
        keys = changed if changed is not None else self._records
        wanted = {key for key in keys if self._matches(key)}
        shown = {row_key.value for row_key in self.rows}
        if changed is not None:
            # Only these rows can have moved in or out of the filter.
            scope = set(changed)
            stale = (shown & scope) - wanted
            new = wanted - shown
            kept = wanted & shown
        else:
            stale = shown - wanted
            new = wanted - shown
            kept = wanted & shown
        order_changed = bool(new or stale or resort)
        with self.app.batch_update():
            if stale and len(stale) > len(kept):
                # Removing one row walks every row (about 5 ms at 10k); a refill is cheaper here.
                self.clear()
                new = wanted if changed is None else wanted | kept
                kept = set()
            else:
                for key in stale:
                    self.remove_row(key)
            sort_key = self.display_columns[self.sort_index].key
            # A filter or sort change leaves the records as they were: nothing to compare.
            for key in kept if compare else ():
                row = self._records[key]
                old = self._data[RowKey(key)]
                for column, value in zip(self.columns_spec, row, strict=False):
                    if old.get(column.key) != value:
                        self.update_cell(key, column.key, value, update_width=self._widens(column, value))
                        if column.key == sort_key:
                            order_changed = True
            self._add_rows([(key, [self._records[key][i] for i in self._perm]) for key in new])
            if self._internals_ok:
                self._new_rows.difference_update(RowKey(key) for key in new if key in self._measured)
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


def _sortable_pair(values: tuple[Any, Any]) -> tuple[tuple[int, Any], tuple[int, Any]]:
    return (_sortable(values[0]), _sortable(values[1]))
