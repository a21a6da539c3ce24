"""One cluster's phases in one process: order, run lines, a failed phase stops the rest and leaves the target as it was."""
import os

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.phases import ClusterRun, scope_summary

APPS = [{"name": "shop", "tenant": "t", "flows": [{"source": "web", "destination": "db", "port": 5432}]}]
VARIABLES = {"microseg_apps": APPS, "microseg_tenants": [{"name": "t", "namespaces": ["shop"], "pci": True}],
             "microseg_observed_flows": [{"source": "shop/web", "destination": "shop/db", "port": 5432}]}


def files(root):
    found = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(base, name), "rb") as handle:
                found[os.path.relpath(os.path.join(base, name), root)] = handle.read()
    return found


def cluster_run(tmp_path, check_mode=False, **variables):
    intent = load_intent(dict(VARIABLES, **variables), str(tmp_path))
    return ClusterRun(intent, DirectoryTarget(str(tmp_path / "cluster"), check_mode=check_mode), "c1", "reports")


def test_every_phase_runs_in_order_with_its_line_and_a_rerun_changes_nothing(tmp_path):
    results = cluster_run(tmp_path).run(["remediate", "enforce", "deploy", "analyze", "identify"])
    assert list(results) == ["identify", "analyze", "deploy", "enforce", "remediate"]
    assert results["identify"]["msg"] == "1 namespace(s) in scope: shop (appsec, tenant t, PCI, 0 workloads)"
    assert results["analyze"]["msg"].startswith("1 confirmed, 0 unobserved, 0 undeclared flow(s); report ")
    assert results["deploy"]["msg"].startswith("deploy (security, platform, application, appsec, default): ")
    assert results["enforce"]["msg"].endswith("; gate: 1 declared and observed flows proven allowed")
    assert all(not result.get("failed") for result in results.values())
    again = cluster_run(tmp_path).run(["identify", "analyze", "deploy", "enforce", "remediate"])
    assert not any(result["changed"] for result in again.values()), again


def test_check_mode_writes_nothing(tmp_path):
    results = cluster_run(tmp_path, check_mode=True).run(["analyze", "deploy", "enforce", "remediate"])
    assert results["deploy"]["changed"] and results["deploy"]["diff"]
    assert not os.path.exists(tmp_path / "cluster") and not os.path.exists(tmp_path / "reports")


def test_a_refused_enforce_stops_the_run_and_writes_nothing_but_its_evidence(tmp_path):
    cluster_run(tmp_path).run(["deploy"])
    before = files(tmp_path)
    refused = cluster_run(tmp_path, microseg_observed_flows=[{"source": "shop/web", "destination": "shop/cache", "port": 6379}])
    results = refused.run(["enforce", "remediate"])
    assert list(results) == ["enforce"] and results["enforce"]["failed"]
    assert results["enforce"]["msg"].startswith("enforce failed on c1 and was rolled back: enforce refused: 1 declared or observed flow(s)")
    assert results["enforce"]["denied"][0]["destination"] == "shop/cache"
    after = files(tmp_path)
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    assert changed == [os.path.join("reports", "c1", "report.html"), os.path.join("reports", "c1", "report.json")]


def test_scope_summary_names_tier_tenant_pci_and_workloads():
    namespaces = {"a": {"tier": "application", "tenant": None, "pci": False, "workloads": [1, 2]},
                  "b": {"tier": "appsec", "tenant": "t", "pci": True, "workloads": []}}
    assert scope_summary(namespaces) == "2 namespace(s) in scope: a (application, 2 workloads); b (appsec, tenant t, PCI, 0 workloads)"
