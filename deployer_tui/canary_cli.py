"""`deployer-tui canary DEPLOYMENT --to VERSION`: a staged canary rollout run headless, for scripts and CI.

core/canary.py plans and runs it; this module reads the flags, asks first (or refuses with no terminal and
no --yes), shows the progress on stderr (deployer_tui/canary_progress.py) and prints the result's JSON on
stdout. Exit 0 promoted, 1 reverted or aborted, 2 on usage or connection errors, a failed update or a
deployer that went away. Ctrl+c (or SIGTERM, SIGHUP) during the run aborts it, which reverts: a canary is never
left half-way by this command; a process killed outright leaves its record, and the console offers the
revert at its next start.

Core modules are imported where used: building the parser must stay cheap for `deployer-tui package`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any

from deployer_tui.core import canary_options as options
from deployer_tui.headless import (
    Refused,
    Say,
    add_connection_flags,
    confirm,
    deployer_client,
    preflight,
    sayer,
)

EXIT_CODES = {"PROMOTED": 0, "REVERTED": 1, "ABORTED": 1, "FAILED": 2}


def _flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser of core/canary_options.py as an argparse type: its sentence becomes the usage error."""
    def read(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    read.__name__ = parse.__name__
    return read


parse_duration = _flag_type(options.parse_duration)
parse_fraction = _flag_type(options.parse_fraction)
parse_ratio = _flag_type(options.parse_ratio)
parse_delta = _flag_type(options.parse_delta_ms)


def add_parser(sub: Any) -> None:
    """The `canary` sub-command and its flags (sub: the console parser's sub-parsers)."""
    canary = sub.add_parser(
        "canary", help="roll a new version out in steps with guards, reverting on a breach (headless)",
        description="Move a deployment to VERSION in steps (a traffic split saved and updated per step), probing "
        "each version during a soak and judging the guards; a breach, a failed update or ctrl+c restores the "
        "mapping from before the canary. Progress on stderr, a JSON summary on stdout. Exit 0 promoted, 1 "
        "reverted or aborted, 2 on usage or connection errors, a failed update or a deployer that went away.")
    canary.add_argument("deployment", metavar="DEPLOYMENT")
    canary.add_argument("--to", required=True, metavar="VERSION", help="the new version")
    canary.add_argument("--steps", default="10,50,100", metavar="P,P,…",
                        help="percent of traffic to the new version per step, ending at 100 (default 10,50,100)")
    canary.add_argument("--strategy", default="HASH_BASED", choices=("HASH_BASED", "RANDOM"),
                        help="how the nodes split traffic (default HASH_BASED)")
    canary.add_argument("--soak", type=parse_duration, default=60.0, metavar="DURATION",
                        help="how long each step is watched: 60s, 2m, 0.5 (default 60s)")
    canary.add_argument("--max-error-rate", type=parse_fraction, default=0.01, metavar="RATE",
                        help="the new version's highest error rate over a step's probes (default 0.01, i.e. 1%%)")
    canary.add_argument("--max-latency-ratio", type=parse_ratio, default=1.5, metavar="RATIO",
                        help="the new version's highest p95 latency over the old one's (default 1.5)")
    canary.add_argument("--min-latency-delta", type=parse_delta, default=5.0, metavar="MS",
                        help="the latency guard breaches only when the new p95 is also this much above the old "
                             "one, so that jitter on a fast endpoint is no breach: 5, 5ms, 0.005s (default 5 ms)")
    canary.add_argument("--match-answers", action="store_true",
                        help="the new version must answer the stored test queries as the old one does")
    canary.add_argument("--probe-rate", type=float, default=10.0, metavar="PER_S",
                        help="probe queries per second, all versions together (default 10, at most 50); each "
                             "version gets the same share in every step, the 100 %% one too")
    canary.add_argument("--probe-via", default="auto", choices=("auto", "deployer"),
                        help="auto: each version on the API nodes directly when they can be reached, else "
                             "through the deployer's test queries; deployer: never the nodes (default auto)")
    canary.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_connection_flags(canary)


def plan_from_args(args: argparse.Namespace) -> Any:  # -> core.canary.CanaryPlan
    """The plan the flags ask for, checked before anything is read; Refused with the reason."""
    from deployer_tui.core.canary import CanaryError, CanaryPlan, Guards, parse_steps

    try:
        guards = Guards(max_error_rate=args.max_error_rate, max_latency_ratio=args.max_latency_ratio,
                        match_answers=args.match_answers, min_latency_delta_ms=args.min_latency_delta)
        plan = CanaryPlan(args.deployment, args.to, steps=parse_steps(args.steps), strategy=args.strategy,
                          soak_s=args.soak, guards=guards, probe_rate=args.probe_rate)
        plan.validate()
    except CanaryError as exc:
        raise Refused(str(exc)) from None
    return plan


def plan_text(plan: Any) -> str:
    """One line: what will happen, for the confirmation and the log."""
    from deployer_tui.core.canary import GUARD_ANSWERS, GUARD_ERROR_RATE, GUARD_LATENCY

    guards = [f"{GUARD_ERROR_RATE} ≤ {plan.guards.max_error_rate * 100:g} %",
              f"{GUARD_LATENCY} {plan.guards.latency_threshold}"]
    if plan.guards.match_answers:
        guards.append(f"{GUARD_ANSWERS}")
    steps = " → ".join(f"{p} %" for p in plan.steps)
    return (f"{plan.deployment_id}: {plan.previous_text} → {plan.target} in steps {steps} ({plan.strategy}), "
            f"soak {plan.soak_s:g} s each; guards: {', '.join(guards)}; probes {plan.version_probe_rate:g}/s "
            f"per version (≤ {plan.probe_rate:g}/s in all)")


def run(args: argparse.Namespace) -> int:
    say = sayer("canary")
    try:
        wanted = plan_from_args(args)
        connection, timeouts = preflight(args)
    except Refused as exc:
        say(str(exc))
        return 2
    return asyncio.run(_run(args, wanted, connection, timeouts, say))


class _Interrupts:
    """Ctrl+c, SIGTERM and SIGHUP: before the canary starts they cancel (nothing changed); while it runs the first
    aborts it (the engine reverts), later ones say it is reverting; a question on the terminal has its own."""

    def __init__(self, task: asyncio.Task, control: Any, say: Say) -> None:
        self.task = task
        self.control = control
        self.say = say
        self.state = "before"  # before | asking | running | after
        self.cancelled = False
        self.printer: Any = None

    def __call__(self) -> None:
        if self.state == "before":
            self.cancelled = True
            self.task.cancel()
        elif self.state == "running":
            note = self.printer.note if self.printer is not None else self.say
            if not self.control.abort_requested:
                note("interrupted: aborting the canary and restoring the mapping from before it")
                self.control.abort()
            else:
                note("still reverting: the canary is never left half-way (kill -9 leaves its record for the console)")

    def install(self) -> list[int]:
        loop = asyncio.get_running_loop()
        installed = []
        # SIGHUP too: a terminal closed during the run must not leave the canary half-way either.
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)):
            try:
                loop.add_signal_handler(sig, self)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal here
                continue
            installed.append(sig)
        return installed


