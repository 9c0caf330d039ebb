"""The pure edits behind the settings helpers, and the editor's JSON validator."""

from __future__ import annotations

import copy
import json

import pytest

from deployer_tui.core import settings_edit as se

DEPLOYMENT = {
    "id": "fraud-on-dev",
    "publishedServiceId": "fraud",
    "infraId": "dev",
    "enabled": True,
    "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v1", "auditRoutingKey": "ab"},
    "someFutureKey": {"kept": [1, 2]},
}
INFRA = {
    "id": "dev",
    "type": "STATIC",
    "stage": "Development",
    "apiNodes": [{"url": "http://a:1", "adminAPIKey": "k1", "graphitePrefix": None}],
    "permissions": [{"group": "ops", "read": True, "deploy": False, "admin": False, "extra": "x"}],
}


# --- parse_json_with_position -----------------------------------------------------------------


def test_valid_json_parses() -> None:
    value, error = se.parse_json_with_position('{"a": [1, 2.5, null, true]}')
    assert error is None and value == {"a": [1, 2.5, None, True]}


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ('{\n  "a": 1,\n  "b": 2,\n}', 4, 1, "property name"),  # trailing comma
        ('{\n  "a": tru\n}', 2, 8, "Expecting value"),
        ('{"a": 1} x', 1, 10, "Extra data"),
        ("", 1, 1, "Expecting value"),
        ('{\n  "a": "unterminated\n}', 2, 21, "missing closing quote"),  # raw newline in a string
        ('{\n  "a": "unterminated', 2, 8, "Unterminated string"),
    ],
)
def test_syntax_errors_carry_line_and_column(text: str, line: int, column: int, words: str) -> None:
    value, error = se.parse_json_with_position(text)
    assert value is None
    assert (error.line, error.column) == (line, column)
    assert words in error.message
    assert str(error).startswith(f"line {line}, column {column}:")


def test_duplicate_key_is_refused_at_the_second_occurrence() -> None:
    text = '{\n  "x": {"a": 1},\n  "y": {"a": 2},\n  "x": 3\n}'
    value, error = se.parse_json_with_position(text)
    assert value is None
    assert (error.line, error.column) == (4, 3)
    assert '"x"' in error.message


def test_duplicate_key_inside_nested_object_is_located() -> None:
    text = '{"a": [{"k": 1}, {"k": 2, "s": "\\"k\\"", "k": 3}]}'
    _, error = se.parse_json_with_position(text)
    assert error is not None and error.line == 1
    assert text[error.column - 1 : error.column + 2] == '"k"'
    assert error.column - 1 == text.rindex('"k"')


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(word: str) -> None:
    text = '{\n  "s": "NaN in a string is fine",\n  "v": ' + word + "\n}"
    value, error = se.parse_json_with_position(text)
    assert value is None
    assert error.line == 3 and error.column == 8
    assert word in error.message


def test_parse_settings_requires_an_object() -> None:
    value, error = se.parse_settings("  [1, 2]")
    assert value is None and (error.line, error.column) == (1, 3) and "array" in error.message
    value, error = se.parse_settings('{"a": 1}')
    assert error is None and value == {"a": 1}


def test_dump_round_trips() -> None:
    assert json.loads(se.dump(DEPLOYMENT)) == DEPLOYMENT
    assert se.dump(DEPLOYMENT).endswith("}\n")


# --- deployments --------------------------------------------------------------------------------


def test_set_enabled_copies_and_keeps_everything_else() -> None:
    before = copy.deepcopy(DEPLOYMENT)
    out = se.set_enabled(DEPLOYMENT, False)
    assert before == DEPLOYMENT, "the input must not be mutated"
    assert out == {**DEPLOYMENT, "enabled": False}
    with pytest.raises(se.SettingsEditError):
        se.set_enabled(DEPLOYMENT, "no")  # type: ignore[arg-type]


def test_set_single_version_matches_the_official_client_and_keeps_audit_key() -> None:
    out = se.set_single_version(DEPLOYMENT, "v2", ["v1", "v2"])
    assert out["generationsMapping"] == {"mode": "SINGLE_GENERATION", "generation": "v2", "auditRoutingKey": "ab"}
    assert out["someFutureKey"] == {"kept": [1, 2]}
    with pytest.raises(se.SettingsEditError, match="Unknown version v9"):
        se.set_single_version(DEPLOYMENT, "v9", ["v1", "v2"])
    with pytest.raises(se.SettingsEditError):
        se.set_single_version(DEPLOYMENT, "", ["v1"])


