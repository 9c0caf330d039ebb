"""Versions of a service: import a package zip, download one to a file, delete one (the deployer's version
calls, see docs/protocol.md).

Import reads the package locally first (`core.package.read_package`) so the user sees the version id and
endpoints the server will take from it — and a broken zip is refused before anything is sent. Uploads and
downloads show progress from the client's byte callbacks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from deployer_tui.core.errors import DeployerError
from deployer_tui.core.package import PackageError, PackageInfo, read_package
from deployer_tui.ui.screens.create_forms import ActionModal
from deployer_tui.ui.screens.delete_confirm import DeleteScreen
from deployer_tui.ui.screens.modals import OptionListModal
from deployer_tui.ui.shell import shell_of
from deployer_tui.ui.view.formatting import timestamp


def path_candidates(value: str) -> list[str]:
    """The names (zips and folders, folders ending with '/') in the typed path's folder that start with its
    last part, sorted: what a shell lists on a second tab."""
    expanded = os.path.expanduser(value)
    head, prefix = os.path.split(expanded)
    base = Path(head or ".")
    try:
        return sorted(
            entry.name + ("/" if entry.is_dir() else "")
            for entry in os.scandir(base)
            if entry.name.startswith(prefix)
            and (entry.is_dir() or entry.name.lower().endswith(".zip"))
            and (prefix.startswith(".") or not entry.name.startswith("."))
        )
    except OSError:
        return []


def complete_path(value: str) -> str:
    """The longest unambiguous completion of a path prefix; directories end with '/'. Zips and folders only."""
    if not value:
        return value
    names = path_candidates(value)
    prefix = os.path.split(os.path.expanduser(value))[1]
    if not names:
        return value
    common = os.path.commonprefix(names)
    if len(common) <= len(prefix):
        return value
    # Keep what the user typed ("~/") rather than the expanded form.
    return value[: len(value) - len(prefix)] + common


class PathSuggester(Suggester):
    """Inline completion of file paths (accept with → or tab)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        completed = complete_path(value)
        return completed if completed != value else None


def describe_package(info: PackageInfo, when: Callable[[object], str] = timestamp) -> str:
    endpoints = ", ".join(f"{e['id']} ({e['type']})" for e in info.endpoint_summaries()) or "none"
    queries = sum(len(q) for q in info.test_queries.values())
    return (f"Version [b]{info.version_id}[/b], created {when(info.created_on)}\n"
            f"Endpoints: {endpoints}\nStored test queries: {queries}")


PathResultT = TypeVar("PathResultT")


MAX_LISTED_CANDIDATES = 40


class ZipPathModal(ActionModal[PathResultT], Generic[PathResultT]):
    """A form around one `#zip-path` field: tab completes the path there, as a shell does (a tab that
    cannot complete further lists the candidates, and the focus stays); elsewhere tab moves on."""

    BINDINGS = [Binding("tab", "complete", "Complete path", show=False, priority=True, id="versions.complete")]

    def action_complete(self) -> None:
        field = self.query_one("#zip-path", Input)
        if self.focused is not field:
            self.focus_next()
            return
        self._show_candidates([])
        completed = complete_path(field.value)
        if completed != field.value:
            field.value = completed
            field.cursor_position = len(completed)
            return
        path = Path(os.path.expanduser(field.value.strip())) if field.value.strip() else None
        if path is None or path.is_file():
            self.focus_next()  # nothing left to complete: tab moves on, to the buttons
            return
        names = path_candidates(field.value)
        if not names and not self.path_must_exist:
            self.focus_next()  # a new file's name: nothing to list
            return
        self._show_candidates(names or ["(no zip or folder matches)"])

    # Import reads an existing zip (a tab with no match says so); a download may name a new file.
    path_must_exist = True

    def _show_candidates(self, names: list[str]) -> None:
        found = self.query("#path-candidates")
        if not found:
            return
        listing = found.first(Static)
        shown = names[:MAX_LISTED_CANDIDATES]
        more = len(names) - len(shown)
        listing.update(Text("  ".join(shown) + (f"  … and {more} more" if more > 0 else "")))
        listing.display = bool(names)


