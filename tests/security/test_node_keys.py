"""Admin keys need not travel on a command line, where every local user can read them."""

from __future__ import annotations

from pathlib import Path

import dataikuapi

from tests.servers import start


def test_admin_key_from_the_environment_stays_off_the_command_line(tmp_path: Path) -> None:
    key = "key-from-the-environment"
    proc = start(["apinode", "--port", "0", "--data-dir", str(tmp_path / "data")], {"apinode": 1},
                 env={"DEPLOYER_TUI_APINODE_ADMIN_KEY": key})
    try:
        assert dataikuapi.APINodeAdminClient(proc.url("apinode"), key).list_services() == []
        assert key.encode() not in Path(f"/proc/{proc.popen.pid}/cmdline").read_bytes()
        assert not (tmp_path / "data" / "admin-api-key").exists()  # no key was generated instead
    finally:
        proc.stop()


def test_serve_admin_key_from_the_environment_stays_off_the_command_line(tmp_path: Path) -> None:
    key = "serve-key-from-the-environment"
    proc = start(["serve", "--port", "0", "--data-dir", str(tmp_path / "data"), "--apinodes", "0", "--no-demo"],
                 {"deployer": 1}, env={"DEPLOYER_TUI_SERVE_API_KEY": key})
    try:
        assert dataikuapi.DSSClient(proc.url("deployer"), key).get_auth_info()["authIdentifier"] == "admin"
        assert key.encode() not in Path(f"/proc/{proc.popen.pid}/cmdline").read_bytes()
        assert (tmp_path / "data" / "admin-api-key").read_text().strip() == key  # what the embedded launcher reads
    finally:
        proc.stop()