def test_traffic_split_builds_multi_generation_mapping() -> None:
    out = se.set_traffic_split(DEPLOYMENT, [("v1", 0.7), ("v2", 0.3)], "HASH_BASED", ["v1", "v2"])
    assert out["generationsMapping"] == {
        "mode": "MULTI_GENERATION",
        "strategy": "HASH_BASED",
        "entries": [{"generation": "v1", "proba": 0.7}, {"generation": "v2", "proba": 0.3}],
        "auditRoutingKey": "ab",
    }
    assert se.mapping_versions(out) == [("v1", 0.7), ("v2", 0.3)]
    back = se.set_single_version(out, "v2")
    assert back["generationsMapping"] == {"mode": "SINGLE_GENERATION", "generation": "v2", "auditRoutingKey": "ab"}


def test_traffic_split_tolerates_float_rounding_only() -> None:
    thirds = [("a", 0.1), ("b", 0.2), ("c", 0.7)]  # 0.1 + 0.2 is not 0.3 in floats
    se.set_traffic_split({}, thirds)
    with pytest.raises(se.SettingsEditError, match="sum to 1"):
        se.set_traffic_split({}, [("a", 0.5), ("b", 0.5 - 1e-6)])


@pytest.mark.parametrize(
    ("entries", "strategy", "match"),
    [
        ([("v1", 0.5), ("v1", 0.5)], "RANDOM", "more than once"),
        ([("v1", 0.5), ("v9", 0.5)], "RANDOM", "Unknown version v9"),
        ([("v1", 1.5), ("v2", -0.5)], "RANDOM", "between 0 and 1"),
        ([("v1", float("nan")), ("v2", 1.0)], "RANDOM", "must be a number"),
        ([("v1", 0.5), ("v2", 0.5)], "ROUND_ROBIN", "Strategy"),
        ([], "RANDOM", "at least one"),
        ([("", 1.0)], "RANDOM", "needs a version"),
    ],
)
def test_traffic_split_refusals(entries, strategy, match) -> None:
    with pytest.raises(se.SettingsEditError, match=match):
        se.set_traffic_split(DEPLOYMENT, entries, strategy, ["v1", "v2"])


def test_mapping_versions_of_single_and_missing() -> None:
    assert se.mapping_versions(DEPLOYMENT) == [("v1", 1.0)]
    assert se.mapping_versions({}) == []


# --- API nodes ----------------------------------------------------------------------------------


def test_add_and_remove_api_node() -> None:
    out = se.add_api_node(INFRA, " http://b:2/ ", " secret-key ")
    assert out["apiNodes"][-1] == {"url": "http://b:2", "adminAPIKey": "secret-key", "graphitePrefix": None}
    assert INFRA["apiNodes"] == [{"url": "http://a:1", "adminAPIKey": "k1", "graphitePrefix": None}]
    back = se.remove_api_node(out, "http://b:2/")
    assert back == INFRA


@pytest.mark.parametrize(
    ("settings", "url", "key", "match"),
    [
        ({**INFRA, "type": "K8S"}, "http://b:2", "k", "STATIC"),
        (INFRA, "b:2", "k", "http://host:port"),
        (INFRA, "ftp://b:2", "k", "http://host:port"),
        (INFRA, "http://b:2", "  ", "admin key"),
        (INFRA, "http://a:1/", "k", "already"),
    ],
)
def test_add_api_node_refusals(settings, url, key, match) -> None:
    with pytest.raises(se.SettingsEditError, match=match):
        se.add_api_node(settings, url, key)


def test_remove_unknown_api_node_is_refused() -> None:
    with pytest.raises(se.SettingsEditError, match="not an API node"):
        se.remove_api_node(INFRA, "http://zzz:1")


# --- permissions --------------------------------------------------------------------------------


def test_set_permission_updates_existing_entry_and_keeps_its_extra_keys() -> None:
    out = se.set_permission(INFRA, "infra", "ops", {"read": True, "deploy": True})
    assert out["permissions"] == [{"group": "ops", "read": True, "deploy": True, "admin": False, "extra": "x"}]


