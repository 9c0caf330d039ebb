"""Fixtures for the local API node tests: package folders written here, built with core.package, and
real `deployer-tui apinode` processes (tests/servers.py) driven with the official dataikuapi clients."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dataikuapi
import httpx
import pytest

from deployer_tui.core.package import build_package
from tests.servers import Proc, apinode

# One client for the whole run: httpx.post() builds a new client (and SSL context) per call, ~50 ms each.
http = httpx.Client(timeout=60)

ADMIN_KEY = "node-admin-key-for-tests"
QUERY_KEY = "query-key-for-tests"

FUNCTIONS = {
    "hello": 'VERSION = "{version}"\n\ndef hello(name="world"):\n    print("hello called for", name)\n'
             '    return {{"greeting": "hello " + name, "version": VERSION}}\n',
    "boom": 'def boom():\n    raise ValueError("the endpoint failed on purpose")\n',
    "hang": 'import time\n\ndef hang(seconds=60):\n    time.sleep(seconds)\n    return "woke up"\n',
    "die": 'import os\n\ndef die(really=True):\n    if really:\n        os._exit(3)\n    return "alive"\n',
    # Writes `marker` when it starts, then sleeps, or waits until the test creates `release`.
    "slow_version": 'import pathlib, time\nVERSION = "{version}"\n\n'
                    'def slow_version(marker, seconds=1.0, release=None):\n'
                    '    pathlib.Path(marker).write_text("started")\n'
                    '    deadline = time.monotonic() + (30 if release else seconds)\n'
                    '    while time.monotonic() < deadline and not (release and pathlib.Path(release).exists()):\n'
                    '        time.sleep(0.01)\n'
                    '    return VERSION\n',
    "unserialisable": 'def unserialisable():\n    return {{"when": object()}}\n',
    "read_folder": 'def read_folder():\n    import pathlib\n    return pathlib.Path(folders[0], "greeting.txt").read_text()\n',
    "custom_status": 'from dataiku.apinode.utils import DkuCustomApiException\n\n'
                     'def custom_status():\n    raise DkuCustomApiException("no such customer", 404)\n',
}

PREDICTOR = '''
import pandas as pd
from dataiku.apinode.predict.predictor import ClassificationPredictor

VERSION = "{version}"


class Threshold(ClassificationPredictor):
    def predict(self, df):
        x = pd.to_numeric(df["x"], errors="coerce")
        labels = pd.Series(["big" if v > 10 else "small" for v in x.fillna(0)])
        labels[x.isna()] = None
        p_big = (x.clip(0, 20) / 20).fillna(0.5)
        probas = pd.DataFrame({{"big": p_big, "small": 1 - p_big}})
        keys = [{{"version": VERSION}} for _ in range(len(df))]
        return labels, probas, keys
'''

REGRESSOR = '''
from dataiku.apinode.predict.predictor import RegressionPredictor


class Double(RegressionPredictor):
    def predict(self, df):
        return df["x"] * 2
'''


def write_package(folder: Path, version: str, *, public: bool = False, extra_endpoints: list[dict] | None = None,
                  functions: tuple[str, ...] = tuple(FUNCTIONS), only_functions: bool = False,
                  predictors: tuple[str, ...] = ("classify", "double"), data: bool = True) -> Path:
    """A package folder with PY_FUNCTION, CUSTOM_PREDICTION (both model types), DATASETS_LOOKUP and SQL_QUERY.

    `only_functions` leaves out all but the PY_FUNCTION endpoints, `predictors` picks the prediction endpoints
    and `data=False` leaves out lookup and SQL: fewer (and fewer pandas) workers to start.
    """
    folder.mkdir(parents=True)
    endpoints: list[dict[str, Any]] = []
    for name in functions:
        (folder / f"endpoint-{name}").mkdir()
        (folder / f"endpoint-{name}" / "code.py").write_text(FUNCTIONS[name].format(version=version))
        endpoints.append({"id": name, "type": "PY_FUNCTION", "userFunctionName": name})
        if name == "read_folder":  # a bundled managed folder, passed to the code in the global `folders`
            (folder / "managed_folders" / "PROJ.notes").mkdir(parents=True)
            (folder / "managed_folders" / "PROJ.notes" / "greeting.txt").write_text(f"bundled with {version}")
            endpoints[-1]["managedFolderRefs"] = ["managed_folders/PROJ.notes"]
    if only_functions:
        return _finish(folder, version, public, endpoints + (extra_endpoints or []))
    for ep_id, code, model_type in (("classify", PREDICTOR, "CLASSIFICATION"), ("double", REGRESSOR, "REGRESSION")):
        if ep_id not in predictors:
            continue
        (folder / f"endpoint-{ep_id}").mkdir()
        (folder / f"endpoint-{ep_id}" / "code.py").write_text(code.format(version=version))
        endpoints.append({"id": ep_id, "type": "CUSTOM_PREDICTION", "modelType": model_type})
    if not data:
        return _finish(folder, version, public, endpoints + (extra_endpoints or []))
    (folder / "datasets" / "customers").mkdir(parents=True)
    (folder / "datasets" / "customers" / "customers.csv").write_text(
        "email,segment,ltv\na@b.c,gold,1520.5\nd@e.f,silver,99\nd@e.f,bronze,1\n")
    for endpoint in endpoints:
        if endpoint["id"] == "double":  # x comes from the customers CSV when the query gives an email
            endpoint["enrichMapping"] = [{
                "lookupResource": {"resourceId": "customers"}, "on": [{"inputLookupKey": "email",
                                                                       "resourceLookupCol": "email"}],
                "columnsMapping": {"ltv": "x"}, "notFoundBehavior": "DROP_ROW", "missingLookupKeyBehavior": "IGNORE"}]
            endpoint["returnPostEnrichData"] = True
    endpoints.append({"id": "customer", "type": "DATASETS_LOOKUP", "lookups": [{
        "lookupResource": {"resourceId": "customers", "packagingType": "BUNDLED_INTERNAL"},
        "on": [{"inputLookupKey": "email", "resourceLookupCol": "email"}],
        "columnsMapping": {"segment": "segment", "ltv": "lifetime_value"},
        "notFoundBehavior": "DROP_ROW", "multimatchBehavior": "KEEP_FIRST"}]})
    endpoints.append({"id": "orders", "type": "SQL_QUERY", "connection": "shop",
                      "queries": [{"query": "select id, item, price from orders where customer = ? order by id",
                                   "inputParameters": [{"name": "customer"}], "maxResults": 0}]})
    return _finish(folder, version, public, endpoints + (extra_endpoints or []))


def _finish(folder: Path, version: str, public: bool, endpoints: list[dict[str, Any]]) -> Path:
    config = {"publicAccess": public, "endpoints": endpoints,
              "authRealm": {"queryKeys": [{"key": QUERY_KEY, "label": "tests"}]}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tag.json").write_text(json.dumps({"generationId": version}))
    return folder


def make_shop_db(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("create table orders (id integer primary key, customer text, item text, price real)")
        db.executemany("insert into orders (customer, item, price) values (?, ?, ?)",
                       [("ada", "book", 12.5), ("ada", "pen", 1.0), ("bob", "lamp", 30.0)])


def exchange_of(root: Path) -> Path:
    """The folder beside a node's data dir that its endpoint code may write (config/server.json endpointAccess)."""
    return root.parent / f"{root.name}-exchange"


