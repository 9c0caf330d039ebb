"""Pure parts: version skew, rollback targets, the journal file, the merged history."""

from __future__ import annotations

import stat

from deployer_tui.core import journal as journal_mod
from deployer_tui.core import skew
from deployer_tui.core.journal import HistoryRow, Journal, JournalRecord, merge_history
from deployer_tui.core.rollback import count_queries, mapping_key, rollback_target


def node(url: str, *versions: str, enabled: bool = True) -> dict:
    entries = [{"generation": v, "proba": 1 / len(versions)} for v in versions]
    return {"url": url, "enabled": enabled, "activeMapping": {"entries": entries} if versions else None,
            "health": "HEALTHY"}


def test_skew_names_the_odd_node_out() -> None:
    heavy = {"apiNodes": [node("http://a", "v2"), node("http://b", "v2"), node("http://c", "v1")]}
    assert skew.skew(heavy) == "version skew: http://a, http://b serve v2; http://c serves v1"


def test_a_node_missing_the_service_is_a_skew() -> None:
    heavy = {"apiNodes": [node("http://a", "v2"), node("http://b", enabled=False)]}
    assert skew.skew(heavy) == "version skew: http://a serves v2; http://b does not serve the service"


def test_no_skew_when_nodes_agree_or_nobody_serves_or_a_node_is_unknown() -> None:
    assert skew.skew({"apiNodes": [node("http://a", "v1", "v2"), node("http://b", "v2", "v1")]}) is None
    assert skew.skew({"apiNodes": [node("http://a", enabled=False), node("http://b", enabled=False)]}) is None
    unreachable = {"url": "http://b", "health": "ERROR", "error": "refused"}
    assert skew.skew({"apiNodes": [node("http://a", "v1"), unreachable]}) is None


def test_a_deployer_without_per_node_data_says_so_in_one_line() -> None:
    heavy = {"apiNodes": [{"url": "http://a"}, {"url": "http://b"}], "health": "HEALTHY"}
    assert skew.node_versions(heavy) is None and skew.skew(heavy) is None
    table = skew.matrix([("d1", heavy), ("d2", heavy)], ["http://a", "http://b"])
    assert not table.reported and table.note == skew.NO_NODE_DATA
    assert all(not row.cells for row in table.rows)


def test_matrix_cells_and_unknowns() -> None:
    table = skew.matrix([("d1", {"apiNodes": [node("http://a", "v1"), node("http://b", "v2")]}),
                         ("d2", RuntimeError("status failed"))], ["http://a/", "http://b"])
    assert table.nodes == ["http://a", "http://b"]
    assert [c.cell for c in table.rows[0].cells.values()] == ["v1", "v2"]
    assert [c.cell for c in table.rows[1].cells.values()] == [skew.UNKNOWN, skew.UNKNOWN]
    assert [r.deployment_id for r in table.skewed] == ["d1"]


def row(start: int, outcome: str, generation: str | None) -> HistoryRow:
    mapping = {"mode": "SINGLE_GENERATION", "generation": generation} if generation else None
    return HistoryRow(start, start + 5, outcome, mapping)


def test_rollback_target_is_the_newest_success_with_another_mapping() -> None:
    history = [row(5, "FAILED", "v1"), row(4, "SUCCESS", "v3"), row(3, "SUCCESS", None),
               row(2, "SUCCESS", "v2"), row(1, "SUCCESS", "v1")]
    current = {"mode": "SINGLE_GENERATION", "generation": "v3"}
    assert rollback_target(history, current).mapping["generation"] == "v2"
    assert rollback_target(history, current, "v1") == {"mode": "SINGLE_GENERATION", "generation": "v1"}
    assert rollback_target([row(1, "SUCCESS", "v3")], current) is None


def test_mapping_key_sees_splits_and_strategies() -> None:
    split = {"mode": "MULTI_GENERATION", "strategy": "HASH_BASED",
             "entries": [{"generation": "v1", "proba": 0.8}, {"generation": "v2", "proba": 0.2}]}
    assert mapping_key(split) != mapping_key({**split, "strategy": "RANDOM"})
    assert mapping_key({"mode": "SINGLE_GENERATION", "generation": "v1"}) == \
        mapping_key({"entries": [{"generation": "v1", "proba": 1}]})


