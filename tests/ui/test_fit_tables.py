"""Tables at 80 columns: the least useful columns go first, health and the id stay, and what is shown
fits the pane (no "Developmen")."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from deployer_tui.ui.view.rows import KEEP, Column
from deployer_tui.ui.widgets.resource_table import ResourceTable
from tests.ui.conftest import needs_server
from tests.ui.helpers import table, wait_for
from tests.ui.test_fit_footer import running


def fits(tbl: ResourceTable) -> bool:
    shown = [tbl.display_columns.index(next(c for c in tbl.display_columns if c.key == k)) for k in tbl.shown_columns]
    return sum(tbl.column_widths[i] + 2 for i in shown) <= tbl.scrollable_content_region.width


@needs_server
async def test_80_columns_drop_the_least_useful_columns(demo_server, ui_api_key):
    async with running(demo_server, ui_api_key, (80, 24)) as pilot:
        deps, infras, services = (table(pilot, name) for name in ("deployments", "infras", "services"))
        await wait_for(pilot, lambda: all(fits(t) for t in (deps, infras, services)), what="tables that fit")
        assert deps.shown_columns[:2] == ["id", "health"]
        assert "version" in deps.shown_columns and "enabled" not in deps.shown_columns
        assert infras.shown_columns == ["id", "stage", "deployments"]  # "Development" whole, Type gone
        assert "latest" in services.shown_columns and "versions" not in services.shown_columns
        # The painted lines say the same: health whole on every row, the stage not cut mid-word.
        for key in deps.visible_keys:
            y = deps.get_row_index(key) + 1
            health = deps.get_cell(key, "health")
            assert (health.plain if isinstance(health, Text) else str(health)) in deps.render_line(y).text
        dev = infras.get_row_index("dev-local") + 1
        assert "Development" in infras.render_line(dev).text
        # Wide again: every column is back.
        await pilot.resize_terminal(200, 40)
        await wait_for(pilot, lambda: len(deps.shown_columns) == len(deps.display_columns), what="all columns")
        assert infras.shown_columns == ["id", "type", "stage", "deployments"]


class Narrow(App):
    CSS = "ResourceTable { width: 20; }"

    def compose(self) -> ComposeResult:
        yield ResourceTable([Column("id", "Id", priority=KEEP), Column("a", "A", priority=10),
                             Column("b", "B", priority=30), Column("c", "C", priority=20)], id="t")


async def test_priority_decides_and_a_dropped_column_comes_back_where_it_fits():
    app = Narrow()
    async with app.run_test(size=(40, 10)) as pilot:
        tbl = app.query_one(ResourceTable)
        tbl.set_records({"x": ("abcdefgh", "aaaa", "bbbb", "c")})  # padded: 10, 6, 6, 3 in 20 cells
        await wait_for(pilot, lambda: tbl.shown_columns != ["id", "a", "b", "c"], what="a refit")
        # A (10) goes first, then C (20): 16 cells; C (3 cells) then fits again in what is left.
        assert tbl.shown_columns == ["id", "b", "c"]
        header = tbl.render_line(0)
        assert "A" not in header.text and "B" in header.text
        # `s` cycles through the columns in sight only.
        sorted_by = []
        for _ in range(3):
            tbl.cycle_sort()
            sorted_by.append(tbl.display_columns[tbl.sort_index].key)
        assert sorted_by == ["b", "c", "id"]
