"""Create an infra, a service or a deployment (the deployer's create calls, see docs/protocol.md).

Each form is a modal that gets a `DeployerClient`-like object, validates everything it can before
sending (`core.package.validate_id`, ids already taken, nothing left unpicked), and on a refusal shows the
server's own message under the form without losing what was typed. It dismisses with the new object's id
(None when cancelled) so the caller can refresh and select it.

`ActionModal` is the small base the other action screens of this package share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.package import PackageError, validate_id
from deployer_tui.ui.shell import ContextToasts

ResultT = TypeVar("ResultT")

INFRA_TYPES = ("STATIC", "K8S", "AZURE_ML", "SAGEMAKER", "SNOWPARK", "VERTEX_AI", "DATABRICKS")
# Infras where DSS runs the nodes itself; every other type is "deploy anywhere": one endpoint per deployment.
NODE_INFRA_TYPES = ("STATIC", "K8S")
GOVERN_POLICIES = (
    ("NO_CHECK", "NO_CHECK — deploy without checking Govern sign-off"),
    ("WARN", "WARN — warn when the version is not approved"),
    ("PREVENT", "PREVENT — refuse versions not approved"),
)


def error_text(err: Exception) -> str:
    """What to show for a failed call: the server's words, with its error type."""
    if isinstance(err, DeployerError):
        text = f"{err.short_type}: {err.message}"
        if err.detail and err.detail != err.message:
            text += f"\n{err.detail}"
        return text
    return str(err)


class ActionModal(ContextToasts, ModalScreen[ResultT], Generic[ResultT]):
    """A modal form: a title, the body, an error line that keeps the draft, Cancel on escape."""

    DEFAULT_CSS = """
    ActionModal { align: center middle; }
    ActionModal > VerticalScroll {
        width: 90; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; padding: 0 2; background: $surface;
    }
    ActionModal .form-title { text-style: bold; margin: 1 0; width: 100%; }
    ActionModal .field-label { color: $text-muted; }
    ActionModal .hint { color: $text-muted; }
    ActionModal .form-error { color: $error; margin-top: 1; }
    ActionModal .form-note { color: $warning; margin-top: 1; }
    ActionModal .buttons { height: auto; margin: 1 0; }
    ActionModal .buttons Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="action.cancel")]
    # Start in the first field, not on the scrolling container.
    AUTO_FOCUS = "Input, Select, Button"
    TITLE_TEXT = ""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def form_title(self) -> str:
        return self.TITLE_TEXT

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Label(self.form_title(), classes="form-title", id="form-title")
            yield from self.compose_body()
            yield Static("", classes="form-error", id="form-error")
            with Horizontal(classes="buttons"):
                yield from self.compose_buttons()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def compose_buttons(self) -> ComposeResult:
        yield Button("Cancel", id="cancel")

    def show_error(self, text: str) -> None:
        # Server messages are shown verbatim: no markup parsing of "[...]" in them.
        self.query_one("#form-error", Static).update(Text(text))

    def clear_error(self) -> None:
        self.show_error("")

    @property
    def error_shown(self) -> str:
        return str(self.query_one("#form-error", Static).render())

    def set_busy(self, busy: bool, button_id: str = "submit") -> None:
        for button in self.query(f"#{button_id}").results(Button):
            button.disabled = busy

    async def submit_call(self, call: Awaitable[Any],
                          explain: Callable[[DeployerError], str] = error_text) -> bool:
        """Await the form's server call with submit disabled. On failure the error line says why and
        the form stays open with its draft: False."""
        self.set_busy(True)
        try:
            await call
        except DeployerError as exc:
            self.show_error(explain(exc))
            return False
        finally:
            self.set_busy(False)
        return True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def checked_id(value: str, what: str) -> str:
    """The stripped id, or PackageError saying what is wrong with it."""
    return validate_id(value.strip(), what)


def suggest_deployment_id(service_id: str, infra_id: str, taken: set[str] | frozenset[str]) -> str:
    """`<service>-on-<infra>`, with `-2`, `-3`… when taken (as the DSS UI's autoSetDeploymentId)."""
    base = f"{service_id}-on-{infra_id}"
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def parse_groups(text: str) -> list[dict] | None:
    """Comma/space separated group names → authorizationsToQueryThroughDeployer entries (None when empty)."""
    groups = [g for g in (part.strip() for part in text.replace(",", " ").split()) if g]
    if not groups:
        return None
    return [{"group": g, "queryThroughDeployer": True} for g in dict.fromkeys(groups)]


def _select_value(select: Select) -> str | None:
    return None if select.is_blank() else str(select.value)


class CreateServiceScreen(ActionModal[str]):
    TITLE_TEXT = "Create a service"

    def compose_body(self) -> ComposeResult:
        yield Label("Service id", classes="field-label")
        yield Input(placeholder="e.g. fraud-scoring", id="service-id")
        yield Label("letters, digits, '_', '-', '.'; the id appears in every endpoint URL", classes="hint")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Create", variant="primary", id="submit")
        yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted, "#service-id")
    def submit(self) -> None:
        try:
            sid = checked_id(self.query_one("#service-id", Input).value, "service id")
        except PackageError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self.create(sid)

    @work(exclusive=True, group="create-service")
    async def create(self, sid: str) -> None:
        if not await self.submit_call(self.client.create_service(sid)):
            return
        self.notify(f"Service {sid} created")
        self.dismiss(sid)


