"""The `deployer-tui` command (its contract is the README's command line): the TUI by default, and the
serve/apinode/package/rollback sub-commands.

Sub-command implementations are imported lazily so that `deployer-tui package` does not pay
for Textual and the TUI does not pay for the server stack.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deployer-tui",
        description="Terminal console for the Dataiku DSS API Deployer. With no connection configured it "
        "starts a local deployer and API node with demo data.",
    )
    parser.add_argument("--url", help="API Deployer URL (else DKU_DSS_URL, ~/.dataiku/config.json, or local)")
    parser.add_argument("--api-key", help="API key (else DKU_API_KEY or the profile's key)")
    parser.add_argument("--profile", help="instance name in ~/.dataiku/config.json (dss_instances)")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA bundle to verify TLS certificates with")
    parser.add_argument("--read-only", action="store_true", help="refuse every action that changes something")
    parser.add_argument("--timeout", metavar="SECONDS",
                        help="read timeout of deployer calls, or CONNECT,READ[,LONG] (LONG: imports, downloads, "
                             "test queries; default 10,30,300; else the config file's timeout or "
                             "DEPLOYER_TUI_TIMEOUT)")
    parser.add_argument("--data-dir", help="data directory of the embedded local deployer")
    parser.add_argument("--config-path", action="store_true", help="print the config file's path and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the local API Deployer and N local API nodes")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=11200, help="0 picks a free port")
    serve.add_argument("--data-dir", dest="serve_data_dir", metavar="DATA_DIR",
                       help="where state is kept (default: the user's data directory)")
    serve.add_argument("--api-key", dest="serve_api_key", metavar="KEY",
                       help="admin API key (else DEPLOYER_TUI_SERVE_API_KEY, else one generated once and kept in the data dir, mode 0600)")
    serve.add_argument("--apinodes", type=int, default=1, metavar="N", help="local API nodes to start (default 1)")
    serve.add_argument("--no-demo", action="store_true", help="do not create demo content in a new data dir")
    serve.add_argument("--dss-strict", action="store_true",
                       help="answer only in shapes DSS documents or the official client reads "
                            "(docs/dss-compatibility.md)")
    serve.add_argument("--apinode-port", type=int, metavar="BASE",
                       help="node i listens on BASE+i (default, or 0: free ports)")
    serve.add_argument("--max-body-mb", type=float, metavar="MB", help="largest JSON request body (default 16)")

    apinode = sub.add_parser("apinode", help="run one standalone local API node")
    apinode.add_argument("--host", default="127.0.0.1")
    apinode.add_argument("--port", type=int, default=12000, help="0 picks a free port")
    apinode.add_argument("--data-dir", dest="node_data_dir", metavar="DATA_DIR")
    apinode.add_argument("--admin-key", metavar="KEY",
                         help="admin API key (else DEPLOYER_TUI_SERVE_API_KEY, else one generated once and kept in the data dir, mode 0600)")

    rollback = sub.add_parser(
        "rollback", help="roll a deployment back to what it served before (headless, for scripts and CI)",
        description="Save the deployment's previous mapping (or --to VERSION), update it, follow the update, "
        "run its stored test queries. Progress on stderr, a JSON summary on stdout. Exit 0 on success, 1 when "
        "the update or the test queries fail, 2 on usage or connection errors.")
    rollback.add_argument("deployment", metavar="DEPLOYMENT")
    rollback.add_argument("--to", metavar="VERSION", help="roll back to this version alone")
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rollback.add_argument("--url", dest="rb_url", metavar="URL", help="API Deployer URL (as the console's --url)")
    rollback.add_argument("--api-key", dest="rb_api_key", metavar="KEY", help="API key")
    rollback.add_argument("--profile", dest="rb_profile", metavar="NAME", help="instance name in ~/.dataiku/config.json")
    rollback.add_argument("--insecure", dest="rb_insecure", action="store_true")
    rollback.add_argument("--ca-bundle", dest="rb_ca_bundle", metavar="FILE")
    rollback.add_argument("--timeout", dest="rb_timeout", metavar="SECONDS", help="as the console's --timeout")

    package = sub.add_parser("package", help="build and validate a version package from a folder")
    package.add_argument("src_dir", metavar="SRC_DIR")
    package.add_argument("-o", "--output", metavar="OUT.zip")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from deployer_tui.server.serve import main as serve_main

        return serve_main(args)
    if args.command == "apinode":
        from deployer_tui.server.apinode.main import main as apinode_main

        return apinode_main(args)
    if args.command == "package":
        return _package(args)
    if args.command == "rollback":
        return _rollback(args)
    if args.timeout is not None:
        from deployer_tui.core.config import Timeouts

        try:
            Timeouts.parse(args.timeout)
        except ValueError as exc:
            print(f"deployer-tui: {exc}", file=sys.stderr)
            return 2
    from deployer_tui.ui.launch import main as ui_main

    return ui_main(args)


def _connection(args: argparse.Namespace, config):  # -> core.profiles.Connection
    """The console's connection rules (core/config.resolve_with_config), with the rollback's own flags first."""
    from deployer_tui.core.config import resolve_with_config

    return resolve_with_config(config, url=args.rb_url or args.url, api_key=args.rb_api_key or args.api_key,
                               profile=args.rb_profile or args.profile,
                               insecure=args.rb_insecure or args.insecure,
                               ca_bundle=args.rb_ca_bundle or args.ca_bundle)


def _rollback(args: argparse.Namespace) -> int:
    """`deployer-tui rollback`: progress lines on stderr, the JSON summary on stdout; 0 ok, 1 the update or
    the test queries failed, 2 usage or connection errors (nothing was changed, or the deployer went away)."""
    import asyncio

    from deployer_tui.core.config import ConfigError, load_config, timeouts_for
    from deployer_tui.core.profiles import ProfileError

    def say(line: str) -> None:
        print(f"deployer-tui rollback: {line}", file=sys.stderr, flush=True)

    if args.read_only:
        say("refused: --read-only")
        return 2
    if not args.yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        say("refused: no terminal to confirm on; give --yes")
        return 2
    try:
        config = load_config()
        timeouts = timeouts_for(config, args.rb_timeout or args.timeout)
        connection = _connection(args, config)
    except (ConfigError, ProfileError) as exc:
        say(str(exc))
        return 2
    return asyncio.run(_rollback_async(args, connection, timeouts, say))


async def _rollback_async(args: argparse.Namespace, connection, timeouts, say) -> int:
    import json
    from pathlib import Path

    from deployer_tui.core import paths
    from deployer_tui.core.client import DeployerClient
    from deployer_tui.core.errors import DeployerError
    from deployer_tui.core.rollback import RollbackError, plan_rollback, run_rollback

    local = None
    try:
        if connection.url is None:
            from deployer_tui.core.local import LocalDeployer

            say("no deployer configured: starting the local deployer")
            local = await LocalDeployer.start(Path(args.data_dir) if args.data_dir else paths.data_dir())
            url, key, verify = local.url, local.api_key, True
        else:
            url, key, verify = connection.url, connection.api_key or "", connection.verify
        try:
            client = DeployerClient(url, key, verify=verify, timeout=timeouts)
        except ValueError as exc:
            say(str(exc))
            return 2
        async with client:
            try:
                plan = await plan_rollback(client, args.deployment, args.to)
            except (RollbackError, DeployerError) as exc:
                say(str(exc))
                return 2
            say(f"{plan.deployment_id}: {plan.current_text} → {plan.target_text}")
            for node_url, serving in (plan.nodes or {}).items():
                say(f"  {node_url} serves {serving.cell}")
            if not args.yes:
                if plan.production:
                    print(f"{plan.deployment_id} is a Production deployment: type its id to roll it back to "
                          f"{plan.target_text}: ", end="", file=sys.stderr, flush=True)
                    confirmed = sys.stdin.readline().strip() == plan.deployment_id
                else:
                    print(f"Roll back {plan.deployment_id} to {plan.target_text}? [y/N] ", end="", file=sys.stderr,
                          flush=True)
                    confirmed = sys.stdin.readline().strip().lower() in ("y", "yes")
                if not confirmed:
                    say("not confirmed: nothing changed")
                    return 2
            def progress(event) -> None:  # a core.rollback.RollbackEvent
                for line in event.lines:
                    say(line)
                if event.message:
                    say(event.message)

            try:
                summary = await run_rollback(client, plan, progress)
            except DeployerError as exc:
                say(str(exc))
                return 2
            print(json.dumps(summary.to_json(), indent=2))
            if summary.outcome == "LOST":
                return 2  # the deployer went away while the update ran: how it ended is not known
            return 0 if summary.ok else 1
    except DeployerError as exc:  # the local deployer could not start
        say(str(exc))
        return 2
    finally:
        if local is not None:
            await local.stop()


def _package(args: argparse.Namespace) -> int:
    from deployer_tui.core.package import PackageError, build_package

    try:
        out, info = build_package(args.src_dir, args.output)
    except PackageError as exc:
        print(f"deployer-tui package: {exc}", file=sys.stderr)
        return 2
    endpoints = ", ".join(f"{ep['id']} ({ep['type']})" for ep in info.endpoints)
    print(f"{out}: version {info.version_id}, endpoints: {endpoints}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
