"""The pure parts of the fleet and of the bulk confirmation: the rows of a context that cannot be listed,
the confirmation's text (flat for one context, grouped for several, refused and running items said),
what a production group asks, and `:fleet` in the go-to line."""

from __future__ import annotations

from deployer_tui.core.production import Guard
from deployer_tui.ui.screens.bulk_confirm import LISTED_PER_CONTEXT, BulkGroup, confirmation_text
from deployer_tui.ui.screens.modals import parse_goto
from deployer_tui.ui.state.fleet_state import fleet_key
from deployer_tui.ui.view import fleet_rows
from deployer_tui.ui.widgets.resource_table import plain

PLAIN = Guard(False, False, None, "dev")
PROD = Guard(True, False, "red", "prod")
READ_ONLY = Guard(False, True, None, "ro")


def test_one_context_is_a_flat_list() -> None:
    text = confirmation_text([BulkGroup("dev", ["a: v2 (now OUT_OF_SYNC)", "b: v1 (now HEALTHY)"], PLAIN)])
    assert text == "Update 2 marked deployments?\n\n  a: v2 (now OUT_OF_SYNC)\n  b: v1 (now HEALTHY)"


def test_several_contexts_are_grouped_and_long_lists_counted() -> None:
    lines = [f"d{i}: v1 (now HEALTHY)" for i in range(LISTED_PER_CONTEXT + 3)]
    text = confirmation_text([BulkGroup("dev", ["x: v1 (now HEALTHY)"], PLAIN, running=["y"]),
                              BulkGroup("prod", lines, PROD)])
    assert text.startswith(f"Update {LISTED_PER_CONTEXT + 4} marked deployments in 2 contexts?\n\ndev: 1\n")
    assert "    (already running: y)" in text
    assert f"\nprod (production): {LISTED_PER_CONTEXT + 3}\n" in text
    assert text.endswith("    … and 3 more")
    assert f"d{LISTED_PER_CONTEXT - 1}:" in text and f"d{LISTED_PER_CONTEXT}:" not in text


def test_what_each_group_asks() -> None:
    prod = BulkGroup("prod", ["a: v1"], PROD)
    assert prod.needs_typing and "type the context name 'prod'" in prod.typed_prompt()
    one = BulkGroup("prod", ["a: v1"], PROD, object_id="a")  # chosen without marks: its id is typed
    assert one.needs_typing and one.answer == "a" and prod.answer == "prod"
    assert one.typed_prompt() == "Update deployment in production context 'prod': type 'a' to confirm"
    assert not BulkGroup("dev", ["a: v1"], PLAIN).needs_typing
    refused = BulkGroup("ro", ["a: v1"], READ_ONLY)
    assert refused.refusal is not None and not refused.needs_typing
    text = confirmation_text([BulkGroup("dev", ["b: v1"], PLAIN), refused])
    assert text.startswith("Update 1 marked deployment in 2 contexts?")
    assert "not updated: Read-only mode" in text
    assert Guard.confirmed(" prod ", "prod") and not Guard.confirmed("pro", "prod")


def test_unreachable_and_not_started_rows() -> None:
    reason = "unreachable: cannot reach 127.0.0.1:9: connection refused by the host at once"
    row = fleet_rows.unreachable_row("down", reason)
    keys = [column.key for column in fleet_rows.FLEET_COLUMNS]
    assert len(row) == len(keys)
    assert plain(row[keys.index("health")]) == fleet_rows.UNREACHABLE
    shown = plain(row[keys.index("version")])
    assert shown.startswith("cannot reach 127.0.0.1:9") and shown.endswith("…")
    assert len(shown) == fleet_rows.REASON_WIDTH
    local = fleet_rows.unreachable_row("local", "not started", started=False)
    assert plain(local[keys.index("health")]) == fleet_rows.NOT_STARTED
    assert fleet_rows.FLEET_DISPLAY[fleet_rows.FLEET_SORT] == "context"


def test_fleet_keys_and_goto() -> None:
    assert fleet_key("a", "dep") != fleet_key("b", "dep")
    assert fleet_key("a", "dep").startswith(fleet_key("a", None))
    assert parse_goto(":fleet") == ("fleet", "")
    assert parse_goto("FLEET") == ("fleet", "")
    assert parse_goto("fleet x") != ("fleet", "")