class CreateInfraScreen(ActionModal[str]):
    TITLE_TEXT = "Create an infrastructure"

    def compose_body(self) -> ComposeResult:
        yield Label("Infra id", classes="field-label")
        yield Input(placeholder="e.g. dev-static", id="infra-id")
        yield Label("Stage (from the deployer's stages)", classes="field-label")
        yield Select([], prompt="loading stages…", id="stage")
        yield Label("Type", classes="field-label")
        yield Select([(t, t) for t in INFRA_TYPES], value="STATIC", allow_blank=False, id="infra-type")
        yield Label("Govern check policy", classes="field-label")
        yield Select([(label, v) for v, label in GOVERN_POLICIES], value="NO_CHECK", allow_blank=False,
                     id="govern-policy")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Create", variant="primary", id="submit")
        yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.load_stages()

    @work(exclusive=True, group="create-infra-load")
    async def load_stages(self) -> None:
        select = self.query_one("#stage", Select)
        try:
            stages = await self.client.list_stages()
        except DeployerError as exc:
            self.show_error(f"Could not read the stages: {error_text(exc)}")
            return
        options = [(f"{s.get('id')} — {s.get('desc') or s.get('id')}", str(s.get("id"))) for s in stages
                   if isinstance(s, dict) and s.get("id")]
        select.set_options(options)
        select.prompt = "pick a stage" if options else "the deployer has no stages"
        if options:
            select.value = options[0][1]

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted, "#infra-id")
    def submit(self) -> None:
        try:
            iid = checked_id(self.query_one("#infra-id", Input).value, "infra id")
        except PackageError as exc:
            self.show_error(str(exc))
            return
        stage = _select_value(self.query_one("#stage", Select))
        if not stage:
            self.show_error("Pick a stage")
            return
        kind = _select_value(self.query_one("#infra-type", Select)) or "STATIC"
        policy = _select_value(self.query_one("#govern-policy", Select)) or "NO_CHECK"
        self.clear_error()
        self.create(iid, stage, kind, policy)

    @work(exclusive=True, group="create-infra")
    async def create(self, iid: str, stage: str, kind: str, policy: str) -> None:
        if not await self.submit_call(self.client.create_infra(iid, stage, kind, policy)):
            return
        self.notify(f"Infra {iid} created ({stage}, {kind})")
        self.dismiss(iid)


