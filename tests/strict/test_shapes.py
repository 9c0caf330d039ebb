"""The strict shapes themselves (server/deployer/strict.py), on answers written by hand."""

from __future__ import annotations

from deployer_tui.server.deployer import strict


def test_plain_lines() -> None:
    assert strict.plain_line("[2026/01/01-10:00:00.000] [INFO] [http://127.0.0.1:5/] imported v1") == \
        "[2026/01/01-10:00:00.000] [INFO] API node http://127.0.0.1:5/: imported v1"
    assert strict.plain_line("[t] [INFO] Updating deployment d") == "[t] [INFO] Updating deployment d"


def test_update_result_keeps_infomessages_only() -> None:
    ours = {"nbOKNodes": 1, "nbNOKNodes": 1, "messages": [{"severity": "ERROR"}], "maxSeverity": "ERROR",
            "anyMessage": True, "success": False, "warning": False, "error": True, "fatal": False}
    assert strict.update_result(ours) == {"messages": [{"severity": "ERROR"}], "maxSeverity": "ERROR",
                                          "anyMessage": True}


def test_futures_and_statuses() -> None:
    peek = {"jobId": "j", "alive": True, "log": {"lines": ["[t] [INFO] [http://n] x"]},
            "payload": {"action": "update-deployment", "targets": [{"objectId": "d"}], "displayName": "u"}}
    assert strict.future_body(peek, peek=True) == {"jobId": "j", "alive": True,
                                                   "payload": {"action": "update-deployment", "displayName": "u"}}
    claim = strict.future_body({**peek, "result": {"nbOKNodes": 1, "maxSeverity": "SUCCESS"}}, peek=False)
    assert claim["log"]["lines"] == ["[t] [INFO] API node http://n: x"] and claim["result"] == {"maxSeverity": "SUCCESS"}
    heavy = {"health": "HEALTHY", "version": "v1", "apiNodes": [{"url": "http://n", "health": "HEALTHY"}],
             "endpoints": []}
    assert strict.heavy_status(heavy) == {"health": "HEALTHY", "apiNodes": [{"url": "http://n"}], "endpoints": []}
