"""Timeouts: --timeout, the config file's `timeout`, DEPLOYER_TUI_TIMEOUT, and what the client makes of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer_tui.cli import main
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import ConfigError, Timeouts, load_config, timeouts_for


def test_parse() -> None:
    assert Timeouts.parse("60") == Timeouts(10, 60, 300)
    assert Timeouts.parse("5") == Timeouts(5, 5, 300)
    assert Timeouts.parse("2,90") == Timeouts(2, 90, 300)
    assert Timeouts.parse("2,90,900") == Timeouts(2, 90, 900)
    assert Timeouts.parse("400") == Timeouts(10, 400, 400)  # a long read is never shorter than the read
    for bad in ("", "abc", "0", "-1", "1,2,3,4", "nan"):
        with pytest.raises(ValueError, match="--timeout"):
            Timeouts.parse(bad)


def test_config_file_env_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("timeout = 45\n")
    config = load_config(path, env={})
    assert config.timeouts == Timeouts(10, 45, 300)
    assert load_config(path, env={"DEPLOYER_TUI_TIMEOUT": "3,20,600"}).timeouts == Timeouts(3, 20, 600)
    assert timeouts_for(config, "7") == Timeouts(7, 7, 300) and timeouts_for(config, None) == config.timeouts
    with pytest.raises(ConfigError, match="--timeout"):
        timeouts_for(config, "soon")
    path.write_text('timeout = "x"\n')
    with pytest.raises(ConfigError, match=r"config\.toml \(line 1\): timeout"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="DEPLOYER_TUI_TIMEOUT"):
        load_config(tmp_path / "absent.toml", env={"DEPLOYER_TUI_TIMEOUT": "-3"})
    assert load_config(tmp_path / "absent.toml", env={}).timeouts == Timeouts()


async def test_client_timeouts() -> None:
    async with DeployerClient("http://127.0.0.1:1", "k", timeout=Timeouts(2, 20, 200)) as client:
        assert client.timeouts == Timeouts(2, 20, 200)
        assert (client._timeout.connect, client._timeout.read) == (2, 20)
        assert (client._long_timeout.connect, client._long_timeout.read) == (2, 200)
    async with DeployerClient("http://127.0.0.1:1", "k", timeout=45) as client:
        assert client.timeouts == Timeouts(10, 45, 300)


def test_bad_timeout_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--timeout", "0"]) == 2
    assert "--timeout" in capsys.readouterr().err
