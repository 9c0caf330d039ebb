"""Pilot tests of the settings editor against a real local deployer."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Select, Switch

from deployer_tui.core import settings_edit as se
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import ConnectionLost
from deployer_tui.ui.screens.settings_diff import (
    AskScreen,
    ConflictScreen,
    SettingsDiffScreen,
    marked_document,
)
from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
from deployer_tui.ui.screens.settings_forms import HelperForm
from deployer_tui.ui.widgets.json_editor import JsonEditor
from tests import servers
from tests.ui.helpers import wait_for
from tests.ui.settings_harness import GOVERNED_INFRA, INFRA, SERVICE, EditorHarness, start_seeded

KEY = "admin-" + secrets.token_hex(8)
SIZE = (90, 28)  # small screens render faster; every view must work there too


@pytest.fixture(scope="module")
def deployer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Proc]:
    proc = start_seeded(tmp_path_factory.mktemp("settings-editor"), KEY)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def client(deployer: servers.Proc) -> Iterator[DeployerClient]:
    async with DeployerClient(deployer.url(), KEY) as c:
        yield c


async def new_deployment(client: DeployerClient, infra: str = INFRA) -> str:
    dep_id = f"dep-{secrets.token_hex(4)}"
    await client.create_deployment(dep_id, SERVICE, infra, "v1", ignore_warnings=True)
    return dep_id


def editor_of(app: EditorHarness) -> JsonEditor:
    return app.screen.query_one(JsonEditor) if isinstance(app.screen, SettingsEditorScreen) else \
        app.screen_stack[1].query_one(JsonEditor)


async def loaded(pilot, app: EditorHarness) -> JsonEditor:
    await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen) and app.screen.loaded is not None,
                   "the settings to load")
    await pilot.pause()
    return editor_of(app)


async def screen_is(pilot, app: EditorHarness, kind: type) -> None:
    # Mounted, not just pushed: its widgets exist once on_mount ran.
    await wait_for(pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted, f"{kind.__name__} on top")
    await pilot.pause()


async def save_and_confirm(pilot, app: EditorHarness, update: str = "n") -> None:
    """ctrl+s, confirm the diff, answer the update offer (deployments) with `update`."""
    await pilot.press("ctrl+s")
    await screen_is(pilot, app, SettingsDiffScreen)
    await pilot.press("ctrl+s")
    if app.kind == "deployment":
        await screen_is(pilot, app, AskScreen)
        await pilot.press(update)
    await wait_for(pilot, lambda: any(m.startswith("Saved the settings") for m in app.messages), "the save")


# --- save -----------------------------------------------------------------------------------------


async def test_valid_edit_is_saved_and_the_server_has_it(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        assert json.loads(editor.text) == await client.get_deployment_settings(dep)
        # Type a change as a person would: replace `true` of "enabled" with `false`.
        line = next(i for i, text in enumerate(editor.text.splitlines()) if '"enabled"' in text)
        column = editor.text.splitlines()[line].index("true")
        editor.text_area.move_cursor((line, column))
        await pilot.press("delete", "delete", "delete", "delete", *"false")
        await pilot.pause()
        assert editor.error is None and app.screen.dirty
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        diff_screen = app.screen
        assert [c.where for c in diff_screen.changes] == ["enabled"]
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, AskScreen)  # offer to update
        await pilot.press("n")
        await wait_for(pilot, lambda: not app.screen.dirty, "a clean editor after saving")
    saved = await client.get_deployment_settings(dep)
    assert saved["enabled"] is False
    light = await client.get_deployment(dep)
    assert light["deploymentBasicInfo"]["enabled"] is False


async def test_diff_refused_saves_nothing(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_enabled(editor.value, False)))
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        await pilot.press("escape")
        await screen_is(pilot, app, SettingsEditorScreen)
        assert app.screen.dirty and editor.value["enabled"] is False
    assert (await client.get_deployment_settings(dep))["enabled"] is True


async def test_invalid_json_is_refused_with_its_position(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        broken = editor.text.replace('"enabled": true', '"enabled": tru', 1)
        editor.replace_all(broken)
        await pilot.pause()
        line = next(i for i, text in enumerate(broken.splitlines()) if '"enabled"' in text) + 1
        assert editor.error is not None and editor.error.line == line
        status = str(editor.query_one("#json-status").render())
        assert f"line {line}, column {editor.error.column}" in status
        editor.text_area.move_cursor((0, 0))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("Not saved: the JSON is invalid" in m for m in app.messages), "refusal")
        assert isinstance(app.screen, SettingsEditorScreen), "no diff, no save"
        assert f"line {line}, column" in app.messages[-1]
        # The cursor went to the error, and the draft is exactly what was typed.
        assert editor.text_area.cursor_location == (line - 1, editor.error.column - 1)
        assert editor.text == broken
        editor.text_area.move_cursor((0, 0))
        await pilot.press("ctrl+g")
        assert editor.text_area.cursor_location == (line - 1, editor.error.column - 1)
    assert (await client.get_deployment_settings(dep))["enabled"] is True


async def test_server_rejection_keeps_the_draft_and_shows_the_error(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        doc = editor.value
        doc["healthSettings"] = {"maxFailing": -1}
        draft = se.dump(doc)
        editor.replace_all(draft)
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen.last_error is not None, "the server's refusal")
        screen = app.screen
        assert isinstance(screen, SettingsEditorScreen)
        assert screen.last_error.status == 400
        shown = str(screen.query_one("#settings-error-text").render())
        assert "maxFailing" in shown and "draft is kept" in shown
        assert screen.has_class("-save-failed")
        assert editor.text == draft and screen.dirty
    assert (await client.get_deployment_settings(dep))["healthSettings"] == {"maxFailing": 0}


async def test_governance_warning_asks_then_resends_with_ignore_warnings(deployer, client) -> None:
    dep = await new_deployment(client, GOVERNED_INFRA)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_single_version(editor.value, "v2")))
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, AskScreen)
        assert "governance" in app.screen.question
        assert "Govern" in app.screen.detail
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, AskScreen) and "OUT_OF_SYNC" in app.screen.question,
                       "the update offer")
        await pilot.press("n")
    assert (await client.get_deployment_settings(dep))["generationsMapping"]["generation"] == "v2"


async def test_after_saving_a_deployment_the_update_can_start(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_single_version(editor.value, "v2")))
        await save_and_confirm(pilot, app, update="u")
        await wait_for(pilot, lambda: any("started (job" in m for m in app.messages), "the update toast")
    job = next(m for m in app.messages if "started (job" in m).split("job ")[1].rstrip(")")
    assert (await client.get_future(job, peek=True))["jobId"] == job


# --- conflicts ------------------------------------------------------------------------------------


async def test_conflict_without_collision_puts_my_changes_on_top_of_theirs(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_enabled(editor.value, False)))
        # Someone else saves behind the editor's back.
        theirs = await client.get_deployment_settings(dep)
        theirs["tags"] = ["changed-elsewhere"]
        await client.save_deployment_settings(dep, theirs)
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, ConflictScreen)
        conflict = app.screen
        assert conflict.conflicts == [] and [c.where for c in conflict.theirs] == ["tags[0]"]
        assert conflict.server_now["tags"] == ["changed-elsewhere"] and conflict.draft["enabled"] is False
        assert (await client.get_deployment_settings(dep))["enabled"] is True, "nothing saved yet"
        await pilot.press("r")
        await screen_is(pilot, app, SettingsEditorScreen)
        await wait_for(pilot, lambda: any("now on top" in m for m in app.messages), "the rebased draft")
        assert editor.value["tags"] == ["changed-elsewhere"] and editor.value["enabled"] is False
        await save_and_confirm(pilot, app)
    saved = await client.get_deployment_settings(dep)
    assert saved["tags"] == ["changed-elsewhere"] and saved["enabled"] is False


async def test_colliding_conflict_offers_keep_editing_or_overwrite(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_single_version(editor.value, "v2")))
        theirs = await client.get_deployment_settings(dep)
        await client.save_deployment_settings(dep, se.set_traffic_split(theirs, [("v1", 0.5), ("v2", 0.5)]))
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, ConflictScreen)
        assert [t.where for t, _ in app.screen.conflicts][0].startswith("generationsMapping")
        assert app.screen.query_one("#rebase").disabled
        await pilot.press("r")  # refused: the changes collide
        assert isinstance(app.screen, ConflictScreen)
        await pilot.press("e")  # keep editing: nothing saved, draft intact
        await screen_is(pilot, app, SettingsEditorScreen)
        assert (await client.get_deployment_settings(dep))["generationsMapping"]["mode"] == "MULTI_GENERATION"
        assert editor.value["generationsMapping"]["generation"] == "v2"
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, ConflictScreen)
        await pilot.press("o")  # overwrite theirs, after the diff against the server's copy
        await screen_is(pilot, app, SettingsDiffScreen)
        assert app.screen.saved["generationsMapping"]["mode"] == "MULTI_GENERATION"
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, AskScreen)
        await pilot.press("n")
    assert (await client.get_deployment_settings(dep))["generationsMapping"] == {
        "mode": "SINGLE_GENERATION", "generation": "v2"}


# --- leaving, read-only, $EDITOR ------------------------------------------------------------------


async def test_leaving_with_unsaved_changes_asks(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(editor.text.replace("{", "{ ,", 1))  # an invalid draft counts too
        await pilot.press("escape")
        await screen_is(pilot, app, AskScreen)
        await pilot.press("escape")  # the safe answer: keep editing
        await screen_is(pilot, app, SettingsEditorScreen)
        assert editor.text.startswith("{ ,")
        await pilot.press("escape")
        await screen_is(pilot, app, AskScreen)
        await pilot.press("d")
        await wait_for(pilot, lambda: not any(isinstance(s, SettingsEditorScreen) for s in app.screen_stack),
                       "the editor to close")


async def test_read_only_refuses_saving_through_the_app_check(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_enabled(editor.value, False)))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.refused, "the read-only refusal")
        assert app.refused == [f"save the settings of deployment {dep}"]
        assert isinstance(app.screen, SettingsEditorScreen) and app.screen.dirty
    assert (await client.get_deployment_settings(dep))["enabled"] is True


SCRIPTED_EDITOR = """
import json, sys
path = sys.argv[-1]
with open(path) as f:
    doc = json.load(f)
