"""ResourceTable: keyed diffs that keep the cursor on its row, never clear on refresh, filter, sort,
a display order different from the record order, and columns that grow to fit."""

from __future__ import annotations

from textual.app import App, ComposeResult

from deployer_tui.ui.widgets.resource_table import Column, ResourceTable, plain

COLUMNS = [Column("id", "Id"), Column("kind", "Kind"), Column("n", "N")]


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, title="things", id="t", display=["id", "n", "kind"])


def records(ids, kind="a"):
    return {i: (i, kind, len(i)) for i in ids}


async def test_refresh_is_a_keyed_diff_that_keeps_the_cursor(monkeypatch):
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(records(["b", "d", "f"]))
        await pilot.pause()
        table.focus()
        table.select_key("d")
        clears = []
        monkeypatch.setattr(table, "clear", lambda *a, **k: clears.append(1))
        # Rows appear before the cursor's row, one disappears, one cell changes.
        new = records(["a", "b", "c", "d", "e"])
        new["b"] = ("b", "changed", 1)
        table.set_records(new)
        await pilot.pause()
        assert clears == []
        assert table.visible_keys == ["a", "b", "c", "d", "e"]
        assert table.current_key == "d"
        assert plain(table.get_cell("b", "kind")) == "changed"
        # The display order is not the record order.
        assert [c.key.value for c in table.ordered_columns] == ["id", "n", "kind"]
        assert table.get_row("c") == ["c", 1, "a"]


async def test_filter_hides_and_restores_and_keeps_the_cursor():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        ids = [f"row-{i:03d}" for i in range(200)]
        table.set_records(records(ids))
        await pilot.pause()
        table.select_key("row-150")
        table.set_filter("row-15")  # hides most rows: the clear-and-refill path
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


async def test_columns_grow_to_fit_new_values():
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(records(["a"]))
        await pilot.pause()
        table.patch_records({"a": ("a", "a much longer kind", 1)})
        await pilot.pause()
        kind = next(c for c in table.ordered_columns if c.key.value == "kind")
        assert kind.content_width >= len("a much longer kind")


def line_of(table: ResourceTable, key: str) -> str:
    """The text painted for a row, or "" if it is out of sight."""
    y = table.get_row_index(key) + (table.header_height if table.show_header else 0) - int(table.scroll_y)
    if not 0 <= y < table.size.height:
        return ""
    return table.render_line(y).text


async def test_patched_cells_are_repainted_in_sight_and_out_of_sight():
    # A patch repaints only the rows it changed; a row painted earlier, patched while out of sight,
    # must not come back with its old cells.
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
        # Two of the three patched rows stop matching: only those two go.
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


async def test_cells_render_as_datatable_renders_them():
    # Cells are rendered from a cache keyed by value and the row/column metadata added after; the
    # result must be what DataTable itself draws, cursor and hover rows included.
    from rich.style import Style
    from rich.text import Text
    from textual.widgets import DataTable

    cells = {
        "plain": ("plain", "word", 3),
        "styled": ("styled", Text("HEALTHY", style="bold green"), None),
        "spans": ("spans", Text.assemble(("id", "magenta"), (" ✓", "bold")), 12.5),
        "markup": ("markup", "[b]bold[/b] text", True),
        "clicky": ("clicky", Text.from_markup("[@click=app.bell]ring[/]"), 0),
        "wide": ("wide", "日本語の列", -7),
    }
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_records(cells)
        table.focus()
        await pilot.pause()
        table.select_key("styled")
        await pilot.pause()
        style = table.rich_style
        for row_index in range(table.row_count):
            for column_index, column in enumerate(table.ordered_columns):
                for cursor, hover in ((False, False), (True, False), (False, True)):
                    width = column.get_render_width(table)
                    ours = table._render_cell(row_index, column_index, style, width, cursor, hover)
                    theirs = DataTable._render_cell(table, row_index, column_index, style, width, cursor, hover)
                    assert ours == theirs, (row_index, column.key, cursor, hover)
                    metas = {s.style.meta.get("row") for line in ours for s in line if s.style}
                    assert metas == {row_index}
        # Twice the same value in one column renders once; each keeps its own row in the metadata.
        first = table._render_cell(0, 0, style, 10)
        again = table._render_cell(0, 0, style, 10)
        assert first == again and first[0][0] is not again[0][0]
        assert Style.combine(s.style for s in first[0]).meta["row"] == 0
