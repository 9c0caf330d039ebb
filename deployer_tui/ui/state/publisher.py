"""Subscribe / publish shared by the app-level stores (data store, update tracker).

Screens subscribe while mounted and unsubscribe when they go; the store posts one fresh message to each.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump


class Publisher:
    def __init__(self, context_name: str = "") -> None:
        self._subscribers: list[MessagePump] = []
        # Which context's state this is: every message it posts says so (ui/state/messages.py), and its
        # workers' groups start with it, so that two contexts' exclusive workers never cancel each other.
        self.context_name = context_name

    def group(self, name: str) -> str:
        """A worker group of this context's own (`name` alone when the app has one unnamed context)."""
        return f"{self.context_name}:{name}" if self.context_name else name

    def stamp(self, message: Message) -> Message:
        """The message, saying it comes from this context."""
        message.context_name = self.context_name  # type: ignore[attr-defined]
        return message

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
            node.post_message(self.stamp(make()))