doc["tags"] = doc.get("tags", []) + ["from-editor"]
with open(path, "w") as f:
    json.dump(doc, f, indent=4)
"""


@pytest.fixture
def scripted_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "editor.py"
    script.write_text(SCRIPTED_EDITOR)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    return script


async def test_external_editor_round_trip_then_save(deployer, client, scripted_editor) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep, open_external=True)  # as `E` opens it
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        await wait_for(pilot, lambda: "from-editor" in editor.text, "the editor's result in the inline editor")
        assert editor.value["tags"] == ["from-editor"] and app.screen.dirty
        await pilot.press("f4")  # and again from inside the inline editor
        await wait_for(pilot, lambda: editor.value["tags"] == ["from-editor", "from-editor"], "second round trip")
        await save_and_confirm(pilot, app)
    assert (await client.get_deployment_settings(dep))["tags"] == ["from-editor", "from-editor"]


async def test_failing_external_editor_keeps_the_draft(deployer, client, tmp_path, monkeypatch) -> None:
    script = tmp_path / "broken_editor.py"
    script.write_text("import sys\nopen(sys.argv[-1], 'w').write('garbage')\nsys.exit(3)\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        before = editor.text
        await pilot.press("f4")
        await wait_for(pilot, lambda: any("status 3" in m for m in app.messages), "the editor failure")
        assert editor.text == before


async def test_external_editor_returning_invalid_json_shows_the_error(deployer, client, tmp_path,
                                                                      monkeypatch) -> None:
    script = tmp_path / "bad_json_editor.py"
    script.write_text("import sys\nopen(sys.argv[-1], 'w').write('{\\n  \"a\": 1,\\n}')\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        await pilot.press("f4")
        await wait_for(pilot, lambda: editor.error is not None, "the invalid result")
        assert editor.text == '{\n  "a": 1,\n}', "the editor's text is kept as written, to be fixed"
        assert (editor.error.line, editor.error.column) == (3, 1)
        assert editor.text_area.cursor_location == (2, 0)


# --- helpers --------------------------------------------------------------------------------------


async def open_helper(pilot, app: EditorHarness, helper: str) -> HelperForm:
    app.screen.open_helper(helper)
    await screen_is(pilot, app, HelperForm)
    return app.screen


async def apply_form(pilot, app: EditorHarness) -> None:
    """Apply the form, and wait until its document is in the editor (that happens just after the
    form closes)."""
    seen = len(app.messages)
    await pilot.press("ctrl+s")
    await screen_is(pilot, app, SettingsEditorScreen)
    await wait_for(pilot, lambda: any(m.startswith("Draft updated") for m in app.messages[seen:]), "the new draft")


async def test_helper_enable_disable(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        before = app.screen.draft
        form = await open_helper(pilot, app, "enabled")
        form.query_one("#enabled", Switch).value = False
        await apply_form(pilot, app)
        assert app.screen.draft == se.set_enabled(before, False)
        await save_and_confirm(pilot, app)
    assert (await client.get_deployment_settings(dep))["enabled"] is False


async def test_helper_single_version_offers_the_service_versions(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        before = app.screen.draft
        form = await open_helper(pilot, app, "single_version")
        assert sorted(form.versions) == ["v1", "v2"]
        form.query_one("#version", Select).value = "v2"
        await apply_form(pilot, app)
        assert app.screen.draft == se.set_single_version(before, "v2")
        await save_and_confirm(pilot, app)
    assert (await client.get_deployment_settings(dep))["generationsMapping"]["generation"] == "v2"


async def test_helper_traffic_split_refuses_bad_sums_then_applies(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        before = app.screen.draft
        form = await open_helper(pilot, app, "traffic_split")
        index = {v: i for i, v in enumerate(form.versions)}
        form.query_one(f"#proba-{index['v1']}", Input).value = "70%"
        form.query_one(f"#proba-{index['v2']}", Input).value = "0.2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, HelperForm), "a split summing to 0.9 is refused"
        assert "sum to 1" in str(form.query_one("#form-error").render())
        form.query_one(f"#proba-{index['v2']}", Input).value = "0.3"
        form.query_one("#strategy", Select).value = "HASH_BASED"
        await apply_form(pilot, app)
        expected = se.set_traffic_split(before, [(v, p) for v, p in (("v1", 0.7), ("v2", 0.3))
                                                 if v in index], "HASH_BASED")
        expected["generationsMapping"]["entries"].sort(key=lambda e: index[e["generation"]])
        assert editor.value == expected
        await save_and_confirm(pilot, app)
    mapping = (await client.get_deployment_settings(dep))["generationsMapping"]
    assert mapping["mode"] == "MULTI_GENERATION" and mapping["strategy"] == "HASH_BASED"
    assert sorted((e["generation"], e["proba"]) for e in mapping["entries"]) == [("v1", 0.7), ("v2", 0.3)]


async def test_helper_add_and_remove_api_node_with_masked_key(deployer, client) -> None:
    secret = "node-admin-" + secrets.token_hex(8)
    app = EditorHarness(deployer.url(), KEY, "infra", INFRA)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        before = app.screen.draft
        form = await open_helper(pilot, app, "add_api_node")
        key_input = form.query_one("#key", Input)
        assert key_input.password, "the admin key is typed masked"
        await pilot.pause()
        assert app.focused is form.query_one("#url", Input), "typing starts in the URL field"
        await pilot.press(*"http://127.0.0.1:1", "tab", *secret)
        assert key_input.value == secret and form.query_one("#url", Input).value == "http://127.0.0.1:1"
        assert secret not in str(key_input.render_line(0).text)
        await apply_form(pilot, app)
        assert app.screen.draft == se.add_api_node(before, "http://127.0.0.1:1", secret)
        assert secret not in editor.text, "the inline editor shows a placeholder, not the key"
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        assert secret not in str(app.screen.query_one("#diff-text").render()), "the review masks keys"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(m.startswith("Saved") for m in app.messages), "the save")
        assert (await client.get_infra_settings(INFRA))["apiNodes"][-1]["adminAPIKey"] == secret
        form = await open_helper(pilot, app, "remove_api_node")
        form.query_one("#node", Select).value = "http://127.0.0.1:1"
        await apply_form(pilot, app)
        assert app.screen.draft["apiNodes"] == before["apiNodes"]
        app.messages.clear()
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(m.startswith("Saved") for m in app.messages), "the second save")
    assert (await client.get_infra_settings(INFRA))["apiNodes"] == before["apiNodes"]


async def test_helpers_with_nothing_picked_say_so(deployer, client) -> None:
    app = EditorHarness(deployer.url(), KEY, "infra", INFRA)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        before = app.screen.draft
        form = await open_helper(pilot, app, "remove_api_node")
        assert form.query_one("#node", Select).is_blank()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, HelperForm)
        assert "Pick the node to remove" in str(form.query_one("#form-error").render())
        await pilot.press("escape")
        await screen_is(pilot, app, SettingsEditorScreen)
        assert app.screen.draft == before


async def test_helper_auth_generates_a_key_sets_the_mode_and_never_shows_the_key(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        form = await open_helper(pilot, app, "auth")
        form.query_one("#mode", Select).value = "API_KEYS"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, HelperForm), "API_KEYS without any key is refused"
        assert "at least one key" in str(form.query_one("#form-error").render())
        form.query_one("#label", Input).value = "mobile app"
        await wait_for(pilot, lambda: form.query_one("#add-key", Checkbox).value, "a label typed asks for a key")
        await apply_form(pilot, app)
        keys = app.screen.draft["auth"]["apiKeys"]
        assert app.screen.draft["auth"]["authMode"] == "API_KEYS" and [k["label"] for k in keys] == ["mobile app"]
        generated = keys[0]["key"]
        assert len(generated) >= 32 and generated not in editor.text, "the editor shows a placeholder"
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        shown = "".join(str(w.render()) for w in app.screen.query("Static"))
        assert "auth.apiKeys[0]" in shown and generated not in shown, "the review, summary included, masks the key"
        await pilot.press("escape")
        await screen_is(pilot, app, SettingsEditorScreen)
        await save_and_confirm(pilot, app)
        saved = await client.get_deployment_settings(dep)
        assert saved["auth"]["authMode"] == "API_KEYS" and saved["auth"]["apiKeys"][0]["key"] == generated

        # Back to the version's own auth, dropping that key, in one form.
        form = await open_helper(pilot, app, "auth")
        assert generated not in "".join(str(w.render()) for w in form.query("Static"))
        form.query_one("#mode", Select).value = "INHERIT_DEV"
        form.query_one("#remove-key", Select).value = generated
        await apply_form(pilot, app)
        app.messages.clear()
        await save_and_confirm(pilot, app)
    assert (await client.get_deployment_settings(dep))["auth"] == {"authMode": "INHERIT_DEV", "apiKeys": []}


@pytest.mark.parametrize(("kind", "object_id", "flags"), [
    ("infra", GOVERNED_INFRA, {"read": True, "deploy": True, "admin": False}),
    ("service", SERVICE, {"read": True, "write": True, "deploy": False, "admin": False}),
])
async def test_helper_permissions(deployer, client, kind, object_id, flags) -> None:
    app = EditorHarness(deployer.url(), KEY, kind, object_id)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        before = app.screen.draft
        form = await open_helper(pilot, app, "permissions")
        form.query_one("#group", Input).value = "data_team"
        for flag, value in flags.items():
            form.query_one(f"#flag-{flag}", Checkbox).value = value
        await apply_form(pilot, app)
        assert app.screen.draft == se.set_permission(before, kind, "data_team", flags)
        await save_and_confirm(pilot, app)
    saved = await getattr(client, f"get_{kind}_settings")(object_id)
    assert saved["permissions"] == [{"group": "data_team", **flags}]


async def test_helpers_refuse_an_invalid_draft(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all("{ broken")
        app.screen.open_helper("enabled")
        await wait_for(pilot, lambda: any("Fix the JSON first" in m for m in app.messages), "the refusal")
        assert isinstance(app.screen, SettingsEditorScreen) and editor.text == "{ broken"


# --- keys stay hidden unless asked ----------------------------------------------------------------


async def test_api_node_keys_are_hidden_in_the_editor_and_in_the_editor_file(deployer, client, tmp_path,
                                                                             monkeypatch) -> None:
    secret = "admin-key-" + secrets.token_hex(8)
    infra = f"inf-{secrets.token_hex(3)}"
    await client.create_infra(infra, "Test")
    settings = await client.get_infra_settings(infra)
    await client.save_infra_settings(infra, se.add_api_node(settings, "http://127.0.0.1:9", secret))
    seen = tmp_path / "seen.txt"
    script = tmp_path / "spy_editor.py"
    # Records what the external editor received, and adds a tag-like key so the draft changes.
    script.write_text(f"import sys, json\ntext = open(sys.argv[-1]).read()\nopen({str(seen)!r}, 'w').write(text)\n"
                      "d = json.loads(text)\nd['stage'] = 'Production'\njson.dump(d, open(sys.argv[-1], 'w'))\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    app = EditorHarness(deployer.url(), KEY, "infra", infra)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        assert secret not in editor.text and "hidden secret 1" in editor.text
        assert app.screen.draft["apiNodes"][0]["adminAPIKey"] == secret
        await pilot.press("f4")
        await wait_for(pilot, lambda: editor.value is not None and editor.value["stage"] == "Production",
                       "the external edit")
        assert secret not in seen.read_text(), "the key never lands in the editor's temporary file"
        await pilot.press("f3")
        assert secret in editor.text and app.screen.draft["stage"] == "Production"
        await pilot.press("f3")
        assert secret not in editor.text
        # A placeholder edited into something else is refused rather than saved as a key.
        editor.replace_all(editor.text.replace("hidden secret 1", "hidden secret 1x"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("a hidden key was edited" in m for m in app.messages), "the refusal")
        assert isinstance(app.screen, SettingsEditorScreen)
        editor.replace_all(editor.text.replace("hidden secret 1x", "hidden secret 1"))
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        assert [c.where for c in app.screen.changes] == ["stage"], "the hidden key is unchanged"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(m.startswith("Saved") for m in app.messages), "the save")
    saved = await client.get_infra_settings(infra)
    assert saved["stage"] == "Production" and saved["apiNodes"][0]["adminAPIKey"] == secret


async def test_unknown_object_shows_the_error_and_refuses_to_save(deployer, client) -> None:
    app = EditorHarness(deployer.url(), KEY, "deployment", "no-such-deployment")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsEditorScreen)
                       and app.screen.last_error is not None, "the load error")
        screen = app.screen
        assert screen.last_error.status == 404 and screen.loaded is None
        assert "no-such-deployment" in str(screen.query_one("#settings-error-text").render())
        assert screen.editor.text_area.read_only, "nothing to edit until it loads"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("not loaded" in m for m in app.messages), "the refusal")
        await pilot.press("escape")  # nothing to lose: leaves at once
        await wait_for(pilot, lambda: not isinstance(app.screen, SettingsEditorScreen), "the editor to close")


async def test_editor_that_changes_nothing_says_so(deployer, client, tmp_path, monkeypatch) -> None:
    script = tmp_path / "noop_editor.py"
    script.write_text("pass\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        before = editor.text
        await pilot.press("f4")
        await wait_for(pilot, lambda: any("No change in the editor" in m for m in app.messages), "the notice")
        assert editor.text == before and not app.screen.dirty


async def test_one_save_at_a_time_and_no_leaving_mid_save(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_enabled(app.screen.draft, False)))
        screen = app.screen
        screen.save()
        screen.save()  # a second ctrl+s before the first one's diff shows
        screen.action_leave()
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDiffScreen), "the first save's diff")
        assert "A save is already in progress" in app.messages
        assert "Wait for the save to finish" in app.messages
        assert len([s for s in app.screen_stack if isinstance(s, SettingsDiffScreen)]) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen and not screen.saving, "the flow to end")
        screen.save()  # allowed again once the first flow ended
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDiffScreen), "a new diff")


async def test_deployer_gone_at_save_time_keeps_the_draft(tmp_path) -> None:
    proc = servers.serve(tmp_path / "gone", KEY, apinodes=0)
    try:
        async with DeployerClient(proc.url(), KEY) as own:
            await own.create_service("svc")
        app = EditorHarness(proc.url(), KEY, "service", "svc")
        async with app.run_test(size=SIZE) as pilot:
            editor = await loaded(pilot, app)
            draft = se.dump(se.set_permission(app.screen.draft, "service", "ops", {"read": True}))
            editor.replace_all(draft)
            proc.stop()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen.last_error is not None, "the connection error")
            assert app.screen.last_error.status is None
            shown = str(app.screen.query_one("#settings-error-text").render())
            assert "draft is kept" in shown and "cannot reach" in shown
            assert editor.text == draft and app.screen.dirty
    finally:
        proc.stop()


class DropsFirstSave:
    """The real client, except that the first deployment save is sent and its answer lost — the
    connection drops after the server stored it."""

    def __init__(self, real: DeployerClient) -> None:
        self._real = real
        self.dropped = False

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    async def save_deployment_settings(self, deployment_id, settings, ignore_warnings=False):
        await self._real.save_deployment_settings(deployment_id, settings, ignore_warnings=ignore_warnings)
        if not self.dropped:
            self.dropped = True
            raise ConnectionLost("deployer", "connection reset while reading the answer")


async def test_lost_answer_to_a_save_is_reported_and_the_next_save_rechecks(deployer, client) -> None:
    dep = await new_deployment(client)
    app = EditorHarness(deployer.url(), KEY, "deployment", dep, wrap=DropsFirstSave)
    async with app.run_test(size=SIZE) as pilot:
        editor = await loaded(pilot, app)
        editor.replace_all(se.dump(se.set_enabled(app.screen.draft, False)))
        await pilot.press("ctrl+s")
        await screen_is(pilot, app, SettingsDiffScreen)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen.last_error is not None, "the lost answer")
        assert "may not have happened" in str(app.screen.query_one("#settings-error-text").render())
        assert app.screen.dirty and editor.value["enabled"] is False
        # It did land: the next ctrl+s finds the server already has the draft, and says so.
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("server already has this draft" in m for m in app.messages), "the re-check")
        assert not app.screen.dirty and app.screen.last_error is None
    assert (await client.get_deployment_settings(dep))["enabled"] is False


def test_conflict_panes_mark_exactly_the_changed_lines() -> None:
    base = {"enabled": True, "tags": [], "x": 1}
    text = marked_document({"enabled": False, "tags": [], "x": 1}, base, "bold red")
    lines = text.plain.splitlines()
    styled = {text.plain[span.start:span.end].rstrip("\n") for span in text.spans if span.style == "bold red"}
    assert styled == {'  "enabled": false,'}
    assert len(lines) == 5