def node_dir(root: Path) -> Path:
    """A node data dir whose config/server.json maps connection 'shop' to a SQLite file, logs queries, and
    lets endpoint code write to `exchange_of(root)` (where slow test endpoints leave their markers)."""
    (root / "config").mkdir(parents=True)
    exchange_of(root).mkdir(mode=0o777)
    exchange_of(root).chmod(0o777)  # workers of a root node run as an unprivileged user
    make_shop_db(root / "shop.sqlite")
    (root / "config" / "server.json").write_text(json.dumps({
        "remappedConnections": {"shop": "shop.sqlite"}, "auditLog": {"logQueries": True, "logInputs": True},
        "endpointAccess": {"readWrite": [str(exchange_of(root))]}}))
    return root


@pytest.fixture(scope="package")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Zips v1 and v2 of the test service (v2 differs by its VERSION constants), f1/f2 with its functions only,
    m1/m2 with `hello` only, h1/h2 with `hello` and `classify`, and a public one."""
    root = tmp_path_factory.mktemp("packages")
    out = {}
    for version in ("v1", "v2"):
        src = write_package(root / f"src-{version}", version)
        out[version], _ = build_package(src, root / f"{version}.zip")
    src = write_package(root / "src-public", "p1", public=True, functions=("hello",), only_functions=True)
    out["public"], _ = build_package(src, root / "public.zip")
    for version in ("f1", "f2"):
        src = write_package(root / f"src-{version}", version, only_functions=True)
        out[version], _ = build_package(src, root / f"{version}.zip")
    for version in ("m1", "m2"):  # the smallest: one function, one worker
        src = write_package(root / f"src-{version}", version, only_functions=True, functions=("hello",))
        out[version], _ = build_package(src, root / f"{version}.zip")
    for version in ("h1", "h2"):  # one prediction endpoint and one function: for dispatch tests
        src = write_package(root / f"src-{version}", version, functions=("hello",), predictors=("classify",),
                            data=False)
        out[version], _ = build_package(src, root / f"{version}.zip")
    return out


def deploy(admin: dataikuapi.APINodeAdminClient, service_id: str, zips: list[Path], mapping: Any = None) -> None:
    admin.create_service(service_id)
    service = admin.service(service_id)
    for path in zips:
        service.import_generation_from_archive(str(path))
    if mapping is not None:
        service.set_generations_mapping(mapping)


@pytest.fixture(scope="module")
def node_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return node_dir(tmp_path_factory.mktemp("node"))


@pytest.fixture(scope="module")
def node(node_root: Path) -> Iterator[Proc]:
    proc = apinode(node_root, ADMIN_KEY)
    yield proc
    proc.stop()


@pytest.fixture
def exchange(node_root: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh folder that the module node's endpoint code may write, for one test."""
    folder = exchange_of(node_root) / request.node.name
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    return folder


@pytest.fixture(scope="module")
def url(node: Proc) -> str:
    return node.url("apinode")


@pytest.fixture(scope="module")
def admin(url: str) -> dataikuapi.APINodeAdminClient:
    return dataikuapi.APINodeAdminClient(url, ADMIN_KEY)
