"""Assess and remediate: denied flows, hit counts, unused rows, proposals, staged twins, the table, and the phase on a directory."""
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import GateRefused
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import merge_flows, parse_flow_rows, parse_flow_text
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, TIER_LABEL, dump
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan
from ansible_collections.zerotrust.microseg.plugins.module_utils.remediation import (
    PROPOSED, REMEDIATION_LABEL, Remediation, append_rows, check_table, record_counts, remediate, staged_copy, staged_note)
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.calico import features, unserved


def row(source, destination, port):
    return {"source": source, "destination": destination, "port": port}


VARIABLES = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"]}],
    "microseg_apps": [{"name": "hipstershop", "tenant": "shop", "flows": [row("frontend", "cartservice", 7070), row("frontend", "adservice", 9555)]},
                      {"name": "yaobank", "tier": "application", "flows": [row("customer", "summary", 80)]}],
    "microseg_threat_nets": ["203.0.113.0/24"],
    "microseg_remediated_flows": "flows/remediated.md",
}
PODS = [("hipstershop", "frontend"), ("hipstershop", "cartservice"), ("hipstershop", "adservice"), ("hipstershop", "loadgeneratorv2"),
        ("yaobank", "customer"), ("yaobank", "summary"), ("monitoring", None)]
NEW = [row("monitoring/run=monitoring-pod", "yaobank/customer", 80), row("hipstershop/loadgeneratorv2", "hipstershop/frontend", 8080)]


def intent_for(base, **changes):
    return load_intent(dict(VARIABLES, **changes), str(base))


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(dump(obj))


@pytest.fixture
def cluster(tmp_path):
    """A directory cluster with the pods and the enforced set of VARIABLES."""
    root = tmp_path / "cluster"
    for namespace, app in PODS:
        labels = {"app": app} if app else {"run": "monitoring-pod"}
        name = app or "monitoring-pod"
        write(str(root / "core" / "Pod" / namespace / (name + ".yaml")),
              {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}})
    target = DirectoryTarget(str(root))
    plan = make_plan(intent_for(tmp_path), "enforce")
    apply_objects(target, plan.objects, scope=plan.scope)
    return tmp_path


def observed(rows):
    return merge_flows(parse_flow_rows(rows, "observed", None, {"hipstershop": "app", "yaobank": "app"}))


def assessment(base, rows, counts=None, **changes):
    intent = intent_for(base, **changes)
    flows = observed(rows)
    live = DirectoryTarget(str(base / "cluster")).list()
    return Remediation(intent, live, declared_flows(intent), flows, counts if counts is not None else {})


def test_denied_flows_are_named_with_the_deciding_tier_and_policy(cluster):
    fix = assessment(cluster, NEW + [row("hipstershop/frontend", "hipstershop/cartservice", 7070)])
    assert fix.report["denied"] == [
        dict(NEW[1], port="8080/TCP", tier="default", policy="tenant-shop-catch-all"),
        dict(NEW[0], port="80/TCP", tier="default", policy="namespace-yaobank-catch-all")]


