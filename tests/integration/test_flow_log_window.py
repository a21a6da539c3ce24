"""``since`` / ``until`` of a microseg_flow_logs entry, through the analyze phase of playbooks/site.yml on the lab."""
import datetime
import json
import os

import pytest

from conftest import run_playbook
from test_remediate import CASES, case_rows, hubble_record, read_vars, report
from test_semantics import set_lab_variable


def write_timed_log(lab):
    """The monitoring case's three flows, allowed, at 09:00:00, 09:00:10 and 09:00:20 on 2025-05-12."""
    lines = []
    for number, flow in enumerate(CASES["monitoring"]):
        record = hubble_record(*flow, number * 10)
        record["flow"]["verdict"] = "FORWARDED"
        lines.append(json.dumps(record))
    with open(os.path.join(lab, "logs", "timed.jsonl"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


@pytest.mark.parametrize("window, kept", [
    ({"since": "2025-05-12T09:00:05Z", "until": "2025-05-12T09:00:15Z"}, [1]),
    ({"since": "2025-05-12T11:00:05+02:00"}, [1, 2]),
    ({"until": datetime.datetime(2025, 5, 12, 9, 0, 5, tzinfo=datetime.timezone.utc)}, [0]),   # unquoted in YAML: a timestamp
    ({"since": "100000d"}, [0, 1, 2]),
    ({"since": "1h"}, []),
])
def test_analyze_keeps_only_the_records_of_the_window(lab, window, kept):
    write_timed_log(lab)
    spec = dict({"path": "logs/timed.jsonl", "format": "hubble"}, **window)
    set_lab_variable(lab, "microseg_flow_logs", read_vars(lab)["microseg_flow_logs"] + [spec])
    result = run_playbook(lab, "--tags", "analyze")
    assert result.rc == 0, result.out
    undeclared = report(lab, "reconciliation.json")["undeclared"]
    rows = case_rows("monitoring")
    assert [index for index, row in enumerate(rows) if row in undeclared] == kept


def test_a_bad_window_names_the_entry_and_writes_nothing(lab):
    write_timed_log(lab)
    set_lab_variable(lab, "microseg_flow_logs", [{"path": "logs/timed.jsonl", "since": "yesterday"}])
    result = run_playbook(lab, "--tags", "analyze")
    assert result.rc != 0
    assert "microseg_flow_logs[0]: since: must be an RFC 3339 time" in " ".join(result.out.split()), result.out
    assert not os.path.exists(os.path.join(lab, "reports", "lab-cluster", "reconciliation.json"))
