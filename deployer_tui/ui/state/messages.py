"""Messages the data store and the update tracker post to their subscribers (screens, the app shell), so
every screen reuses one store and state never reaches for a screen or a widget itself.

Every message says which context it comes from (`context_name`, set by the publisher, "" when the app
has only the one it was handed): each context has its own store and tracker (`contexts_state.py`), and a
toast or a refresh must reach the right one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.notifications import SeverityLevel as Severity

from deployer_tui.core.errors import DeployerError

if TYPE_CHECKING:
    from deployer_tui.ui.state.canary_tracker import CanaryRun
    from deployer_tui.ui.state.update_tracker import UpdateRun


class DataChanged(Message):
    """Some lists changed. `kinds` ⊆ {"infras", "services", "deployments", "health"}; for "health",
    `health_ids` names the deployments whose rows changed in this batch (their heavy status arrived, or
    their light status was reloaded), the rest of the lists being as they were."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, kinds: frozenset[str], health_ids: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.kinds = kinds
        self.health_ids = health_ids


class ApiError(Message, bubble=False):
    """A read the person did not ask for failed (a list refresh): the app shows it and keeps it for ctrl+e."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, error: DeployerError, context: str) -> None:
        super().__init__()
        self.error = error
        self.context = context


class ConnectionChanged(Message):
    """The connection was lost (error set, retry_in seconds) or is back (error None)."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, error: DeployerError | None, retry_in: float | None = None) -> None:
        super().__init__()
        self.error = error
        self.retry_in = retry_in


# -- the update tracker's messages ------------------------------------------------------------------
# Not bubbling: every receiver (the app included) gets its own copy; bubbling would deliver twice.


class UpdateProgressed(Message, bubble=False):
    """A run changed: new log lines (only those not sent before), progress, or state."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, run: UpdateRun, new_lines: list[str]) -> None:
        super().__init__()
        self.run = run
        self.new_lines = new_lines


class UpdateFinished(Message, bubble=False):
    """A run ended (its `state` is final)."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, run: UpdateRun) -> None:
        super().__init__()
        self.run = run


class UpdateMarksChanged(Message, bubble=False):
    """Deployments were marked or unmarked (`ids`: those whose mark flipped)."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, ids: frozenset[str]) -> None:
        super().__init__()
        self.ids = ids


class Notice(Message, bubble=False):
    """Something the person should hear about (an update's outcome, one followed from elsewhere): the
    app shows it as a toast. State objects post these instead of drawing anything themselves."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, text: str, *, title: str = "", severity: Severity = "information",
                 timeout: float | None = None) -> None:
        super().__init__()
        self.text = text
        self.title = title
        self.severity: Severity = severity
        self.timeout = timeout


class ContextChanged(Message, bubble=False):
    """A context was opened, could not be opened, or learnt its user: lists of contexts and headers repaint."""

    context_name: str = ""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.context_name = name


# -- the canary tracker's messages (not bubbling, as the update tracker's) -------------------------------


class CanaryProgressed(Message, bubble=False):
    """A canary changed: a new progress snapshot (`run.progress`), with the update log lines it brought;
    `deployed`: a step's split (or the revert, or the promotion) was just deployed, so the deployment's
    mapping and health changed."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, run: CanaryRun, new_lines: list[str], deployed: bool = False) -> None:
        super().__init__()
        self.run = run
        self.new_lines = new_lines
        self.deployed = deployed


class CanaryFinished(Message, bubble=False):
    """A canary ended: `run.result` says how (or `run.error` why it could not go on)."""

    context_name: str = ""  # the context whose state posted it

    def __init__(self, run: CanaryRun) -> None:
        super().__init__()
        self.run = run
