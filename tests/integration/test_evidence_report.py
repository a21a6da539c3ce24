"""The evidence report (CONTRACT §8) through playbooks/site.yml on the lab's directory cluster.

Traffic no flow table declares shows up in a Hubble log. After a fail-safe deploy the cluster's report.json must list
every flow: each declared one allowed now and at enforce, the new one observed, undeclared, allowed now (nothing that
works stops at deploy) and denied at enforce; report.html must say the same on one self-contained page; --check writes
neither, and a second identical run changes nothing.
"""
import json
import os

from conftest import run_playbook
from test_semantics import set_lab_variable

UNDECLARED = {"source": "hipstershop/loadgenerator", "destination": "hipstershop/cartservice", "port": "7070/TCP"}


def _endpoint(namespace, app, identity):
    return {"identity": identity, "namespace": namespace, "labels": ["k8s:app=" + app, "k8s:io.kubernetes.pod.namespace=" + namespace],
            "workloads": [{"name": app, "kind": "Deployment"}]}


def hubble_record(second):
    """One Hubble exporter record of loadgenerator -> cartservice 7070/TCP, forwarded (``hubble observe -o json``)."""
    stamp = "2025-05-12T09:00:%02d.123456789Z" % second
    flow = {"time": stamp, "verdict": "FORWARDED", "Type": "L3_L4", "is_reply": False, "traffic_direction": "INGRESS",
            "IP": {"source": "10.244.1.30", "destination": "10.244.1.20", "ipVersion": "IPv4"},
            "l4": {"TCP": {"source_port": 40000 + second, "destination_port": 7070, "flags": {"SYN": True}}},
            "source": _endpoint("hipstershop", "loadgenerator", 30013), "destination": _endpoint("hipstershop", "cartservice", 30011)}
    return {"flow": flow, "node_name": "kind-worker", "time": stamp}


def add_new_traffic(lab):
    path = os.path.join(lab, "logs", "new-traffic.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(hubble_record(second)) + "\n" for second in range(3)))
    set_lab_variable(lab, "microseg_flow_logs", [{"path": "logs/flows.jsonl", "format": "calico"}, {"path": "logs/new-traffic.jsonl", "format": "hubble"}])


def reports(lab):
    return os.path.join(lab, "reports", "lab-cluster")


def test_report_judges_every_flow_now_and_at_enforce(lab):
    add_new_traffic(lab)
    checked = run_playbook(lab, "--check", "--tags", "identify,analyze,deploy")
    assert checked.rc == 0, checked.out
    assert not os.path.exists(os.path.join(reports(lab), "report.json")) and not os.path.exists(os.path.join(reports(lab), "report.html"))

    first = run_playbook(lab, "--tags", "identify,analyze,deploy")
    assert first.rc == 0, first.out
    with open(os.path.join(reports(lab), "report.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    assert report["phase"] == "deploy" and report["gate"] is None
    flows = report["flows"]
    declared = [flow for flow in flows if flow["declared"]]
    assert len(declared) >= 20
    for flow in declared:
        assert flow["at_enforce"] == "allow" and flow["now"] == "allow", flow
    new = [flow for flow in flows if {k: flow[k] for k in ("source", "destination", "port")} == UNDECLARED]
    assert new == [dict(UNDECLARED, declared=False, observed=True, now="allow", at_enforce="deny")]
    assert len({(f["source"], f["destination"], f["port"]) for f in flows}) == len(flows)
    assert "hipstershop/frontend" in report["pci"]["workloads"] and not any(w.startswith("yaobank/") for w in report["pci"]["workloads"])
    assert {"confirmed", "unobserved", "undeclared"} <= set(report["reconciliation"])
    assert any(rule.get("hits") for tier in report["policies"] for policy in tier["policies"] for rule in policy["rules"])

    with open(os.path.join(reports(lab), "report.html"), encoding="utf-8") as handle:
        page = handle.read()
    for forbidden in ("http://", "https://", "<script", "src=", "url("):
        assert forbidden not in page, forbidden
    for flow in flows:
        assert flow["source"] in page and flow["destination"] in page, flow

    second = run_playbook(lab, "--tags", "identify,analyze,deploy")
    assert second.rc == 0 and second.changed == 0, second.out
