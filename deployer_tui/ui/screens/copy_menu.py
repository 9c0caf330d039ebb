"""`y`: a menu of what can be copied about the focused object — ids, service URLs, endpoint URLs, and a
ready-to-run curl command per endpoint (key masked unless the "with key" entry is picked).

Entries are built by pure functions from the raw JSON the app already holds (light/heavy statuses,
deployment settings), so they are easy to test; everything goes through the app's one clipboard service.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.package import PackageError, read_package
from deployer_tui.ui.clipboard import copy_text
from deployer_tui.ui.screens.create_forms import error_text
from deployer_tui.ui.screens.delete_confirm import mapping_versions
from deployer_tui.ui.screens.modals import OptionListModal
from deployer_tui.ui.screens.query_runner import query_template


@dataclass(frozen=True)
class CopyEntry:
    label: str  # what the menu shows
    what: str  # what the toast names
    text: str  # what is copied
    preview: str = ""  # shown instead of `text` (the masked form of a secret)


def query_key(settings: dict | None) -> str | None:
    """The key a client would query the deployment with: its first API key when auth is by API keys."""
    auth = settings.get("auth") if isinstance(settings, dict) else None
    if not isinstance(auth, dict) or auth.get("authMode") != "API_KEYS":
        return None
    for entry in auth.get("apiKeys") or []:
        if isinstance(entry, dict) and entry.get("key"):
            return str(entry["key"])
    return None


def example_body(endpoint: dict, verb: str) -> Any:
    """The request body for a curl: the endpoint's first stored test query, else an empty one of its shape."""
    stored = [q for q in endpoint.get("testQueries") or [] if isinstance(q, dict) and isinstance(q.get("q"), dict)]
    body = stored[0]["q"] if stored else query_template(str(endpoint.get("type") or ""))[0]["q"]
    if verb.endswith("-multi"):
        key = "data" if "lookup" in verb else "features"
        return {"items": [{key: body.get(key, {})}]}
    return body


def key_hint(choice: readers.QueryKeyChoice) -> str:
    """What the masked curl's `-u` wants, and where that key is: shown under the masked command."""
    where = f"it is one of {choice.origin}" if choice.origin else "no key is accepted by every mapped version"
    if choice.key is None and choice.per_version:
        where += f" (keys per version: the entries for {', '.join(choice.per_version)})"
    elif choice.key is not None:
        where += ' (the "curl + API key" entry has it)'
    return (f"{readers.MASKED_KEY} stands for an API key: put it in its place, before the ':' after -u "
            f"(Basic auth, the key as user name). Where: {where}.")


def deployment_entries(light: dict, heavy: dict | None, settings: dict | None = None,
                       versions: dict[str, tuple[bool, list[str]] | None] | None = None) -> list[CopyEntry]:
    """`versions`: the query access (`readers.version_access`) of each mapped version, for a deployment
    whose auth the versions decide (INHERIT_DEV)."""
    basic = readers.deployment_basic(light)
    dep_id = readers.deployment_id(light)
    entries = [CopyEntry(f"Deployment id   {dep_id}", "deployment id", dep_id)]
    if basic.get("publishedServiceId"):
        sid = str(basic["publishedServiceId"])
        entries.append(CopyEntry(f"Service id      {sid}", "service id", sid))
    if basic.get("infraId"):
        iid = str(basic["infraId"])
        entries.append(CopyEntry(f"Infra id        {iid}", "infra id", iid))
    for version in sorted(mapping_versions(basic.get("generationsMapping"))):
        entries.append(CopyEntry(f"Version id      {version}", "version id", version))
    for url in readers.service_urls(light, heavy):
        entries.append(CopyEntry(f"Service URL     {url}", "service URL", url))
    endpoints = {str(e["id"]): e for e in readers.deployed_endpoints(light, heavy)}
    urls = readers.endpoint_urls(light, heavy)
    first_base = urls[0].url.rsplit("/", 2)[0] if urls else None
    choice = readers.query_key_choice(settings, versions or {})
    for eu in urls:
        entries.append(CopyEntry(f"Endpoint URL    {eu.url}", f"{eu.endpoint_id} URL", eu.url))
    for eu in urls:
        # One curl per endpoint verb, on the first node only: the others differ by host alone.
        if not eu.verb or eu.url.rsplit("/", 2)[0] != first_base:
            continue
        body = example_body(endpoints.get(eu.endpoint_id, {}), eu.verb)
        what = f"{eu.endpoint_id}/{eu.verb}"
        # The masked form whenever some key applies, even one we could not find: it shows where it goes.
        masked = readers.curl_command(eu.url, body, readers.MASKED_KEY if choice.needed else None)
        hint = f"{masked}\n\n{key_hint(choice)}" if choice.needed else ""
        entries.append(CopyEntry(f"curl            {what}", f"curl for {what}", masked, preview=hint))
        if choice.key:
            entries.append(CopyEntry(f"curl + API key  {what}  (shows the key)", f"curl with API key for {what}",
                                     readers.curl_command(eu.url, body, choice.key, show_key=True),
                                     preview=f"{masked}\n\nThe key is one of {choice.origin}: every version "
                                             "of the mapping accepts it."))
        for version, key in choice.per_version.items():
            others = ", ".join(v for v in sorted(versions or {}) if v != version)
            entries.append(CopyEntry(f"curl + {version}'s key  {what}  (shows the key)",
                                     f"curl with {version}'s API key for {what}",
                                     readers.curl_command(eu.url, body, key, show_key=True),
                                     preview=f"{masked}\n\nNo key is accepted by every version of the mapping: "
                                             f"this one works when {version} answers"
                                             + (f", not when {others} does." if others else ".")))
    return entries


