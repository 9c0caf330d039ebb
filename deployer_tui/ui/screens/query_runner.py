"""Run test queries against a deployment (the deployer's run-test-queries and run-queries calls, see
docs/protocol.md) and read the answers.

Two sources — the version's stored test queries, or queries edited here as JSON (prefilled with the stored
ones) — and two routes: the deployer's `run-test-queries`, or `run-queries` ("through the deployer", which
needs a `queryThroughDeployer` group authorisation on the deployment). Results land in a table (status,
response summary, the version that answered from the node's `apiContext.serviceGeneration` — "not reported"
when the answer does not carry it —, latency from the node's `timing`, which is in microseconds); `enter`
opens the full response. Through the deployer, `adaptQueryForInfraType` is sent true, as the official
client sends it; a checkbox turns it off. An `r` pressed before the endpoints are loaded runs once they are. A JSON error in the editor is shown with its line and column and never clears the draft.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, DataTable, Label, Select, Static, TextArea

from deployer_tui.core import readers
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.clipboard import copy_text
from deployer_tui.ui.screens.create_forms import error_text
from deployer_tui.ui.shell import ContextToasts
from deployer_tui.ui.state.latency_trends import Answer, LatencyTrends
from deployer_tui.ui.widgets.key_footer import KeyFooter

# Parts of a node's timing that are sub-parts of another one (not added to the total).
_TIMING_SUBPARTS = ("functionInternal", "predictionPredict", "predictionExplain")
SUMMARY_WIDTH = 70


def query_template(endpoint_type: str) -> list[dict]:
    """An empty query of the right shape for an endpoint type (the shapes of an endpoint's stored test queries)."""
    if "PREDICTION" in endpoint_type or endpoint_type.startswith("STD_"):
        return [{"q": {"features": {}}}]
    if endpoint_type == "DATASETS_LOOKUP":
        return [{"q": {"data": {}}}]
    return [{"q": {}}]


def parse_queries(text: str) -> list[dict]:
    """Editor text → a list of `{"q": {...}, "headers": [...]}`; ValueError with line/column when wrong.

    A bare object without "q" is taken as one query body, the way the API Designer's editor shows it.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if isinstance(value, dict):
        value = [value if "q" in value else {"q": value}]
    if not isinstance(value, list) or not value:
        raise ValueError('Expected a non-empty JSON list of queries: [{"q": {...}}]')
    queries = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or not isinstance(item.get("q"), dict):
            raise ValueError(f'Query {i}: expected an object with a "q" object (the request body)')
        headers = item.get("headers")
        if headers is not None and not (isinstance(headers, list) and all(
                isinstance(h, dict) and "key" in h for h in headers)):
            raise ValueError(f'Query {i}: "headers" must be a list of {{"key": ..., "value": ...}}')
        queries.append(item)
    return queries


def latency_ms(response: dict) -> float | None:
    """The node-side time of one answer, in ms, from its `timing` (microseconds); None when absent."""
    timing = response.get("timing") if isinstance(response, dict) else None
    if not isinstance(timing, dict):
        return None
    parts = [v for k, v in timing.items()
             if k not in _TIMING_SUBPARTS and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(parts) / 1000 if parts else None


NOT_REPORTED = "not reported"


def answering_version(entry: Any) -> str:
    """The version (generation) that answered one query, from the node's `apiContext`; "not reported"."""
    response = entry.get("response", entry) if isinstance(entry, dict) else None
    context = response.get("apiContext") if isinstance(response, dict) else None
    generation = context.get("serviceGeneration") if isinstance(context, dict) else None
    return str(generation) if generation else NOT_REPORTED


def _short(value: Any, width: int = SUMMARY_WIDTH) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def summarize(entry: Any) -> tuple[str, str, float | None]:
    """(status, one-line summary, latency ms) of one entry of a test-query result."""
    if not isinstance(entry, dict):
        return "?", _short(entry), None
    if entry.get("error") is not None:
        err = entry["error"]
        if isinstance(err, dict):
            kind = str(err.get("errorType") or "error").rsplit(".", 1)[-1]
            return "ERROR", _short(f"{kind}: {err.get('message') or err.get('detailedMessage') or ''}"), None
        return "ERROR", _short(err), None
    response = entry.get("response", entry)
    if not isinstance(response, dict):
        return "OK", _short(response), None
    latency = latency_ms(response)
    if "result" in response:
        result = response["result"]
        if isinstance(result, dict) and result.get("ignored"):
            return "IGNORED", _short(result.get("ignoreReason") or "ignored"), latency
        if isinstance(result, dict) and "prediction" in result:
            return "OK", _short(f"prediction={json.dumps(result['prediction'], default=str)}"), latency
        return "OK", _short(result), latency
    if "results" in response and isinstance(response["results"], list):
        results = response["results"]
        first = results[0] if results else None
        if isinstance(first, dict) and "rows" in first:
            return "OK", _short(f"{len(first.get('rows') or [])} row(s): {_short(first.get('rows'), 50)}"), latency
        return "OK", _short(f"{len(results)} result(s): {_short(first, 50)}"), latency
    if "response" in response:
        if response.get("responseIsEmpty"):
            return "OK", "(no value returned)", latency
        return "OK", _short(response["response"]), latency
    if "data" in response:
        return "OK", _short(response["data"]), latency
    return "OK", _short(response), latency


def result_entries(result: Any) -> list[Any]:
    """The per-query entries of a run-(test-)queries result."""
    if isinstance(result, dict):
        for key in ("responses", "results"):
            if isinstance(result.get(key), list):
                return result[key]
        return [result]
    if isinstance(result, list):
        return result
    return [result]


class ResponseDetailScreen(ModalScreen[None]):
    """One full response (or error), read-only JSON; `y` copies it."""

    DEFAULT_CSS = """
    ResponseDetailScreen { align: center middle; }
    ResponseDetailScreen > Vertical { width: 95%; height: 90%; border: thick $primary; background: $surface; }
    ResponseDetailScreen #detail-title { text-style: bold; padding: 0 1; }
    ResponseDetailScreen TextArea { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="testqueries.detail.close"),
        Binding("y", "copy", "Copy JSON", id="testqueries.detail.copy"),
    ]

    def __init__(self, title: str, document: Any) -> None:
        super().__init__()
        self.title_text = title
        self.text = json.dumps(document, indent=2, ensure_ascii=False, default=str)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="detail-title")
            yield TextArea(self.text, language="json", read_only=True, id="detail-json")
            yield KeyFooter()

    def action_copy(self) -> None:
        copy_text(self.app, self.text, "response JSON")

    def action_close(self) -> None:
        self.dismiss(None)


class TestQueriesScreen(ContextToasts, Screen[None]):
    """Test queries for one deployment: pick the endpoint, run stored or edited queries, read results."""

    __test__ = False  # not a pytest class, despite the name

    DEFAULT_CSS = """
    TestQueriesScreen #tq-header { text-style: bold; padding: 0 1; }
    TestQueriesScreen #tq-controls { height: auto; padding: 0 1; }
    TestQueriesScreen #tq-controls Select { width: 1fr; min-width: 24; max-width: 50; }
    TestQueriesScreen #tq-controls Button { margin-left: 1; min-width: 8; }
    TestQueriesScreen #tq-adapt { display: none; }
    TestQueriesScreen #tq-controls.-through #tq-adapt { display: block; }
    TestQueriesScreen #tq-editor { height: 12; }
    TestQueriesScreen #tq-status { padding: 0 1; height: auto; }
    TestQueriesScreen #tq-results { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "close", "Back", id="testqueries.close"),
        Binding("r", "run_stored", "Run stored", id="testqueries.run_stored"),
        Binding("ctrl+r", "run_edited", "Run edited JSON", priority=True, id="testqueries.run_edited"),
        Binding("ctrl+t", "toggle_route", "Through deployer", id="testqueries.through_deployer"),
        Binding("a", "toggle_adapt", "Adapt query", show=False, id="testqueries.adapt",
                tooltip="Through the deployer: adapt the queries to the infra type (adaptQueryForInfraType)"),
        Binding("y", "copy_response", "Copy response", id="testqueries.copy"),
    ]

    def __init__(self, client: Any, deployment_id: str, *, endpoint_id: str | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__()
        self.client = client
        self.deployment_id = deployment_id
        self.initial_endpoint = endpoint_id
        self.clock = clock
        self.endpoints: list[dict] = []
        self.entries: list[Any] = []
        self.version = ""
        self._autofilled = ""
        self.loaded = False
        self._run_when_loaded = False  # `r` came before the endpoints: run once they are loaded

    def compose(self) -> ComposeResult:
        yield Label(f"Test queries — deployment {self.deployment_id}", id="tq-header")
        with Horizontal(id="tq-controls"):
            yield Select([], prompt="loading endpoints…", id="tq-endpoint")
            yield Checkbox("Via deployer (^t)", id="tq-through")
            yield Checkbox("Adapt (a)", value=True, id="tq-adapt",
                           tooltip="adaptQueryForInfraType, sent with queries through the deployer")
            yield Button("Run (r)", id="tq-run-stored", variant="primary")
            yield Button("Run JSON (^r)", id="tq-run-edited")
        yield TextArea("[]", language="json", id="tq-editor")
        yield Static("Loading the deployment…", id="tq-status")
        table: DataTable = DataTable(id="tq-results", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "status", "response", "latency", "version")
        yield table
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    @property
    def status(self) -> Static:
        return self.query_one("#tq-status", Static)

    @work(exclusive=True, group="testqueries-load")
    async def load(self) -> None:
        try:
            light = await self.client.get_deployment(self.deployment_id)
        except DeployerError as exc:
            self._run_when_loaded = False
            self.status.update(f"[red]Could not read {self.deployment_id}:[/red] {escape(error_text(exc))}")
            return
        try:
            heavy = await self.client.get_deployment_status(self.deployment_id)
        except DeployerError:
            heavy = None  # the light status still lists the endpoints; stored queries come from the server
        self.endpoints = readers.deployed_endpoints(light, heavy)
        self.version = readers.mapping_summary(readers.deployment_basic(light).get("generationsMapping"))
        serving = heavy.get("version") if isinstance(heavy, dict) else None
        # Out of sync: the saved mapping is not what the nodes answer with; say both.
        shown = self.version if not serving or serving == self.version else f"saved {self.version}, serving {serving}"
        self.query_one("#tq-header", Label).update(f"Test queries — deployment {self.deployment_id} ({shown})")
        select = self.query_one("#tq-endpoint", Select)
        select.set_options([(f"{e['id']} ({e.get('type', '?')})", str(e["id"])) for e in self.endpoints])
        if not self.endpoints:
            select.prompt = "no endpoint deployed"
            self.status.update("This deployment serves no endpoint yet: run an update first.")
            return
        ids = [str(e["id"]) for e in self.endpoints]
        select.prompt = "pick an endpoint"
        select.value = self.initial_endpoint if self.initial_endpoint in ids else ids[0]
        self._fill_editor()
        self.status.update(f"{len(self.endpoints)} endpoint(s). r runs the stored test queries; "
                           "ctrl+r runs the JSON above.")
        self.loaded = True
        if self._run_when_loaded:
            self._run_when_loaded = False
            self.action_run_stored()

    def _endpoint(self) -> dict | None:
        select = self.query_one("#tq-endpoint", Select)
        if select.is_blank():
            return None
        return next((e for e in self.endpoints if str(e["id"]) == str(select.value)), None)

    def _stored(self) -> list[dict]:
        endpoint = self._endpoint() or {}
        return [q for q in endpoint.get("testQueries") or [] if isinstance(q, dict)]

    def _fill_editor(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None:
            return
        editor = self.query_one("#tq-editor", TextArea)
        if editor.text not in ("[]", self._autofilled):
            return  # never replace a draft the user edited
        queries = self._stored() or query_template(str(endpoint.get("type") or ""))
        self._autofilled = editor.text = json.dumps(queries, indent=2)

    @on(Select.Changed, "#tq-endpoint")
    def _endpoint_changed(self) -> None:
        self._fill_editor()

    @on(Checkbox.Changed, "#tq-through")
    def _route_changed(self, event: Checkbox.Changed) -> None:
        # adaptQueryForInfraType goes only with queries through the deployer: offered only then.
        self.query_one("#tq-controls").set_class(event.value, "-through")

    def action_toggle_adapt(self) -> None:
        box = self.query_one("#tq-adapt", Checkbox)
        box.value = not box.value

    def action_toggle_route(self) -> None:
        box = self.query_one("#tq-through", Checkbox)
        box.value = not box.value

    @on(Button.Pressed, "#tq-run-stored")
    def action_run_stored(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None and not self.loaded:
            # Pressed right after opening: the endpoints are still loading. Not a lost key: run once loaded.
            self._run_when_loaded = True
            self.status.update("Loading the deployment… the stored test queries run once it is loaded.")
            return
        if endpoint is None:
            self.status.update("[red]Pick an endpoint first[/red]")
            return
        through = self.query_one("#tq-through", Checkbox).value
        if through:
            stored = self._stored()
            if not stored:
                self.status.update("[red]This version has no stored test queries for "
                                   f"{endpoint['id']}: edit some above and press ctrl+r[/red]")
                return
            self.run(str(endpoint["id"]), stored, through=True)
        else:
            self.run(str(endpoint["id"]), None, through=False)

    @on(Button.Pressed, "#tq-run-edited")
    def action_run_edited(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None:
            self.status.update("[red]Pick an endpoint first[/red]")
            return
        try:
            queries = parse_queries(self.query_one("#tq-editor", TextArea).text)
        except ValueError as exc:
            self.status.update(f"[red]{escape(str(exc))}[/red] (your text is kept)")
            return
        self.run(str(endpoint["id"]), queries, through=self.query_one("#tq-through", Checkbox).value)

    @work(exclusive=True, group="testqueries-run")
    async def run(self, endpoint_id: str, queries: list[dict] | None, *, through: bool) -> None:
        route = "through the deployer" if through else "test queries"
        what = "stored queries" if queries is None else f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'}"
        self.status.update(f"Running {what} on {endpoint_id} ({route})…")
        started = self.clock()
        try:
            if through:
                result = await self.client.run_queries(self.deployment_id, queries or [], endpoint_id=endpoint_id,
                                                       adapt=self.query_one("#tq-adapt", Checkbox).value)
            else:
                result = await self.client.run_test_queries(self.deployment_id, endpoint_id=endpoint_id,
                                                            test_queries=queries)
        except DeployerError as exc:
            hint = ""
            if through and exc.status in (401, 403):
                hint = ("\nQuerying through the deployer needs a group authorisation (queryThroughDeployer) "
                        "on this deployment.")
            self.status.update(f"[red]Refused:[/red] {escape(error_text(exc))}{hint}")
            return
        elapsed = (self.clock() - started) * 1000
        entries = result_entries(result)
        self.show_results(entries, endpoint_id, elapsed)
        await self._record(endpoint_id, entries, elapsed)

    async def _record(self, endpoint_id: str, entries: list[Any], elapsed_ms: float) -> None:
        """Every run goes into the deployer's latency log (the deployment screen's trend): the node's own
        timing when the answer carries it, else an equal share of the round trip."""
        trends = LatencyTrends.of(self.client)
        if trends is None or not entries:
            return
        share = elapsed_ms / len(entries)
        answers = []
        for entry in entries:
            status, _summary, latency = summarize(entry)
            version = answering_version(entry)
            answers.append(Answer(None if version == NOT_REPORTED else version,
                                  latency if latency is not None else share, status != "ERROR"))
        try:
            await trends.record_test_queries_async(self.deployment_id, endpoint_id, answers)
        except OSError as exc:  # a read-only home must not spoil the results shown
            self.app.notify(f"Could not record the latencies: {exc}", severity="warning")

    def show_results(self, entries: list[Any], endpoint_id: str, elapsed_ms: float) -> None:
        self.entries = entries
        table = self.query_one("#tq-results", DataTable)
        table.clear()
        counts: dict[str, int] = {}
        for i, entry in enumerate(entries, 1):
            status, summary, latency = summarize(entry)
            counts[status] = counts.get(status, 0) + 1
            style = {"OK": "green", "ERROR": "bold red", "IGNORED": "dark_orange"}.get(status, "")
            version = answering_version(entry)
            table.add_row(str(i), f"[{style}]{status}[/{style}]" if style else status, summary,
                          f"{latency:.1f} ms" if latency is not None else "-",
                          f"[dim]{version}[/dim]" if version == NOT_REPORTED else version, key=str(i))
        parts = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no result"
        self.status.update(f"{endpoint_id}: {len(entries)} answer(s) — {parts} — round trip {elapsed_ms:.0f} ms. "
                           "enter: full response")
        if entries:
            table.focus()

    @on(DataTable.RowSelected, "#tq-results")
    def _open(self, event: DataTable.RowSelected) -> None:
        index = int(str(event.row_key.value)) - 1
        if 0 <= index < len(self.entries):
            status = summarize(self.entries[index])[0]
            self.app.push_screen(ResponseDetailScreen(f"Response {index + 1} — {status}", self.entries[index]))

    def action_copy_response(self) -> None:
        table = self.query_one("#tq-results", DataTable)
        if not self.entries or table.cursor_row is None or table.cursor_row >= len(self.entries):
            self.notify("No response to copy yet", severity="warning")
            return
        text = json.dumps(self.entries[table.cursor_row], indent=2, default=str)
        copy_text(self.app, text, f"response {table.cursor_row + 1}")

    def action_close(self) -> None:
        self.dismiss(None)
