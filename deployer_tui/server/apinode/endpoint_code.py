"""What a worker process runs for each endpoint type (imported only inside worker processes).

Every handler is built once per worker from the endpoint's config and its generation folder,
then called once per query with a plain dict; it returns JSON-ready data or raises. A
`QueryError` is the caller's fault (answered with its status, 400 by default); any other
exception is the endpoint's fault (500 with the Python error message).
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import math
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Any]


class QueryError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def to_json(value: Any) -> Any:
    """Make numpy/pandas values and NaN JSON-ready (NaN and infinities become null)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas Series
        return to_json(value.tolist())
    if hasattr(value, "item"):
        return to_json(value.item())
    raise TypeError(f"a value of type {type(value).__name__} is not JSON-serialisable")


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, numpy NaN, pandas NA-like
    except (TypeError, ValueError):
        return False


def folder_path(gen_dir: Path, ref: str | None) -> str | None:
    """Where a bundled managed folder referenced by the config lives inside the generation."""
    if not ref:
        return None
    rel = ref if ref.startswith("managed_folders/") else f"managed_folders/{ref}"
    path = (gen_dir / rel).resolve()
    if gen_dir.resolve() not in path.parents:
        raise ValueError(f"managed folder reference {ref!r} points outside the package")
    return str(path)