def test_set_permission_adds_service_entry_with_all_flags() -> None:
    out = se.set_permission({"id": "s", "owner": "admin"}, "service", "data", {"write": True})
    assert out["permissions"] == [{"group": "data", "read": False, "write": True, "deploy": False, "admin": False}]
    assert out["owner"] == "admin"


def test_permission_refusals() -> None:
    with pytest.raises(se.SettingsEditError, match="Unknown permission write"):
        se.set_permission(INFRA, "infra", "ops", {"write": True})
    with pytest.raises(se.SettingsEditError, match="group"):
        se.set_permission(INFRA, "infra", " ", {"read": True})
    with pytest.raises(se.SettingsEditError, match="Only infrastructures and services"):
        se.set_permission(DEPLOYMENT, "deployment", "ops", {"read": True})
    with pytest.raises(se.SettingsEditError, match="no permission entry"):
        se.remove_permission(INFRA, "nobody")
    assert se.remove_permission(INFRA, "ops")["permissions"] == []


def test_mask_secret_never_shows_the_whole_key() -> None:
    key = "abcdefghijklmnop"
    masked = se.mask_secret(key)
    assert key not in masked and masked.endswith("mnop")
    assert se.mask_secret("short") == "•" * 8
    assert se.mask_secret(None) == ""


# --- rebase (conflict path) ---------------------------------------------------------------------


def test_rebase_puts_my_changes_on_top_of_theirs() -> None:
    base = {"enabled": True, "tags": ["a", "b", "c"], "auth": {"mode": "X"}, "gone": 1}
    theirs = {"enabled": True, "tags": ["a", "b", "c"], "auth": {"mode": "Y"}, "gone": 1, "new": 2}
    mine = {"enabled": False, "tags": ["a"], "gone": 1, "auth": {"mode": "X"}, "mine": [1]}
    out = se.rebase(base, theirs, mine)
    assert out == {"enabled": False, "tags": ["a"], "auth": {"mode": "Y"}, "gone": 1, "new": 2, "mine": [1]}
    assert theirs["tags"] == ["a", "b", "c"], "theirs must not be mutated"


def test_rebase_appends_and_removes_keys() -> None:
    base = {"nodes": [{"url": "a"}], "x": 1}
    theirs = {"nodes": [{"url": "a"}], "x": 1, "y": 2}
    mine = {"nodes": [{"url": "a"}, {"url": "b"}]}
    assert se.rebase(base, theirs, mine) == {"nodes": [{"url": "a"}, {"url": "b"}], "y": 2}


def test_rebase_refuses_conflicts() -> None:
    base = {"enabled": True}
    with pytest.raises(se.SettingsEditError, match="same places"):
        se.rebase(base, {"enabled": False}, {"enabled": None})


def test_mask_secrets_masks_keys_at_any_depth() -> None:
    doc = {"apiNodes": [{"url": "u", "adminAPIKey": "abcdefghijklmnop"}], "auth": {"apiKeys": [{"key": "zzzzzzzzzzzzzzzz"}]}}
    masked = se.mask_secrets(doc)
    text = json.dumps(masked)
    assert "abcdefghijklmnop" not in text and "zzzzzzzzzzzzzzzz" not in text
    assert masked["apiNodes"][0]["url"] == "u"
    assert doc["apiNodes"][0]["adminAPIKey"] == "abcdefghijklmnop"


def test_mask_secrets_leaves_ordinary_keys_named_key() -> None:
    doc = {"properties": [{"key": "team", "value": "risk"}]}
    assert se.mask_secrets(doc) == doc


# --- concealing secrets in the editor -----------------------------------------------------------


