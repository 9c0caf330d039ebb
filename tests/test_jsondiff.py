from deployer_tui.core.jsondiff import Change, conflicts, diff, format_path, unified


def test_diff_reports_leaf_changes_additions_and_removals() -> None:
    old = {"enabled": True, "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v1"}, "tags": ["a"]}
    new = {"enabled": False, "generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v2"},
           "tags": ["a", "b"], "extra": 1}
    assert diff(old, new) == [
        Change(("enabled",), "changed", True, False),
        Change(("generationsMapping", "generation"), "changed", "v1", "v2"),
        Change(("tags", 1), "added", None, "b"),
        Change(("extra",), "added", None, 1),
    ]
    assert diff(new, old)[-1] == Change(("extra",), "removed", 1, None)


def test_diff_sees_type_changes_that_compare_equal_in_python() -> None:
    assert diff({"x": 1}, {"x": True}) == [Change(("x",), "changed", 1, True)]
    assert diff({"x": 1.0}, {"x": 1}) == [Change(("x",), "changed", 1.0, 1)]
    assert diff({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}) == []


def test_format_path() -> None:
    assert format_path(("apiNodes", 0, "url")) == "apiNodes[0].url"
    assert format_path(()) == "$"


def test_unified_is_empty_for_equal_documents_and_marks_changed_lines() -> None:
    assert unified({"a": 1}, {"a": 1}) == ""
    text = unified({"a": 1, "b": 2}, {"a": 1, "b": 3})
    assert '-  "b": 2' in text and '+  "b": 3' in text and text.startswith("--- saved")


def test_conflicts_only_where_both_sides_touched_the_same_place() -> None:
    base = {"enabled": True, "auth": {"authMode": "PUBLIC"}, "tags": []}
    theirs = {"enabled": True, "auth": {"authMode": "API_KEYS"}, "tags": ["x"]}
    mine_disjoint = {"enabled": False, "auth": {"authMode": "PUBLIC"}, "tags": []}
    assert conflicts(base, theirs, mine_disjoint) == []
    mine_clash = {"enabled": True, "auth": {"authMode": "INHERIT_DEV"}, "tags": []}
    [(their, my)] = conflicts(base, theirs, mine_clash)
    assert their.new == "API_KEYS" and my.new == "INHERIT_DEV"
    # The same edit on both sides is no conflict.
    assert conflicts(base, theirs, {**base, "tags": ["x"], "auth": {"authMode": "API_KEYS"}}) == []
