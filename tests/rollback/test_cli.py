"""`deployer-tui rollback` run as a subprocess: its three exit codes, progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.deployer.conftest import ADMIN_KEY
from tests.rollback.conftest import deploy, served_version
from tests.strict.conftest import Env, dead_url


def run(args: list[str], state: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "DEPLOYER_TUI_CONFIG": str(state / "none.toml")}
    for var in ("DKU_DSS_URL", "DKU_API_KEY"):
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "deployer_tui.cli", "rollback", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_exit_0_rolls_back_and_prints_the_summary(plain_env: Env, state_home: Path) -> None:
    deploy(plain_env, "cli1", ["v1", "v2"])
    done = run(["cli1", "--yes", "--url", plain_env.url, "--api-key", ADMIN_KEY], state_home)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] and summary["toText"] == "v1" and summary["fromText"] == "v2"
    assert summary["testQueries"] == {"run": True, "ok": 2, "failed": 0}
    assert "v2 → v1" in done.stderr and "test queries: 2 ok" in done.stderr
    assert ADMIN_KEY not in done.stderr + done.stdout
    assert served_version(plain_env, "cli1") == "v1"


def test_exit_1_when_the_update_fails(plain_env: Env, state_home: Path) -> None:
    infra = plain_env.deployer.create_infra("dead-node", "Development", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(dead_url(), "whatever")
    settings.save()
    plain_env.deployer.create_deployment("cli2", "echo", "dead-node", "v2")
    done = run(["cli2", "--to", "v1", "--yes", "--url", plain_env.url, "--api-key", ADMIN_KEY], state_home)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert not summary["ok"] and summary["outcome"] == "FAILED" and not summary["testQueries"]["run"]


def test_exit_2_without_a_terminal_and_without_yes_changes_nothing(plain_env: Env, state_home: Path) -> None:
    deploy(plain_env, "cli3", ["v1", "v2"])
    done = run(["cli3", "--url", plain_env.url, "--api-key", ADMIN_KEY], state_home)
    assert done.returncode == 2 and "--yes" in done.stderr and done.stdout == ""
    assert plain_env.deployer.get_deployment("cli3").get_settings().get_raw()["generationsMapping"]["generation"] \
        == "v2"
    assert served_version(plain_env, "cli3") == "v2"


def test_exit_2_on_connection_and_usage_errors(plain_env: Env, state_home: Path) -> None:
    refused = run(["cli1", "--yes", "--url", dead_url(), "--api-key", "k"], state_home)
    assert refused.returncode == 2 and "connection refused" in refused.stderr
    half = run(["cli1", "--yes", "--url", plain_env.url], state_home)
    assert half.returncode == 2 and "--api-key" in half.stderr
    unknown = run(["no-such-deployment", "--yes", "--url", plain_env.url, "--api-key", ADMIN_KEY], state_home)
    assert unknown.returncode == 2 and "no-such-deployment" in unknown.stderr
