"""flow_report module: reconciliation.json written only on change, never in check mode, diff, failures."""
import json
import os
import shutil

import pytest

from ansible_collections.zerotrust.microseg.plugins.modules import flow_report

LAB = os.path.join(os.path.dirname(__file__), "..", "..", "data", "lab")
APPS = [{"name": "hipstershop", "tenant": "hipstershop", "flows": "flows/hipstershop.md"},
        {"name": "yaobank", "tier": "application", "flows": "flows/yaobank.md"},
        {"name": "bookinfo", "tier": "application", "flows": "flows/bookinfo.md"}]
TENANTS = [{"name": "hipstershop", "namespaces": ["hipstershop"], "pci": True}]
SMALL = [{"name": "a", "flows": [{"source": "web", "destination": "db", "port": 5432},
                                 {"source": "web", "destination": "domain:*.example.com", "port": 443}]}]


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(flow_report, **args)


@pytest.fixture
def lab(tmp_path):
    """A private copy of the lab intent (reports are written below it)."""
    return shutil.copytree(LAB, str(tmp_path / "lab"))


def report_path(base, host="lab-cluster", report_dir="reports"):
    return os.path.join(base, report_dir, host, "reconciliation.json")


def test_lab_report(run, lab):
    result = run(apps=APPS, tenants=TENANTS, observed_flows=["flows/observed.md"], base_dir=lab, report_dir="reports", host="lab-cluster")
    path = report_path(lab)
    assert (result["changed"], result["path"]) == (True, path)
    report = result["report"]
    assert report["confirmed"] == [  # in declared-flow order (sorted by endpoints)
        {"source": "bookinfo/productpage", "destination": "bookinfo/details", "port": "9080/TCP"},
        {"source": "hipstershop/cartservice", "destination": "hipstershop/redis-cart", "port": "6379/TCP"},
        {"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"},
        {"source": "hipstershop/loadgenerator", "destination": "hipstershop/frontend", "port": "8080/TCP"},
        {"source": "yaobank/customer", "destination": "yaobank/summary", "port": "80/TCP"},
        {"source": "yaobank/summary", "destination": "yaobank/database", "port": "2379/TCP"},
    ]
    assert len(report["unobserved"]) == 17 + 4 + 5 - 6
    assert {"source": "bookinfo/ratings", "destination": "domain:*.ubuntu.com", "port": "443/TCP"} in report["unobserved"]
    assert {"source": "ingress-nginx/app.kubernetes.io/name=ingress-nginx", "destination": "yaobank/customer",
            "port": "80/TCP"} in report["unobserved"]
    assert report["undeclared"] == []
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == report
    assert "diff" not in result


def test_second_run_is_unchanged_and_does_not_rewrite(run, lab):
    args = dict(apps=APPS, tenants=TENANTS, observed_flows=["flows/observed.md"], base_dir=lab, report_dir="reports", host="lab-cluster")
    first = run(**args)
    stat = os.stat(first["path"])
    second = run(**args)
    assert second["changed"] is False and second["report"] == first["report"]
    assert (os.stat(first["path"]).st_ino, os.stat(first["path"]).st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


@pytest.mark.parametrize("diff", [False, True])
def test_check_mode_writes_nothing(run, tmp_path, diff):
    result = run(apps=SMALL, observed_flows=[{"source": "a/web", "destination": "a/db", "port": 5432}], base_dir=str(tmp_path),
                 report_dir="reports", host="h", _ansible_check_mode=True, _ansible_diff=diff)
    assert result["changed"] is True
    assert result["report"]["confirmed"] == [{"source": "a/web", "destination": "a/db", "port": "5432/TCP"}]
    assert os.listdir(str(tmp_path)) == []
    if diff:
        assert result["diff"]["before"] == ""
        assert json.loads(result["diff"]["after"]) == result["report"]
        assert result["diff"]["before_header"] == result["diff"]["after_header"] == report_path(str(tmp_path), "h")


def test_diff_shows_the_report_change(run, tmp_path):
    args = dict(apps=SMALL, base_dir=str(tmp_path), report_dir=str(tmp_path / "out"), host="h")
    first = run(observed_flows=[], _ansible_diff=True, **args)
    assert first["diff"]["before"] == "" and first["path"] == str(tmp_path / "out" / "h" / "reconciliation.json")
    with open(first["path"], encoding="utf-8") as handle:
        old_text = handle.read()
    assert first["diff"]["after"] == old_text
    observed = [{"source": "a/web", "destination": "domain:www.example.com", "port": 443}, {"source": "a/db", "destination": "a/web", "port": 1}]
    checked = run(observed_flows=observed, _ansible_diff=True, _ansible_check_mode=True, **args)
    assert checked["changed"] is True and checked["diff"]["before"] == old_text
    with open(first["path"], encoding="utf-8") as handle:
        assert handle.read() == old_text
    second = run(observed_flows=observed, _ansible_diff=True, **args)
    assert second["report"] == {
        "confirmed": [{"source": "a/web", "destination": "domain:*.example.com", "port": "443/TCP"}],
        "unobserved": [{"source": "a/web", "destination": "a/db", "port": "5432/TCP"}],
        "undeclared": [{"source": "a/db", "destination": "a/web", "port": "1/TCP"}],
        "skipped": [], "skipped_total": 0}
    assert second["diff"]["after"] != second["diff"]["before"] == old_text
    unchanged = run(observed_flows=observed, _ansible_diff=True, **args)
    assert unchanged["changed"] is False and "diff" not in unchanged


@pytest.mark.parametrize("args, message", [
    ({"observed_flows": [{"source": "a/web", "destination": "a/db", "port": 1}, {"source": "web", "destination": "a/db", "port": 1}]},
     "microseg_observed_flows:2: source: 'web' has no namespace and this table has no home namespace: write 'namespace/web'"),
    ({"observed_flows": ["flows/nope.md"]}, "flows/nope.md: cannot read flow table: No such file or directory"),
    ({"apps": [{"name": "a", "identity_label": "no way"}]},
     "inventory: microseg_apps[0].identity_label: 'no way' is not a valid label key: must be 63 characters or less, start and end "
     "with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"),
])
def test_invalid_input_fails_naming_the_field_and_writes_nothing(run, tmp_path, args, message):
    result = run(**dict(dict(apps=SMALL, base_dir=str(tmp_path), report_dir="reports", host="h"), **args))
    assert (result["failed"], result["msg"]) == (True, message)
    assert os.listdir(str(tmp_path)) == []


def test_report_dir_and_host_are_required(run):
    result = run(apps=SMALL)
    assert result["failed"] is True and "missing required arguments: host, report_dir" in result["msg"]
