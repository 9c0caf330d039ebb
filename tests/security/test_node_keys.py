"""A standalone node's admin key need not travel on its command line, where every local user can read it."""

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
