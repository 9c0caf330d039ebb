"""The one clipboard service of the app: every copy goes through `copy()`, so each says the same about what worked.

OSC 52 is tried first because it is the only path that works over SSH: the escape sequence travels to the
user's own terminal, which sets the clipboard there. Inside tmux (and GNU screen) a bare OSC 52 from an
application is swallowed, so the sequence is wrapped in the multiplexer's passthrough (DCS) envelope.
Where a local display exists, pyperclip copies too (Apple Terminal has no OSC 52 at all). Nobody can know
whether the terminal honoured OSC 52, so the toast says which paths were used instead of claiming success.

`app.clipboard` (Textual's in-app clipboard, which tests read) is always set, even when the payload is over
the cap: the terminal write is what is skipped then, and the user is offered to save the text to a file.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from deployer_tui.core.paths import write_secret

# k9s caps at ~75 kB of base64; terminals differ (xterm allows ~100 kB, some far less). 100 kB of text is
# more than any URL, id or curl command, and a log that size belongs in a file anyway.
MAX_COPY_BYTES = 100_000
# GNU screen truncates a DCS string at 768 bytes, so long sequences go in chunks.
SCREEN_CHUNK = 76


def human_size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"


def osc52_sequence(text: str, env: Mapping[str, str] | None = None) -> str:
    """The bytes to write to the terminal to set its clipboard to `text`, wrapped for tmux/screen when needed."""
    env = os.environ if env is None else env
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    seq = f"\x1b]52;c;{payload}\x07"
    if env.get("TMUX"):
        # tmux passthrough: every ESC inside the envelope is doubled.
        return "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    if env.get("TERM", "").startswith("screen"):
        chunks = [seq[i : i + SCREEN_CHUNK] for i in range(0, len(seq), SCREEN_CHUNK)]
        return "".join(f"\x1bP{chunk}\x1b\\" for chunk in chunks)
    return seq


def multiplexer(env: Mapping[str, str]) -> str | None:
    if env.get("TMUX"):
        return "tmux"
    if env.get("TERM", "").startswith("screen"):
        return "screen"
    return None


def has_local_display(env: Mapping[str, str], platform: str) -> bool:
    """True where a native clipboard tool can reach the user's screen (not an X forwarded over SSH)."""
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return False
    if platform == "darwin":
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _pyperclip_copy(text: str) -> None:
    import pyperclip

    pyperclip.copy(text)


@dataclass
class CopyResult:
    """What `copy()` did. `methods` lists the paths used ("OSC 52 through tmux", "system clipboard")."""

    what: str
    size: int
    methods: list[str] = field(default_factory=list)
    capped: bool = False
    native_error: str | None = None

    def message(self) -> str:
        if self.capped:
            return f"{self.what} is {human_size(self.size)}, over the {human_size(MAX_COPY_BYTES)} copy limit"
        if not self.methods:
            reason = f": {self.native_error}" if self.native_error else ""
            return (f"Could not copy {self.what}: no clipboard reachable from here (no OSC 52, no local display"
                    f"{reason}). It is only in the app's own clipboard.")
        how = " + ".join(self.methods)
        text = f"Copied {self.what} ({human_size(self.size)}) via {how}"
        if self.native_error:
            text += f"; system clipboard failed: {self.native_error}"
        if "OSC 52 through tmux" in self.methods:
            text += " — the terminal must allow OSC 52, and tmux needs `allow-passthrough on`"
        elif any(m.startswith("OSC 52") for m in self.methods):
            text += " — works where the terminal allows OSC 52"
        return text


