"""The console's contexts (docs/contexts.md) and, for each one, its own session state.

`Contexts` (the app's `app.contexts`) holds every context `core.contexts.list_contexts` found, in its
order, and for each a `ContextState`: the context, its `DataStore`, `UpdateTracker` and `CanaryTracker`
(created at once, idle until the context is opened), its `Session` once opened, its user, what it is now (`state`: not
opened / connecting / connected / unreachable, with `why`) and its production `Guard`
(`core.production.guard_for` over the infras its store has listed: the one place of those rules).
`names()` lists them, `current` is the name of the one on screen, `get(name)` returns one state (a
`ContextError` naming the known ones otherwise), `await open(name)` connects it (once; a failure is kept
in `why`, never raised) and starts its lists, and `switch(name)` makes it the current one: it tells the
shell at once (`on_switch`, which shows that context's own screens) and opens it in a worker if it was
never opened, else refreshes its lists in the background, the cached ones showing meanwhile. Each
context's store and trackers prefix their worker groups and stamp their messages with the context's name
(ui/state/publisher.py), so two contexts never cancel each other's workers and an update finishing in a
context not shown still reaches the app naming it. A context's key goes only to its own client: the
opener builds one client per context from `Context.connection()`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployer_tui.core import readers
from deployer_tui.core.contexts import Context, ContextError, find_context
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.production import Guard, guard_for
from deployer_tui.ui.state.canary_tracker import CanaryTracker
from deployer_tui.ui.state.data_store import DataStore
from deployer_tui.ui.state.messages import ContextChanged
from deployer_tui.ui.state.session import Session
from deployer_tui.ui.state.update_tracker import UpdateTracker

if TYPE_CHECKING:
    from textual.app import App

NOT_OPENED = "not opened"
CONNECTING = "connecting"
CONNECTED = "connected"
UNREACHABLE = "unreachable"

Opener = Callable[[Context], Awaitable[Session]]


@dataclass(eq=False)
class ContextState:
    """One context and everything the console holds for it."""

    context: Context
    store: DataStore
    updates: UpdateTracker
    canaries: CanaryTracker
    session: Session | None = None
    user: str = ""
    opening: bool = False
    open_error: str | None = None  # why it could not be opened
    console_read_only: bool = False  # --read-only / the config's read_only: every context on top of its own
    connect_status: str = "connecting…"  # what the header says while it opens
    implicit: bool = False  # the app was handed its connection (no configured context): the header names none
    # The id typed for the change running now, and the screen it was typed on (ui/production_guard.py).
    typed_id: str | None = None
    typed_origin: object | None = None
    extras: dict[str, object] = field(default_factory=dict)  # more per-context trackers (fleet marks)

    @property
    def name(self) -> str:
        return self.context.name

    @property
    def state(self) -> str:
        if self.session is None:
            if self.open_error is not None:
                return UNREACHABLE
            return CONNECTING if self.opening else NOT_OPENED
        if self.store.connection_error is not None:
            return UNREACHABLE
        return CONNECTED if self.store.loaded else CONNECTING

    @property
    def why(self) -> str:
        """Why it is unreachable, in words ("" otherwise)."""
        if self.session is None:
            return self.open_error or ""
        error = self.store.connection_error
        return str(error) if error is not None else ""

    @property
    def status_text(self) -> str:
        """What the header says beside the refresh age: connecting, or why it could not start."""
        if self.session is not None:
            return ""
        if self.open_error is not None:
            return f"could not start: {self.open_error}"
        return self.connect_status if self.opening or not self.implicit else ""

    @property
    def where(self) -> str:
        if self.session is not None:
            return self.session.where
        return self.context.url or ("local" if self.context.is_local else "")

    @property
    def infras(self) -> list[dict] | None:
        """The infras' basic infos once listed (what the stage rule reads); None while not known."""
        if not self.store.loaded:
            return None
        return [readers.basic(light, "infraBasicInfo") for light in self.store.infras.values()]

    @property
    def guard(self) -> Guard:
        """What this context asks of a change, decided again from what is known now."""
        return guard_for(self.context, self.infras, read_only=self.console_read_only)


