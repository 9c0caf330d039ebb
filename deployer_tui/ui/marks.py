"""`*` in a table of deployments: mark every deployment shown, or unmark them when they all are."""

from __future__ import annotations

from collections.abc import Iterable

from deployer_tui.ui.state.update_tracker import UpdateTracker


def mark_shown(tracker: UpdateTracker, shown: Iterable[str]) -> str:
    """Mark the `shown` deployment ids (after a filter, only those), or unmark them if every one of them
    is marked already; returns what to tell the user."""
    ids = list(shown)
    unmark = bool(ids) and all(d in tracker.marked for d in ids)
    if unmark:
        tracker.marked.difference_update(ids)
    else:
        tracker.marked.update(ids)
    tracker.marks_changed()
    count = f"{len(ids)} deployment{'s' if len(ids) != 1 else ''}"
    return f"Unmarked {count}" if unmark else f"Marked {count}; u updates them" if ids else "No deployment shown"
