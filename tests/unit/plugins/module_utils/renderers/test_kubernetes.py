"""Kubernetes renderer: NetworkPolicies per workload, widenings, catch-alls, DNS, threat nets, matchLabels."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.kubernetes import check, match_labels, render
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan

NP = "networking.k8s.io/v1"
ANP = "policy.networking.k8s.io/v1alpha1"
MANAGED = ("app.kubernetes.io/managed-by", "zerotrust.microseg")
TIER = "zerotrust.microseg/tier"
POSTURE = "zerotrust.microseg/posture"
NS = "kubernetes.io/metadata.name"
OUTSIDE = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16", "10.96.0.0/12", "203.0.113.0/24"]}}


def flow(source, destination, port):
    return {"source": source, "destination": destination, "port": port}


def plan(variables, phase="enforce", tiers=None):
    return make_plan(load_intent(dict(variables, microseg_dialect="kubernetes")), phase, tiers)


def index(objects):
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


def ns_peer(name):
    return {"namespaceSelector": {"matchLabels": {NS: name}}}


SHOP = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True}],
    "microseg_apps": [
        {"name": "hipstershop", "tenant": "shop", "flows": [
            flow("frontend", "cartservice", 7070),
            flow("frontend", "cartservice", "8000-8080"),
            flow("cartservice", "redis-cart", "6379/TCP"),
            flow("frontend", "yaobank/summary", "80"),
            flow("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "frontend", 8080),
            flow("loadgenerator", "frontend", "3868/SCTP"),
            flow("frontend", "net:192.0.2.0/24", 443),
            flow("net:198.51.100.0/24", "frontend", 443),
            flow("frontend", "domain:api.example.com", 443),
            flow("monitoring/*", "*", "9090-9100"),
        ]},
        {"name": "yaobank", "tier": "application", "flows": [flow("customer", "summary", 80), flow("summary", "run=db", "53/UDP")]},
    ],
    "microseg_trusted_domains": ["tigera.io"],
    "microseg_threat_nets": ["203.0.113.0/24"],
}


# -- per-workload NetworkPolicies ---------------------------------------------------------------

def test_one_policy_per_workload_with_its_peers():
    objects = index(plan(SHOP).objects)
    assert sorted(name for kind, ns, name in objects if ns == "hipstershop") == [
        "all-workloads", "cartservice", "frontend", "loadgenerator", "microseg-catch-all", "microseg-cluster-dns",
        "microseg-trusted-domains", "redis-cart"]
    assert objects[("NetworkPolicy", "hipstershop", "cartservice")] == {
        "apiVersion": NP, "kind": "NetworkPolicy",
        "metadata": {"name": "cartservice", "namespace": "hipstershop", "labels": {MANAGED[0]: MANAGED[1], TIER: "appsec"}},
        "spec": {"podSelector": {"matchLabels": {"app": "cartservice"}}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": [
                     {"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}], "ports": [{"protocol": "TCP", "port": 7070}]},
                     {"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}],
                      "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8080}]}],
                 "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "redis-cart"}}}], "ports": [{"protocol": "TCP", "port": 6379}]}]}}


def test_frontend_peers_nets_domains_and_other_namespaces():
    spec = index(plan(SHOP).objects)[("NetworkPolicy", "hipstershop", "frontend")]["spec"]
    assert spec["ingress"] == [
        {"from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {"from": [{"podSelector": {"matchLabels": {"app": "loadgenerator"}}}], "ports": [{"protocol": "SCTP", "port": 3868}]},
        {"from": [dict(ns_peer("ingress-nginx"), podSelector={"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}})],
         "ports": [{"protocol": "TCP", "port": 8080}]},
    ]
    assert spec["egress"] == [
        {"to": [OUTSIDE], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"podSelector": {"matchLabels": {"app": "cartservice"}}}], "ports": [{"protocol": "TCP", "port": 7070}]},
        {"to": [{"podSelector": {"matchLabels": {"app": "cartservice"}}}], "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8080}]},
        {"to": [dict(ns_peer("yaobank"), podSelector={"matchLabels": {"app": "summary"}})], "ports": [{"protocol": "TCP", "port": 80}]},
    ]


def test_whole_namespace_endpoints():
    objects = index(plan(SHOP).objects)
    assert objects[("NetworkPolicy", "hipstershop", "all-workloads")]["spec"] == {
        "podSelector": {}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [ns_peer("monitoring")], "ports": [{"protocol": "TCP", "port": 9090, "endPort": 9100}]}]}
    spec = index(plan({"microseg_apps": [{"name": "a", "flows": [flow("web", "a/*", 80)]}]}).objects)[("NetworkPolicy", "a", "web")]["spec"]
    assert spec["egress"] == [{"to": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 80}]}]


def test_application_namespaces_get_per_workload_policies_tiered_application():
    objects = index(plan(SHOP).objects)
    summary = objects[("NetworkPolicy", "yaobank", "summary")]
    assert summary["metadata"]["labels"][TIER] == "application"
    assert summary["spec"]["ingress"] == [
        {"from": [dict(ns_peer("hipstershop"), podSelector={"matchLabels": {"app": "frontend"}})], "ports": [{"protocol": "TCP", "port": 80}]},
        {"from": [{"podSelector": {"matchLabels": {"app": "customer"}}}], "ports": [{"protocol": "TCP", "port": 80}]},
    ]
    assert summary["spec"]["egress"] == [{"to": [{"podSelector": {"matchLabels": {"run": "db"}}}], "ports": [{"protocol": "UDP", "port": 53}]}]
    assert objects[("NetworkPolicy", "yaobank", "run-db")]["spec"]["podSelector"] == {"matchLabels": {"run": "db"}}


def test_no_policy_for_namespaces_out_of_scope():
    assert {o["metadata"].get("namespace") for o in plan(SHOP).objects} == {None, "hipstershop", "yaobank"}


# -- widenings --------------------------------------------------------------------------------------

@pytest.mark.parametrize("cidrs, threats, expected", [
    (["10.244.0.0/16", "10.96.0.0/12"], ["203.0.113.0/24"], OUTSIDE),
    (["10.96.0.0/12", "10.244.0.0/16", "10.96.0.0/12"], [], {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16", "10.96.0.0/12"]}}),
    (["10.0.0.0/8", "fd00::/64"], ["2001:db8::/32"], {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}),
    ([], [], {"ipBlock": {"cidr": "0.0.0.0/0"}}),
])
def test_domains_widen_to_ip_blocks_outside_the_cluster(cidrs, threats, expected):
    result = plan({"microseg_apps": [{"name": "a", "flows": [flow("web", "domain:*.example.com", 443)]}],
                   "microseg_cluster_cidrs": cidrs, "microseg_threat_nets": threats})
    assert index(result.objects)[("NetworkPolicy", "a", "web")]["spec"]["egress"] == [
        {"to": [expected], "ports": [{"protocol": "TCP", "port": 443}]}]
    assert result.warnings == [
        "kubernetes dialect: appsec rule a/web -> domain:*.example.com 443/TCP widened: NetworkPolicy cannot match domain names; "
        "allowed to any address outside %s on that port" % ", ".join(load_intent({"microseg_cluster_cidrs": cidrs}).cluster_cidrs)]


def test_trusted_domains_policy_per_in_scope_namespace():
    result = plan(SHOP)
    objects = index(result.objects)
    for namespace in ("hipstershop", "yaobank"):
        policy = objects[("NetworkPolicy", namespace, "microseg-trusted-domains")]
        assert policy["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "security"}
        assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Egress"],
                                  "egress": [{"to": [OUTSIDE], "ports": [{"protocol": "TCP", "port": 443}]}]}
    assert ("kubernetes dialect: security rule trusted-domains widened: NetworkPolicy cannot match domain names (tigera.io); "
            "allowed to any address outside 10.244.0.0/16, 10.96.0.0/12 on 443/TCP") in result.warnings


def test_no_trusted_domains_no_policy_and_no_warning():
    result = plan(dict(SHOP, microseg_trusted_domains=[]))
    assert not [o for o in result.objects if o["metadata"]["name"] == "microseg-trusted-domains"]
    assert not [w for w in result.warnings if "trusted-domains" in w]


def test_warnings_name_what_the_dialect_cannot_express():
    warnings = plan(SHOP).warnings
    guardrail = ("is enforced only by the namespaces' default-deny, as NetworkPolicy has no tiers, Pass, explicit Deny or order to keep "
                 "it a guardrail of its own (another NetworkPolicy that allows more is obeyed)")
    # one line per rule of the tiered model: the dialect, the tier and rule, what happened to it, and why
    assert warnings == [
        "kubernetes dialect: appsec rule hipstershop/frontend -> domain:api.example.com 443/TCP widened: NetworkPolicy cannot match "
        "domain names; allowed to any address outside 10.244.0.0/16, 10.96.0.0/12 on that port",
        "kubernetes dialect: security rule trusted-domains widened: NetworkPolicy cannot match domain names (tigera.io); allowed to any "
        "address outside 10.244.0.0/16, 10.96.0.0/12 on 443/TCP",
        "kubernetes dialect: security rule tenant-shop-pci merged: the PCI restriction " + guardrail,
        "kubernetes dialect: security rule tenant-shop merged: tenant isolation " + guardrail,
    ]
    assert not [w for w in plan(dict(SHOP, microseg_tenants=[], microseg_apps=SHOP["microseg_apps"][1:])).warnings if "tenant" in w]
    # the same as losses: what changed, which rule of the tiered model, and which traffic may be judged differently
    assert [(loss.change, loss.tier, loss.rule, loss.source, loss.destination, loss.port) for loss in plan(SHOP).losses] == [
        ("widened", "appsec", "hipstershop/frontend -> domain:api.example.com 443/TCP", "hipstershop/frontend", "*", "443/TCP"),
        ("widened", "security", "trusted-domains", "*", "*", "443/TCP"),
        ("merged", "security", "tenant-shop-pci", "*", "hipstershop/*", "*"),
        ("merged", "security", "tenant-shop-pci", "hipstershop/*", "*", "*"),
        ("merged", "security", "tenant-shop", "*", "hipstershop/*", "*"),
        ("merged", "security", "tenant-shop", "hipstershop/*", "*", "*")]


# -- catch-alls and DNS ----------------------------------------------------------------------------

@pytest.mark.parametrize("phase, posture, rules", [
    ("deploy", "failsafe", {"ingress": [{}], "egress": [{}]}),
    ("enforce", "enforced", {}),
])
def test_catch_all_allows_everything_in_deploy_and_denies_in_enforce(phase, posture, rules):
    objects = index(plan(SHOP, phase).objects)
    for namespace in ("hipstershop", "yaobank"):
        catch_all = objects[("NetworkPolicy", namespace, "microseg-catch-all")]
        assert catch_all["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "default", POSTURE: posture}
        assert catch_all["spec"] == dict({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, **rules)


def test_posture_label_only_on_catch_alls():
    for obj in plan(SHOP).objects:
        assert (POSTURE in obj["metadata"]["labels"]) == (obj["metadata"]["name"] == "microseg-catch-all")
        assert obj["metadata"]["labels"][MANAGED[0]] == MANAGED[1]


def test_deploy_and_enforce_differ_only_in_catch_alls():
    deploy, enforce = index(plan(SHOP, "deploy").objects), index(plan(SHOP, "enforce").objects)
    assert list(deploy) == list(enforce)
    assert sorted(key for key in deploy if deploy[key] != enforce[key]) == [
        ("NetworkPolicy", "hipstershop", "microseg-catch-all"), ("NetworkPolicy", "yaobank", "microseg-catch-all")]


def test_dns_policy_per_namespace():
    objects = index(plan(dict(SHOP, microseg_dns={"namespace": "dns", "selector": "app == 'coredns' && tier == 'dns'", "port": 5353})).objects)
    policy = objects[("NetworkPolicy", "yaobank", "microseg-cluster-dns")]
    assert policy["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "platform"}
    assert policy["spec"] == {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [dict(ns_peer("dns"), podSelector={"matchLabels": {"app": "coredns", "tier": "dns"}})],
                    "ports": [{"protocol": "UDP", "port": 5353}, {"protocol": "TCP", "port": 5353}]}]}


def test_dns_selector_that_is_not_match_labels_is_an_input_error():
    with pytest.raises(InputError) as caught:
        plan(dict(SHOP, microseg_dns={"selector": "has(k8s-app)"}))
    assert str(caught.value) == ("inventory: microseg_dns.selector: 'has(k8s-app)' cannot be written as Kubernetes matchLabels: "
                                 "use only k == 'v' terms joined by &&")


# -- threat nets ------------------------------------------------------------------------------------

def test_threat_nets_are_an_admin_network_policy():
    objects = index(plan(dict(SHOP, microseg_threat_nets=["203.0.113.0/24", "198.51.100.0/24"])).objects)
    assert objects[("AdminNetworkPolicy", "", "microseg-threat-nets-deny")] == {
        "apiVersion": ANP, "kind": "AdminNetworkPolicy",
        "metadata": {"name": "microseg-threat-nets-deny", "labels": {MANAGED[0]: MANAGED[1], TIER: "security"}},
        "spec": {"priority": 10, "subject": {"namespaces": {}},
                 "egress": [{"name": "deny-threat-nets", "action": "Deny", "to": [{"networks": ["198.51.100.0/24", "203.0.113.0/24"]}]}]}}


def test_no_threat_nets_no_admin_network_policy():
    assert "AdminNetworkPolicy" not in {o["kind"] for o in plan(dict(SHOP, microseg_threat_nets=[])).objects}


def test_threat_nets_even_without_scope():
    objects = plan({"microseg_threat_nets": ["203.0.113.0/24"]}).objects
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [("AdminNetworkPolicy", "microseg-threat-nets-deny")]


# -- tier selection, render entry point, determinism ----------------------------------------------

@pytest.mark.parametrize("tiers, names", [
    (["security"], ["microseg-threat-nets-deny", "microseg-trusted-domains", "microseg-trusted-domains"]),
    (["platform"], ["microseg-cluster-dns", "microseg-cluster-dns"]),
    (["default"], ["microseg-catch-all", "microseg-catch-all"]),
    (["application"], ["customer", "summary", "run-db"]),  # by endpoint: label key, then value
])
def test_tier_selection(tiers, names):
    assert [o["metadata"]["name"] for o in plan(SHOP, tiers=tiers).objects] == names


def test_render_entry_point_and_determinism():
    intent = load_intent(dict(SHOP, microseg_dialect="kubernetes"))
    first = render(intent, declared_flows(intent), "enforced")
    second = render(intent, declared_flows(intent), "enforced")
    assert first == second
    assert first[0] == plan(SHOP).objects


# -- match_labels ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, labels", [
    ("k8s-app == 'kube-dns'", {"k8s-app": "kube-dns"}),
    ('k8s-app == "kube-dns"', {"k8s-app": "kube-dns"}),
    ("app == 'dns' && tier == 'infra'", {"app": "dns", "tier": "infra"}),
    ("app.kubernetes.io/name == 'coredns'", {"app.kubernetes.io/name": "coredns"}),
    ("all()", {}),
    ("all() && app == 'x'", {"app": "x"}),
])
def test_match_labels(text, labels):
    assert match_labels(text) == labels


@pytest.mark.parametrize("text", ["has(app)", "app != 'x'", "app in {'a', 'b'}", "app == 'a' || app == 'b'", "!(app == 'x')",
                                  "app starts with 'x'", "global()"])
def test_match_labels_refuses_other_selectors(text):
    with pytest.raises(InputError) as caught:
        match_labels(text, "somewhere")
    error = caught.value
    assert (error.source, error.field) == ("inventory", "somewhere")
    assert error.message == "%r cannot be written as Kubernetes matchLabels: use only k == 'v' terms joined by &&" % text


# -- a cluster that does not serve AdminNetworkPolicy ------------------------------------------------

def test_without_admin_network_policy_the_threat_nets_are_refused_naming_the_kind_the_cluster_and_the_ways_out():
    variables = dict(SHOP, microseg_cluster_serves=[])
    with pytest.raises(InputError) as caught:
        plan(variables)
    message = str(caught.value)
    assert message.startswith("inventory: microseg_threat_nets: dialect kubernetes denies microseg_threat_nets (203.0.113.0/24) "
                              "cluster-wide with an AdminNetworkPolicy (policy.networking.k8s.io/v1alpha1), which the cluster "
                              "(microseg_cluster_serves) does not serve. Ways out: ")
    assert "microseg_threat_nets_fallback: except" in message and "another microseg_dialect" in message
    intent = load_intent(dict(variables, microseg_dialect="kubernetes"))
    intent.served_by = "cluster c1 (the Kubernetes API at https://kube.test:6443)"   # what discovery says (phases.adopt_served_kinds)
    with pytest.raises(InputError, match=r"which cluster c1 \(the Kubernetes API at https://kube.test:6443\) does not serve"):
        check(intent)
    # other served kinds do not help; no threat nets, nothing to deny
    with pytest.raises(InputError):
        plan(dict(variables, microseg_cluster_serves=["ClusterNetworkPolicy", "BaselineAdminNetworkPolicy"]))
    assert "AdminNetworkPolicy" not in {o["kind"] for o in plan(dict(variables, microseg_threat_nets=[])).objects}


FALLBACK = dict(SHOP, microseg_cluster_serves=[], microseg_threat_nets_fallback="except",
                microseg_threat_nets=["203.0.113.0/24", "192.0.2.128/25", "2001:db8::/32"])
FALLBACK["microseg_apps"] = [dict(SHOP["microseg_apps"][0], flows=SHOP["microseg_apps"][0]["flows"] + [
    flow("frontend", "net:192.0.2.128/26", 8443), flow("frontend", "net:2001::/16", 443)]), SHOP["microseg_apps"][1]]
OUTSIDE_BUT_THREATS = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16", "10.96.0.0/12", "192.0.2.128/25", "203.0.113.0/24"]}}


def test_the_except_fallback_puts_the_threat_nets_into_every_egress_ip_block():
    result = plan(FALLBACK)
    objects = index(result.objects)
    assert "AdminNetworkPolicy" not in {kind for kind, _ns, _name in objects}
    frontend = objects[("NetworkPolicy", "hipstershop", "frontend")]["spec"]
    assert frontend["egress"] == [
        {"to": [OUTSIDE_BUT_THREATS], "ports": [{"protocol": "TCP", "port": 443}]},                      # the domain, widened
        {"to": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"ipBlock": {"cidr": "2001::/16", "except": ["2001:db8::/32"]}}], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"podSelector": {"matchLabels": {"app": "cartservice"}}}], "ports": [{"protocol": "TCP", "port": 7070}]},
        {"to": [{"podSelector": {"matchLabels": {"app": "cartservice"}}}], "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8080}]},
        {"to": [dict(ns_peer("yaobank"), podSelector={"matchLabels": {"app": "summary"}})], "ports": [{"protocol": "TCP", "port": 80}]},
    ]   # net:192.0.2.128/26 lies inside a threat net: its rule is left out
    assert frontend["ingress"][0] == {"from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert objects[("NetworkPolicy", "yaobank", "microseg-trusted-domains")]["spec"]["egress"] == [
        {"to": [OUTSIDE_BUT_THREATS], "ports": [{"protocol": "TCP", "port": 443}]}]
    assert objects[("NetworkPolicy", "yaobank", "microseg-catch-all")]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # deploy's catch-all: every pod and every address but the threat nets
    deploy = index(plan(FALLBACK, "deploy").objects)[("NetworkPolicy", "yaobank", "microseg-catch-all")]["spec"]
    assert deploy == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{"to": [
        {"namespaceSelector": {}},
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["192.0.2.128/25", "203.0.113.0/24"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["2001:db8::/32"]}}]}]}


def test_the_except_fallback_reports_the_out_of_scope_namespaces_and_the_dropped_rule():
    result = plan(FALLBACK)
    threats = [loss for loss in result.losses if loss.rule == "threat-nets-deny"]
    assert [(loss.change, loss.tier, loss.source, loss.destination, loss.port) for loss in threats] == [
        ("widened", "security", "*", "net:192.0.2.128/25", "*"), ("widened", "security", "*", "net:2001:db8::/32", "*"),
        ("widened", "security", "*", "net:203.0.113.0/24", "*")]
    assert threats[0].why == (
        "the cluster (microseg_cluster_serves) does not serve AdminNetworkPolicy (microseg_threat_nets_fallback: except): the threat "
        "nets are denied only in the except of the egress ipBlocks of the in-scope namespaces (hipstershop, yaobank); pods of every "
        "other namespace (out of scope, e.g. ingress-nginx, kube-system, monitoring) can still reach them")
    dropped = [loss for loss in result.losses if loss.change == "dropped"]
    assert [(loss.tier, loss.rule, loss.source, loss.destination, loss.port) for loss in dropped] == [
        ("appsec", "hipstershop/frontend -> net:192.0.2.128/26 8443/TCP", "hipstershop/frontend", "net:192.0.2.128/26", "8443/TCP")]
    # printed once per rule, however many threat nets
    assert len([w for w in result.warnings if "threat-nets-deny" in w]) == 1
    assert "kubernetes dialect: appsec rule hipstershop/frontend -> net:192.0.2.128/26 8443/TCP dropped: its destination lies inside a " \
           "threat net" in " ".join(result.warnings)


def test_with_admin_network_policy_served_the_fallback_changes_nothing():
    served = dict(FALLBACK, microseg_cluster_serves=["AdminNetworkPolicy"])
    assert plan(served).objects == plan(dict(served, microseg_threat_nets_fallback="fail")).objects
    assert not [loss for loss in plan(served).losses if loss.rule == "threat-nets-deny" or loss.change == "dropped"]