class Contexts:
    """The app's contexts; see the module docstring."""

    def __init__(self, app: App, contexts: list[Context], opener: Opener, *, current: str | None = None,
                 read_only: bool = False, clock: Callable[[], float] = time.time,
                 on_switch: Callable[[ContextState], None] | None = None,
                 on_connected: Callable[[ContextState], None] | None = None,
                 statuses: dict[str, str] | None = None, implicit: bool = False) -> None:
        if not contexts:
            raise ContextError("no context to show")
        self.app = app
        self.opener = opener
        self.on_switch = on_switch
        self.on_connected = on_connected  # the shell's own start of an opened context (the canary offer)
        self.states: dict[str, ContextState] = {}
        for context in contexts:
            name = context.name
            status = (statuses or {}).get(name) or (
                "starting local deployer…" if context.is_local else f"connecting to {context.url}…")
            self.states[name] = ContextState(
                context, DataStore(app, None, clock=clock, context_name=name),
                UpdateTracker(app, None, clock=clock, context_name=name), CanaryTracker(app, context_name=name),
                console_read_only=read_only, connect_status=status, implicit=implicit)
        if current is None:
            current = next((c.name for c in contexts if c.current), contexts[0].name)
        self.get(current)
        self._current = current

    # -- queries -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self.states)

    @property
    def current(self) -> str:
        """The name of the context on screen."""
        return self._current

    @property
    def current_state(self) -> ContextState:
        return self.states[self._current]

    def get(self, name: str) -> ContextState:
        state = self.states.get(name)
        if state is None:
            find_context([s.context for s in self.states.values()], name)  # raises, naming the known ones
            raise ContextError(f"no context named {name!r}")
        return state

    def opened(self) -> list[ContextState]:
        return [state for state in self.states.values() if state.session is not None]

    # -- opening and switching -----------------------------------------------------------------
    def adopt(self, name: str, session: Session) -> ContextState:
        """A session the caller opened already (a test's client): the context holds it; `connected(state)`
        starts its lists once the app runs."""
        state = self.get(name)
        state.session = session
        state.store.client = state.updates.client = state.canaries.client = session.client
        state.store.key_origin = session.key_origin
        return state

    async def open(self, name: str) -> ContextState:
        """Connect the context (once) and start its lists; a failure is kept in `why`, not raised."""
        state = self.get(name)
        if state.session is not None or state.opening:
            return state
        state.opening, state.open_error = True, None
        self._changed(state)
        try:
            session = await self.opener(state.context)
        except Exception as exc:  # noqa: BLE001 - shown to the user in the list and the header
            state.opening = False
            state.open_error = str(exc) or type(exc).__name__
            self._changed(state)
            return state
        state.opening = False
        self.adopt(name, session)
        self.connected(state)
        return state

    def connected(self, state: ContextState) -> None:
        """An opened context starts: its lists, then its user."""
        state.store.refresh()
        self.app.run_worker(self._load_user(state), group=state.store.group("auth"), exclusive=True,
                            exit_on_error=False, name=f"user of {state.name}")
        self._changed(state)
        if self.on_connected is not None:
            self.on_connected(state)

    async def _load_user(self, state: ContextState) -> None:
        assert state.session is not None
        try:
            info = await state.session.client.auth_info()
        except DeployerError:
            return  # no user shown; list errors are reported by the store
        state.user = str(info.get("authIdentifier") or "")
        self._changed(state)

    def switch(self, name: str) -> ContextState:
        """Make `name` the context on screen (see the module docstring)."""
        state = self.get(name)
        self._current = name
        if self.on_switch is not None:
            self.on_switch(state)
        if state.session is None:
            if not state.opening:
                state.open_error = None  # a context that failed is tried again when chosen again
                self.app.run_worker(self.open(name), group=state.store.group("session"), exit_on_error=False,
                                    name=f"open {name}")
        elif state.store.loaded or state.store.connection_error is not None:
            state.store.refresh()  # the cached lists show meanwhile; an unreachable one is tried again now
        return state

    def _changed(self, state: ContextState) -> None:
        self.app.post_message(ContextChanged(state.name))

    async def close_all(self) -> None:
        """Let every opened session go (the app's unmount): each context's own close."""
        for state in self.opened():
            session = state.session
            if session is not None and session.close is not None:
                # One context failing to close must not keep the others open.
                with contextlib.suppress(Exception):
                    await session.close()