class ImportVersionScreen(ZipPathModal[str]):
    """Pick a version zip, see what it holds, upload it."""

    def __init__(self, client: Any, service_id: str, *, path: str = "") -> None:
        super().__init__(client)
        self.service_id = service_id
        self.initial_path = path
        self.package: PackageInfo | None = None
        self.package_path: Path | None = None
        self.existing: set[str] = set()

    def form_title(self) -> str:
        return f"Import a version into {self.service_id}"

    def compose_body(self) -> ComposeResult:
        yield Label("Version package (.zip)", classes="field-label")
        yield Input(self.initial_path, placeholder="path/to/version.zip (tab completes)", id="zip-path",
                    suggester=PathSuggester())
        yield Static("", id="path-candidates", classes="hint", markup=False)
        yield Static("Type the path of a version zip (build one with `deployer-tui package DIR`).",
                     id="package-info", classes="hint")
        yield ProgressBar(id="progress", show_eta=False)

    def compose_buttons(self) -> ComposeResult:
        yield Button("Upload", variant="primary", id="submit", disabled=True)
        yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).display = False
        self.query_one("#path-candidates", Static).display = False
        self.load_existing()
        if self.initial_path:
            self.inspect(self.initial_path)

    @work(group="import-existing")
    async def load_existing(self) -> None:
        try:
            status = await self.client.get_service(self.service_id)
        except DeployerError:
            return  # only used for an early warning; the server has the last word
        self.existing = {str(p.get("id")) for p in status.get("packages") or [] if isinstance(p, dict)}
        if self.package:
            self._show_package(self.package)

    @on(Input.Changed, "#zip-path")
    def _path_changed(self, event: Input.Changed) -> None:
        self.inspect(event.value)

    @work(exclusive=True, group="import-inspect")
    async def inspect(self, raw: str) -> None:
        info = self.query_one("#package-info", Static)
        self.package = None
        self.query_one("#submit", Button).disabled = True
        path = Path(os.path.expanduser(raw.strip())) if raw.strip() else None
        if path is None or not path.is_file():
            info.update("Type the path of a version zip." if path is None or not path.exists() or path.is_dir()
                        else f"{escape(str(path))} is not a file")
            return
        try:
            package = await asyncio.to_thread(read_package, path)
        except PackageError as exc:
            info.update(f"[red]Not a valid version package:[/red] {escape(str(exc))}")
            return
        except OSError as exc:
            info.update(f"[red]Cannot read {escape(str(path))}:[/red] {escape(str(exc.strerror or exc))}")
            return
        self.package, self.package_path = package, path
        self._show_package(package)

    def _show_package(self, package: PackageInfo) -> None:
        # The app's presentation formats times (a frozen clock in snapshots).
        text = describe_package(package, shell_of(self).presentation.timestamp)
        duplicate = package.version_id in self.existing
        if duplicate:
            text += f"\n[red]{self.service_id} already has a version {package.version_id}[/red]"
        self.query_one("#package-info", Static).update(text)
        self.query_one("#submit", Button).disabled = duplicate

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted, "#zip-path")
    def submit(self) -> None:
        if self.query_one("#submit", Button).disabled and self.package is not None:
            return  # the version already exists (said above) or an upload is running
        if self.package is None or self.package_path is None:
            self.show_error("Pick a valid version zip first")
            return
        self.clear_error()
        self.upload(self.package_path, self.package.version_id)

    @work(exclusive=True, group="import-upload")
    async def upload(self, path: Path, version_id: str) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=max(1, path.stat().st_size), progress=0)

        def progress(done: int, total: int) -> None:
            bar.update(total=max(1, total), progress=done)

        notes: list[str | None] = []

        async def upload_it() -> None:
            # A note comes back when the upload timed out and the version list showed it imported after all.
            notes.append(await self.client.import_version(self.service_id, path, progress=progress))

        if not await self.submit_call(upload_it()):
            bar.display = False
            return
        note = notes[0] if notes else None
        if note:
            self.notify(f"Imported {version_id} into {self.service_id}\n{note}", severity="warning",
                            timeout=15, markup=False)
        else:
            self.notify(f"Imported {version_id} into {self.service_id}")
        self.dismiss(version_id)


class DownloadVersionScreen(ZipPathModal[Path]):
    """Save a version's zip to a file (written to `<file>.partial`, renamed when complete)."""

    def __init__(self, client: Any, service_id: str, version_id: str, *, path: str | None = None) -> None:
        super().__init__(client)
        self.service_id = service_id
        self.version_id = version_id
        self.initial_path = path or str(Path.cwd() / f"{service_id}-{version_id}.zip")

    path_must_exist = False

    def form_title(self) -> str:
        return f"Download {self.service_id} {self.version_id}"

    def compose_body(self) -> ComposeResult:
        yield Label("Save to", classes="field-label")
        yield Input(self.initial_path, id="zip-path", suggester=PathSuggester())
        yield Checkbox("Overwrite an existing file", id="overwrite")
        yield ProgressBar(id="progress", show_eta=False)

    def compose_buttons(self) -> ComposeResult:
        yield Button("Download", variant="primary", id="submit")
        yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).display = False

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted, "#zip-path")
    def submit(self) -> None:
        raw = self.query_one("#zip-path", Input).value.strip()
        if not raw:
            self.show_error("Enter a file path")
            return
        path = Path(os.path.expanduser(raw))
        if path.is_dir():
            path = path / f"{self.service_id}-{self.version_id}.zip"
        if path.exists() and not self.query_one("#overwrite", Checkbox).value:
            self.show_error(f"{path} exists: tick 'Overwrite' or choose another name")
            return
        if not path.parent.is_dir():
            self.show_error(f"Folder {path.parent} does not exist")
            return
        self.clear_error()
        self.download(path)

    @work(exclusive=True, group="download-version")
    async def download(self, path: Path) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)

        def progress(done: int, total: int) -> None:
            bar.update(total=total or None, progress=done)

        if not await self.submit_call(self.client.download_version(self.service_id, self.version_id, path,
                                                                    progress=progress)):
            bar.display = False
            return
        self.notify(f"Saved {self.service_id} {self.version_id} to {path}")
        self.dismiss(path)


def delete_version_screen(client: Any, service_id: str, version_id: str) -> DeleteScreen:
    """Deleting a version: the shared confirmation, which warns when deployments still use it."""
    return DeleteScreen(client, "version", version_id, service_id=service_id)


class VersionPickScreen(OptionListModal[str]):
    """Pick one version of a service (newest first, as the server lists them)."""

    DEFAULT_CSS = """
    VersionPickScreen { align: center middle; }
    VersionPickScreen > Vertical { width: 60; height: auto; max-height: 80%; border: thick $primary;
                                   background: $surface; padding: 0 1; }
    VersionPickScreen OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="versions.pick.close"),
        Binding("j", "down", "Down", show=False, id="versions.pick.down"),
        Binding("k", "up", "Up", show=False, id="versions.pick.up"),
    ]

    def __init__(self, service_id: str, versions: list[str]) -> None:
        super().__init__()
        self.service_id = service_id
        self.versions = versions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Versions of {self.service_id}")
            yield OptionList(*[Option(v, id=v) for v in self.versions], id="version-options")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
