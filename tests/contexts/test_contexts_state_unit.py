"""The per-context state on its own: names and lookups, a context that cannot be opened keeps why, each
context's workers and messages carry its name, and `:ctx NAME` parses."""

from __future__ import annotations

import pytest
from textual.app import App

from deployer_tui.core.contexts import Context, ContextError
from deployer_tui.ui.screens.modals import parse_goto
from deployer_tui.ui.state.contexts_state import NOT_OPENED, UNREACHABLE, Contexts
from deployer_tui.ui.state.messages import DataChanged, Notice


def contexts_of(*names: str, opener=None) -> Contexts:
    async def refuse(context: Context):
        raise ConnectionRefusedError(f"nothing listens at {context.url}")

    listed = [Context(name, f"https://{name}.example.com", f"key-{name}", source=f"config:profiles.{name}")
              for name in names]
    return Contexts(App(), listed, opener or refuse)


def test_names_current_and_an_unknown_name() -> None:
    contexts = contexts_of("design", "prod")
    assert contexts.names() == ["design", "prod"]
    assert contexts.current == "design"  # none marked current: the first
    assert contexts.get("prod").state == NOT_OPENED and contexts.get("prod").where == "https://prod.example.com"
    with pytest.raises(ContextError, match="no context named 'staging' \\(known: design, prod\\)"):
        contexts.get("staging")
    with pytest.raises(ContextError):
        contexts_of()


async def test_a_context_that_cannot_be_opened_says_why_and_is_not_raised() -> None:
    contexts = contexts_of("design", "prod")
    state = await contexts.open("prod")
    assert state.state == UNREACHABLE and "nothing listens at https://prod.example.com" in state.why
    assert state.status_text.startswith("could not start: ")
    assert contexts.get("design").state == NOT_OPENED  # the other one is untouched
    assert "key-prod" not in state.why


def test_each_context_has_its_own_worker_groups_and_stamps_its_messages() -> None:
    contexts = contexts_of("design", "prod")
    design, prod = contexts.get("design"), contexts.get("prod")
    assert design.store.group("store.lists") == "design:store.lists"
    assert prod.store.group("store.lists") == "prod:store.lists"
    assert prod.updates.group("update:d1") == "prod:update:d1"
    assert design.store.stamp(DataChanged(frozenset({"health"}))).context_name == "design"
    assert prod.updates.stamp(Notice("done")).context_name == "prod"
    assert Notice("unstamped").context_name == ""


def test_guard_of_a_context() -> None:
    listed = [Context("prod", "https://p.example.com", "k", source="config:profiles.prod", production=True,
                      color="#ff8800"),
              Context("shared", "https://s.example.com", "k", source="config:profiles.shared", read_only=True)]

    async def never(context: Context):
        raise AssertionError("not opened in this test")

    contexts = Contexts(App(), listed, never)
    prod, shared = contexts.get("prod").guard, contexts.get("shared").guard
    assert prod.production and prod.color == "#ff8800" and not prod.read_only
    assert not shared.production and shared.refusal("Save settings") == "Read-only mode: “Save settings” is not allowed"
    # Not known yet: the stage rule cannot say production before the infras are listed.
    assert contexts.get("shared").infras is None


def test_goto_parses_ctx() -> None:
    assert parse_goto(":ctx prod") == ("context", "prod")
    assert parse_goto("context design") == ("context", "design")
    assert parse_goto("deploy d1") == ("deployment", "d1")
    assert "ctx NAME" in parse_goto("ctx")
    assert "ctx" in parse_goto("cluster prod")
