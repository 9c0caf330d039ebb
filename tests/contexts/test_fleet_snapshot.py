"""SVG snapshot of the fleet screen: two real local deployers with demo content side by side, the context
that is down as one row saying why, and `local` not started. The servers listen on ephemeral ports, so
the app runs with `StablePresentation` (URLs read PORT, in the header and in the reasons alike).
Update with `pytest tests/contexts/test_fleet_snapshot.py --snapshot-update` after looking at the SVG."""

from __future__ import annotations

import re

from deployer_tui.ui.view.formatting import StablePresentation
from tests.contexts.fleet_fixtures import deployers, make_app, write_config  # noqa: F401 - the servers
from tests.contexts.test_fleet_screen import open_fleet
from tests.ui.conftest import keys_are_processed, state_home  # noqa: F401 - autouse fixtures of the UI tests


class PortlessPresentation(StablePresentation):
    """Also the bare host:port of a connection error (the down context's reason)."""

    def url(self, url: str) -> str:
        return re.sub(r"(127\.0\.0\.1):\d+", r"\1:PORT", super().url(url))


def test_fleet_view(snap_compare, deployers, tmp_path, monkeypatch) -> None:  # noqa: F811
    write_config(tmp_path, deployers, monkeypatch)

    async def run_before(pilot) -> None:
        await open_fleet(pilot)
        await pilot.pause()

    assert snap_compare(make_app(PortlessPresentation()), terminal_size=(120, 30), run_before=run_before)
