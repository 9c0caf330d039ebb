"""What the headless commands (`rollback`, `canary`) share: their connection flags and the console's
connection rules, the refusals made before anything is read, the deployer they talk to (the configured one,
else a local deployer started for the run and stopped after it) and the question asked on the terminal.

Nothing heavy is imported at the top: `deployer-tui package` builds the same parser.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

Say = Callable[[str], None]


class Refused(Exception):
    """The command stops before changing anything (exit 2); the message says why."""


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """The console's connection flags, repeated after the sub-command (they win over the console's own)."""
    parser.add_argument("--url", dest="sub_url", metavar="URL", help="API Deployer URL (as the console's --url)")
    parser.add_argument("--api-key", dest="sub_api_key", metavar="KEY", help="API key")
    parser.add_argument("--profile", dest="sub_profile", metavar="NAME", help="instance name in ~/.dataiku/config.json")
    parser.add_argument("--insecure", dest="sub_insecure", action="store_true")
    parser.add_argument("--ca-bundle", dest="sub_ca_bundle", metavar="FILE")
    parser.add_argument("--timeout", dest="sub_timeout", metavar="SECONDS", help="as the console's --timeout")


def sayer(command: str) -> Say:
    """One progress line on stderr, prefixed with the command (stdout carries the JSON summary alone)."""

    def say(line: str) -> None:
        # The terminal may have gone away (SIGHUP): what follows, a revert say, must still run.
        with contextlib.suppress(OSError, ValueError):
            print(f"deployer-tui {command}: {line}", file=sys.stderr, flush=True)

    return say


def connection(args: argparse.Namespace, config: Any) -> Any:  # -> core.profiles.Connection
    """The console's connection rules (core/config.resolve_with_config), the sub-command's own flags first."""
    from deployer_tui.core.config import resolve_with_config

    return resolve_with_config(config, url=args.sub_url or args.url, api_key=args.sub_api_key or args.api_key,
                               profile=args.sub_profile or args.profile,
                               insecure=args.sub_insecure or args.insecure,
                               ca_bundle=args.sub_ca_bundle or args.ca_bundle)


def preflight(args: argparse.Namespace) -> tuple[Any, Any]:
    """(connection, timeouts) for a command that changes a deployment; Refused when it may not run: a
    read-only session, no terminal to confirm on without --yes, a bad config or connection."""
    from deployer_tui.core.config import ConfigError, load_config, timeouts_for
    from deployer_tui.core.profiles import ProfileError

    if args.read_only:
        raise Refused("refused: --read-only")
    if not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise Refused("refused: no terminal to confirm on; give --yes")
    try:
        config = load_config()
        return connection(args, config), timeouts_for(config, args.sub_timeout or args.timeout)
    except (ConfigError, ProfileError) as exc:
        raise Refused(str(exc)) from None


@asynccontextmanager
async def deployer_client(args: argparse.Namespace, conn: Any, timeouts: Any, say: Say) -> AsyncIterator[Any]:
    """A DeployerClient on the configured deployer, or on a local deployer started for the command (with
    the console's --data-dir) and stopped when the block ends. Refused when neither can be had."""
    from pathlib import Path

    from deployer_tui.core import paths
    from deployer_tui.core.client import DeployerClient
    from deployer_tui.core.errors import DeployerError

    local = None
    try:
        if conn.url is None:
            from deployer_tui.core.local import LocalDeployer

            say("no deployer configured: starting the local deployer")
            try:
                # In a session of its own: a ctrl+c meant for the command (a canary reverts on it) must not
                # also stop the deployer the command still needs.
                local = await LocalDeployer.start(Path(args.data_dir) if args.data_dir else paths.data_dir(),
                                                  own_session=True)
            except DeployerError as exc:
                raise Refused(str(exc)) from None
            url, key, verify = local.url, local.api_key, True
        else:
            url, key, verify = conn.url, conn.api_key or "", conn.verify
        try:
            client = DeployerClient(url, key, verify=verify, timeout=timeouts)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        async with client:
            yield client
    finally:
        if local is not None:
            await local.stop()


def confirm(deployment_id: str, production: bool, *, question: str, typed_for: str) -> bool:
    """Ask on the terminal: a Production deployment wants its id typed (`typed_for`: "roll it back to v1"),
    as a delete does in the console; any other a yes to `question` ("Roll back d to v1?")."""
    if production:
        print(f"{deployment_id} is a Production deployment: type its id to {typed_for}: ", end="", file=sys.stderr,
              flush=True)
        return sys.stdin.readline().strip() == deployment_id
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")
