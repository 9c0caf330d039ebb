"""What a small harness app needs to be a `Shell` (ui/shell.py) for the widgets it shows (the header reads
where, who, read-only, status and the store's last refresh): a mixin with the values of a connected-to-
nothing app. A harness sets what it tests (e.g. `user`) over these."""

from __future__ import annotations

from types import SimpleNamespace


class ShellBits:
    where = ""
    connection_note = ""
    user = ""
    read_only = False
    status_text = ""
    store = SimpleNamespace(refreshed_at=None)  # never refreshed: the header shows no age
    connected = False