def test_count_queries() -> None:
    assert count_queries({"responses": [{"response": {}}, {"error": {"errorType": "x"}}, {}]}) == (1, 2)
    assert count_queries(None) == (0, 0)


def test_journal_file_is_private_bounded_and_names_no_host(tmp_path) -> None:
    j = Journal("https://dss.example.com:11200/", tmp_path)
    assert "example" not in j.path.name
    assert Journal("https://dss.example.com:11200", tmp_path).path == j.path
    for i in range(journal_mod.MAX_PER_DEPLOYMENT + 7):
        j.write(JournalRecord("dep", 1000 + i, {"generation": f"v{i}"}, "update", "SUCCESS", 2000 + i))
    records = j.records("dep")
    assert len(records) == journal_mod.MAX_PER_DEPLOYMENT
    assert records[0].started == 1000 + journal_mod.MAX_PER_DEPLOYMENT + 6  # newest first, oldest dropped
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [j.path.name]  # no temporary file left behind
    # The same start again is the same update, finished now: replaced, not added.
    j.write(JournalRecord("dep", records[0].started, None, "rollback", "FAILED", 9))
    assert j.records("dep")[0].outcome == "FAILED" and len(j.records("dep")) == journal_mod.MAX_PER_DEPLOYMENT


def test_a_damaged_journal_reads_as_empty(tmp_path) -> None:
    j = Journal("http://x", tmp_path)
    j.path.write_text("{not json")
    assert j.records("dep") == []
    j.write(JournalRecord("dep", 1, None))
    assert len(j.records("dep")) == 1


def test_merge_history_matches_by_time_and_marks_journal_only_rows() -> None:
    server = [{"startTimestamp": 100_000, "endTimestamp": 101_000, "status": "SUCCESS", "type": "UPDATE"},
              {"startTimestamp": 50_000, "status": "FAILED", "requester": "ci",
               "deployedMapping": {"mode": "SINGLE_GENERATION", "generation": "v1"}}]
    mine = [JournalRecord("d", 99_500, {"mode": "SINGLE_GENERATION", "generation": "v2"}, "rollback", "SUCCESS",
                          101_500, "job1", server_start=100_000),
            JournalRecord("d", 10_000, {"mode": "SINGLE_GENERATION", "generation": "v0"}, "update", "SUCCESS",
                          12_000)]
    rows = merge_history(server, mine)
    assert [r.start for r in rows] == [100_000, 50_000, 10_000]
    assert rows[0].mapping["generation"] == "v2" and rows[0].kind == "rollback" and rows[0].in_journal
    assert not rows[0].journal_only and rows[0].duration_ms == 1000
    assert rows[1].mapping["generation"] == "v1" and rows[1].requester == "ci" and not rows[1].in_journal
    assert rows[2].journal_only and rows[2].duration_ms == 2000


def test_a_data_dir_from_before_the_record_extras_gets_the_column(tmp_path) -> None:
    import sqlite3

    from deployer_tui.server.deployer.database import Store

    data = tmp_path / "data"
    data.mkdir()
    old = sqlite3.connect(data / "deployer.db")
    old.execute("CREATE TABLE updates (deployment_id TEXT NOT NULL, start_ts INTEGER NOT NULL, type TEXT NOT NULL,"
                " status TEXT NOT NULL, requester TEXT NOT NULL, end_ts INTEGER, result TEXT,"
                " PRIMARY KEY (deployment_id, start_ts))")
    old.execute("INSERT INTO updates VALUES ('d', 1, 'UPDATE', 'SUCCESS', 'admin', 2, NULL)")
    old.commit()
    old.close()
    store = Store(data)
    try:
        assert store.get_update("d")["extras"] is None  # an old record: no extras, still read
        store.insert("deployments", {"id": "d"}, "admin")  # a new record needs its deployment
        ts = store.start_update("d", "UPDATE", "admin", {"reason": "ROLLBACK"})
        assert '"ROLLBACK"' in store.get_update("d", ts)["extras"]
    finally:
        store.close()
