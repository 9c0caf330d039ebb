"""ResourceTable: keyed diffs that keep the cursor on its row, never clear on refresh, filter, sort,
a display order different from the record order, columns that grow to fit, keys and mouse, and a
paint that renders only the lines in sight."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from deployer_tui.ui.widgets.resource_table import Column, ResourceTable, plain

COLUMNS = [Column("id", "Id"), Column("kind", "Kind"), Column("n", "N")]


class CountingTable(ResourceTable):
    """Counts the lines painted, to show that only the lines in sight are."""

    painted = 0

    def render_line(self, y: int):
        CountingTable.painted += 1
        return super().render_line(y)


class TableApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield CountingTable(COLUMNS, title="things", id="t", display=["id", "n", "kind"])

    def on_resource_table_row_highlighted(self, message: ResourceTable.RowHighlighted) -> None:
        self.messages.append(("highlighted", message.key))

    def on_resource_table_row_selected(self, message: ResourceTable.RowSelected) -> None:
        self.messages.append(("selected", message.key))


def records(ids, kind="a"):
    return {i: (i, kind, len(i)) for i in ids}


def line_of(table: ResourceTable, key: str) -> str:
    """The text painted for a row, or "" if it is out of sight."""
    y = table.get_row_index(key) + 1 - int(table.scroll_y)  # 1: the header line
    if not 0 <= y < table.size.height:
        return ""
    return table.render_line(y).text


async def test_refresh_is_a_keyed_diff_that_keeps_the_cursor():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(records(["b", "d", "f"]))
        await pilot.pause()
        table.focus()
        table.select_key("d")
        await pilot.pause()
        app.messages.clear()
        # Rows appear before the cursor's row, one disappears, one cell changes.
        new = records(["a", "b", "c", "d", "e"])
        new["b"] = ("b", "changed", 1)
        table.set_records(new)
        await pilot.pause()
        assert table.visible_keys == ["a", "b", "c", "d", "e"]
        assert table.current_key == "d" and table.cursor_row == 3
        assert plain(table.get_cell("b", "kind")) == "changed"
        assert "changed" in line_of(table, "b")
        # The display order is not the record order.
        assert table.get_row("c") == ["c", 1, "a"]
        assert table.render_line(0).text.split() == ["Id", "N", "Kind"]
        # The cursor moved with its row: that is a new highlighted position of the same key.
        assert app.messages == [("highlighted", "d")]


async def test_filter_hides_and_restores_and_keeps_the_cursor():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        ids = [f"row-{i:03d}" for i in range(200)]
        table.set_records(records(ids))
        await pilot.pause()
        table.select_key("row-150")
        table.set_filter("row-15")
        assert table.visible_keys == [f"row-{i}" for i in range(150, 160)]
        assert table.current_key == "row-150"
        assert "10/200" in table.border_title and "/row-15" in table.border_title
        table.set_filter("")
        assert table.row_count == 200 and table.current_key == "row-150"
        table.set_filter("no such row")
        assert table.row_count == 0 and table.current_key is None


async def test_patch_keeps_filter_and_sorts_by_the_chosen_column():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records({"x": ("x", "b", 3), "y": ("y", "a", 1), "z": ("z", "c", 2)})
        await pilot.pause()
        table.cycle_sort()  # display order: id -> n
        assert table.visible_keys == ["y", "z", "x"] and "N" in table.border_subtitle
        table.reverse_sort()
        assert table.visible_keys == ["x", "z", "y"]
        table.patch_records({"y": ("y", "a", 9), "unknown": ("unknown", "q", 0)})
        assert table.visible_keys == ["y", "x", "z"]
        table.set_filter("c")
        table.patch_records({"x": ("x", "c", 3)})  # now matches the filter: it appears
        assert sorted(table.visible_keys) == ["x", "z"]


async def test_columns_grow_to_fit_new_values_and_never_shrink():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(records(["a"]))
        await pilot.pause()
        assert table.column_widths == [2, 1, 4]  # the labels: "Id", "N", "Kind"
        table.patch_records({"a": ("a", "a much longer kind", 1)})
        await pilot.pause()
        assert table.column_widths[2] == len("a much longer kind")
        table.patch_records({"a": ("a", Text("日本語"), 1)})  # wide characters count twice
        table.set_records({"b": ("b", "x", 123456)})
        assert table.column_widths == [2, 6, len("a much longer kind")]
        assert table.virtual_size.width == sum(table.column_widths) + 2 * 3
        assert table.virtual_size.height == 2  # the header and one row


async def test_patched_cells_are_repainted_in_sight_and_out_of_sight():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        ids = [f"row-{i:03d}" for i in range(200)]
        table.set_records(records(ids))
        table.focus()
        await pilot.pause()
        table.select_key("row-150")
        await pilot.pause()
        assert "row-150" in line_of(table, "row-150") and " a" in line_of(table, "row-150")
        table.select_key("row-000")
        await pilot.pause()
        assert line_of(table, "row-150") == ""
        table.patch_records({"row-150": ("row-150", "zzz", 7), "row-001": ("row-001", "yyy", 7)})
        await pilot.pause()
        assert "yyy" in line_of(table, "row-001")
        table.select_key("row-150")
        await pilot.pause()
        assert "zzz" in line_of(table, "row-150")
        # The width of a column that had to grow is seen on every row, not only the patched one.
        table.patch_records({"row-149": ("row-149", "xxx", 1234567890)})
        await pilot.pause()
        assert "1234567890" in line_of(table, "row-149")
        assert line_of(table, "row-150").index("zzz") == line_of(table, "row-149").index("xxx")


async def test_a_patch_that_hides_rows_keeps_every_other_row():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records({f"r{i}": (f"r{i}", "match", i) for i in range(10)})
        await pilot.pause()
        table.set_filter("match")
        assert table.row_count == 10
        table.patch_records({"r1": ("r1", "other", 1), "r2": ("r2", "other", 2), "r3": ("r3", "match", 3)})
        assert sorted(table.visible_keys) == sorted(f"r{i}" for i in range(10) if i not in (1, 2))
        assert "8/10" in table.border_title


async def test_narrowing_filter_keeps_the_order_and_the_cursor():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records({f"r{i:02d}": (f"r{i:02d}", "even" if i % 2 == 0 else "odd", i) for i in range(40)})
        await pilot.pause()
        table.reverse_sort()
        table.select_key("r10")
        table.set_filter("even")
        assert table.visible_keys == [f"r{i:02d}" for i in range(38, -1, -2)]
        assert table.current_key == "r10"
        table.set_filter("")
        assert table.visible_keys == [f"r{i:02d}" for i in range(39, -1, -1)]
        assert table.current_key == "r10"


async def test_typing_on_searches_the_shown_rows_and_keeps_patched_ones():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records({"r1": ("r1", "ab", 1), "r2": ("r2", "ax", 2), "r3": ("r3", "zz", 3)})
        await pilot.pause()
        table.set_filter("a")
        assert sorted(table.visible_keys) == ["r1", "r2"]
        table.patch_records({"r3": ("r3", "abc", 3)})  # now matches: shown under the same filter
        table.set_filter("ab")
        assert sorted(table.visible_keys) == ["r1", "r3"]
        table.set_filter("a")  # widening searches every record again
        assert sorted(table.visible_keys) == ["r1", "r2", "r3"]


async def test_records_given_before_mount_are_shown():
    table = ResourceTable(COLUMNS, title="early", display=["id", "n", "kind"])
    table.set_records(records(["x", "y"]))

    class EarlyApp(App):
        def compose(self) -> ComposeResult:
            yield table

    async with EarlyApp().run_test() as pilot:
        await pilot.pause()
        assert table.visible_keys == ["x", "y"]
        assert "[2]" in table.border_title
        assert "x" in line_of(table, "x")


async def test_keys_move_the_cursor_and_enter_selects():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(records([f"r{i:03d}" for i in range(100)]))
        table.focus()
        await pilot.pause()
        page = table.scrollable_content_region.height - 1  # lines under the header
        await pilot.press("j", "j", "down")
        assert table.cursor_row == 3
        await pilot.press("k", "up")
        assert table.cursor_row == 1
        await pilot.press("pagedown")
        assert table.cursor_row == 1 + page
        await pilot.press("pageup")
        assert table.cursor_row == 1
        await pilot.press("G")
        await pilot.pause()
        assert table.current_key == "r099"
        # The cursor's row is in sight, under the header.
        assert "r099" in line_of(table, "r099")
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == 99
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_y == 0
        app.messages.clear()
        await pilot.press("j", "enter")
        await pilot.pause()
        assert app.messages == [("highlighted", "r001"), ("selected", "r001")]


async def test_a_click_highlights_a_row_a_second_selects_it_and_a_header_click_sorts():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_records({"x": ("x", "b", 3), "y": ("y", "a", 1), "z": ("z", "c", 2)})
        table.focus()
        await pilot.pause()
        app.messages.clear()
        await pilot.click(table, offset=(2, 3))  # the header is line 0: row 2 is "z"
        await pilot.pause()
        assert table.current_key == "z" and app.messages == [("highlighted", "z")]
        await pilot.click(table, offset=(2, 3))
        await pilot.pause()
        assert app.messages[-1] == ("selected", "z")
        # "Kind" is the third column on screen: "Id" and "N" take 4 and 3 cells.
        await pilot.click(table, offset=(8, 0))
        await pilot.pause()
        assert table.visible_keys == ["y", "x", "z"] and "Kind↑" in table.border_subtitle
        assert table.current_key == "z"  # the cursor stayed on its key
        await pilot.click(table, offset=(8, 0))  # the same header again: the other way round
        await pilot.pause()
        assert table.visible_keys == ["z", "x", "y"] and "Kind↓" in table.border_subtitle


async def test_ten_thousand_rows_paint_only_the_lines_in_sight():
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(CountingTable)
        table.focus()
        await pilot.pause()
        CountingTable.painted = 0
        table.set_records(records([f"row-{i:05d}" for i in range(10_000)]))
        await pilot.pause()
        height = table.size.height
        assert table.row_count == 10_000 and table.virtual_size.height == 10_001
        # One paint is at most one call per line in sight (a second paint may follow the scrollbar).
        assert 0 < CountingTable.painted <= 3 * height
        CountingTable.painted = 0
        for _ in range(5):
            await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row == 5 * (height - 1)
        assert 0 < CountingTable.painted <= 5 * 3 * height
        assert line_of(table, table.current_key).startswith(f" {table.current_key}")


async def test_lines_are_the_lines_datatable_painted():
    # The SVG snapshots of the screens were taken with Textual's DataTable: the same cells must give the
    # same segments (text, style, metadata), cursor row, focus and hover included.
    cells = {
        "plain": ("plain", "word", 3),
        "styled": ("styled", Text("HEALTHY", style="bold green"), None),
        "spans": ("spans", Text.assemble(("id", "magenta"), (" ✓", "bold")), 12.5),
        "markup": ("markup", "[b]bold[/b] text", True),
        "wide": ("wide", "日本語の列", -7),
    }

    class BothApp(App):
        def compose(self) -> ComposeResult:
            yield ResourceTable(COLUMNS, id="ours", display=["id", "n", "kind"])
            yield DataTable(id="theirs", cursor_type="row")

    app = BothApp()
    async with app.run_test(size=(80, 24)) as pilot:
        ours = app.query_one(ResourceTable)
        theirs = app.query_one(DataTable)
        ours.styles.height = theirs.styles.height = 8
        for column in ours.display_columns:
            theirs.add_column(column.label, key=column.key)
        for key, row in sorted(cells.items()):  # ours sorts by the first column
            theirs.add_row(*[row[i] for i in (0, 2, 1)], key=key)
        ours.set_records(cells)
        await pilot.pause()
        painted: dict[tuple[str, bool, int], list] = {}
        for focused in (ours, theirs):
            focused.focus()
            for index in (0, 2):
                ours.move_cursor(row=index)
                theirs.move_cursor(row=index)
                await pilot.pause()
                for table in (ours, theirs):
                    lines = [list(table.render_line(y)) for y in range(len(cells) + 2)]
                    painted[(table.id, table is focused, index)] = lines
        for focus in (True, False):
            for index in (0, 2):
                assert painted[("ours", focus, index)] == painted[("theirs", focus, index)], (focus, index)
        # The mouse over a row (the table unfocused in both cases).
        app.set_focus(None)
        await pilot.hover(ours, offset=(2, 2))
        await pilot.pause()
        hovered = list(ours.render_line(2))
        await pilot.hover(theirs, offset=(2, 2))
        await pilot.pause()
        assert hovered == list(theirs.render_line(2)) != list(ours.render_line(2))


async def test_cursor_keys_hold_the_collector_until_they_stop():
    import gc
    import time

    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(records([f"r{i:03d}" for i in range(50)]))
        table.focus()
        await pilot.pause()
        assert gc.isenabled()
        await pilot.press("j", "j")
        assert not gc.isenabled() and table.cursor_row == 2
        deadline = time.monotonic() + 10
        while not gc.isenabled():  # given back after a quiet moment (2 s)
            assert time.monotonic() < deadline, "the collector was not given back"
            await pilot.pause(0.1)
        assert table.cursor_row == 2


async def test_a_batch_patch_of_one_column_measures_that_column_and_keeps_the_others():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        ids = [f"row-{i:03d}" for i in range(300)]
        table.set_records(records(ids))
        await pilot.pause()
        widths = table.column_widths
        # The same styled Text on every row (as health cells arrive), one of them wider than the rest.
        patch = {key: (key, Text("HEALTHY", style="green"), 1) for key in ids}
        patch["row-299"] = ("row-299", Text("OUT_OF_SYNC now", style="yellow"), 1)
        table.patch_records(patch)
        await pilot.pause()
        assert table.column_widths[0] == widths[0]
        assert table.column_widths[2] == len("OUT_OF_SYNC now")
        assert plain(table.get_cell("row-000", "kind")) == "HEALTHY"
