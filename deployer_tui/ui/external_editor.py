"""Round trip of a draft through `$VISUAL` / `$EDITOR`, the app suspended meanwhile.

The draft goes to a private temporary file (0600: infra settings hold API node admin keys), the
editor runs with the terminal handed over (`App.suspend`), and the file's text comes back whatever
it holds — validation is the inline editor's job, so a broken result is shown with its error
rather than thrown away. The file is removed afterwards. When the app cannot suspend (headless
tests), the editor still runs: a scripted editor needs no terminal.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass

from textual.app import App, SuspendNotSupported

FALLBACK_EDITORS = ("nano", "vi")


@dataclass(frozen=True)
class EditorResult:
    text: str | None  # None when the editor failed: keep the draft as it was
    message: str = ""


def editor_command(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[str]:
    """The user's editor as argv: $VISUAL, then $EDITOR, then the first of nano/vi on PATH."""
    for name in ("VISUAL", "EDITOR"):
        value = (environ.get(name) or "").strip()
        if value:
            return shlex.split(value)
    path = environ.get("PATH", os.defpath)
    for editor in FALLBACK_EDITORS:
        if any(os.access(os.path.join(d, editor), os.X_OK) for d in path.split(os.pathsep) if d):
            return [editor]
    return []


def edit_text(app: App, text: str, *, suffix: str = ".json", label: str = "settings") -> EditorResult:
    """Open `text` in the external editor and return what the user saved."""
    command = editor_command()
    if not command:
        return EditorResult(None, "No editor found: set $EDITOR (e.g. export EDITOR=vim)")
    fd, path = tempfile.mkstemp(prefix=f"deployer-tui-{label}-", suffix=suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            with app.suspend():
                code = _run(command + [path])
        except SuspendNotSupported:
            code = _run(command + [path], capture=True)
        if code is None:
            return EditorResult(None, f"Could not start the editor {command[0]!r}: the draft is unchanged")
        if code != 0:
            return EditorResult(None, f"The editor exited with status {code}: the draft is unchanged")
        with open(path, encoding="utf-8") as handle:
            result = handle.read()
        if result == text:
            # A GUI editor that returns at once (e.g. `code` without `--wait`) looks exactly like this.
            return EditorResult(result, f"No change in the editor ({command[0]} may need a --wait flag)")
        return EditorResult(result, "Draft updated from the editor")
    except (OSError, UnicodeDecodeError) as err:
        return EditorResult(None, f"Editor round trip failed ({err}): the draft is unchanged")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _run(argv: list[str], capture: bool = False) -> int | None:
    try:
        if capture:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False).returncode
        return subprocess.call(argv)
    except (OSError, ValueError):
        return None
