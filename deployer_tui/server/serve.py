"""`deployer-tui serve`: the local API Deployer and N local API nodes in one process (the README's command line).

Node i (1-based) listens on a free port chosen at start, or on BASE+i with `--apinode-port BASE`. Its
data is in `<data-dir>-apinodes/node-<i>`, a sibling of the data dir (0700) rather than inside it, so
that nothing a node runs can reach the deployer's database by walking up from its own folder; its
admin key, generated once, is kept 0600 in `<data-dir>/apinodes/node-<i>.admin-key`. The deployer's
admin key is `--api-key`, else the environment variable DEPLOYER_TUI_SERVE_API_KEY (a command line is
readable by every local user, the environment only by the same user), else the one kept in
`<data-dir>/admin-api-key`, else a new one; the key in
use is always written there (0600) so that the TUI's embedded launcher can read it. STATIC infra
entries marked `"localNode": i` are re-pointed at node i on every start, since ports may change.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import secrets
import sys
from pathlib import Path

from deployer_tui.core import paths
from deployer_tui.server.runner import Listener, run, serve_all

API_KEY_ENV = "DEPLOYER_TUI_SERVE_API_KEY"


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


def nodes_root(data_dir: Path) -> Path:
    """Where serve's nodes keep their data: `<data-dir>-apinodes`, beside the data dir, not in it."""
    return data_dir.with_name(data_dir.name + "-apinodes")


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner may enter (created so, or narrowed when it is wider)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def node_dir_for(data_dir: Path, index: int) -> Path:
    """Node `index`'s data dir; one left inside the data dir by an earlier version is moved out first."""
    node_dir = private_dir(nodes_root(data_dir)) / f"node-{index}"
    old = data_dir / "apinodes" / f"node-{index}"
    if old.is_dir() and not node_dir.exists():
        os.replace(old, node_dir)
    return private_dir(node_dir)


LOCK_WAIT_S = 15.0


def lock_data_dir(data_dir: Path, wait_s: float = LOCK_WAIT_S) -> int | None:
    """An exclusive lock on the data dir for this process's lifetime (the kernel drops it when the process
    ends, however it ends), or None when another serve holds it for longer than `wait_s`. The console gives
    the terminal back before its embedded deployer has finished stopping, so a quick restart waits for
    the previous one here instead of opening the same database beside it."""
    import fcntl
    import threading

    fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    print(f"deployer-tui serve: waiting for the deployer-tui serve still using {data_dir} to stop…",
          file=sys.stderr, flush=True)
    got = threading.Event()

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        got.set()

    threading.Thread(target=wait, daemon=True, name="data-dir-lock").start()
    if got.wait(wait_s):
        return fd
    return None


def node_key_for(data_dir: Path, index: int) -> str:
    key_file = private_dir(data_dir / "apinodes") / f"node-{index}.admin-key"
    key = _read_key(key_file)
    if key is None:
        key = secrets.token_urlsafe(24)
        paths.write_secret(key_file, key + "\n")
    return key


def main(args: argparse.Namespace) -> int:
    data_dir = (Path(args.serve_data_dir).expanduser() if args.serve_data_dir else paths.data_dir()).resolve()
    base_port = getattr(args, "apinode_port", None)
    max_body_mb = getattr(args, "max_body_mb", None)
    if args.apinodes < 0:
        print("deployer-tui serve: --apinodes must be 0 or more", file=sys.stderr)
        return 2
    if base_port and not (base_port > 0 and base_port + args.apinodes <= 65535):
        print(f"deployer-tui serve: --apinode-port {base_port}: nodes 1 to {args.apinodes} would listen on "
              f"{base_port + 1} to {base_port + args.apinodes}; choose a base from 1 to {65535 - args.apinodes}",
              file=sys.stderr)
        return 2
    if max_body_mb is not None and not max_body_mb > 0:
        print("deployer-tui serve: --max-body-mb must be more than 0", file=sys.stderr)
        return 2
    # Keys live under the data dir (admin key, node keys, the database): it is private.
    private_dir(data_dir)
    lock = lock_data_dir(data_dir)
    if lock is None:
        print(f"deployer-tui serve: {data_dir} is in use by another deployer-tui serve (still running, or still "
              f"stopping after {LOCK_WAIT_S:.0f} s); stop it or give another --data-dir", file=sys.stderr)
        return 2
    admin_key = admin_key_for(data_dir, args.serve_api_key or os.environ.get(API_KEY_ENV) or None)

    from deployer_tui.server.deployer.app import create_app as create_deployer_app

    node_listeners: list[Listener] = []
    node_keys: list[str] = []

    def local_nodes() -> list[tuple[str, str]]:
        return [(listener.url, key) for listener, key in zip(node_listeners, node_keys, strict=True)]

    deployer_app = create_deployer_app(data_dir, admin_key, local_nodes,
                                       dss_strict=getattr(args, "dss_strict", False))
    if max_body_mb is not None:
        deployer_app.state.max_body_bytes = int(max_body_mb * 1024 * 1024)
    store = deployer_app.state.deployer.store
    # "New" until a start got as far as serving: a first start that failed (port taken) still gets
    # the demo next time; a data dir with content never does.
    new_data_dir = store.get_meta("initialized") is None and not store.list("infras") \
        and not store.list("services")
    for i in range(1, args.apinodes + 1):
        from deployer_tui.server.apinode.app import create_app as create_node_app

        key = node_key_for(data_dir, i)
        node_keys.append(key)
        port = base_port + i if base_port else 0
        node_dir = node_dir_for(data_dir, i)
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
        print(f"deployer-tui serve: {_explain(exc, listeners)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _explain(exc: OSError, listeners: list[Listener]) -> str:
    """An address already in use, said with its port and the option that changes it."""
    if exc.errno != errno.EADDRINUSE:
        return str(exc)
    # Listeners bind in order and get their url once bound: the first without one failed.
    failed = next((listener for listener in listeners if not listener.url), None)
    if failed is None:
        return str(exc)
    flag = "--port" if failed.name == "deployer" else "--apinode-port (node i listens on BASE+i)"
    return (f"port {failed.port} on {failed.host} ({failed.name}) cannot be used: {exc.strerror}, perhaps by "
            f"another deployer-tui serve; choose another with {flag}, or 0 for a free port")
