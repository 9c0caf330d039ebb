"""The shell a screen sees: the app's services, with the session state of the screen's own context.

Each context has its own screens (ui/context_switch.py gives each its own screen stack); a screen of
context A keeps reading A's store, trackers and client while B is on screen, so A's lists stay A's and
its running updates and canaries keep reporting to it. A screen belongs to the context that was current when it first
asked for its shell (always the one it was opened in: screens are pushed onto the current context's
stack), see `DeployerApp.shell_for`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployer_tui.core.client import DeployerClient
    from deployer_tui.core.config import Config
    from deployer_tui.core.errors import DeployerError
    from deployer_tui.ui.app import DeployerApp
    from deployer_tui.ui.state.canary_tracker import CanaryTracker
    from deployer_tui.ui.state.contexts_state import ContextState
    from deployer_tui.ui.state.data_store import DataStore
    from deployer_tui.ui.state.fleet_state import FleetState
    from deployer_tui.ui.state.session import Session
    from deployer_tui.ui.state.update_tracker import UpdateTracker
    from deployer_tui.ui.view.formatting import Presentation


class ContextStateReader:
    """What a context's state holds, read through `context_state`: the app reads the context shown, a
    ContextShell the context its screens belong to."""

    context_state: ContextState

    @property
    def session(self) -> Session | None:
        return self.context_state.session

    @property
    def store(self) -> DataStore:
        return self.context_state.store

    @property
    def updates(self) -> UpdateTracker:
        return self.context_state.updates

    @property
    def canaries(self) -> CanaryTracker:
        return self.context_state.canaries

    @property
    def where(self) -> str:
        return self.context_state.where

    @property
    def connection_note(self) -> str:
        session = self.context_state.session
        return session.note if session is not None else ""

    @property
    def user(self) -> str:
        return self.context_state.user

    @property
    def status_text(self) -> str:
        return self.context_state.status_text

    @property
    def client(self) -> DeployerClient:
        session = self.context_state.session
        assert session is not None, f"context {self.context_state.name!r} is not connected yet"
        return session.client


class ContextShell(ContextStateReader):
    """A `Shell` (ui/shell.py) for the screens of one context."""

    def __init__(self, app: DeployerApp, state: ContextState) -> None:
        self.app = app
        self.context_state = state

    def running_canaries(self) -> list[tuple[str, str]]:
        """(context, deployment) of every canary running in any context (quitting stops them all)."""
        return self.app.running_canaries()

    @property
    def fleet(self) -> FleetState:
        return self.app.fleet

    @property
    def config(self) -> Config:
        return self.app.config

    @property
    def presentation(self) -> Presentation:
        return self.app.presentation

    @property
    def read_only(self) -> bool:
        """The console's read-only or this context's own (`read_only = true` on its profile)."""
        return self.app.read_only or self.context_state.context.read_only

    @property
    def refresh_interval(self) -> float:
        return self.app.refresh_interval

    @property
    def last_error(self) -> tuple[str, DeployerError] | None:
        return self.app.last_error

    @property
    def context_name(self) -> str:
        return "" if self.context_state.implicit else self.context_state.name

    @property
    def production_color(self) -> str | None:
        return self.context_state.guard.color

    @property
    def connected(self) -> bool:
        return self.context_state.session is not None

    def typed_confirmation(self, object_id: str) -> bool:
        from deployer_tui.ui.production_guard import typed_for  # the guard imports the screens it asks with

        return typed_for(self.app, self.context_state, object_id)

    def toast_title(self, title: str) -> str:
        return self.app.toast_title(title, self.context_name)

    def report_error(self, error: DeployerError, context: str) -> None:
        # A screen of a context not shown (its worker ended there): the toast says which deployer.
        name = self.context_name
        where = f" in {name}" if name and name != self.app.contexts.current else ""
        self.app.report_error(error, context + where)

    def open_resource(self, kind: str, resource_id: str) -> None:
        self.app.open_resource(kind, resource_id)
