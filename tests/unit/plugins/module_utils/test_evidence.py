"""The evidence report of one cluster after a phase: flows judged now and at enforce, PCI workloads, policies, the page."""
import json
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
    assert doc["pci"]["workloads"] == ["shop/db", "shop/web"] and doc["pci"]["probe_port"] == "49152/TCP"
    # every other workload judged both ways under the enforced set: the declared peers on their ports, all else denied
    isolation = {(row["workload"], side): row[side] for row in doc["pci"]["isolation"] for side in ("inbound", "outbound")}
    assert isolation == {
        ("shop/db", "inbound"): {"allowed": [{"peer": "shop/web", "port": "5432/TCP", "declared": True}], "denied": ["blog/blog", "shop/cache"],
                                 "judged": 6},   # web: 5432 and the probe; blog and cache: the same two
        ("shop/db", "outbound"): {"allowed": [], "denied": ["blog/blog", "shop/cache", "shop/web"], "judged": 5},
        ("shop/web", "inbound"): {"allowed": [{"peer": "blog/blog", "port": "8080/TCP", "declared": True}], "denied": ["shop/cache", "shop/db"],
                                  "judged": 6},
        # the undeclared web -> cache 6379 it was seen making is denied at enforce
        ("shop/web", "outbound"): {"allowed": [{"peer": "shop/db", "port": "5432/TCP", "declared": True}], "denied": ["blog/blog", "shop/cache"],
                                   "judged": 5}}
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
    assert "shop/db may be reached by" in page and "Denied on every port judged (2 peer(s), 6 verdict(s) in all): blog/blog, shop/cache" in page
    hostile = dict(first, phase="<script>x</script>")
    assert "<script>x" not in evidence.render_html(hostile, "c1&<b>")


def test_write_writes_both_files_once_never_in_check_mode_and_keeps_a_report_that_differs_only_in_phase(tmp_path):
    intent, target = deployed(tmp_path)
    doc = document(intent, target)
    reports = str(tmp_path / "evidence")   # not the run's reports/, which the fixture's ClusterRun wrote
    assert evidence.write(reports, "c1", doc, check_mode=True)[0] is True
    assert not os.path.exists(tmp_path / "evidence")
    changed, paths, diff = evidence.write(reports, "c1", doc)
    assert changed and [os.path.basename(path) for path in paths] == ["report.json", "report.html"] and len(diff) == 1
    with open(paths[0], encoding="utf-8") as handle:
        assert handle.read() == json_text(doc)
    assert evidence.write(reports, "c1", doc) == (False, paths, [])
    other_phase = dict(doc, phase="identify")
    assert evidence.write(reports, "c1", other_phase, keep_phase=True) == (False, paths, [])
    assert evidence.write(reports, "c1", other_phase)[0] is True


def test_the_page_is_drawn_again_only_when_its_data_or_its_maker_changes(tmp_path, monkeypatch):
    intent, target = deployed(tmp_path)
    doc = document(intent, target)
    reports = str(tmp_path / "evidence")
    changed, paths, _diff = evidence.write(reports, "c1", doc)
    assert changed and evidence.made_with(paths[1]) in (evidence.page_maker(), evidence.page_maker() + "; graph not drawn")
    drawn = []
    real = evidence.render_html
    monkeypatch.setattr(evidence, "render_html", lambda *args: drawn.append(args) or real(*args))
    if evidence.made_with(paths[1]) == evidence.page_maker():
        assert evidence.write(reports, "c1", doc) == (False, paths, []) and not drawn   # same data, same maker: not drawn
    # another maker (Graphviz installed or upgraded since, or a new page format): drawn again, written where it differs
    page, maker = open(paths[1], encoding="utf-8").read(), evidence.made_with(paths[1])
    with open(paths[1], "w", encoding="utf-8") as handle:
        handle.write(page.replace(maker, "zerotrust.microseg report page 0; no graphviz"))
    assert evidence.write(reports, "c1", doc)[0] is True and len(drawn) == 1
    assert open(paths[1], encoding="utf-8").read() == page
    # a page whose graph could not be drawn is drawn again on every run (cheaply: there is no graph), unchanged until it can be
    monkeypatch.setattr(evidence.service_graph, "graphviz", None)
    assert evidence.write(reports, "c1", doc)[0] is True and evidence.made_with(paths[1]).endswith("no graphviz; graph not drawn")
    assert evidence.write(reports, "c1", doc) == (False, paths, []) and len(drawn) == 3


