"""PCI isolation evidence: every other workload judged both ways, on the flows' ports and one port no flow names."""
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import PolicySet, Workload
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_flow_rows
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.pci_isolation import isolation, pci_workloads, probe_port

INTENT = load_intent({"microseg_tenants": [{"name": "pay", "namespaces": ["pay"], "pci": True}, {"name": "web", "namespaces": ["web"]}],
                      "microseg_apps": [{"name": "pay", "tenant": "pay", "flows": []}, {"name": "web", "tenant": "web", "flows": []}]})
API = Workload("pay", "api", {"app": "api", "pci": "true"})
LEDGER = Workload("pay", "ledger", {"app": "ledger"})              # in the PCI tenant, not labelled: no PCI workload
SHOP = Workload("web", "shop", {"app": "shop", "pci": "true"})     # labelled, but its tenant is no PCI tenant
ADMIN = Workload("web", "admin", {"app": "admin"})
NAMESPACES = {"pay": {"kubernetes.io/metadata.name": "pay"}, "web": {"kubernetes.io/metadata.name": "web"}}


def flows(*rows):
    return parse_flow_rows([dict(zip(("source", "destination", "port"), row)) for row in rows], "flows")


def ingress_to_api(rule):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "api", "namespace": "pay"},
            "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"], "ingress": [rule]}}


def test_pci_workloads_are_the_labelled_workloads_of_pci_tenants():
    assert pci_workloads(INTENT, [SHOP, LEDGER, API, ADMIN]) == [API]


def test_a_rule_wider_than_the_flows_shows_on_the_probe_port_and_every_other_peer_is_denied():
    declared = flows(("web/shop", "pay/api", "8443"))
    # the namespace web may reach api on every port: wider than the one declared flow
    wide = ingress_to_api({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "web"}},
                                     "podSelector": {"matchLabels": {"app": "shop"}}}]})
    rows, probe = isolation(INTENT, PolicySet([wide], namespaces=NAMESPACES), [API, LEDGER, SHOP, ADMIN], declared, [])
    assert probe == 49152
    [row] = rows
    assert row["workload"] == "pay/api"
    assert row["inbound"] == {"allowed": [{"peer": "web/shop", "port": "8443/TCP", "declared": True},
                                          {"peer": "web/shop", "port": "49152/TCP", "declared": False}],
                              "denied": ["pay/ledger", "web/admin"], "judged": 6}
    # no policy selects api for egress: it may reach everyone (a NetworkPolicy isolates only the directions it names)
    assert [entry["peer"] for entry in row["outbound"]["allowed"]] == ["pay/ledger", "web/admin", "web/shop"]
    assert row["outbound"]["denied"] == []


def test_the_probe_skips_every_port_the_flows_name_and_is_none_when_they_name_them_all():
    assert probe_port(flows(("x/a", "x/b", "49152-49160"), ("x/a", "x/b", "49161"), ("x/a", "x/b", "53/UDP"))) == 49162
    assert probe_port(flows(("x/a", "x/b", "1-65535"))) is None
    rows, probe = isolation(INTENT, PolicySet([]), [API, ADMIN], flows(("web/admin", "pay/api", "1-65535")), [])
    assert probe is None and rows[0]["inbound"]["allowed"] == [{"peer": "web/admin", "port": "1/TCP", "declared": True}]
