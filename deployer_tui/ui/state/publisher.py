"""Subscribe / publish shared by the app-level stores (data store, update tracker).

Screens subscribe while mounted and unsubscribe when they go; the store posts one fresh message to each.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump


class Publisher:
    def __init__(self) -> None:
        self._subscribers: list[MessagePump] = []

    def subscribe(self, node: MessagePump) -> None:
        if node not in self._subscribers:
            self._subscribers.append(node)

    def unsubscribe(self, node: MessagePump) -> None:
        if node in self._subscribers:
            self._subscribers.remove(node)

    def _receivers(self) -> list[MessagePump]:
        return list(self._subscribers)

    def _publish(self, make: Callable[[], Message]) -> None:
        # One Message instance per receiver: Textual messages carry per-delivery state.
        for node in self._receivers():
            node.post_message(make())
