"""`deployer-tui` start-up errors: messages, not tracebacks; and --config-path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(args: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DKU_", "DEPLOYER_TUI_"))}
    env.update({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
                "XDG_DATA_HOME": str(tmp_path / "xdg-data")})
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "deployer_tui.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)


def test_config_path_is_printed(tmp_path):
    result = run_cli(["--config-path"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == str(tmp_path / "xdg-config" / "deployer-tui" / "config.toml")
    custom = tmp_path / "elsewhere.toml"
    result = run_cli(["--config-path"], tmp_path, {"DEPLOYER_TUI_CONFIG": str(custom)})
    assert result.stdout.strip() == str(custom)


def test_malformed_config_is_a_message(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text('theme = "nord"\nrefresh_interval = = 3\nread_only = true\n')
    result = run_cli([], tmp_path, {"DEPLOYER_TUI_CONFIG": str(bad)})
    assert result.returncode == 2
    assert str(bad) in result.stderr and "line" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_dataiku_profile_is_a_message(tmp_path):
    (tmp_path / ".dataiku").mkdir()
    (tmp_path / ".dataiku" / "config.json").write_text("{not json")
    result = run_cli(["--profile", "prod"], tmp_path)
    assert result.returncode == 2
    assert "config.json" in result.stderr and "Traceback" not in result.stderr


def test_config_profile_without_key_is_a_message(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[profiles.prod]\nurl = "https://dss.example.com"\napi_key_env = "PROD_KEY"\n')
    result = run_cli(["--profile", "prod"], tmp_path, {"DEPLOYER_TUI_CONFIG": str(config)})
    assert result.returncode == 2
    assert "profiles.prod" in result.stderr and "PROD_KEY" in result.stderr
    assert "Traceback" not in result.stderr