class Clipboard:
    """Copies text for the app. Construct once per app; `env`/`platform`/`native` are injectable for tests."""

    def __init__(
        self,
        app: App,
        *,
        env: Mapping[str, str] | None = None,
        platform: str | None = None,
        native: Callable[[str], None] | None = None,
        max_bytes: int = MAX_COPY_BYTES,
    ) -> None:
        self.app = app
        self.env = os.environ if env is None else env
        self.platform = sys.platform if platform is None else platform
        self.native = native or _pyperclip_copy
        self.max_bytes = max_bytes
        self.last: CopyResult | None = None

    def _apple_terminal(self) -> bool:
        return self.env.get("TERM_PROGRAM") == "Apple_Terminal"

    def copy(self, text: str, what: str = "text", *, notify: bool = True) -> CopyResult:
        """Copy `text`; `what` names it in the toast ("service URL"). Over the cap, offer a file instead."""
        size = len(text.encode("utf-8"))
        # Textual's in-app clipboard; its only public setter also writes an unwrapped OSC 52, which we
        # must not send inside tmux/screen (it would print garbage there), hence the attribute.
        self.app._clipboard = text
        result = CopyResult(what=what, size=size)
        if size > self.max_bytes:
            result.capped = True
            self.last = result
            if notify:
                self.app.notify(result.message() + " — choose a file to save it to", severity="warning")
                self.app.push_screen(SaveInsteadScreen(text, what))
            return result
        if not self._apple_terminal():
            driver = getattr(self.app, "_driver", None)
            if driver is not None:
                driver.write(osc52_sequence(text, self.env))
            mux = multiplexer(self.env)
            result.methods.append(f"OSC 52 through {mux}" if mux else "OSC 52")
        # Over SSH a native copy would land on the remote machine's clipboard: only with a local display.
        if has_local_display(self.env, self.platform):
            try:
                self.native(text)
                result.methods.append("system clipboard")
            except Exception as exc:  # pyperclip raises its own types, or FileNotFoundError for a missing xclip
                result.native_error = str(exc) or type(exc).__name__
        self.last = result
        if notify:
            ok = bool(result.methods)
            self.app.notify(result.message(), severity="information" if ok else "error")
        return result


# One service per app, created on first use so every screen shares one (and its last result).
_SERVICES: WeakKeyDictionary[App, Clipboard] = WeakKeyDictionary()


def clipboard_for(app: App) -> Clipboard:
    """The app's clipboard service."""
    service = _SERVICES.get(app)
    if service is None:
        service = _SERVICES[app] = Clipboard(app)
    return service


def use_clipboard(app: App, service: Clipboard) -> None:
    """Make `service` the app's clipboard service (another environment, a smaller cap)."""
    _SERVICES[app] = service


def copy_text(app: App, text: str, what: str = "text") -> CopyResult:
    """Copy through the app's one clipboard service."""
    return clipboard_for(app).copy(text, what)


def default_save_path(what: str) -> Path:
    slug = "".join(c if c.isalnum() else "-" for c in what.lower()).strip("-") or "copy"
    return Path.cwd() / f"deployer-tui-{slug}.txt"


class SaveInsteadScreen(ModalScreen[Path | None]):
    """Offered when a payload is too large to copy: write it to a file (0600: it may hold a key)."""

    DEFAULT_CSS = """
    SaveInsteadScreen { align: center middle; }
    SaveInsteadScreen > Vertical { width: 80; height: auto; border: thick $warning; padding: 1 2; background: $surface; }
    SaveInsteadScreen Horizontal { height: auto; margin-top: 1; }
    SaveInsteadScreen #save-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="clipboard.save.cancel")]

    def __init__(self, text: str, what: str, path: Path | None = None) -> None:
        super().__init__()
        self.text = text
        self.what = what
        self.path = path or default_save_path(what)

    def compose(self) -> ComposeResult:
        size = human_size(len(self.text.encode("utf-8")))
        with Vertical():
            yield Label(f"{self.what} is {size}: too large to copy to the terminal clipboard. Save it to a file?")
            yield Input(str(self.path), id="save-path")
            yield Label("", id="save-error")
            with Horizontal():
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#save")
    @on(Input.Submitted, "#save-path")
    def save(self) -> None:
        raw = self.query_one("#save-path", Input).value.strip()
        if not raw:
            self.query_one("#save-error", Label).update("Enter a file path")
            return
        path = Path(raw).expanduser()
        if path.is_dir():
            self.query_one("#save-error", Label).update(f"{path} is a directory")
            return
        try:
            write_secret(path, self.text)
        except OSError as exc:
            # Keep the dialog (and the text) so the user can pick another path.
            self.query_one("#save-error", Label).update(f"Cannot write {path}: {exc.strerror or exc}")
            return
        self.app.notify(f"Saved {self.what} to {path}")
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
