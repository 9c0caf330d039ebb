"""The clipboard service: OSC 52 bytes (plain, tmux, screen), native copy where a display exists, the cap."""

from __future__ import annotations

import base64
import os

from textual.app import App, ComposeResult
from textual.widgets import Label

from deployer_tui.ui.clipboard import (
    Clipboard,
    SaveInsteadScreen,
    copy_text,
    has_local_display,
    osc52_sequence,
    use_clipboard,
)
from tests.ui.helpers import settle


def test_plain_osc52_sequence() -> None:
    seq = osc52_sequence("svc-42", env={"TERM": "xterm-256color"})
    assert seq == "\x1b]52;c;" + base64.b64encode(b"svc-42").decode() + "\x07"


def test_tmux_wraps_and_doubles_escapes() -> None:
    seq = osc52_sequence("héllo", env={"TMUX": "tmux-socket,1,0", "TERM": "screen-256color"})
    inner = "\x1b]52;c;" + base64.b64encode("héllo".encode()).decode() + "\x07"
    assert seq == "\x1bPtmux;" + inner.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    assert seq.count("\x1b\x1b]52") == 1


def test_screen_wraps_in_chunks_that_rebuild_the_sequence() -> None:
    text = "x" * 500
    seq = osc52_sequence(text, env={"TERM": "screen"})
    chunks = seq.split("\x1b\\")[:-1]
    assert len(chunks) > 1 and all(c.startswith("\x1bP") for c in chunks)
    rebuilt = "".join(c[2:] for c in chunks)
    assert rebuilt == osc52_sequence(text, env={})


def test_local_display_rules() -> None:
    assert has_local_display({"DISPLAY": ":0"}, "linux")
    assert has_local_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not has_local_display({}, "linux")
    assert has_local_display({}, "darwin")
    assert not has_local_display({"DISPLAY": "localhost:10.0", "SSH_CONNECTION": "1 2 3 4"}, "linux")


class Harness(App):
    def __init__(self) -> None:
        super().__init__()
        self.toasts: list[str] = []  # what the clipboard service told the person

    def compose(self) -> ComposeResult:
        yield Label("harness")

    def notify(self, message: str, **kwargs) -> None:  # type: ignore[override]
        self.toasts.append(str(message))
        super().notify(message, **kwargs)


class RecordingDriver:
    def __init__(self, real) -> None:
        self.real = real
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)
        self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)


async def test_copy_writes_wrapped_osc52_and_sets_app_clipboard() -> None:
    app = Harness()
    async with app.run_test(notifications=True) as pilot:
        driver = RecordingDriver(app._driver)
        app._driver = driver
        natives: list[str] = []
        env = {"TMUX": "sock,1,0", "TERM": "screen"}
        service = Clipboard(app, env=env, platform="linux", native=natives.append)
        result = service.copy("http://127.0.0.1:1/public/api/v1/svc", "service URL")
        app._driver = driver.real
        await settle(pilot)  # the toast is a message to the app
        assert app.clipboard == "http://127.0.0.1:1/public/api/v1/svc"
        assert driver.written == [osc52_sequence(app.clipboard, env)]
        assert natives == []  # no display: no native attempt
        assert result.methods == ["OSC 52 through tmux"]
        assert any("Copied service URL" in t and "allow-passthrough" in t for t in app.toasts)


async def test_native_copy_with_display_and_its_failure_is_reported() -> None:
    app = Harness()
    async with app.run_test(notifications=True) as pilot:
        natives: list[str] = []
        ok = Clipboard(app, env={"DISPLAY": ":0"}, platform="linux", native=natives.append)
        assert ok.copy("abc", "id").methods == ["OSC 52", "system clipboard"]
        assert natives == ["abc"]

        def broken(_text: str) -> None:
            raise RuntimeError("no xclip")

        bad = Clipboard(app, env={"DISPLAY": ":0"}, platform="linux", native=broken)
        result = bad.copy("def", "id")
        assert result.methods == ["OSC 52"] and result.native_error == "no xclip"
        assert app.clipboard == "def"
        await settle(pilot)
        assert any("no xclip" in t for t in app.toasts)


async def test_apple_terminal_skips_osc52() -> None:
    app = Harness()
    async with app.run_test() as pilot:
        natives: list[str] = []
        env = {"TERM_PROGRAM": "Apple_Terminal"}
        result = Clipboard(app, env=env, platform="darwin", native=natives.append).copy("k", "id")
        await pilot.pause()
        assert result.methods == ["system clipboard"] and natives == ["k"]
        # Apple Terminal over SSH: neither path reaches the user's screen, and the toast says so
        over_ssh = {**env, "SSH_CONNECTION": "1 2 3 4"}
        result = Clipboard(app, env=over_ssh, platform="darwin", native=natives.append).copy("k2", "id")
        assert result.methods == [] and natives == ["k"] and app.clipboard == "k2"
        assert result.message().startswith("Could not copy id")


async def test_over_the_cap_offers_a_file_and_saves_it_0600(tmp_path) -> None:
    app = Harness()
    async with app.run_test(notifications=True) as pilot:
        big = "y" * 2000
        service = Clipboard(app, env={}, platform="linux", max_bytes=1000)
        use_clipboard(app, service)
        result = copy_text(app, big, "update log")
        await pilot.pause()
        assert result.capped and result.methods == []
        assert app.clipboard == big  # in-app paste still has it
        assert isinstance(app.screen, SaveInsteadScreen)
        target = tmp_path / "log.txt"
        field = app.screen.query_one("#save-path")
        field.value = str(tmp_path)  # a directory: refused, dialog stays
        field.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveInsteadScreen)
        assert "is a directory" in str(app.screen.query_one("#save-error").render())
        field.value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, SaveInsteadScreen)
        assert target.read_text() == big
        assert os.stat(target).st_mode & 0o777 == 0o600
