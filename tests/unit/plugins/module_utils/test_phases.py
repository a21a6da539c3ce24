"""One cluster's phases in one process: order, run lines, a failed phase stops the rest and leaves the target as it was."""
import json
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import CLUSTER_KINDS, load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.phases import ClusterRun, adopt_served_kinds, scope_summary

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


# -- the kubernetes dialect: what the cluster serves, and the fidelity report ----------------------

KUBERNETES = dict(microseg_dialect="kubernetes", microseg_threat_nets=["203.0.113.0/24"], microseg_trusted_domains=["tigera.io"])
FIDELITY = os.path.join("reports", "c1", "fidelity.json")


def test_deploy_and_enforce_write_the_fidelity_report_when_it_changes_and_say_so(tmp_path):
    results = cluster_run(tmp_path, **KUBERNETES).run(["identify", "analyze", "deploy", "enforce"])
    for phase in ("deploy", "enforce"):
        assert results[phase]["msg"].endswith("; fidelity to the tiered model: 1 widened, 2 merged (report %s)" % (tmp_path / FIDELITY))
        assert "kubernetes dialect: security rule trusted-domains widened: NetworkPolicy cannot match domain names (tigera.io); allowed " \
               "to any address outside 10.244.0.0/16, 10.96.0.0/12 on 443/TCP" in results[phase]["warnings"]
    assert "fidelity" not in results["identify"] and "fidelity" not in results["analyze"]
    with open(tmp_path / FIDELITY, encoding="utf-8") as handle:
        report = json.load(handle)
    assert (report["dialect"], report["phase"], report["cluster_serves"]) == ("kubernetes", "enforce", ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"])
    assert [(loss["change"], loss["rule"]) for loss in report["losses"]] == [
        ("merged", "tenant-t"), ("merged", "tenant-t"), ("merged", "tenant-t-pci"), ("merged", "tenant-t-pci"),
        ("widened", "trusted-domains")]
    before = files(tmp_path)
    again = cluster_run(tmp_path, **KUBERNETES).run(["deploy", "enforce"])
    assert not any(result["changed"] for result in again.values()) and files(tmp_path) == before
    without_domains = {name: value for name, value in KUBERNETES.items() if name != "microseg_trusted_domains"}
    checked = cluster_run(tmp_path, check_mode=True, **without_domains).run(["enforce"])
    assert checked["enforce"]["changed"] and files(tmp_path) == before
    assert [entry["before_header"] for entry in checked["enforce"]["diff"]][-2:] == [
        "networking.k8s.io/NetworkPolicy/shop/microseg-trusted-domains.yaml", str(tmp_path / FIDELITY)]


def test_the_fidelity_report_is_the_last_applied_phases_when_enforce_is_refused(tmp_path):
    refused = dict(KUBERNETES, microseg_observed_flows=[{"source": "shop/web", "destination": "shop/cache", "port": 6379}])
    results = cluster_run(tmp_path, **refused).run(["deploy", "enforce"])
    assert results["enforce"]["failed"] and results["deploy"]["fidelity"] == str(tmp_path / FIDELITY)
    with open(tmp_path / FIDELITY, encoding="utf-8") as handle:
        assert json.load(handle)["phase"] == "deploy"


def test_a_calico_run_writes_no_fidelity_report_and_removes_an_old_one(tmp_path):
    assert cluster_run(tmp_path).run(["deploy"])["deploy"].get("fidelity") is None
    assert not os.path.exists(tmp_path / FIDELITY)
    cluster_run(tmp_path, **KUBERNETES).run(["deploy"])
    assert os.path.exists(tmp_path / FIDELITY)
    result = cluster_run(tmp_path).run(["deploy"])["deploy"]
    assert result["changed"] and not os.path.exists(tmp_path / FIDELITY) and "fidelity" not in result["msg"]


def test_a_cluster_that_serves_no_admin_network_policy_fails_the_run_before_anything_is_written(tmp_path):
    results = cluster_run(tmp_path, microseg_cluster_serves=[], **KUBERNETES).run(["identify", "analyze", "deploy", "enforce"])
    assert list(results) == ["identify"] and results["identify"]["failed"]
    assert results["identify"]["msg"].startswith(
        "identify failed on c1 before writing anything: inventory: microseg_threat_nets: dialect kubernetes denies microseg_threat_nets "
        "(203.0.113.0/24) cluster-wide with an AdminNetworkPolicy (policy.networking.k8s.io/v1alpha1), which cluster c1 "
        "(microseg_cluster_serves: []) does not serve. Ways out: ")
    assert files(tmp_path) == {}
    fallback = cluster_run(tmp_path, microseg_cluster_serves=[], microseg_threat_nets_fallback="except", **KUBERNETES).run(["deploy"])
    assert not fallback["deploy"].get("failed") and "2 widened, 2 merged" in fallback["deploy"]["msg"]
    assert any("security rule threat-nets-deny widened: cluster c1 (microseg_cluster_serves: []) does not serve AdminNetworkPolicy" in warning
               for warning in fallback["deploy"]["warnings"])
    assert not [path for path in files(tmp_path) if "AdminNetworkPolicy" in path]


class Discovering:
    """A cluster target as far as adopt_served_kinds sees it: discovery and the API server's address."""

    class api:   # pylint: disable=invalid-name,too-few-public-methods
        host = "https://kube.test:6443"

    def __init__(self, served):
        self.served = served
        self.asked = []

    def served_kinds(self, kinds):
        self.asked.append(dict(kinds))
        return [kind for kind in kinds if kind in self.served]


@pytest.mark.parametrize("variable, served, warned", [
    (None, [], False),                                     # unset claims nothing: discovery says
    (None, ["ClusterNetworkPolicy"], False),
    (["AdminNetworkPolicy"], ["AdminNetworkPolicy"], False),   # a value discovery confirms
    ([], ["AdminNetworkPolicy"], True),                    # an explicit value discovery contradicts is warned about
    (["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"], ["BaselineAdminNetworkPolicy", "AdminNetworkPolicy"], False),
])
def test_on_the_cluster_target_discovery_wins_over_the_variable(variable, served, warned):
    intent = load_intent(dict(KUBERNETES, microseg_cluster_serves=variable))
    target = Discovering(served)
    warnings = adopt_served_kinds(intent, target, "c1")
    assert intent.cluster_serves == tuple(sorted(served))
    assert intent.served_by == "cluster c1 (the Kubernetes API at https://kube.test:6443)"
    assert target.asked == [CLUSTER_KINDS]
    assert warnings == (["microseg_cluster_serves [] is not used on the cluster target: discovery at https://kube.test:6443 finds "
                         "[AdminNetworkPolicy]"] if warned else [])


def test_the_calico_dialect_and_the_directory_target_discover_nothing(tmp_path):
    intent = load_intent({"microseg_cluster_serves": []})
    target = Discovering(["AdminNetworkPolicy"])
    assert adopt_served_kinds(intent, target, "c1") == [] and target.asked == [] and intent.cluster_serves == ()
    intent = load_intent(dict(KUBERNETES, microseg_cluster_serves=[]))
    assert adopt_served_kinds(intent, DirectoryTarget(str(tmp_path)), "c1") == []
    assert intent.served_by == "cluster c1 (microseg_cluster_serves: [])"