def test_proposals_name_the_policy_that_carries_each_row_and_stage_only_what_they_change(cluster):
    fix = assessment(cluster, NEW)
    assert fix.proposals == [dict(NEW[1], port="8080/TCP", tier="appsec", policy="hipstershop/frontend"),
                             dict(NEW[0], port="80/TCP", tier="application", policy="yaobank/yaobank")]
    assert [flow.notation() for flow in fix.rows] == [dict(NEW[1], port="8080/TCP"), dict(NEW[0], port="80/TCP")]
    staged = {(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in fix.staged}
    assert staged == {("StagedNetworkPolicy", "hipstershop", "frontend"), ("StagedNetworkPolicy", "hipstershop", "loadgeneratorv2"),
                      ("StagedNetworkPolicy", "yaobank", "yaobank")}   # tenant shop already passes its own flows
    for obj in fix.staged:
        labels = obj["metadata"]["labels"]
        assert labels[REMEDIATION_LABEL] == PROPOSED and labels[MANAGED_BY[0]] == MANAGED_BY[1] and TIER_LABEL not in labels
        assert obj["spec"]["stagedAction"] == "Set" and obj["spec"]["tier"] == labels["projectcalico.org/tier"]
    assert [entry["verdict"] for entry in fix.preview()] == ["allow", "allow"]


def test_hits_count_the_log_records_each_allowing_rule_decided(cluster):
    rows = [row("hipstershop/frontend", "hipstershop/cartservice", 7070), row("yaobank/customer", "yaobank/summary", 80)]
    flows = observed(rows)
    fix = assessment(cluster, rows, counts={flows[0]: 7, flows[1]: 2})
    hits = {(hit["policy"], hit["direction"]): hit["hits"] for hit in fix.report["hits"]}
    assert hits == {("hipstershop/cartservice", "ingress"): 7, ("hipstershop/frontend", "egress"): 7,
                    ("yaobank/yaobank", "egress"): 2, ("yaobank/yaobank", "ingress"): 2}
    assert all(set(hit) == {"tier", "policy", "direction", "rule", "hits"} for hit in fix.report["hits"])
    # frontend -> adservice is declared but no observed flow used its rules
    assert fix.report["unused"] == [dict(row("hipstershop/frontend", "hipstershop/adservice", "9555/TCP"), tier="appsec",
                                         policy="hipstershop/adservice")]


def test_a_flow_no_row_can_allow_is_not_proposed(cluster):
    fix = assessment(cluster, [row("hipstershop/frontend", "net:203.0.113.7/32", 443)])
    assert fix.proposals == [] and fix.rows == [] and fix.staged == []
    assert fix.not_proposed[0]["policy"] == "threat-nets-deny" and "still denied" in fix.not_proposed[0]["reason"]


@pytest.mark.parametrize("changes, note", [({"microseg_dialect": "kubernetes"}, "the kubernetes dialect has no staged policy kind"),
                                           ({"microseg_calico_version": "3.29"}, "Calico 3.29 has no staged policies (open source 3.30+)"),
                                           ({"microseg_calico_version": "3.29", "microseg_calico_edition": "enterprise"}, ""),
                                           ({"microseg_calico_version": "3.30"}, "")])
def test_staged_proposals_need_calico_330(tmp_path, changes, note):
    assert (note in staged_note(intent_for(tmp_path, **changes))) and bool(staged_note(intent_for(tmp_path, **changes))) == bool(note)


@pytest.mark.parametrize("version, edition, stages", [("3.29", "oss", False), ("3.29", "enterprise", True), ("3.30", "oss", True),
                                                      ("3.31", "oss", True), ("3.32", "oss", True), ("3.32", "enterprise", True)])
def test_staged_proposals_are_kinds_the_calico_serves(cluster, version, edition, stages):
    """remediate stages exactly where the feature table says the Calico has staged policies, and only kinds it serves."""
    fix = assessment(cluster, NEW, microseg_calico_version=version, microseg_calico_edition=edition)
    found = features(tuple(int(part) for part in version.split(".")), edition)
    assert found.staged == stages and bool(fix.staged) == stages and (fix.note == "") == stages
    assert {obj["kind"] for obj in fix.staged} <= {"StagedNetworkPolicy", "StagedGlobalNetworkPolicy"}
    assert unserved(fix.staged, found) == []
    assert len(fix.proposals) == 2   # proposed either way; below 3.30 (oss) only reported


def test_staged_copy_keeps_name_tier_and_rules():
    policy = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
              "metadata": {"name": "x", "labels": {TIER_LABEL: "security", "zerotrust.microseg/posture": "enforced",
                                                   "projectcalico.org/tier": "security", MANAGED_BY[0]: MANAGED_BY[1]}},
              "spec": {"tier": "security", "order": 1, "selector": "all()", "ingress": [{"action": "Deny"}]}}
    staged = staged_copy(policy)
    assert staged == {"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
                      "metadata": {"name": "x", "labels": {"projectcalico.org/tier": "security", MANAGED_BY[0]: MANAGED_BY[1],
                                                           REMEDIATION_LABEL: PROPOSED}},
                      "spec": {"stagedAction": "Set", "tier": "security", "order": 1, "selector": "all()", "ingress": [{"action": "Deny"}]}}


def test_rows_are_appended_under_a_dated_header_and_read_back_as_flows():
    flows = observed(NEW)
    text = append_rows("", flows[:1], {}, "prod-1", today="2026-12-04")
    assert text.startswith("# Flows accepted by zerotrust.microseg remediate") and "prod-1, first on 2026-12-04" in text
    assert text.endswith("# 2026-12-04: 1 row(s) accepted from observed flows\nhipstershop/loadgeneratorv2 | hipstershop/frontend | 8080/TCP\n")
    more = append_rows(text, flows[1:], {}, "prod-1", today="2026-12-05")
    assert more.startswith(text) and "# 2026-12-05: 1 row(s) accepted" in more
    assert parse_flow_text(more, "t.md", None, {}) == flows
    check_table(more, "t.md", {}, flows)
    with pytest.raises(ValueError, match="would not hold"):
        check_table(text, "t.md", {}, flows)


