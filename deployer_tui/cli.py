"""The `deployer-tui` command (its contract is the README's command line): the TUI by default, and the
serve/apinode/package/rollback/canary sub-commands (the headless ones share deployer_tui/headless.py).

Sub-command implementations are imported lazily so that `deployer-tui package` does not pay
for Textual and the TUI does not pay for the server stack.
"""

from __future__ import annotations

import argparse
import sys

from deployer_tui.canary_cli import add_parser as add_canary_parser
from deployer_tui.headless import Refused, add_connection_flags, confirm, deployer_client, preflight, sayer


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
    add_connection_flags(rollback)
    add_canary_parser(sub)

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
    if args.command == "canary":
        from deployer_tui.canary_cli import run as canary_run

        return canary_run(args)
    if args.timeout is not None:
        from deployer_tui.core.config import Timeouts

        try:
            Timeouts.parse(args.timeout)
        except ValueError as exc:
            print(f"deployer-tui: {exc}", file=sys.stderr)
            return 2
    from deployer_tui.ui.launch import main as ui_main

    return ui_main(args)


def _rollback(args: argparse.Namespace) -> int:
    """`deployer-tui rollback`: progress lines on stderr, the JSON summary on stdout; 0 ok, 1 the update or
    the test queries failed, 2 usage or connection errors (nothing was changed, or the deployer went away)."""
    import asyncio

    say = sayer("rollback")
    try:
        connection, timeouts = preflight(args)
    except Refused as exc:
        say(str(exc))
        return 2
    return asyncio.run(_rollback_async(args, connection, timeouts, say))


async def _rollback_async(args: argparse.Namespace, connection, timeouts, say) -> int:
    import json

    from deployer_tui.core.errors import DeployerError
    from deployer_tui.core.rollback import RollbackError, plan_rollback, run_rollback

    try:
        async with deployer_client(args, connection, timeouts, say) as client:
            try:
                plan = await plan_rollback(client, args.deployment, args.to)
            except (RollbackError, DeployerError) as exc:
                say(str(exc))
                return 2
            say(f"{plan.deployment_id}: {plan.current_text} → {plan.target_text}")
            for node_url, serving in (plan.nodes or {}).items():
                say(f"  {node_url} serves {serving.cell}")
            if not args.yes and not confirm(plan.deployment_id, plan.production,
                                            question=f"Roll back {plan.deployment_id} to {plan.target_text}?",
                                            typed_for=f"roll it back to {plan.target_text}"):
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
    except (Refused, DeployerError) as exc:  # the local deployer could not start, or the URL is unusable
        say(str(exc))
        return 2


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
