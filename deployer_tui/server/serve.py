"""`deployer-tui serve`: the local API Deployer and N local API nodes in one process (design §3).

Node i (1-based) listens on port 12000+i (a free port with `--port 0`) with its data in
`<data-dir>/apinodes/node-<i>` and its own admin key, generated once and kept 0600 in
`<data-dir>/apinodes/node-<i>.admin-key`. The deployer's admin key is `--api-key`, else the one
kept in `<data-dir>/admin-api-key`, else a new one; the key in use is always written there (0600)
so that the TUI's embedded launcher can read it. STATIC infra entries marked `"localNode": i`
are re-pointed at node i on every start, since ports may change.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from deployer_tui.core import paths
from deployer_tui.server.runner import Listener, run, serve_all

NODE_BASE_PORT = 12000


def _read_key(path: Path) -> str | None:
    try:
        key = path.read_text("utf-8").strip()
    except OSError:
        return None
    return key or None


def admin_key_for(data_dir: Path, given: str | None) -> str:
    key_file = data_dir / paths.ADMIN_KEY_FILE
    key = given or _read_key(key_file) or secrets.token_urlsafe(24)
    if _read_key(key_file) != key:
        paths.write_secret(key_file, key + "\n")
    elif key_file.stat().st_mode & 0o077:
        key_file.chmod(0o600)  # a key file others can read is fixed, not trusted as is
    return key


def node_key_for(data_dir: Path, index: int) -> str:
    key_file = data_dir / "apinodes" / f"node-{index}.admin-key"
    key = _read_key(key_file)
    if key is None:
        key = secrets.token_urlsafe(24)
        paths.write_secret(key_file, key + "\n")
    return key


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.serve_data_dir).expanduser() if args.serve_data_dir else paths.data_dir()
    if args.apinodes < 0:
        print("deployer-tui serve: --apinodes must be 0 or more", file=sys.stderr)
        return 2
    # Keys live under the data dir (admin key, node keys, the database): a new one is private.
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    admin_key = admin_key_for(data_dir, args.serve_api_key)

    from deployer_tui.server.deployer.app import create_app as create_deployer_app

    node_listeners: list[Listener] = []
    node_keys: list[str] = []

    def local_nodes() -> list[tuple[str, str]]:
        return [(listener.url, key) for listener, key in zip(node_listeners, node_keys, strict=True)]

    deployer_app = create_deployer_app(data_dir, admin_key, local_nodes,
                                       dss_strict=getattr(args, "dss_strict", False))
    store = deployer_app.state.deployer.store
    # "New" until a start got as far as serving: a first start that failed (port taken) still gets
    # the demo next time; a data dir with content never does.
    new_data_dir = store.get_meta("initialized") is None and not store.list("infras") \
        and not store.list("services")
    for i in range(1, args.apinodes + 1):
        from deployer_tui.server.apinode.app import create_app as create_node_app

        key = node_key_for(data_dir, i)
        node_keys.append(key)
        port = NODE_BASE_PORT + i if args.port != 0 else 0
        node_dir = data_dir / "apinodes" / f"node-{i}"
        if new_data_dir and not args.no_demo:
            from deployer_tui.server.demo import prepare_node_dir

            prepare_node_dir(node_dir)
        node_listeners.append(Listener("apinode", create_node_app(node_dir, key), args.host, port))

    listeners = [*node_listeners, Listener("deployer", deployer_app, args.host, args.port,
                                                announce_after_ready=True)]

    async def on_ready(ready: list[Listener]) -> None:
        if not new_data_dir:
            return
        await asyncio.to_thread(store.set_meta, "initialized", {"demo": not args.no_demo})
        if not args.no_demo:
            from deployer_tui.server.demo import populate

            try:
                await populate(ready[-1].url, admin_key, local_nodes())
            except Exception as exc:  # the server is useful without demo content: say so, keep serving
                print(f"deployer-tui serve: demo content incomplete: {exc}", file=sys.stderr, flush=True)

    try:
        run(serve_all(listeners, on_ready=on_ready))  # uvloop when installed, as the standalone node
    except OSError as exc:
        print(f"deployer-tui serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