def load_module(gen_dir: Path, endpoint_id: str, preset: dict[str, Any]) -> Any:
    """Load endpoint-<id>/code.py as a fresh module, with `preset` globals (e.g. `folders`) defined first."""
    ep_dir = gen_dir / f"endpoint-{endpoint_id}"
    lib = ep_dir / "lib"
    extra = [str(ep_dir)]
    if lib.is_dir():  # DSS copies project and instance libraries here (lib/000-project, lib/999-global)
        extra += [str(p) for p in sorted(lib.iterdir()) if p.is_dir()]
    sys.path[:0] = extra
    spec = importlib.util.spec_from_file_location("endpoint_code_module", ep_dir / "code.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(preset)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- PY_FUNCTION


def python_function(endpoint: dict[str, Any], gen_dir: Path, ctx: dict[str, Any]) -> Handler:
    folders = [folder_path(gen_dir, ref) for ref in endpoint.get("managedFolderRefs") or []]
    module = load_module(gen_dir, endpoint["id"], {"folders": folders})
    name = endpoint.get("userFunctionName")
    functions = {n: f for n, f in vars(module).items()
                 if inspect.isfunction(f) and f.__module__ == module.__name__}
    named = getattr(module, name, None) if name else None
    if callable(named):  # may also be a function code.py imports from its libraries
        function = named
    elif len(functions) == 1:
        function = next(iter(functions.values()))
    elif name:
        raise ValueError(f"code.py defines no function named {name!r} (userFunctionName); "
                         f"it defines: {', '.join(sorted(functions)) or 'none'}")
    else:
        raise ValueError(f"code.py defines {len(functions)} functions ({', '.join(sorted(functions))}); "
                         "set userFunctionName in config.json to say which one to call")

    signature = inspect.signature(function)

    def run(message: dict[str, Any]) -> Any:
        args = message["args"]
        try:
            return function(**args)
        except TypeError:
            # Checked only on failure (binding costs as much as a trivial function): arguments that do not
            # bind are the caller's error; a TypeError raised inside the function is the code's.
            try:
                signature.bind(**args)
            except TypeError as exc:
                raise QueryError(f"Arguments do not match {function.__name__}{signature}: {exc}") from None
            raise

    return run


# ---------------------------------------------------------------- CUSTOM_PREDICTION


def custom_prediction(endpoint: dict[str, Any], gen_dir: Path, ctx: dict[str, Any]) -> Handler:
    import pandas as pd
    from dataiku.apinode.predict.predictor import ClassificationPredictor, RegressionPredictor

    module = load_module(gen_dir, endpoint["id"], {})
    bases = (ClassificationPredictor, RegressionPredictor)
    classes = [c for c in vars(module).values()
               if inspect.isclass(c) and issubclass(c, bases) and c not in bases]
    own = [c for c in classes if c.__module__ == module.__name__]
    classes = own or classes  # a class defined in code.py wins over ones it imports
    if len(classes) != 1:
        raise ValueError(f"code.py must define exactly one subclass of ClassificationPredictor or "
                         f"RegressionPredictor; found {len(classes)}")
    predictor = classes[0](folder_path(gen_dir, endpoint.get("managedFolderRef")))
    model_type = endpoint.get("modelType") or (
        "CLASSIFICATION" if isinstance(predictor, ClassificationPredictor) else "REGRESSION")
    classification = model_type == "CLASSIFICATION"
    # Query enrichment (DSS `enrichMapping`): features looked up in bundled CSVs before scoring.
    enrichments = [Lookup(spec, gen_dir) for spec in endpoint.get("enrichMapping") or []]
    post_enrich = bool(endpoint.get("returnPostEnrichData"))

    def predict(message: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [dict(row) for row in message["items"]]
        dropped: dict[int, str] = {}
        for index, row in enumerate(rows):
            for lookup in enrichments:
                reason = lookup.enrich(row)
                if reason:
                    dropped[index] = reason
                    break
        kept = [i for i in range(len(rows)) if i not in dropped]
        scored = score([rows[i] for i in kept]) if kept else []
        out: list[dict[str, Any]] = [{"ignored": True, "ignoreReason": dropped.get(i)} for i in range(len(rows))]
        for index, item in zip(kept, scored, strict=True):
            if post_enrich:
                item["postEnrich"] = to_json(rows[index])
            out[index] = item
        return out

    def score(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
        frame.index = range(len(rows))
        returned = predictor.predict(frame)
        probas = keys = None
        if isinstance(returned, tuple):
            if len(returned) == 2 and classification:
                predictions, probas = returned
            elif len(returned) == 2:
                predictions, keys = returned
            elif len(returned) == 3 and classification:
                predictions, probas, keys = returned
            else:
                raise ValueError(f"predict returned a tuple of {len(returned)} values; a "
                                 f"{model_type.lower()} predictor returns the forms of the DSS contract")
        else:
            predictions = returned
        predictions = list(predictions)
        if len(predictions) != len(rows):
            raise ValueError(f"predict returned {len(predictions)} predictions for {len(rows)} rows")
        if probas is not None and not isinstance(probas, pd.DataFrame):
            probas = pd.DataFrame(probas)
        if probas is not None and len(probas) != len(rows):
            raise ValueError(f"predict returned {len(probas)} rows of probabilities for {len(rows)} rows")
        if keys is not None and len(keys) != len(rows):
            raise ValueError(f"predict returned {len(keys)} custom key dicts for {len(rows)} rows")
        items = []
        for i, prediction in enumerate(predictions):
            if is_missing(prediction):
                items.append({"ignored": True, "ignoreReason": "IGNORED_BY_MODEL"})
                continue
            item: dict[str, Any] = {"prediction": to_json(prediction)}
            if probas is not None:
                row = probas.iloc[i]
                item["probas"] = {str(k): to_json(float(v)) for k, v in row.items() if not is_missing(v)}
            if keys is not None:
                item["customKeys"] = to_json(keys[i])
            item["ignored"] = False
            items.append(item)
        return items

    return predict


# ---------------------------------------------------------------- DATASETS_LOOKUP


def cell(text: str) -> Any:
    """CSV cells become JSON primitives: empty → null, numbers → numbers, else the string."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
        return number if math.isfinite(number) else text
    except ValueError:
        return text


def match_key(value: Any) -> str:
    """Lookup keys compare by text, with 2, 2.0 and "2" all equal."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Lookup:
    """One `PredictionFeaturesLeftJoinMapping` over a bundled CSV dataset."""

    def __init__(self, spec: dict[str, Any], gen_dir: Path) -> None:
        resource = spec.get("lookupResource") or {}
        resource_id = resource.get("resourceId") if isinstance(resource, dict) else None
        if not resource_id:
            raise ValueError("each lookup needs lookupResource.resourceId")
        folder = gen_dir / "datasets" / resource_id
        files = sorted(folder.glob("*.csv"))
        if not files:
            raise ValueError(f"lookup dataset {resource_id!r} has no CSV file under datasets/{resource_id}/")
        self.on = [(o["inputLookupKey"], o["resourceLookupCol"]) for o in spec.get("on") or []]
        if not self.on:
            raise ValueError(f"lookup on {resource_id!r} needs 'on': [{{inputLookupKey, resourceLookupCol}}]")
        self.missing = spec.get("missingLookupKeyBehavior") or "IGNORE"
        self.not_found = spec.get("notFoundBehavior") or "IGNORE"
        self.multimatch = spec.get("multimatchBehavior") or "KEEP_FIRST"
        self.index: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        columns: list[str] = []
        for path in files:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                columns = columns or list(reader.fieldnames or [])
                for raw in reader:
                    row = {k: cell(v or "") for k, v in raw.items() if k is not None}
                    key = tuple(match_key(row.get(col)) for _, col in self.on)
                    self.index.setdefault(key, []).append(row)
        lookup_cols = {col for _, col in self.on}
        for _, col in self.on:
            if col not in columns:
                raise ValueError(f"lookup dataset {resource_id!r} has no column {col!r}")
        mapping = spec.get("columnsMapping") or {c: c for c in columns if c not in lookup_cols}
        self.columns = list(mapping.items())

    def enrich(self, data: dict[str, Any]) -> str | None:
        """Add looked-up columns to `data`; return an ignoreReason when the row is dropped."""
        values = [data.get(key) for key, _ in self.on]
        if any(is_missing(v) for v in values):
            return self._apply(self.missing, "MISSING_LOOKUP_KEY", "the lookup key is missing")
        rows = self.index.get(tuple(match_key(v) for v in values), [])
        if not rows:
            reason = self._apply(self.not_found, "NO_LOOKUP_MATCH", f"no row matches {values}")
            if reason is None:
                for _, feature in self.columns:
                    data.setdefault(feature, None)
            return reason
        if len(rows) > 1 and self.multimatch != "KEEP_FIRST":
            return self._apply(self.multimatch, "MULTIPLE_LOOKUP_MATCHES", f"{len(rows)} rows match {values}")
        for column, feature in self.columns:
            data[feature] = rows[0].get(column)
        return None

    @staticmethod
    def _apply(behavior: str, reason: str, what: str) -> str | None:
        if behavior == "ERROR":
            raise QueryError(f"Lookup failed: {what}")
        return reason if behavior == "DROP_ROW" else None


def datasets_lookup(endpoint: dict[str, Any], gen_dir: Path, ctx: dict[str, Any]) -> Handler:
    lookups = [Lookup(spec, gen_dir) for spec in endpoint.get("lookups") or []]
    if not lookups:
        raise ValueError("a DATASETS_LOOKUP endpoint needs 'lookups' in config.json")

    def lookup(message: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for data in message["items"]:
            data = dict(data)
            reason = None
            for one in lookups:
                reason = one.enrich(data)
                if reason:
                    break
            results.append({"data": data, "ignored": True, "ignoreReason": reason} if reason
                           else {"data": data, "ignored": False})
        return results

    return lookup


# ---------------------------------------------------------------- SQL_QUERY


def _sql_type(values: list[Any]) -> str:
    for value in values:
        if isinstance(value, bool | int):
            return "bigint"
        if isinstance(value, float):
            return "double"
        if isinstance(value, bytes):
            return "blob"
        if value is not None:
            return "varchar"
    return "varchar"


def sql_query(endpoint: dict[str, Any], gen_dir: Path, ctx: dict[str, Any]) -> Handler:
    path = ctx.get("sqlitePath")
    if not path:
        raise ValueError(ctx.get("sqliteError") or "no SQLite database is configured for this endpoint")
    queries = endpoint["queries"]
    writes = any(q.get("postCommit") for q in queries)
    if not Path(path).is_file():
        raise ValueError(f"the SQLite database of connection {endpoint.get('connection')!r} does not exist")
    uri = Path(path).resolve().as_uri() + ("" if writes else "?mode=ro")
    connection = sqlite3.connect(uri, uri=True, isolation_level="DEFERRED")
    # The handler is built before the worker is confined (worker_main.NO_USER_CODE): open the files
    # now, since the confined worker may not open new ones beside the database.
    connection.execute("select count(*) from sqlite_master").fetchone()
    if writes and str(connection.execute("pragma journal_mode").fetchone()[0]).lower() != "wal":
        # A rollback journal is a new file in the database's folder for each write; kept in memory
        # instead (docs/security.md says what that costs, and that WAL mode keeps full safety).
        connection.execute("pragma journal_mode=memory")

    def run(message: dict[str, Any]) -> list[dict[str, Any]]:
        params = message["params"]
        results = []
        try:
            for query in queries:
                args = []
                for param in query.get("inputParameters") or []:
                    name = param["name"] if isinstance(param, dict) else param
                    if name not in params:
                        raise QueryError(f"Missing parameter {name!r} (the query needs: "
                                         f"{', '.join(p['name'] if isinstance(p, dict) else p for p in query['inputParameters'])})")
                    value = params[name]
                    args.append(value if value is None or isinstance(value, str | int | float) else str(value))
                try:
                    cursor = connection.execute(query["query"], args)
                except sqlite3.ProgrammingError as exc:
                    raise QueryError(f"SQL parameters do not fit the query: {exc}") from None
                if cursor.description is None:
                    results.append({"columns": [], "rows": [], "updatedRows": max(cursor.rowcount, 0)})
                else:
                    limit = int(query.get("maxResults") or 0)
                    rows = cursor.fetchmany(limit) if limit > 0 else cursor.fetchall()
                    names = [d[0] for d in cursor.description]
                    columns = [{"name": n, "type": _sql_type([r[i] for r in rows])} for i, n in enumerate(names)]
                    results.append({"columns": columns, "rows": [to_json(list(r)) for r in rows],
                                    "updatedRows": 0})
                if query.get("postCommit"):
                    connection.commit()
        finally:
            if connection.in_transaction:
                connection.rollback()
        return results

    return run


BUILDERS: dict[str, Callable[[dict[str, Any], Path, dict[str, Any]], Handler]] = {
    "PY_FUNCTION": python_function,
    "CUSTOM_PREDICTION": custom_prediction,
    "DATASETS_LOOKUP": datasets_lookup,
    "SQL_QUERY": sql_query,
}