def service_entries(light: dict) -> list[CopyEntry]:
    sid = readers.service_id(light)
    entries = [CopyEntry(f"Service id      {sid}", "service id", sid)]
    for package in light.get("packages") or []:
        if isinstance(package, dict) and package.get("id"):
            vid = str(package["id"])
            entries.append(CopyEntry(f"Version id      {vid}", "version id", vid))
    for dep in light.get("deployments") or []:
        if isinstance(dep, dict) and dep.get("id"):
            entries.append(CopyEntry(f"Deployment id   {dep['id']}", "deployment id", str(dep["id"])))
    return entries


def infra_entries(light: dict) -> list[CopyEntry]:
    basic = readers.basic(light, "infraBasicInfo", or_self=True)
    iid = readers.infra_id(light)
    entries = [CopyEntry(f"Infra id        {iid}", "infra id", iid)]
    for url in basic.get("apiNodeUrls") or []:
        entries.append(CopyEntry(f"API node URL    {url}", "API node URL", str(url)))
    return entries


async def version_accesses(client: Any, light: dict) -> dict[str, tuple[bool, list[str]] | None]:
    """The query access of each version the deployment's mapping serves, read from the version itself: the
    deployer's version download (the only place the public API gives a version's `config.json`), into a
    private temporary folder removed at once (it holds the keys). None for a version that could not be read."""
    basic = readers.deployment_basic(light)
    service = str(basic.get("publishedServiceId") or "")
    found: dict[str, tuple[bool, list[str]] | None] = {}
    with tempfile.TemporaryDirectory(prefix="deployer-tui-keys-") as folder:  # 0700
        for version in sorted(mapping_versions(basic.get("generationsMapping"))):
            path = Path(folder) / f"{version}.zip"
            try:
                await client.download_version(service, version, path)
                info = await asyncio.to_thread(read_package, path)
            except (DeployerError, PackageError, OSError):
                found[version] = None
                continue
            finally:
                path.unlink(missing_ok=True)
            found[version] = readers.version_access(info.config)
    return found


class CopyMenuScreen(OptionListModal[CopyEntry | None]):
    """Pick one entry; it is copied through the app's clipboard service and the menu closes."""

    DEFAULT_CSS = """
    CopyMenuScreen { align: center middle; }
    CopyMenuScreen > Vertical { width: 100; max-width: 95%; height: auto; max-height: 85%;
                                border: thick $primary; background: $surface; padding: 0 1; }
    CopyMenuScreen #copy-title { text-style: bold; margin-bottom: 1; }
    CopyMenuScreen OptionList { height: auto; max-height: 24; }
    CopyMenuScreen #copy-preview { color: $text-muted; height: auto; margin-top: 1; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="copy.close"),
        Binding("j", "down", "Down", show=False, id="copy.down"),
        Binding("k", "up", "Up", show=False, id="copy.up"),
    ]

    def __init__(self, title: str, entries: list[CopyEntry] | None = None, *, client: Any = None,
                 deployment_id: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.entries = list(entries or [])
        self.client = client
        self.deployment_id = deployment_id

    @classmethod
    def for_deployment(cls, client: Any, deployment_id: str) -> CopyMenuScreen:
        """Loads the deployment's statuses and settings itself (the settings give the query key)."""
        return cls(f"Copy — deployment {deployment_id}", client=client, deployment_id=deployment_id)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="copy-title")
            yield OptionList(id="copy-options")
            yield Static("", id="copy-preview")

    def on_mount(self) -> None:
        if self.client is not None and self.deployment_id and not self.entries:
            self.query_one("#copy-preview", Static).update("Loading…")
            self.load()
        else:
            self._fill()

    @work(exclusive=True, group="copy-load")
    async def load(self) -> None:
        try:
            light = await self.client.get_deployment(self.deployment_id)
        except DeployerError as exc:
            self.query_one("#copy-preview", Static).update(Text(error_text(exc)))
            return
        heavy = settings = None
        with contextlib.suppress(DeployerError):  # ids stay copyable; URLs need the heavy status
            heavy = await self.client.get_deployment_status(self.deployment_id)
        with contextlib.suppress(DeployerError):  # curl commands then carry no key
            settings = await self.client.get_deployment_settings(self.deployment_id)
        versions = None
        if readers.deployment_auth_mode(settings) == "INHERIT_DEV":
            self.query_one("#copy-preview", Static).update("Reading the query keys of the mapped versions…")
            versions = await version_accesses(self.client, light)
        self.entries = deployment_entries(light, heavy, settings, versions)
        self._fill()

    def _fill(self) -> None:
        options = self.query_one("#copy-options", OptionList)
        options.clear_options()
        options.add_options([Option(Text(e.label), id=str(i)) for i, e in enumerate(self.entries)])
        self.query_one("#copy-preview", Static).update("enter copies · esc closes" if self.entries
                                                       else "Nothing to copy")
        if self.entries:
            options.highlighted = 0
        options.focus()

    @on(OptionList.OptionHighlighted, "#copy-options")
    def _preview(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries[int(event.option.id or 0)]
        self.query_one("#copy-preview", Static).update(Text(entry.preview or entry.text))

    @on(OptionList.OptionSelected, "#copy-options")
    def _copy(self, event: OptionList.OptionSelected) -> None:
        entry = self.entries[int(event.option.id or 0)]
        copy_text(self.app, entry.text, entry.what)
        self.dismiss(entry)