# ---------------------------------------------------------------------------------------------- written by the phases

def read_report(path):
    with open(path / "report.json", encoding="utf-8") as handle:
        return json.load(handle)


def test_every_phase_writes_the_report_once_and_a_rerun_changes_nothing(tmp_path):
    intent, _target = deployed(tmp_path, ("identify", "deploy", "enforce"))
    path = tmp_path / "reports" / "c1"
    doc = read_report(path)
    assert doc["phase"] == "enforce" and doc["gate"] == {"proven": 2} and doc["failed"] is None   # two declared (observed: one of them)
    assert (path / "report.html").is_file()
    again = ClusterRun(intent, DirectoryTarget(str(tmp_path / "cluster")), "c1", "reports").run(["identify", "deploy", "enforce"])
    assert not any(result["changed"] for result in again.values()), again
    assert again["enforce"]["evidence"] == [str(path / "report.json"), str(path / "report.html")]
    # a run that changes nothing keeps a report that differs only in phase and gate: the cluster is as it says
    identify = ClusterRun(intent, DirectoryTarget(str(tmp_path / "cluster")), "c1", "reports").run(["identify"])
    assert not identify["identify"]["changed"] and read_report(path)["phase"] == "enforce"
    # a run that changes the cluster rewrites it, and says so in the phase's diff
    deploy = ClusterRun(intent, DirectoryTarget(str(tmp_path / "cluster")), "c1", "reports", keep_enforced=False).run(["deploy"])
    assert deploy["deploy"]["changed"] and str(path / "report.json") in [entry["after_header"] for entry in deploy["deploy"]["diff"]]
    doc = read_report(path)
    assert doc["phase"] == "deploy" and doc["gate"] is None


def test_each_phase_alone_writes_it_and_a_tier_narrowed_deploy_too(tmp_path):
    intent = load_intent(VARIABLES, str(tmp_path))
    for phase in ("identify", "analyze", "remediate"):
        results = ClusterRun(intent, DirectoryTarget(cluster(tmp_path)), "c1", "reports").run([phase])
        assert results[phase]["changed"] and read_report(tmp_path / "reports" / "c1")["phase"] == phase, results
    results = ClusterRun(intent, DirectoryTarget(cluster(tmp_path)), "c1", "reports", tiers=["platform"]).run(["deploy"])
    assert results["deploy"]["changed"] and results["deploy"]["evidence"]
    doc = read_report(tmp_path / "reports" / "c1")
    assert doc["phase"] == "deploy" and [tier["tier"] for tier in doc["policies"]] == ["platform"]


def test_a_refused_enforce_restores_the_cluster_and_reports_why(tmp_path):
    variables = dict(VARIABLES, microseg_observed_flows=VARIABLES["microseg_observed_flows"] + [dict(UNDECLARED)])
    intent = load_intent(variables, str(tmp_path))
    target = DirectoryTarget(cluster(tmp_path))
    assert not ClusterRun(intent, target, "c1", "reports").run(["deploy"])["deploy"].get("failed")
    before = target.list()
    results = ClusterRun(intent, target, "c1", "reports").run(["enforce"])
    assert results["enforce"]["failed"] and target.list() == before
    doc = read_report(tmp_path / "reports" / "c1")
    assert doc["phase"] == "enforce" and "enforce refused" in doc["failed"]
    assert doc["gate"] == {"refused": [UNDECLARED]}
    new = [flow for flow in doc["flows"] if {k: flow[k] for k in ("source", "destination", "port")} == UNDECLARED]
    assert new == [dict(UNDECLARED, declared=False, observed=True, now="allow", at_enforce="deny")]
    with open(tmp_path / "reports" / "c1" / "report.html", encoding="utf-8") as handle:
        assert "enforce failed and the cluster was restored" in handle.read()
    again = ClusterRun(intent, target, "c1", "reports").run(["enforce"])
    assert again["enforce"]["failed"] and not again["enforce"]["diff"]   # the same refusal: the report is as it was


def test_check_mode_writes_no_report_and_adds_nothing(tmp_path):
    intent = load_intent(VARIABLES, str(tmp_path))
    results = ClusterRun(intent, DirectoryTarget(cluster(tmp_path), check_mode=True), "c1", "reports").run(["identify", "deploy"])
    assert "evidence" not in results["deploy"]
    assert not os.path.exists(tmp_path / "reports")
