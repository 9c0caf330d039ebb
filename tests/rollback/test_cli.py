"""`deployer-tui rollback` run as a subprocess: its three exit codes, progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
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
    deploy(plain_env, "cli5", ["v1", "v2"])
    no_version = run(["cli5", "--to", "v9", "--yes", "--url", plain_env.url, "--api-key", ADMIN_KEY], state_home)
    assert no_version.returncode == 2 and "v9" in no_version.stderr
    env = {**os.environ, "XDG_STATE_HOME": str(state_home)}
    read_only = subprocess.run([sys.executable, "-m", "deployer_tui.cli", "--read-only", "rollback", "cli5", "--yes",
                                "--url", plain_env.url, "--api-key", ADMIN_KEY], capture_output=True, text=True,
                               env=env, timeout=120)
    assert read_only.returncode == 2 and "read-only" in read_only.stderr
    saved = plain_env.deployer.get_deployment("cli5").get_settings().get_raw()["generationsMapping"]
    assert saved["generation"] == "v2" and served_version(plain_env, "cli5") == "v2"  # neither changed anything


def run_on_terminal(args: list[str], state: Path, typed: str) -> tuple[int, str, str]:
    """The command with stdin and stderr on a pseudo-terminal (it asks there), `typed` as the answer."""
    import pty

    env = {**os.environ, "XDG_STATE_HOME": str(state), "DEPLOYER_TUI_CONFIG": str(state / "none.toml")}
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "deployer_tui.cli", "rollback", *args], stdin=sub,
                            stderr=sub, stdout=subprocess.PIPE, text=True, env=env)
    os.close(sub)
    os.write(main, typed.encode() + b"\n")  # the terminal buffers it until the question reads it
    seen: list[bytes] = []

    def drain() -> None:  # read while it runs: a full terminal buffer would block its writes
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end closed: everything written was read
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(30)
    os.close(main)
    seen_text = b"".join(seen)
    return proc.returncode, out, seen_text.decode(errors="replace")


def test_a_production_deployment_wants_its_id_typed(plain_env: Env, state_home: Path) -> None:
    infra = plain_env.deployer.create_infra("prod", "Production", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(plain_env.node_url, plain_env.node_key)
    settings.save()
    deploy(plain_env, "cli4", ["v1", "v2"], infra="prod")
    flags = ["cli4", "--url", plain_env.url, "--api-key", ADMIN_KEY]
    code, out, term = run_on_terminal(flags, state_home, "y")
    assert code == 2 and "Production deployment: type its id" in term and out == ""
    assert served_version(plain_env, "cli4") == "v2"
    code, out, term = run_on_terminal(flags, state_home, "cli4")
    assert code == 0, term
    assert json.loads(out)["ok"] and served_version(plain_env, "cli4") == "v1"
