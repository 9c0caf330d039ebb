"""Every change goes through here (`DeployerApp.run_action`, the one door of every key, click and palette
entry): refused when read-only — the console's or the context's own, one text — and, in a production
context (core/production.py decides), run only once the user typed the object's id.

The context is the one of the screen the action runs on (ui/context_shell.py). The object is what that
screen says it would change (`guarded_object(action)`: the object in focus, the deployment being updated,
the settings being saved); a change of no one object (a create) asks for the context's name instead. A
screen that asks for the id itself on a Production stage (delete, rollback) does not ask again for an id
typed here (`ContextState.typed_id`).

One change asks in its own dialog (`confirms_itself(action)`): the update of the marked deployments
(ui/bulk_update.py). Asked here, the name would be typed before the person saw what it updates, and
the list would then ask again; its dialog lists them first and has the name typed under the list, once
per production context, from the same `Guard` of each context (core/production.py). Read-only is still
refused here, before any dialog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.screen import Screen

from deployer_tui.core.production import Guard
from deployer_tui.ui.actions import MutatingCall
from deployer_tui.ui.screens.typed_confirm import TypedConfirmScreen

if TYPE_CHECKING:
    from deployer_tui.ui.app import DeployerApp
    from deployer_tui.ui.state.contexts_state import ContextState


@runtime_checkable
class GuardedScreen(Protocol):
    def guarded_object(self, action: str) -> str | None:
        """The id of the object `action` would change on this screen, None for no one object."""


def screen_of(call: MutatingCall) -> Screen | None:
    node = call.target
    if isinstance(node, Screen):
        return node
    try:
        return node.screen
    except Exception:  # noqa: BLE001 - the app itself, or a node not on a screen
        return None


@runtime_checkable
class SelfConfirmingScreen(Protocol):
    def confirms_itself(self, action: str) -> bool:
        """Whether `action` on this screen asks for its typed confirmation in its own dialog, from the
        context's `Guard` (the update of the marked deployments: ui/bulk_update.py)."""


def object_of(call: MutatingCall) -> str | None:
    screen = screen_of(call)
    return screen.guarded_object(call.name) if isinstance(screen, GuardedScreen) else None


def confirms_itself(call: MutatingCall) -> bool:
    screen = screen_of(call)
    return isinstance(screen, SelfConfirmingScreen) and screen.confirms_itself(call.name)


def guard_change(app: DeployerApp, call: MutatingCall, run: Callable[[], Awaitable[object]]) -> bool:
    """Whether the guard took the change over (refused it, or asks first and then `run`s it);
    False: it may run now."""
    state = app.context_of(call.target)
    guard = state.guard
    refused = guard.refusal(call.title)
    if refused is not None:
        app.notify(refused, title="Refused", severity="warning")
        return True
    if not guard.needs_typed_confirmation(call.title) or confirms_itself(call):
        # (The second: its own dialog asks, after its list; see the module docstring.)
        state.typed_id = state.typed_origin = None
        return False
    object_id = object_of(call) or state.name
    screen = screen_of(call)
    if screen is not state.typed_origin and typed_for(app, state, object_id):
        # The same change, one screen further (the rollback's `y` after its `R`): typed once is enough.
        state.typed_id = state.typed_origin = None
        return False
    state.typed_id = state.typed_origin = None
    ask_typed(app, state, guard, call.title, object_id, run, screen)
    return True


def typed_for(app: DeployerApp, state: ContextState, object_id: str) -> bool:
    """Whether `object_id` was typed for a change that is still under way: its screen is still open, with
    the screens that change opened above it (back on that screen, the next change asks again)."""
    origin = state.typed_origin
    return state.typed_id == object_id and origin is not None and origin in app.screen_stack \
        and origin is not app.screen


def ask_typed(app: DeployerApp, state: ContextState, guard: Guard, title: str, object_id: str,
              run: Callable[[], Awaitable[object]], origin: Screen | None) -> None:
    """The typed confirmation; `run` only when the id was typed exactly."""

    def answered(typed: str | None) -> None:
        if typed is None:
            app.notify(f"{title}: cancelled, nothing changed", title="Production")
            return
        if not Guard.confirmed(typed, object_id):
            app.notify(f"Typed {typed.strip()!r}, not {object_id!r}: nothing changed", title="Not confirmed",
                       severity="warning", markup=False)
            return
        state.typed_id, state.typed_origin = object_id, origin
        app.call_later(run)

    app.push_screen(TypedConfirmScreen(guard.confirmation_prompt(title, object_id), state.name), answered)