class CreateDeploymentScreen(ActionModal[str]):
    """Service, version and infra picked from live data; the id follows them until the user types one."""

    TITLE_TEXT = "Create a deployment"

    def __init__(self, client: Any, *, service_id: str | None = None, infra_id: str | None = None,
                 version: str | None = None) -> None:
        super().__init__(client)
        self.initial = {"service": service_id, "infra": infra_id, "version": version}
        self.services: dict[str, dict] = {}
        self.infras: dict[str, dict] = {}
        self.taken: set[str] = set()
        self._suggested = ""
        self._loaded = False

    @property
    def loaded(self) -> bool:
        """The stages, services and infras the form picks from have arrived."""
        return self._loaded

    def compose_body(self) -> ComposeResult:
        yield Label("Service", classes="field-label")
        yield Select([], prompt="loading…", id="service")
        yield Label("Version", classes="field-label")
        yield Select([], prompt="pick a service first", id="version")
        yield Label("Infrastructure", classes="field-label")
        yield Select([], prompt="loading…", id="infra")
        yield Label("Endpoint (deploy-anywhere infras serve one endpoint)", classes="field-label", id="endpoint-label")
        yield Select([], prompt="pick a version first", id="endpoint")
        yield Label("Deployment id", classes="field-label")
        yield Input(placeholder="<service>-on-<infra>", id="deployment-id")
        yield Label("Groups allowed to query through the deployer (comma-separated, optional)",
                    classes="field-label")
        yield Input(placeholder="e.g. data_team, administrators", id="groups")
        yield Checkbox("Ignore governance warnings", id="ignore-warnings")
        yield Static("", classes="form-note", id="form-note")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Create", variant="primary", id="submit")
        yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._show_endpoint(False)
        self.load()

    def _show_endpoint(self, visible: bool) -> None:
        self.query_one("#endpoint", Select).display = visible
        self.query_one("#endpoint-label", Label).display = visible

    @work(exclusive=True, group="create-deployment-load")
    async def load(self) -> None:
        try:
            services = await self.client.list_services()
            infras = await self.client.list_infras()
            deployments = await self.client.list_deployments()
        except DeployerError as exc:
            self.show_error(f"Could not load services and infras: {error_text(exc)}")
            return
        self.services = {readers.service_id(s): s for s in services if readers.service_id(s)}
        self.infras = {readers.infra_id(i): i for i in infras if readers.infra_id(i)}
        self.taken = {readers.deployment_id(d) for d in deployments}
        service_select = self.query_one("#service", Select)
        service_select.set_options([(sid, sid) for sid in sorted(self.services)])
        service_select.prompt = "pick a service" if self.services else "no services yet: create one first"
        infra_select = self.query_one("#infra", Select)
        infra_select.set_options([(self._infra_label(iid), iid) for iid in sorted(self.infras)])
        infra_select.prompt = "pick an infra" if self.infras else "no infras yet: create one first"
        self._loaded = True
        if self.initial["service"] in self.services:
            service_select.value = self.initial["service"]
        elif len(self.services) == 1:
            service_select.value = next(iter(self.services))
        if self.initial["infra"] in self.infras:
            infra_select.value = self.initial["infra"]
        elif len(self.infras) == 1:
            infra_select.value = next(iter(self.infras))
        self._refresh_versions()
        self._refresh_infra()
        self._refresh_id()

    def _infra_label(self, iid: str) -> str:
        basic = readers.basic(self.infras.get(iid, {}), "infraBasicInfo")
        return f"{iid}  ({basic.get('stage') or '?'}, {basic.get('type') or '?'})"

    def _infra_type(self, iid: str | None) -> str:
        return str(readers.basic(self.infras.get(iid or "", {}), "infraBasicInfo").get("type") or "STATIC")

    def _packages(self, sid: str | None) -> list[dict]:
        return [p for p in (self.services.get(sid or "", {}).get("packages") or []) if isinstance(p, dict)]

    def _refresh_versions(self) -> None:
        sid = _select_value(self.query_one("#service", Select))
        select = self.query_one("#version", Select)
        packages = self._packages(sid)
        # The deployer lists a service's versions newest first: the first is the natural default.
        select.set_options([(str(p.get("id")), str(p.get("id"))) for p in packages if p.get("id")])
        if not sid:
            select.prompt = "pick a service first"
        elif not packages:
            select.prompt = "this service has no version: import one first"
        else:
            select.prompt = "pick a version"
            wanted = self.initial["version"]
            ids = [str(p.get("id")) for p in packages]
            select.value = wanted if wanted in ids else ids[0]
        self._refresh_endpoints()

    def _refresh_endpoints(self) -> None:
        sid = _select_value(self.query_one("#service", Select))
        version = _select_value(self.query_one("#version", Select))
        endpoints: list[dict] = []
        for package in self._packages(sid):
            if str(package.get("id")) == version:
                endpoints = [e for e in package.get("endpoints") or [] if isinstance(e, dict) and e.get("id")]
        select = self.query_one("#endpoint", Select)
        select.set_options([(f"{e['id']} ({e.get('type', '?')})", str(e["id"])) for e in endpoints])
        if len(endpoints) == 1:
            select.value = str(endpoints[0]["id"])

    def _refresh_infra(self) -> None:
        iid = _select_value(self.query_one("#infra", Select))
        anywhere = bool(iid) and self._infra_type(iid) not in NODE_INFRA_TYPES
        self._show_endpoint(anywhere)
        stage = str(readers.basic(self.infras.get(iid or "", {}), "infraBasicInfo").get("stage") or "")
        note = self.query_one("#form-note", Static)
        note.update(f"{iid} is a {stage} infra." if stage.lower() == "production" else "")

    def _refresh_id(self) -> None:
        field = self.query_one("#deployment-id", Input)
        sid = _select_value(self.query_one("#service", Select))
        iid = _select_value(self.query_one("#infra", Select))
        if not (sid and iid):
            return
        # Follow the picks only while the user has not typed an id of their own.
        if field.value and field.value != self._suggested:
            return
        self._suggested = suggest_deployment_id(sid, iid, self.taken)
        field.value = self._suggested

    @on(Select.Changed, "#service")
    def _service_changed(self) -> None:
        if self._loaded:
            self._refresh_versions()
            self._refresh_id()

    @on(Select.Changed, "#version")
    def _version_changed(self) -> None:
        if self._loaded:
            self._refresh_endpoints()

    @on(Select.Changed, "#infra")
    def _infra_changed(self) -> None:
        if self._loaded:
            self._refresh_infra()
            self._refresh_id()

    def collect(self) -> dict:
        """The creation request, or PackageError/ValueError saying what is missing or wrong."""
        sid = _select_value(self.query_one("#service", Select))
        if not sid:
            raise ValueError("Pick a service")
        version = _select_value(self.query_one("#version", Select))
        if not version:
            raise ValueError(f"Pick a version of {sid} (import one first if it has none)")
        iid = _select_value(self.query_one("#infra", Select))
        if not iid:
            raise ValueError("Pick an infrastructure")
        did = checked_id(self.query_one("#deployment-id", Input).value, "deployment id")
        if did in self.taken:
            raise ValueError(f"A deployment named {did} already exists; pick another id")
        endpoint = None
        if self._infra_type(iid) not in NODE_INFRA_TYPES:
            endpoint = _select_value(self.query_one("#endpoint", Select))
            if not endpoint:
                raise ValueError(f"{iid} is a {self._infra_type(iid)} infra: pick the endpoint to deploy")
        groups_text = self.query_one("#groups", Input).value
        authorizations = parse_groups(groups_text)
        for entry in authorizations or []:
            checked_id(entry["group"], "group name")
        return {
            "deployment_id": did, "service_id": sid, "infra_id": iid, "version": version,
            "endpoint_id": endpoint, "authorizations": authorizations,
            "ignore_warnings": self.query_one("#ignore-warnings", Checkbox).value,
        }

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted)
    def submit(self) -> None:
        try:
            request = self.collect()
        except (PackageError, ValueError) as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self.create(request)

    @work(exclusive=True, group="create-deployment")
    async def create(self, request: dict) -> None:
        created = self.client.create_deployment(
            request["deployment_id"], request["service_id"], request["infra_id"], request["version"],
            endpoint_id=request["endpoint_id"], authorizations=request["authorizations"],
            ignore_warnings=request["ignore_warnings"],
        )
        if not await self.submit_call(created):
            return
        self.notify(f"Deployment {request['deployment_id']} created — not deployed until you run an update")
        self.dismiss(request["deployment_id"])
