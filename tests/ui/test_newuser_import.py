"""Tab in the import dialog's path field behaves as a shell's: the first completes the common prefix, the
next lists the candidates, and the focus stays in the field (a real local deployer behind the app)."""

from __future__ import annotations

from textual.widgets import Input, Static

from deployer_tui.core.client import DeployerClient
from deployer_tui.ui.screens.versions import ImportVersionScreen, path_candidates
from tests.ui.conftest import needs_server
from tests.ui.helpers import RecordingApp, wait_for


def test_path_candidates_lists_zips_and_folders_only(tmp_path) -> None:
    for name in ("alpha-v1.zip", "alpha-v2.zip", "alpha-notes.txt", "beta.zip"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "alpha-old").mkdir()
    assert path_candidates(f"{tmp_path}/alpha") == ["alpha-old/", "alpha-v1.zip", "alpha-v2.zip"]


@needs_server
async def test_second_tab_lists_the_candidates_and_keeps_the_focus(plain_server, tmp_path) -> None:
    proc, key = plain_server
    for name in ("alpha-v1.zip", "alpha-v2.zip"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "alpha-old").mkdir()
    client = DeployerClient(proc.url("deployer"), key)
    try:
        app = RecordingApp(client=client)
        async with app.run_test(size=(100, 30)) as pilot:
            app.push_screen(ImportVersionScreen(client, "svc"))
            await wait_for(pilot, lambda: isinstance(app.screen, ImportVersionScreen) and app.screen.is_mounted,
                           "the import dialog")
            form = app.screen
            field = form.query_one("#zip-path", Input)
            listing = form.query_one("#path-candidates", Static)
            field.value = f"{tmp_path}/al"
            field.focus()
            await pilot.pause()
            assert not listing.display
            await pilot.press("tab")
            assert field.value == f"{tmp_path}/alpha-"
            assert app.focused is field and not listing.display
            await pilot.press("tab")
            assert app.focused is field, "a second tab keeps the focus in the field"
            assert listing.display
            shown = str(listing.render())
            assert "alpha-v1.zip" in shown and "alpha-v2.zip" in shown and "alpha-old/" in shown
            # Typing goes on in the field, as in a shell.
            await pilot.press("v", "1", "tab")
            assert field.value == f"{tmp_path}/alpha-v1.zip" and app.focused is field
            # With nothing left to complete, tab moves on.
            await pilot.press("tab")
            assert app.focused is not field
    finally:
        await client.aclose()
