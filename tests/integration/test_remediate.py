"""The method's fifth phase (CONTRACT §7) through playbooks/site.yml on the lab's directory cluster.

The workshop's remediation cases (METHODOLOGY.md §8) arrive as new traffic in a Hubble flow log,
with the imperfect lines real logs have. Each case must be denied after enforce, proposed, staged
without changing anything enforced, previewed, applied, and then allowed, while every other
(pod, pod, protocol, port) verdict stays what it was: checked pair by pair with the evaluator.
"""
import json
import os

import pytest
import yaml

from conftest import policy_tree, run_playbook, tree
from test_semantics import EXTERNALS, cases, set_lab_variable

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import (External, PolicySet, Workload, namespaces_from_objects,
                                                                                  workloads_from_objects)
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_flow_rows

CIDRS = ["10.244.0.0/16", "10.96.0.0/12"]
STAGED_DIRS = (os.path.join("projectcalico.org", "StagedNetworkPolicy"), os.path.join("projectcalico.org", "StagedGlobalNetworkPolicy"))
# The new workloads of METHODOLOGY.md §8: a monitoring pod outside every tenant and a second load generator.
MONITORING_NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "monitoring", "labels": {"kubernetes.io/metadata.name": "monitoring"}}}
MONITORING_POD = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "monitoring-pod", "namespace": "monitoring", "labels": {"run": "monitoring-pod"}},
                  "spec": {"containers": [{"name": "monitoring", "image": "busybox"}]}}
LOADGENERATOR_V2 = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "loadgeneratorv2", "namespace": "hipstershop"},
                    "spec": {"selector": {"matchLabels": {"app": "loadgeneratorv2"}},
                             "template": {"metadata": {"labels": {"app": "loadgeneratorv2", "pci": "true"}},
                                          "spec": {"containers": [{"name": "main", "image": "loadgenerator:v0.3.5"}]}}}}
CASES = {
    "monitoring": [("monitoring", "run=monitoring-pod", "hipstershop", "frontend", 8080),
                   ("monitoring", "run=monitoring-pod", "yaobank", "customer", 80),
                   ("monitoring", "run=monitoring-pod", "bookinfo", "productpage", 9080)],
    "loadgeneratorv2": [("hipstershop", "loadgeneratorv2", "hipstershop", "frontend", 8080)],
    "ratings-github": [("bookinfo", "ratings", None, "www.github.com", 443)],
}
IPS = {"monitoring-pod": "10.244.9.9", "loadgeneratorv2": "10.244.1.77", "frontend": "10.244.1.10", "customer": "10.244.2.10",
       "productpage": "10.244.3.10", "ratings": "10.244.3.20", "www.github.com": "140.82.112.3"}
# Lines a live Hubble export holds besides flows: each must be skipped and named, never fatal.
IMPERFECT = ['this is not JSON', '{"node_status": {"state": "NODE_CONNECTED", "node_names": ["kind-worker"]}}',
             '[1, 2, 3]', '{"flow": {"time": "2025-05-12T09:00:00Z", "source": {"namespace": "hipstershop"']


def _endpoint(namespace, name):
    if namespace is None:
        return {"identity": 2, "labels": ["reserved:world"]}
    key, _equals, value = name.rpartition("=")
    labels = ["k8s:%s=%s" % (key or "app", value), "k8s:io.kubernetes.pod.namespace=" + namespace]
    return {"identity": 30000 + len(value), "namespace": namespace, "labels": labels, "workloads": [{"name": value, "kind": "Deployment"}]}


