"""The config file: defaults, values, env overrides, and errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer_tui.core.config import DEFAULT_REFRESH, DEFAULT_THEME, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_gives_defaults(tmp_path):
    config = load_config(tmp_path / "absent.toml", env={})
    assert (config.theme, config.refresh_interval, config.read_only) == (DEFAULT_THEME, DEFAULT_REFRESH, False)
    assert config.keymap == {} and config.profiles == {}


def test_values_keymap_and_profiles(tmp_path):
    path = write(tmp_path, """
theme = "nord"
refresh_interval = 2.5
read_only = true
[keymap]
"main.filter" = "f,slash"
[profiles.prod]
url = "https://dss.example.com"
api_key_env = "PROD_KEY"
insecure = true
""")
    config = load_config(path, env={})
    assert config.theme == "nord" and config.refresh_interval == 2.5 and config.read_only is True
    assert config.keymap == {"main.filter": "f,slash"}
    prod = config.profiles["prod"]
    assert prod.url == "https://dss.example.com" and prod.insecure is True
    assert prod.resolved_api_key({"PROD_KEY": "k-123"}) == "k-123"
    assert prod.resolved_api_key({}) is None


def test_env_overrides_win(tmp_path):
    path = write(tmp_path, 'theme = "nord"\nrefresh_interval = 30\n')
    config = load_config(path, env={"DEPLOYER_TUI_THEME": "dracula", "DEPLOYER_TUI_REFRESH": "0",
                                    "DEPLOYER_TUI_READ_ONLY": "yes"})
    assert (config.theme, config.refresh_interval, config.read_only) == ("dracula", 0.0, True)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, 'theme = "nord"\nrefresh_interval = = 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(path) in str(err.value) and "line 2" in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("refresh_interval = -1\n", "refresh_interval"),
    ('refresh_interval = "fast"\n', "refresh_interval"),
    ('read_only = "yes"\n', "read_only"),
    ('colour = "red"\n', "unknown setting"),
    ('[keymap]\n"main.filter" = 3\n', "keymap.main.filter"),
    ('[profiles.x]\nurl = "http://h"\npassword = "p"\n', "profiles.x.password"),
])
def test_bad_values_are_named(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(path) in str(err.value) and needle in str(err.value)
    assert f"(line {text.count(chr(10))})" in str(err.value)  # the offending line is the last one


@pytest.mark.parametrize("env", [{"DEPLOYER_TUI_REFRESH": "soon"}, {"DEPLOYER_TUI_REFRESH": "-3"},
                                 {"DEPLOYER_TUI_READ_ONLY": "maybe"}])
def test_bad_env_overrides_are_named(tmp_path, env):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "absent.toml", env=env)
    assert next(iter(env)) in str(err.value)


async def test_keymap_naming_no_binding_is_reported_and_known_ids_still_apply():
    from deployer_tui.core.client import DeployerClient
    from deployer_tui.core.config import Config
    from tests.ui.helpers import RecordingApp, wait_for

    # Nothing listens on the client's port: the store's refresh fails, which this test does not need.
    client = DeployerClient("http://127.0.0.1:9", "k")
    app = RecordingApp(client=client, config=Config(keymap={"main.filter": "f", "main.fliter": "F"}))
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_for(pilot, lambda: any("[keymap]" in n.message for n in app.toasts),
                           what="the keymap warning")
            warning = next(n.message for n in app.toasts if "[keymap]" in n.message)
            assert "main.fliter" in warning and "main.filter" not in warning.replace("main.fliter", "")
            await pilot.press("f")
            assert app.screen.query_one("#filter").has_class("-active")
    finally:
        await client.aclose()
