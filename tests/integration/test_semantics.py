"""CONTRACT §6 on the lab: after deploy nothing legitimate is denied; after enforce exactly the
declared flows, DNS and trusted domains are allowed. The policy set the playbooks wrote is read
back from the directory target and every (pod, pod, protocol, port) combination is decided by
the offline evaluator; the expected answer is computed from the flow tables alone."""
import ipaddress
import os

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import (External, PolicySet, Workload,
                                                                                  namespaces_from_objects, workloads_from_objects)
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import load_flows
from conftest import run_playbook

IN_SCOPE = {"hipstershop", "yaobank", "bookinfo"}
CLUSTER_CIDRS = [ipaddress.ip_network(c) for c in ("10.244.0.0/16", "10.96.0.0/12")]
THREAT = External(ip="203.0.113.9")
EXTERNALS = [THREAT, External(ip="198.51.100.7"), External(domain="google.com"), External(domain="www.ubuntu.com"),
             External(domain="api.bloomberg.com"), External(domain="bloomberg.com"), External(domain="www.github.com")]
STRANGER = Workload("monitoring", "monitoring-pod", {"run": "monitoring-pod"})


def declared(lab):
    identity = {"hipstershop": "app", "yaobank": "app", "bookinfo": "app"}
    flows = []
    for app in ("hipstershop", "yaobank", "bookinfo"):
        flows += load_flows("flows/%s.md" % app, lab, app, identity)
    return flows


