"""Report text: the same bytes with or without msgspec, so a report never changes with the controller's packages."""
import json

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import files

DOCUMENTS = [
    {},
    {"confirmed": [], "unobserved": [{"source": "a/web", "destination": "a/db", "port": "5432/TCP"}], "skipped_total": 0},
    {"b": {"z": [1, 2, {"y": None, "x": True}], "a": {}}, "a": [[], [[]]], "c": "quote \" backslash \\ newline \n tab \t"},
    {"non-ascii": "caf\u00e9 \u2603", "control": "\u0001", "n": -7, "big": 2 ** 62},
    {"float": 1.5, "list of floats": [0.1, 1e-07, 12345.678]},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_json_text_is_what_json_dumps_writes(document, monkeypatch):
    expected = json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert files.msgspec is not None, "msgspec is in requirements.txt: its path must be tested"
    assert files.json_text(document) == expected
    monkeypatch.setattr(files, "msgspec", None)
    assert files.json_text(document) == expected


def test_write_if_changed_writes_once_and_never_in_check_mode(tmp_path):
    path = str(tmp_path / "r" / "report.json")
    assert files.write_if_changed(path, "a\n", check_mode=True) == (True, "")
    assert not (tmp_path / "r" / "report.json").exists()
    assert files.write_if_changed(path, "a\n") == (True, "")
    assert files.write_if_changed(path, "a\n") == (False, "a\n")
    assert files.read_text(path) == "a\n"