def _ask(plan: Any) -> bool:
    """The question on the terminal; ctrl+c there answers no."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return confirm(plan.deployment_id, plan.production, question=f"Run a canary of {plan.deployment_id} to "
                       f"{plan.target}?", typed_for=f"run a canary of it to {plan.target}")
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return False
    finally:
        signal.signal(signal.SIGINT, previous)


async def _run(args: argparse.Namespace, wanted: Any, connection: Any, timeouts: Any, say: Say) -> int:
    import json

    from deployer_tui.canary_progress import ProgressPrinter
    from deployer_tui.core.canary import CanaryControl, CanaryError, plan_canary, run_canary
    from deployer_tui.core.canary_state import CanaryStore
    from deployer_tui.core.errors import DeployerError
    from deployer_tui.core.latency_log import LatencyLog

    control = CanaryControl()
    task = asyncio.current_task()
    assert task is not None
    interrupts = _Interrupts(task, control, say)
    installed = interrupts.install()
    loop = asyncio.get_running_loop()
    try:
        async with deployer_client(args, connection, timeouts, say) as client:
            store = CanaryStore()
            left = store.get(client.url, wanted.deployment_id)
            if left is not None:
                if left.running_elsewhere:
                    say(f"a canary of {wanted.deployment_id} to {left.target} is running in another console "
                        f"(pid {left.pid}): nothing changed")
                else:
                    say(f"a canary of {wanted.deployment_id} to {left.target} was left half-way: open the console "
                        "on this deployer, which offers to revert or resume it; nothing changed")
                return 2
            try:
                plan = await plan_canary(client, wanted.deployment_id, wanted.target, steps=wanted.steps,
                                         strategy=wanted.strategy, soak_s=wanted.soak_s, guards=wanted.guards,
                                         probe_rate=wanted.probe_rate)
            except (CanaryError, DeployerError) as exc:
                say(str(exc))
                return 2
            say(plan_text(plan))
            if not args.yes:
                interrupts.state = "asking"
                if not _ask(plan):
                    say("not confirmed: nothing changed")
                    return 2
            printer = ProgressPrinter(sys.stderr, terminal=sys.stderr.isatty())
            interrupts.printer = printer
            interrupts.state = "running"
            try:
                result = await run_canary(client, plan, printer, control=control, store=store,
                                          latency_log=LatencyLog(client.url), probe=args.probe_via)
            except CanaryError as exc:  # it could not start (no stored test queries, say): nothing changed
                printer.close()
                say(str(exc))
                return 2
            except DeployerError as exc:
                printer.close()
                say(f"{exc}; the canary's record is kept: the console offers to revert it at its next start")
                return 2
            finally:
                interrupts.state = "after"
            printer.close()
            if not result.message or result.message != printer.last_message:
                say(result.message or f"{plan.deployment_id}: {result.outcome}")
            print(json.dumps(result.to_json(), indent=2), flush=True)
            return EXIT_CODES.get(result.outcome, 2)
    except (Refused, DeployerError) as exc:  # the local deployer could not start, or the URL is unusable
        say(str(exc))
        return 2
    except asyncio.CancelledError:
        if not interrupts.cancelled:
            raise
        say("interrupted before the canary started: nothing changed")
        return 2
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
