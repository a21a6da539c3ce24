"""The evidence report of one cluster after a phase: flows judged now and at enforce, PCI workloads, policies, the page."""
import os

from ansible_collections.zerotrust.microseg.plugins.module_utils import evidence
from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.files import json_text
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_flow_rows
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import dump
from ansible_collections.zerotrust.microseg.plugins.module_utils.phases import ClusterRun
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows

VARIABLES = {
    "microseg_tenants": [{"name": "t", "namespaces": ["shop"], "pci": True}],
    "microseg_apps": [{"name": "shop", "tenant": "t", "flows": [{"source": "web", "destination": "db", "port": 5432}]},
                      {"name": "blog", "tier": "application", "flows": [{"source": "blog", "destination": "shop/web", "port": 8080}]}],
    "microseg_observed_flows": [{"source": "shop/web", "destination": "shop/db", "port": 5432}],
}
UNDECLARED = {"source": "shop/web", "destination": "shop/cache", "port": "6379/TCP"}
PODS = {("shop", "web"): {"app": "web", "pci": "true"}, ("shop", "db"): {"app": "db", "pci": "true"}, ("shop", "cache"): {"app": "cache"},
        ("blog", "blog"): {"app": "blog", "pci": "true"}}   # pci=true outside a PCI tenant is no PCI workload


def cluster(tmp_path):
    root = tmp_path / "cluster"
    for namespace in ("shop", "blog"):
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}}}
        write(root / "core" / "Namespace" / "_cluster" / (namespace + ".yaml"), obj)
    for (namespace, name), labels in PODS.items():
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {"containers": []}}
        write(root / "core" / "Pod" / namespace / (name + ".yaml"), obj)
    return str(root)


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(dump(obj))


def deployed(tmp_path, phases=("deploy",)):
    intent = load_intent(VARIABLES, str(tmp_path))
    target = DirectoryTarget(cluster(tmp_path))
    results = ClusterRun(intent, target, "c1", "reports").run(list(phases))
    assert not any(result.get("failed") for result in results.values()), results
    return intent, target


def document(intent, target, phase="deploy", logs=None):
    observed = parse_flow_rows([dict(UNDECLARED)] + VARIABLES["microseg_observed_flows"], "observed", None, None)
    return evidence.build(intent, target.list(), phase, declared_flows(intent), sorted(observed), logs=logs)


def flows_by_key(doc):
    return {(f["source"], f["destination"], f["port"]): f for f in doc["flows"]}


def test_flows_are_judged_under_the_live_set_and_the_enforced_set(tmp_path):
    intent, target = deployed(tmp_path)
    flows = flows_by_key(document(intent, target))
    assert flows[("shop/web", "shop/db", "5432/TCP")] == {"source": "shop/web", "destination": "shop/db", "port": "5432/TCP", "declared": True,
                                                          "observed": True, "now": "allow", "at_enforce": "allow"}
    assert flows[("blog/blog", "shop/web", "8080/TCP")] == {"source": "blog/blog", "destination": "shop/web", "port": "8080/TCP",
                                                            "declared": True, "observed": False, "now": "allow", "at_enforce": "allow"}
    # fail-safe after deploy: the undeclared flow still works, the enforced set denies it
    assert flows[tuple(UNDECLARED.values())] == dict(UNDECLARED, declared=False, observed=True, now="allow", at_enforce="deny")
    assert len(flows) == 3


def test_after_enforce_the_undeclared_flow_is_denied_now_too(tmp_path):
    intent, target = deployed(tmp_path, ("deploy", "enforce"))
    doc = document(intent, target, "enforce")
    flows = flows_by_key(doc)
    assert flows[tuple(UNDECLARED.values())]["now"] == "deny" and flows[tuple(UNDECLARED.values())]["at_enforce"] == "deny"
    assert all(f["now"] == "allow" and f["at_enforce"] == "allow" for f in doc["flows"] if f["declared"])
    assert doc["phase"] == "enforce"


def test_pci_lists_the_labelled_workloads_of_pci_tenants_only(tmp_path):
    intent, target = deployed(tmp_path)
    doc = document(intent, target)
    assert doc["pci"] == {"workloads": ["shop/db", "shop/web"]}
    assert doc["tenants"] == [{"name": "t", "namespaces": ["shop"], "pci": True}]
    assert doc["namespaces"]["shop"]["pci"] and doc["namespaces"]["shop"]["tenant"] == "t"
    assert {w["name"] for w in doc["namespaces"]["shop"]["workloads"]} == {"web", "db", "cache"}


def test_policies_per_tier_with_rules_and_hits_from_log_record_counts(tmp_path):
    intent, target = deployed(tmp_path, ("deploy", "enforce"))
    declared = declared_flows(intent)
    web_db = [flow for flow in declared if flow.destination.value == "db"]
    logs = [{"flows": web_db, "stats": {"counts": [7]}}]
    doc = evidence.build(intent, target.list(), "enforce", declared, web_db, logs=logs)
    tiers = [tier["tier"] for tier in doc["policies"]]
    assert "appsec" in tiers and "security" in tiers
    rules = [rule for tier in doc["policies"] for policy in tier["policies"] for rule in policy["rules"]]
    assert rules and all(set(rule) == {"direction", "index", "action", "summary", "hits"} for rule in rules)
    assert all(rule["direction"] in ("ingress", "egress") and rule["summary"] for rule in rules)
    assert sorted(rule["hits"] for rule in rules if rule["hits"]) == [7, 7]   # web's egress rule and db's ingress rule
    without = evidence.build(intent, target.list(), "enforce", declared, web_db)
    assert not any("hits" in rule for tier in without["policies"] for policy in tier["policies"] for rule in policy["rules"])
    assert without["reconciliation"]["confirmed"] == [{"source": "shop/web", "destination": "shop/db", "port": "5432/TCP"}]


def test_the_document_and_page_are_deterministic_and_self_contained(tmp_path):
    intent, target = deployed(tmp_path)
    first, second = document(intent, target), document(intent, target)
    assert json_text(first) == json_text(second)
    page = evidence.render_html(first, "c1")
    assert page == evidence.render_html(second, "c1")
    for forbidden in ("http://", "https://", "<script", "src=", "url(", "<link", "<img"):
        assert forbidden not in page
    for flow in first["flows"]:
        assert flow["source"] in page and flow["destination"] in page
    hostile = dict(first, phase="<script>x</script>")
    assert "<script>x" not in evidence.render_html(hostile, "c1&<b>")


def test_write_writes_both_files_once_never_in_check_mode_and_keeps_a_report_that_differs_only_in_phase(tmp_path):
    intent, target = deployed(tmp_path)
    doc = document(intent, target)
    reports = str(tmp_path / "reports")
    assert evidence.write(reports, "c1", doc, check_mode=True)[0] is True
    assert not os.path.exists(tmp_path / "reports")
    changed, paths, diff = evidence.write(reports, "c1", doc)
    assert changed and [os.path.basename(path) for path in paths] == ["report.json", "report.html"] and len(diff) == 2
    with open(paths[0], encoding="utf-8") as handle:
        assert handle.read() == json_text(doc)
    assert evidence.write(reports, "c1", doc) == (False, paths, [])
    other_phase = dict(doc, phase="identify")
    assert evidence.write(reports, "c1", other_phase, keep_phase=True) == (False, paths, [])
    assert evidence.write(reports, "c1", other_phase)[0] is True