def test_conceal_and_reveal_round_trip() -> None:
    doc = {
        "apiNodes": [{"url": "u1", "adminAPIKey": "k-one"}, {"url": "u2", "adminAPIKey": "k-two"},
                     {"url": "u3", "adminAPIKey": "k-one"}],
        "auth": {"apiKeys": [{"key": "q-key", "label": "x"}]},
        "properties": [{"key": "team"}],
        "empty": {"adminAPIKey": ""},
    }
    shown, secrets = se.conceal_secrets(doc)
    text = json.dumps(shown)
    for value in ("k-one", "k-two", "q-key"):
        assert value not in text
    assert shown["apiNodes"][0]["adminAPIKey"] == shown["apiNodes"][2]["adminAPIKey"], "same value, same placeholder"
    assert shown["properties"] == [{"key": "team"}] and shown["empty"] == {"adminAPIKey": ""}
    assert len(secrets) == 3
    assert se.reveal_secrets(shown, secrets) == doc
    again, secrets2 = se.conceal_secrets(se.add_api_node({**doc, "type": "STATIC"}, "http://n:1", "k-new"), secrets)
    assert secrets2 != secrets and set(secrets) <= set(secrets2)
    assert again["apiNodes"][0]["adminAPIKey"] == shown["apiNodes"][0]["adminAPIKey"]


def test_replaced_placeholder_takes_the_new_value_and_garbled_ones_are_found() -> None:
    shown, secrets = se.conceal_secrets({"apiNodes": [{"adminAPIKey": "old"}, {"adminAPIKey": "other"}]})
    shown["apiNodes"][0]["adminAPIKey"] = "typed-new-key"
    shown["apiNodes"][1]["adminAPIKey"] = shown["apiNodes"][1]["adminAPIKey"][:-3]
    revealed = se.reveal_secrets(shown, secrets)
    assert revealed["apiNodes"][0]["adminAPIKey"] == "typed-new-key"
    assert se.stray_placeholders(revealed) == ["apiNodes[1].adminAPIKey"]


def test_auth_keys_and_modes_keep_everything_else() -> None:
    dep = {"id": "d", "enabled": True, "auth": {"authMode": "INHERIT_DEV", "apiKeys": [], "x-unknown": 1}}
    with pytest.raises(se.SettingsEditError, match="at least one key"):
        se.set_auth_mode(dep, "API_KEYS")
    with_key = se.add_query_key(dep, " ops ", "k" * 20, 123, "admin")
    assert dep["auth"]["apiKeys"] == []  # the input is never mutated
    assert with_key["auth"]["apiKeys"] == [
        {"key": "k" * 20, "label": "ops", "description": "", "createdOn": 123, "createdBy": "admin"}]
    keyed = se.set_auth_mode(with_key, "API_KEYS")
    assert keyed["auth"]["authMode"] == "API_KEYS" and keyed["auth"]["x-unknown"] == 1 and keyed["enabled"] is True
    with pytest.raises(se.SettingsEditError, match="change the mode first"):
        se.remove_query_key(keyed, "k" * 20)
    public = se.set_auth_mode(keyed, "PUBLIC")
    assert public["auth"]["apiKeys"] == keyed["auth"]["apiKeys"]  # kept for a later switch back
    assert se.remove_query_key(public, "k" * 20)["auth"]["apiKeys"] == []
    assert se.set_auth_mode({"id": "d"}, "PUBLIC")["auth"] == {"authMode": "PUBLIC", "apiKeys": []}


@pytest.mark.parametrize(("call", "match"), [
    (lambda: se.set_auth_mode({}, "OAUTH"), "Unknown auth mode"),
    (lambda: se.add_query_key({}, "", "short", 0), "at least 16"),
    (lambda: se.add_query_key(se.add_query_key({}, "", "k" * 20, 0), "", "k" * 20, 0), "already"),
    (lambda: se.remove_query_key({}, "nope"), "No such key"),
    (lambda: se.set_auth_mode({"auth": "PUBLIC"}, "PUBLIC"), "fix it in the JSON"),
])
def test_auth_refusals(call, match) -> None:
    with pytest.raises(se.SettingsEditError, match=match):
        call()


def test_mask_secrets_at_knows_where_a_value_came_from() -> None:
    entry = {"key": "k" * 20, "label": "ops"}
    assert se.mask_secrets_at(entry, ("auth", "apiKeys", 0))["key"] == se.mask_secret("k" * 20)
    assert se.mask_secrets_at("k" * 20, ("auth", "apiKeys", 0, "key")) == se.mask_secret("k" * 20)
    assert se.mask_secrets_at("secret-admin-key", ("apiNodes", 0, "adminAPIKey")) == se.mask_secret("secret-admin-key")
    assert se.mask_secrets_at({"key": "name"}, ("properties", 0)) == {"key": "name"}  # not a credential there
