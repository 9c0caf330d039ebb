"""`deployer-tui` with no sub-command: resolve the connection and list the contexts, then run the TUI.

The connection the command line chose is the current context; every other context (core/contexts.py)
is opened when the user first switches to it, each with its own client built from its own
`Context.connection()` (so a key only ever goes to its own deployer). The `local` context starts the
embedded local deployer — in a worker, after the first paint — and stops it on quit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from deployer_tui.core import paths
from deployer_tui.core.config import Config, ConfigError, load_config, resolve_with_config, timeouts_for
from deployer_tui.core.contexts import Context, ContextError, list_contexts

if TYPE_CHECKING:
    from deployer_tui.ui.state.contexts_state import Opener


def main(args: argparse.Namespace) -> int:
    if getattr(args, "config_path", False):
        print(paths.config_file())
        return 0
    try:
        config = load_config()
        connection = _resolve(args, config)
        contexts = list_contexts(config, initial=connection)
    except (ConfigError, ContextError) as exc:
        print(f"deployer-tui: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # ProfileError and friends: a message, not a traceback
        from deployer_tui.core.profiles import ProfileError

        if isinstance(exc, ProfileError):
            print(f"deployer-tui: {exc}", file=sys.stderr)
            return 2
        raise
    return asyncio.run(_run(args, config, contexts))


def _resolve(args: argparse.Namespace, config: Config):
    return resolve_with_config(config, url=args.url, api_key=args.api_key, profile=args.profile,
                               insecure=args.insecure, ca_bundle=args.ca_bundle)


async def _run(args: argparse.Namespace, config: Config, contexts: list[Context]) -> int:
    from deployer_tui.ui.app import DeployerApp

    data_dir = Path(args.data_dir) if args.data_dir else paths.data_dir()
    # --timeout wins over the config file and its environment variable (core/config.timeouts_for); main()
    # already refused a malformed flag.
    open_context = context_opener(config, data_dir, getattr(args, "timeout", None))
    # The app closes the sessions (and stops the local deployer) itself when it unmounts.
    app = DeployerApp(contexts=contexts, open_context=open_context, config=config, read_only=bool(args.read_only))
    await app.run_async()
    return app.return_code or 0


def context_opener(config: Config, data_dir: Path, timeout: str | None = None) -> Opener:
    """How the app opens a context: a client of its own URL with its own key (`Context.connection()`), or
    the embedded local deployer started in `data_dir` for `local`."""
    from deployer_tui.ui.app import Session

    timeouts = timeouts_for(config, timeout)

    async def client_class():
        # httpx takes a noticeable part of a second to import: do it off the event loop, after the
        # first paint, while the header says "connecting…".
        module = await asyncio.to_thread(importlib.import_module, "deployer_tui.core.client")
        return module.DeployerClient

    async def open_context(context: Context) -> Session:
        connection = context.connection()  # ContextError for an incomplete one: shown in the list
        if connection.url is not None:
            client = (await client_class())(connection.url, connection.api_key or "", verify=connection.verify,
                                            timeout=timeouts)
            return Session(client, connection.url, client.aclose, note=connection.note,
                           key_origin=context.key_origin())
        from deployer_tui.core.local import LocalDeployer

        local = await LocalDeployer.start(data_dir)
        try:
            client = (await client_class())(local.url, local.api_key, timeout=timeouts)
        except BaseException:
            await local.stop()
            raise

        async def close() -> None:
            try:
                await client.aclose()
            finally:
                # Not awaited: quitting gives the terminal back now; the servers stop cleanly after.
                local.stop_soon()

        return Session(client, "local", close)

    return open_context