def set_lab_variable(lab, name, value):
    """Change one variable of the lab copy's group_vars."""
    vars_file = os.path.join(lab, "group_vars", "lab.yml")
    with open(vars_file, encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables[name] = value
    with open(vars_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(variables, handle)


def _domain_matches(pattern, name):
    """Calico Enterprise wildcard rules: ``*.x.com`` matches one or more labels before x.com, not x.com."""
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and name != pattern[2:]
    return name == pattern


def _endpoint_matches(endpoint, peer, edition="oss"):
    if endpoint.kind in ("workload", "namespace"):
        if not isinstance(peer, Workload) or peer.namespace != endpoint.namespace:
            return False
        return endpoint.kind == "namespace" or peer.labels.get(endpoint.key) == endpoint.value
    if not isinstance(peer, External):
        return False
    if endpoint.kind == "domain":  # oss: widened to any address outside the cluster; enterprise: by name
        return edition == "oss" or (bool(peer.domain) and _domain_matches(endpoint.domain, peer.domain))
    return bool(peer.ip) and ipaddress.ip_address(peer.ip) in ipaddress.ip_network(endpoint.net)


TRUSTED = ("google.com", "tigera.io")


def expected_after_enforce(flows, source, destination, protocol, port, edition="oss"):
    if destination == THREAT:
        return False
    src_in = isinstance(source, Workload) and source.namespace in IN_SCOPE
    dst_in = isinstance(destination, Workload) and destination.namespace in IN_SCOPE
    if not src_in and not dst_in:
        return True
    for flow in flows:
        if (flow.protocol == protocol and flow.port_min <= port <= flow.port_max
                and _endpoint_matches(flow.source, source) and _endpoint_matches(flow.destination, destination, edition)):
            return True
    if src_in and isinstance(destination, Workload) and destination.labels.get("k8s-app") == "kube-dns" \
            and destination.namespace == "kube-system" and port == 53:
        return True
    if src_in and isinstance(destination, External):
        if edition == "enterprise":
            return destination.domain in TRUSTED  # by name, on any port
        return protocol == "TCP" and port == 443  # oss: any address outside the cluster on 443/TCP
    return False


def cases(pods, flows):
    ports = sorted({f.port_min for f in flows} | {53, 443, 9999})
    peers = pods + EXTERNALS
    for source in pods + EXTERNALS[1:2]:
        for destination in peers:
            if isinstance(source, External) and isinstance(destination, External):
                continue
            for protocol in ("TCP", "UDP"):
                for port in ports:
                    if protocol == "UDP" and port != 53:
                        continue
                    yield source, destination, protocol, port


@pytest.fixture
def deployed(lab):
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc == 0, result.out
    return lab


def evaluate(lab):
    live = DirectoryTarget(os.path.join(lab, "cluster")).list()
    pods = workloads_from_objects(live.values()) + [STRANGER]
    policy_set = PolicySet(list(live.values()), namespaces=namespaces_from_objects(live.values()),
                           cluster_cidrs=[str(c) for c in CLUSTER_CIDRS])
    return policy_set, pods


def test_after_deploy_only_threat_nets_are_denied(deployed):
    policy_set, pods = evaluate(deployed)
    flows = declared(deployed)
    checked = 0
    for source, destination, protocol, port in cases(pods, flows):
        verdict = policy_set.verdict(source, destination, protocol, port)
        assert verdict.allowed == (destination != THREAT), (source, destination, protocol, port, verdict)
        checked += 1
    assert checked > 10000


def test_after_enforce_exactly_declared_dns_and_trusted_domains_are_allowed(deployed):
    assert run_playbook(deployed, "--tags", "enforce").rc == 0
    policy_set, pods = evaluate(deployed)
    flows = declared(deployed)
    allowed = checked = 0
    for source, destination, protocol, port in cases(pods, flows):
        verdict = policy_set.verdict(source, destination, protocol, port)
        assert verdict.allowed == expected_after_enforce(flows, source, destination, protocol, port), \
            (source, destination, protocol, port, verdict)
        checked += 1
        allowed += verdict.allowed
    assert checked > 10000 and 0 < allowed < checked


def test_enforce_gate_refuses_an_observed_flow_it_would_deny(deployed):
    with open(os.path.join(deployed, "flows", "observed.md"), "a", encoding="utf-8") as handle:
        handle.write("monitoring/run=monitoring-pod | yaobank/customer | 80\n")
    before = DirectoryTarget(os.path.join(deployed, "cluster")).list()
    result = run_playbook(deployed, "--tags", "enforce")
    assert result.rc != 0
    assert "enforce refused: 1 declared or observed flow(s) would be denied" in result.out, result.out
    assert "monitoring/run=monitoring-pod -> yaobank/customer 80/TCP: ingress denied by default/namespace-yaobank-catch-all" in result.out
    assert DirectoryTarget(os.path.join(deployed, "cluster")).list() == before
    opted_out = run_playbook(deployed, "--tags", "enforce", "-e", "microseg_enforce_gate=false")
    assert opted_out.rc == 0, opted_out.out


def test_kubernetes_dialect_has_the_same_semantics(lab):
    set_lab_variable(lab, "microseg_dialect", "kubernetes")
    assert run_playbook(lab, "--tags", "deploy").rc == 0
    policy_set, pods = evaluate(lab)
    flows = declared(lab)
    for source, destination, protocol, port in cases(pods, flows):
        assert policy_set.verdict(source, destination, protocol, port).allowed == (destination != THREAT)
    result = run_playbook(lab, "--tags", "enforce")
    assert result.rc == 0, result.out
    policy_set, pods = evaluate(lab)
    for source, destination, protocol, port in cases(pods, flows):
        verdict = policy_set.verdict(source, destination, protocol, port)
        assert verdict.allowed == expected_after_enforce(flows, source, destination, protocol, port), \
            (source, destination, protocol, port, verdict)


def test_verdicts_playbook_names_the_deciding_policy(lab):
    assert run_playbook(lab).rc == 0
    playbook = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "playbooks", "verdicts.yml")
    extra = '{"microseg_check_flows": [{"source": "monitoring/run=monitoring-pod", "destination": "yaobank/customer", "port": 80}]}'
    result = run_playbook(lab, "-e", extra, playbook=playbook)
    assert result.rc == 0, result.out
    shown = " ".join(result.out.split())  # the callback folds long messages
    assert "28 flow(s), 1 denied" in shown  # 26 declared, 1 observed only in the flow log (DNS), 1 given
    assert "monitoring/run=monitoring-pod -> yaobank/customer 80/TCP: deny (ingress by default/namespace-yaobank-catch-all)" in shown
    failing = run_playbook(lab, "-e", extra, "-e", "microseg_fail_on_denied=true", playbook=playbook)
    assert failing.rc != 0 and "1 declared or observed flow(s) would be denied" in failing.out


def test_enterprise_edition_allows_domains_by_name_only(lab):
    set_lab_variable(lab, "microseg_calico_edition", "enterprise")
    result = run_playbook(lab)
    assert result.rc == 0, result.out
    assert "oss edition cannot match domain names" not in result.out
    policy_set, pods = evaluate(lab)
    flows = declared(lab)
    allowed = 0
    for source, destination, protocol, port in cases(pods, flows):
        verdict = policy_set.verdict(source, destination, protocol, port)
        assert verdict.allowed == expected_after_enforce(flows, source, destination, protocol, port, "enterprise"), \
            (source, destination, protocol, port, verdict)
        allowed += verdict.allowed
    assert allowed


def test_flows_from_flow_logs_count_as_observed_for_report_and_gate(deployed):
    import json
    logs = os.path.join(deployed, "logs", "flows.jsonl")
    with open(logs, encoding="utf-8") as handle:
        record = json.loads(handle.readline())
    record.update(source_namespace="monitoring", source_name_aggr="monitoring-pod", source_labels={"labels": ["run=monitoring-pod"]},
                  dest_namespace="yaobank", dest_name_aggr="customer-5d9c7b6f4-*", dest_labels={"labels": ["app=customer"]}, dest_port=80)
    with open(logs, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    report = run_playbook(deployed, "--tags", "analyze")
    assert report.rc == 0, report.out
    with open(os.path.join(deployed, "reports", "lab-cluster", "reconciliation.json"), encoding="utf-8") as handle:
        reconciliation = json.load(handle)
    assert {"source": "monitoring/run=monitoring-pod", "destination": "yaobank/customer", "port": "80/TCP"} in reconciliation["undeclared"]
    assert {"source": "bookinfo/reviews", "destination": "bookinfo/ratings", "port": "9080/TCP"} in reconciliation["confirmed"]
    refused = run_playbook(deployed, "--tags", "enforce")
    assert refused.rc != 0
    assert "monitoring/run=monitoring-pod -> yaobank/customer 80/TCP: ingress denied" in refused.out
