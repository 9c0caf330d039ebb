"""SVG snapshots of a running update and of an update history, from fixed data (no server, no clock).

The running update is a tracker run in a fixed state (progress 1/2, one node done, one working, fixed log
lines, elapsed frozen at 12.3 s); the history comes from a stub client with fixed records and a frozen
clock. Update with `pytest tests/ui/test_updates_snapshots.py --snapshot-update` after looking at the report.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from deployer_tui.ui.screens.update_screen import UpdateHistoryScreen, UpdateScreen
from deployer_tui.ui.state.update_tracker import NodeState, UpdateRun, UpdateTracker
from deployer_tui.ui.view.formatting import Presentation
from tests.ui.helpers import wait_for
from tests.ui.shell_harness import ShellBits

SIZE = (120, 36)
NODE_1 = "http://apinode-1:12000"
NODE_2 = "http://apinode-2:12000"
T0 = 1_781_000_000_000  # epoch ms, 2026-06-09 10:13:20 UTC
FROZEN = Presentation(clock=lambda: T0 / 1000 + 3 * 86400 + 7200)  # three days and two hours later

LINES = [
    "[2026/06/09-10:13:20.100] [INFO] Updating deployment fraud-on-dev (LIGHT mode) on infra dev-static: "
    "activate v3 (1) as service fraud on 2 API node(s)",
    f"[2026/06/09-10:13:20.400] [INFO] [{NODE_1}] imported version v3",
    f"[2026/06/09-10:13:20.900] [INFO] [{NODE_2}] imported version v3",
    f"[2026/06/09-10:13:21.300] [INFO] [{NODE_1}] preloaded v3",
    f"[2026/06/09-10:13:21.800] [WARNING] [{NODE_2}] preload is slow (model is 180 MB)",
    f"[2026/06/09-10:13:22.100] [INFO] [{NODE_1}] activated the mapping",
    f"[2026/06/09-10:13:22.500] [SUCCESS] [{NODE_1}] node is up to date",
]


class Harness(ShellBits, App):
    def __init__(self, screen_factory) -> None:
        super().__init__()
        self.updates = UpdateTracker(self)
        self.presentation = FROZEN
        self._factory = screen_factory

    def compose(self) -> ComposeResult:
        yield Static("home")

    def on_mount(self) -> None:
        self.push_screen(self._factory(self))


def running_update(app: Harness) -> UpdateScreen:
    run = UpdateRun("fraud-on-dev", started_at=T0 / 1000, started_monotonic=1000.0, state="RUNNING",
                    job_id="Wq3kZ1pL")
    run.nodes = {NODE_1: NodeState(NODE_1), NODE_2: NodeState(NODE_2)}
    run.add_lines(LINES)
    run.progress = [{"name": "Updating API nodes", "unit": "NONE", "cur": 1, "target": 2, "depth": 0}]
    app.updates.runs[run.deployment_id] = run
    return UpdateScreen("fraud-on-dev", app.updates, clock=lambda: 1012.3)


class StubClient:
    """Fixed update records, in the shape the deployer returns them."""

    url = "http://deployer.test"  # names the console's journal of this deployer (empty here)

    RECORDS = [
        {"startTimestamp": T0, "endTimestamp": T0 + 12_000, "requester": "admin", "type": "UPDATE",
         "status": "SUCCESS", "logs": {"totalLines": 1, "lines": ["[INFO] done"]}, "reason": "ROLLBACK",
         "deployedMapping": {"mode": "SINGLE_GENERATION", "generation": "v2"}},
        {"startTimestamp": T0 - 3_600_000, "endTimestamp": T0 - 3_600_000 + 95_500, "requester": "ci-bot",
         "type": "UPDATE", "status": "WARNING", "logs": {"totalLines": 1, "lines": ["[ERROR] node 2 down"]},
         "deployedMapping": {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED", "entries": [
             {"generation": "v2", "proba": 0.8}, {"generation": "v3", "proba": 0.2}]}},
        {"startTimestamp": T0 - 86_400_000, "endTimestamp": T0 - 86_400_000 + 4_200, "requester": "admin",
         "type": "UPDATE", "status": "FAILED", "logs": {"totalLines": 1, "lines": ["[ERROR] no node"]}},
        {"startTimestamp": T0 - 90_000_000, "endTimestamp": T0 - 90_000_000 + 61_000, "requester": "alice",
         "type": "DELETE", "status": "ABORTED", "logs": {"totalLines": 0, "lines": []}},
    ]

    async def list_updates(self, deployment_id: str) -> list[dict]:
        # Like DSS, only the confirmed list fields: end and requester come from the full records.
        return [{k: r[k] for k in ("startTimestamp", "type", "status", "reason", "deployedMapping") if k in r}
                for r in self.RECORDS]

    async def get_update(self, deployment_id: str, start_timestamp: int | None = None) -> dict:
        return next(r for r in self.RECORDS if r["startTimestamp"] == start_timestamp)


def history(app: Harness) -> UpdateHistoryScreen:
    return UpdateHistoryScreen("fraud-on-dev", StubClient(), presentation=FROZEN, tracker=app.updates)


def test_running_update(snap_compare) -> None:
    async def settle(pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, UpdateScreen))
        await wait_for(pilot, lambda: pilot.app.screen.log_view.pending == 0)
        await pilot.pause()

    assert snap_compare(Harness(running_update), terminal_size=SIZE, run_before=settle)


def test_update_history(snap_compare) -> None:
    async def settle(pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, UpdateHistoryScreen) and pilot.app.screen.loaded)
        from textual.widgets import DataTable

        table = pilot.app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: all(str(table.get_row_at(i)[3]) != "-" for i in range(table.row_count)),
                       what="requesters from the full records")
        await pilot.pause()

    assert snap_compare(Harness(history), terminal_size=SIZE, run_before=settle)
