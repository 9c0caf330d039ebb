"""`deployer-tui apinode` (the README's command line): one standalone local API node in the foreground.

Without `--admin-key`, the key is taken from the environment variable DEPLOYER_TUI_APINODE_ADMIN_KEY
(which, unlike a command line, other users cannot read), else generated on first start and kept in
`<data dir>/admin-api-key` (mode 0600), so the node keeps the same key across restarts; the key is never printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from deployer_tui.core.paths import ADMIN_KEY_FILE, data_dir, write_secret
from deployer_tui.server.runner import Listener, run, serve_all


def default_data_dir() -> Path:
    return data_dir() / "apinode"


ADMIN_KEY_ENV = "DEPLOYER_TUI_APINODE_ADMIN_KEY"


def resolve_admin_key(folder: Path, given: str | None) -> str:
    given = given or os.environ.get(ADMIN_KEY_ENV) or None
    if given:
        return given
    path = folder / ADMIN_KEY_FILE
    if path.is_file():
        key = path.read_text("utf-8").strip()
        if key:
            return key
    key = secrets.token_urlsafe(24)
    write_secret(path, key + "\n")
    return key


def main(args: argparse.Namespace) -> int:
    from deployer_tui.server.apinode.app import create_app
    from deployer_tui.server.apinode.node_files import StoreError

    folder = Path(args.node_data_dir) if args.node_data_dir else default_data_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # keys live here (see node_files.Store)
        key = resolve_admin_key(folder, args.admin_key)
        app = create_app(folder, key)
    except (OSError, StoreError) as exc:
        print(f"deployer-tui apinode: cannot use data dir {folder}: {exc}", file=sys.stderr)
        return 2
    if not args.admin_key and not os.environ.get(ADMIN_KEY_ENV):
        print(f"deployer-tui apinode: admin key in {folder / ADMIN_KEY_FILE}", file=sys.stderr, flush=True)
    try:
        run(serve_all([Listener("apinode", app, args.host, args.port)]))
    except OSError as exc:
        print(f"deployer-tui apinode: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