def test_record_counts_add_up_across_logs():
    flows = observed(NEW)
    logs = [{"flows": flows, "stats": {"counts": [3, 1]}}, {"flows": flows[:1], "stats": {"counts": [4]}}, {"flows": [], "stats": {}}]
    assert record_counts(logs) == {flows[0]: 7, flows[1]: 1}


def test_declared_flows_include_the_remediated_table_once_it_exists(tmp_path):
    intent = intent_for(tmp_path)
    assert len(declared_flows(intent)) == 3
    os.makedirs(tmp_path / "flows")
    (tmp_path / "flows" / "remediated.md").write_text(append_rows("", observed(NEW), {}, "c"), encoding="utf-8")
    assert len(declared_flows(intent)) == 5


def phase(base, apply=False, check_mode=False, **changes):
    intent = intent_for(base, microseg_observed_flows=[{"source": r["source"], "destination": r["destination"], "port": r["port"]} for r in NEW],
                        **changes)
    target = DirectoryTarget(str(base / "cluster"), check_mode=check_mode)
    return remediate(intent, target, str(base / "reports" / "c" / "remediation.json"), "c", apply=apply)


def files(root):
    found = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(base, name), "rb") as handle:
                found[os.path.relpath(os.path.join(base, name), root)] = handle.read()
    return found


def test_the_phase_stages_then_accepts_and_then_changes_nothing(cluster):
    enforced = {k: v for k, v in files(cluster / "cluster").items() if "Staged" not in k and not k.startswith(".microseg")}
    before = files(cluster)
    checked = phase(cluster, check_mode=True)
    assert checked["changed"] and files(cluster) == before
    preview = phase(cluster)
    assert preview["changed"] and len(preview["created"]) == 3 and preview["staged"] == sorted(preview["created"])
    assert {k: v for k, v in files(cluster / "cluster").items() if "Staged" not in k and not k.startswith(".microseg")} == enforced
    assert not phase(cluster)["changed"]
    staged = files(cluster)
    assert phase(cluster, apply=True, check_mode=True)["changed"] and files(cluster) == staged
    accepted = phase(cluster, apply=True)
    assert accepted["changed"] and len(accepted["accepted"]) == 2 and len(accepted["deleted"]) == 3
    assert not [k for k in files(cluster / "cluster") if "Staged" in k]
    assert accepted["report"]["denied"] == [] and len(accepted["report"]["accepted"]) == 2
    assert os.path.exists(cluster / "flows" / "remediated.md")
    again = phase(cluster, apply=True)
    assert not again["changed"] and not phase(cluster)["changed"]


def test_a_failed_accept_leaves_target_and_table_as_they_were(cluster, monkeypatch):
    phase(cluster)
    before = files(cluster)
    from ansible_collections.zerotrust.microseg.plugins.module_utils import remediation

    def broken(path, text):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(remediation, "replace_text", broken)
    with pytest.raises(OSError):
        phase(cluster, apply=True)
    after = files(cluster)
    assert {k: v for k, v in after.items() if ".microseg" not in k} == {k: v for k, v in before.items() if ".microseg" not in k}


def test_the_gate_refuses_an_accept_that_would_deny_a_declared_flow(cluster):
    phase(cluster)
    # a threat net declared as a destination can never be allowed: the gate names it, nothing is written
    before = files(cluster)
    apps = [dict(VARIABLES["microseg_apps"][0], flows=VARIABLES["microseg_apps"][0]["flows"] + [row("frontend", "net:203.0.113.0/24", 443)]),
            VARIABLES["microseg_apps"][1]]
    with pytest.raises(GateRefused, match="remediate refused"):
        phase(cluster, apply=True, microseg_apps=apps)
    assert files(cluster) == before


def test_an_unfixable_dropped_flow_is_reported_but_does_not_block_accepting_the_rest(cluster):
    rows = NEW + [row("hipstershop/frontend", "net:203.0.113.7/32", 443)]
    intent = intent_for(cluster, microseg_observed_flows=rows)
    result = remediate(intent, DirectoryTarget(str(cluster / "cluster")), str(cluster / "reports" / "c" / "remediation.json"), "c", apply=True)
    assert len(result["accepted"]) == 2
    assert [entry["destination"] for entry in result["report"]["denied"]] == ["net:203.0.113.7/32"]
    assert result["report"]["not_proposed"][0]["destination"] == "net:203.0.113.7/32"
    again = remediate(intent, DirectoryTarget(str(cluster / "cluster")), str(cluster / "reports" / "c" / "remediation.json"), "c")
    assert not again["changed"] and again["report"]["not_proposed"] == result["report"]["not_proposed"]
