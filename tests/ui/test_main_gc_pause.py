"""GcPause: the collector is held off while keys arrive and given back after a quiet moment, on
release, and never taken from whoever held it first."""

from __future__ import annotations

import gc
import time

import pytest
from textual.app import App

from deployer_tui.ui.gc_pause import GcPause
from tests.ui.helpers import wait_for


@pytest.fixture(autouse=True)
def collector_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()



async def test_held_while_keys_arrive_then_given_back_when_quiet():
    app = App()
    async with app.run_test() as pilot:
        pause = GcPause(app, quiet_seconds=0.3)
        pause.hold()
        assert not gc.isenabled() and pause.holding
        started = time.monotonic()
        for _ in range(3):  # each key pushes the quiet moment further
            await pilot.pause(0.15)
            pause.hold()
            assert not gc.isenabled()
        await wait_for(pilot, gc.isenabled)
        assert time.monotonic() - started >= 0.45 + 0.3
        assert not pause.holding


async def test_release_gives_it_back_at_once_and_twice_is_harmless():
    app = App()
    async with app.run_test():
        pause = GcPause(app, quiet_seconds=30)
        pause.hold()
        pause.release()
        assert gc.isenabled() and not pause.holding
        pause.release()
        assert gc.isenabled()


async def test_a_collector_someone_else_disabled_is_left_to_them():
    app = App()
    async with app.run_test() as pilot:
        pause = GcPause(app, quiet_seconds=0.05)
        gc.disable()
        pause.hold()
        assert not pause.holding
        await pilot.pause(0.2)
        pause.release()
        assert not gc.isenabled()  # still theirs