def hubble_record(source_ns, source, destination_ns, destination, port, second):
    """One Hubble exporter record of a new connection (the shape ``hubble observe -o json`` prints)."""
    stamp = "2025-05-12T09:00:%02d.123456789Z" % second
    flow = {"time": stamp, "verdict": "DROPPED", "Type": "L3_L4", "is_reply": False, "traffic_direction": "INGRESS",
            "IP": {"source": IPS[source.rpartition("=")[2]], "destination": IPS[destination], "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000 + second, "destination_port": port, "flags": {"SYN": True}}},
            "source": _endpoint(source_ns, source), "destination": _endpoint(destination_ns, destination)}
    if destination_ns is None:
        flow["destination_names"] = [destination]
    return {"flow": flow, "node_name": "kind-worker", "time": stamp}


def write_new_traffic(lab, case, repeat=3):
    """The case's flows as a Hubble log (``repeat`` records each, dropped as Hubble shows them after enforce) with imperfect lines.

    The imperfect lines are lines 2, 4 and 6 (or the end) and the very last line, cut short. Returns how many there are.
    """
    records = [json.dumps(hubble_record(source_ns, source, destination_ns, destination, port, number))
               for number, (source_ns, source, destination_ns, destination, port) in enumerate(CASES[case] * repeat)]
    lines = []
    for number, record in enumerate(records):
        lines.append(record)
        if number < len(IMPERFECT) - 1:
            lines.append(IMPERFECT[number])
    lines += IMPERFECT[min(len(records), len(IMPERFECT) - 1):-1] + IMPERFECT[-1:]
    path = os.path.join(lab, "logs", "new-traffic.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return len(IMPERFECT)


def add_workloads(lab):
    for obj, relpath in ((MONITORING_NAMESPACE, "core/Namespace/_cluster/monitoring.yaml"), (MONITORING_POD, "core/Pod/monitoring/monitoring-pod.yaml"),
                         (LOADGENERATOR_V2, "apps/Deployment/hipstershop/loadgeneratorv2.yaml")):
        path = os.path.join(lab, "cluster", relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(obj, handle)


def read_vars(lab):
    with open(os.path.join(lab, "group_vars", "lab.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def report(lab, name="remediation.json"):
    with open(os.path.join(lab, "reports", "lab-cluster", name), encoding="utf-8") as handle:
        return json.load(handle)


def case_rows(case):
    return [{"source": "%s/%s" % (sns, source), "destination": "domain:" + destination if dns is None else "%s/%s" % (dns, destination),
             "port": "%d/TCP" % port} for sns, source, dns, destination, port in CASES[case]]


def verdicts(lab, staged=False):
    """Every (source, destination, protocol, port) of the lab -> allowed, under the policies the directory holds."""
    live = DirectoryTarget(os.path.join(lab, "cluster")).list()
    policy_set = PolicySet(list(live.values()), namespaces=namespaces_from_objects(live.values()), cluster_cidrs=CIDRS, staged=staged)
    pods = workloads_from_objects(live.values())
    ports = [type("Port", (), {"port_min": port})() for port in (80, 6379, 7070, 8080, 9080, 9555, 50051)]
    externals = EXTERNALS + [External(ip=IPS["www.github.com"], domain="www.github.com")]
    found = {}
    for source, destination, protocol, port in cases(pods, ports):
        found[(_name(source), _name(destination), protocol, port)] = policy_set.verdict(source, destination, protocol, port).allowed
    for source in pods:
        for destination in externals:
            for port in (80, 443, 9999):
                found[(_name(source), _name(destination), "TCP", port)] = policy_set.verdict(source, destination, "TCP", port).allowed
    return found


def _name(peer):
    if isinstance(peer, Workload):
        return "%s/%s" % (peer.namespace, peer.name)
    return peer.domain or peer.ip


def case_pairs(lab, case):
    """The (source pod, destination, TCP, port) keys the case's flows stand for."""
    live = DirectoryTarget(os.path.join(lab, "cluster")).list()
    pods = workloads_from_objects(live.values())
    wanted = set()
    for flow in parse_flow_rows(case_rows(case), "case", None, None):
        for source in pods:
            if source.namespace != flow.source.namespace or source.labels.get(flow.source.key) != flow.source.value:
                continue
            if flow.destination.kind == "domain":
                wanted.add((_name(source), flow.destination.domain, "TCP", flow.port_min))
                continue
            for destination in pods:
                if destination.namespace == flow.destination.namespace and destination.labels.get(flow.destination.key) == flow.destination.value:
                    wanted.add((_name(source), _name(destination), "TCP", flow.port_min))
    assert wanted, case
    return wanted


def enforced_tree(lab):
    """The policy files that are enforced: not the staged proposals, nor the network sets a proposal needs (labelled proposed)."""
    return {k: v for k, v in policy_tree(os.path.join(lab, "cluster")).items()
            if not k.startswith(STAGED_DIRS) and b"zerotrust.microseg/remediation: proposed" not in v}


@pytest.fixture
def enforced(lab):
    add_workloads(lab)
    result = run_playbook(lab, "--tags", "identify,analyze,deploy,enforce")
    assert result.rc == 0, result.out
    return lab


def start_case(lab, case):
    if case == "ratings-github":  # the oss edition widens every domain to any external address on 443 already
        set_lab_variable(lab, "microseg_calico_edition", "enterprise")
        assert run_playbook(lab, "--tags", "enforce").rc == 0
    imperfect = write_new_traffic(lab, case)
    variables = read_vars(lab)
    set_lab_variable(lab, "microseg_flow_logs", variables["microseg_flow_logs"] + [{"path": "logs/new-traffic.jsonl", "format": "hubble"}])
    return imperfect


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_workshop_case_is_denied_proposed_previewed_applied_then_allowed(enforced, case):
    lab = enforced
    imperfect = start_case(lab, case)
    before = verdicts(lab)
    new = case_pairs(lab, case)
    assert not any(before[key] for key in new), "the case must be denied after enforce"
    enforced_before = enforced_tree(lab)

    preview = run_playbook(lab, "--tags", "remediate")
    assert preview.rc == 0, preview.out
    shown = " ".join(preview.out.split())
    assert "logs/new-traffic.jsonl: skipped %d line(s)" % imperfect in shown, preview.out
    assert "remediate: %d observed flow(s) denied by the live policies, %d proposed" % (len(CASES[case]), len(CASES[case])) in shown
    found = report(lab)
    strip = [{k: row[k] for k in ("source", "destination", "port")} for row in found["denied"]]
    assert sorted(strip, key=str) == sorted(case_rows(case), key=str)
    assert all(row["tier"] and row["policy"] for row in found["denied"])
    assert sorted(({k: row[k] for k in ("source", "destination", "port")} for row in found["proposals"]), key=str) == sorted(case_rows(case), key=str)
    assert all(row["tier"] in ("appsec", "application") for row in found["proposals"]), found["proposals"]
    assert found["skipped_total"] == imperfect and {entry["path"] for entry in found["skipped"]} == {"logs/new-traffic.jsonl"}
    assert enforced_tree(lab) == enforced_before, "the preview must change nothing enforced"
    assert verdicts(lab) == before, "no verdict of the enforced set changes with the preview"
    network_sets = (os.path.join("projectcalico.org", "GlobalNetworkSet"), os.path.join("projectcalico.org", "NetworkSet"))
    assert any(path.startswith(STAGED_DIRS) for path in found["staged"])
    assert all(path.startswith(STAGED_DIRS + network_sets) for path in found["staged"]), found["staged"]
    for path in found["staged"]:
        with open(os.path.join(lab, "cluster", path), encoding="utf-8") as handle:
            assert yaml.safe_load(handle)["metadata"]["labels"]["zerotrust.microseg/remediation"] == "proposed"

    previewed = verdicts(lab, staged=True)
    changed = {key for key in before if before[key] != previewed[key]}
    assert changed == new and all(previewed[key] for key in new)
    again = run_playbook(lab, "--tags", "remediate")
    assert again.rc == 0 and again.changed == 0, again.out

    snapshot = tree(lab)
    checked = run_playbook(lab, "--tags", "remediate", "-e", "microseg_remediate_apply=true", "--check", "--diff")
    assert checked.rc == 0, checked.out
    assert tree(lab) == snapshot, "check mode must write nothing at all"
    assert "+++ after: %s" % os.path.join(lab, "flows", "remediated-lab-cluster.md") in checked.out

    applied = run_playbook(lab, "--tags", "remediate", "-e", "microseg_remediate_apply=true")
    assert applied.rc == 0, applied.out
    after = verdicts(lab)
    assert {key for key in before if before[key] != after[key]} == new and all(after[key] for key in new)
    assert not any(os.path.isdir(os.path.join(lab, "cluster", path)) and os.listdir(os.path.join(lab, "cluster", path)) for path in STAGED_DIRS)
    with open(os.path.join(lab, "flows", "remediated-lab-cluster.md"), encoding="utf-8") as handle:
        table = handle.read()
    assert table.startswith("# ") and all("%s | %s | %s" % (r["source"], r["destination"], r["port"]) in table for r in case_rows(case))
    final = report(lab)
    assert final["denied"] == [] and final["proposals"] == [] and final["staged"] == []
    assert sorted(final["accepted"], key=str) == sorted(case_rows(case), key=str)

    assert run_playbook(lab, "--tags", "remediate", "-e", "microseg_remediate_apply=true").changed == 0
    first = run_playbook(lab)
    assert first.rc == 0, first.out
    second = run_playbook(lab)
    assert second.rc == 0 and second.changed == 0, second.out


def test_hits_count_log_records_and_unused_lists_declared_flows_nobody_used(enforced):
    lab = enforced
    write_new_traffic(lab, "loadgeneratorv2", repeat=4)
    variables = read_vars(lab)
    set_lab_variable(lab, "microseg_flow_logs", variables["microseg_flow_logs"] + [{"path": "logs/new-traffic.jsonl", "format": "hubble"}])
    assert run_playbook(lab, "--tags", "remediate", "-e", "microseg_remediate_apply=true").rc == 0
    result = run_playbook(lab, "--tags", "remediate")
    assert result.rc == 0, result.out
    found = report(lab)
    frontend = [hit for hit in found["hits"] if hit["policy"] == "hipstershop/frontend" and hit["direction"] == "ingress"]
    loadgenerator = [hit for hit in found["hits"] if hit["policy"] == "hipstershop/loadgeneratorv2" and hit["direction"] == "egress"]
    assert [hit["hits"] for hit in loadgenerator] == [4], found["hits"]
    assert 4 in [hit["hits"] for hit in frontend]
    unused = [{k: row[k] for k in ("source", "destination", "port")} for row in found["unused"]]
    # declared, and neither the observed table nor the flow logs ever showed it
    assert {"source": "hipstershop/frontend", "destination": "hipstershop/adservice", "port": "9555/TCP"} in unused
    assert {"source": "hipstershop/loadgeneratorv2", "destination": "hipstershop/frontend", "port": "8080/TCP"} not in unused


def test_check_mode_preview_writes_nothing_at_all(enforced):
    lab = enforced
    start_case(lab, "monitoring")
    before = tree(lab)
    result = run_playbook(lab, "--tags", "remediate", "--check", "--diff")
    assert result.rc == 0, result.out
    assert tree(lab) == before
    assert "+++ after: projectcalico.org/StagedGlobalNetworkPolicy/_cluster/tenant-hipstershop.yaml" in result.out
    assert "remediation.json" in result.out


def test_strict_makes_skipped_lines_fatal_and_names_them(enforced):
    lab = enforced
    start_case(lab, "monitoring")
    before = tree(lab)
    result = run_playbook(lab, "--tags", "remediate", "-e", "microseg_strict=true")
    assert result.rc != 0
    assert "logs/new-traffic.jsonl" in result.out and "line 2" in result.out, result.out
    assert tree(lab) == before


@pytest.mark.parametrize("variable,value,reason", [("microseg_dialect", "kubernetes", "the kubernetes dialect has no staged policy kind"),
                                                   ("microseg_calico_version", "3.29", "Calico 3.29 has no staged policies")])
def test_without_staged_kinds_remediate_reports_only(lab, variable, value, reason):
    add_workloads(lab)
    set_lab_variable(lab, variable, value)
    assert run_playbook(lab, "--tags", "identify,analyze,deploy,enforce").rc == 0
    start_case(lab, "monitoring")
    before = enforced_tree(lab)
    result = run_playbook(lab, "--tags", "remediate")
    assert result.rc == 0, result.out
    assert reason in " ".join(result.out.split())
    found = report(lab)
    assert len(found["denied"]) == 3 and len(found["proposals"]) == 3 and found["staged"] == [] and reason in found["note"]
    assert enforced_tree(lab) == before
    applied = run_playbook(lab, "--tags", "remediate", "-e", "microseg_remediate_apply=true")
    assert applied.rc == 0, applied.out
    assert report(lab)["denied"] == []


def calico_record(source_ns, source, destination_ns, destination, port, second):
    """One Calico flow log document (the shape felix sends to Elasticsearch) of an allowed connection."""
    key, _equals, value = source.rpartition("=")

    def side(prefix, namespace, label_key, name):
        return {prefix + "type": "wep", prefix + "namespace": namespace, prefix + "name": "-", prefix + "name_aggr": name + "-5d9c7b6f4-*",
                prefix + "labels": {"labels": ["%s=%s" % (label_key, name)]}}
    record = {"start_time": 1747040400 + second, "end_time": 1747040700 + second, "action": "allow", "proto": "tcp", "dest_port": port,
              "reporter": "dst", "dest_domains": None, "source_ip": None, "dest_ip": None}
    record.update(side("source_", source_ns, key or "app", value))
    record.update(side("dest_", destination_ns, "app", destination))
    return record


def goldmane_record(source_ns, source, destination_ns, destination, port, second):
    """One Goldmane flow (``goldmane/proto/api.proto`` Flow, as its emitter posts it) of an allowed connection."""
    key, _equals, value = source.rpartition("=")
    return {"Key": {"source_name": value + "-5d9c7b6f4-*", "source_namespace": source_ns, "source_type": 1,
                    "dest_name": destination + "-5d9c7b6f4-*", "dest_namespace": destination_ns, "dest_type": 1, "proto": "tcp",
                    "dest_port": port, "reporter": 2, "action": 1},
            "start_time": 1747040400 + second, "end_time": 1747040415 + second,
            "source_labels": ["%s=%s" % (key or "app", value)], "dest_labels": ["app=" + destination]}


@pytest.mark.parametrize("fmt", ["hubble", "calico", "goldmane"])
def test_analyze_reads_the_same_imperfect_log_in_every_format(enforced, fmt):
    lab = enforced
    make = {"hubble": hubble_record, "calico": calico_record, "goldmane": goldmane_record}[fmt]
    lines = []
    for number, flow in enumerate(CASES["monitoring"]):
        record = make(*flow, number)
        if fmt == "hubble":
            record["flow"]["verdict"] = "FORWARDED"
        lines += [json.dumps(record), IMPERFECT[0] if number == 0 else "[1, 2, 3]"]
    lines.append(json.dumps(make(*CASES["monitoring"][0], 9))[:-7])   # the writer was cut off
    with open(os.path.join(lab, "logs", "new-traffic.jsonl"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    set_lab_variable(lab, "microseg_flow_logs", read_vars(lab)["microseg_flow_logs"] + [{"path": "logs/new-traffic.jsonl", "format": fmt}])
    result = run_playbook(lab, "--tags", "analyze")
    assert result.rc == 0, result.out
    shown = " ".join(result.out.split())
    assert "flow log logs/new-traffic.jsonl: skipped 4 line(s)" in shown and "logs/new-traffic.jsonl:2:" in shown, result.out
    found = report(lab, "reconciliation.json")
    for row in case_rows("monitoring"):
        assert row in found["undeclared"], (row, found["undeclared"])
    assert found["skipped_total"] == 4
    assert [entry["line"] for entry in found["skipped"]] == [2, 4, 6, 7]
    assert {entry["path"] for entry in found["skipped"]} == {"logs/new-traffic.jsonl"}
    strict = run_playbook(lab, "--tags", "analyze", "-e", "microseg_strict=true")
    assert strict.rc != 0 and "logs/new-traffic.jsonl" in strict.out and "line 2" in strict.out, strict.out
