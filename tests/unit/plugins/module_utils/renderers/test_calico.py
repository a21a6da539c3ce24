"""Calico renderer: tiers, names, labels, postures, per-tier policies, network sets and widenings."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.calico import TIER_ORDERS, render, set_slug
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan

API = "projectcalico.org/v3"
MANAGED = ("app.kubernetes.io/managed-by", "zerotrust.microseg")
TIER = "zerotrust.microseg/tier"
POSTURE = "zerotrust.microseg/posture"
CIDRS = ["10.244.0.0/16", "10.96.0.0/12"]
DNS_SELECTOR = 'k8s-app == "kube-dns"'
KUBE_SYSTEM = "projectcalico.org/name == 'kube-system'"


def ns(name):
    return "projectcalico.org/name == '%s'" % name


def flow(source, destination, port):
    return {"source": source, "destination": destination, "port": port}


def plan(variables, phase="enforce", tiers=None):
    return make_plan(load_intent(variables), phase, tiers)


def index(objects):
    """``{(kind, namespace, name): object}``."""
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


def names(objects, kind=None, namespace=None):
    return sorted(o["metadata"]["name"] for o in objects
                  if (kind is None or o["kind"] == kind) and (namespace is None or o["metadata"].get("namespace") == namespace))


def walk_keys(value):
    """Every mapping key anywhere inside ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_keys(item)


def dns_rules(action):
    return [{"action": action, "protocol": proto,
             "destination": {"selector": DNS_SELECTOR, "namespaceSelector": KUBE_SYSTEM, "ports": [53]}} for proto in ("UDP", "TCP")]


# A small shop: a PCI tenant in appsec, a two-namespace tenant in application, and one namespace without tenant.
SHOP_FLOWS = [
    flow("frontend", "cartservice", 7070),
    flow("frontend", "cartservice", "8000-8080"),
    flow("cartservice", "redis-cart", "6379/TCP"),
    flow("frontend", "yaobank/summary", 80),
    flow("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "frontend", 8080),
    flow("loadgenerator", "frontend", "3868/SCTP"),
    flow("frontend", "net:192.0.2.0/24", "443"),
    flow("frontend", "domain:api.example.com", 443),
]
BANK_FLOWS = [
    flow("customer", "summary", 80),
    flow("summary", "database", "2379"),
    flow("summary", "ledger/*", "5432"),
    flow("customer", "domain:*.bloomberg.com", 443),
    flow("monitoring/*", "*", "9090-9100"),
]
SHOP = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True},
                         {"name": "bank", "namespaces": ["yaobank", "ledger"]}],
    "microseg_apps": [{"name": "hipstershop", "tenant": "shop", "flows": SHOP_FLOWS},
                      {"name": "yaobank", "tenant": "bank", "tier": "application", "flows": BANK_FLOWS},
                      {"name": "bookinfo", "tier": "application", "flows": [flow("productpage", "details", 9080)]}],
    "microseg_trusted_domains": ["tigera.io", "google.com"],
    "microseg_threat_nets": ["203.0.113.0/24"],
}
ENTERPRISE = dict(SHOP, microseg_calico_edition="enterprise")


# -- tiers, names, labels ------------------------------------------------------------------------

def test_tier_orders():
    assert TIER_ORDERS == {"security": 200, "platform": 300, "application": 400, "appsec": 500}
    tiers = [o for o in plan(SHOP).objects if o["kind"] == "Tier"]
    assert [(t["metadata"]["name"], t["spec"]) for t in tiers] == [
        ("security", {"order": 200}), ("platform", {"order": 300}), ("application", {"order": 400}), ("appsec", {"order": 500})]
    for tier in tiers:
        assert tier["apiVersion"] == API
        assert tier["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: tier["metadata"]["name"]}


EXPECTED_NAMES = {
    "GlobalNetworkPolicy": ["application-default-pass", "appsec-default-pass", "cluster-dns", "namespace-bookinfo-catch-all",
                            "platform-default-pass", "security-default-pass", "tenant-bank", "tenant-bank-boundary",
                            "tenant-bank-catch-all", "tenant-shop", "tenant-shop-boundary", "tenant-shop-catch-all",
                            "tenant-shop-pci", "tenant-shop-pci-boundary", "threat-nets-deny", "trusted-domains"],
    "NetworkPolicy": ["bookinfo", "cartservice", "frontend", "ledger", "loadgenerator", "redis-cart", "yaobank"],
}


@pytest.mark.parametrize("version, prefixed", [("3.32", False), ("3.32.1", False), ("3.31", True), ("3.30", True), ("3.29", True)])
def test_policy_names_carry_the_tier_prefix_before_3_32(version, prefixed):
    objects = plan(dict(SHOP, microseg_calico_version=version)).objects
    for kind, expected in EXPECTED_NAMES.items():
        policies = [o for o in objects if o["kind"] == kind]
        found = sorted(o["metadata"]["name"] for o in policies)
        if prefixed:
            assert found == sorted("%s.%s" % (o["spec"]["tier"], n) for o, n in
                                   zip(sorted(policies, key=lambda o: o["metadata"]["name"].split(".", 1)[1]), expected))
            assert all(o["metadata"]["name"].startswith(o["spec"]["tier"] + ".") for o in policies)
        else:
            assert found == expected
    # Tiers and network sets are never prefixed
    assert names(objects, "Tier") == ["application", "appsec", "platform", "security"]
    assert names(objects, "GlobalNetworkSet") == ["threat-nets"]


@pytest.mark.parametrize("version, name", [
    ("3.31", "default.tenant-shop-catch-all"), ("3.31", "security.tenant-shop-pci"), ("3.31", "appsec.frontend"),
    ("3.31", "application.yaobank"), ("3.32", "tenant-shop-catch-all"), ("3.32", "frontend"),
])
def test_prefixed_names_by_version(version, name):
    assert name in names(plan(dict(SHOP, microseg_calico_version=version)).objects)


@pytest.mark.parametrize("phase, posture", [("deploy", "failsafe"), ("enforce", "enforced")])
def test_labels(phase, posture):
    for obj in plan(SHOP, phase).objects:
        labels = obj["metadata"]["labels"]
        tier = labels[TIER]
        assert labels[MANAGED[0]] == MANAGED[1]
        assert obj["apiVersion"] == API
        name = obj["metadata"]["name"]
        if obj["kind"] in ("GlobalNetworkPolicy", "NetworkPolicy"):
            assert labels["projectcalico.org/tier"] == tier == obj["spec"]["tier"]
        if name.endswith(("-boundary", "-catch-all")):
            assert labels[POSTURE] == posture, name
        else:
            assert POSTURE not in labels, name


def test_posture_objects_are_exactly_the_boundaries_and_catch_alls():
    posture = sorted(o["metadata"]["name"] for o in plan(SHOP).objects if POSTURE in o["metadata"]["labels"])
    assert posture == ["namespace-bookinfo-catch-all", "tenant-bank-boundary", "tenant-bank-catch-all", "tenant-shop-boundary",
                       "tenant-shop-catch-all", "tenant-shop-pci-boundary"]


@pytest.mark.parametrize("variables", [SHOP, ENTERPRISE, dict(SHOP, microseg_calico_version="3.31")], ids=["oss", "enterprise", "3.31"])
def test_deploy_and_enforce_differ_only_in_posture_objects(variables):
    deploy, enforce = index(plan(variables, "deploy").objects), index(plan(variables, "enforce").objects)
    assert list(deploy) == list(enforce)
    changed = [key for key in deploy if deploy[key] != enforce[key]]
    assert changed == [key for key in deploy if POSTURE in deploy[key]["metadata"]["labels"]]
    for key in changed:
        before, after = deploy[key], enforce[key]
        assert before["metadata"]["labels"][POSTURE] == "failsafe" and after["metadata"]["labels"][POSTURE] == "enforced"
        if key[2].endswith("-boundary"):
            flip = ("Pass", "Deny")
            assert before["spec"]["tier"] == "security"
            peer = ({"source": {"namespaceSelector": "all()"}}, {"destination": {"namespaceSelector": "all()"}})
        else:
            flip = ("Allow", "Deny")
            assert before["spec"]["tier"] == "default"
            peer = ({}, {})
        for spec, action in ((before["spec"], flip[0]), (after["spec"], flip[1])):
            assert spec["ingress"] == [dict({"action": action}, **peer[0])]
            assert spec["egress"] == [dict({"action": action}, **peer[1])]
        # nothing else differs
        strip = [{k: v for k, v in o["spec"].items() if k not in ("ingress", "egress")} for o in (before, after)]
        assert strip[0] == strip[1]


# -- security tier --------------------------------------------------------------------------------

def test_security_orders():
    objects = index(plan(SHOP).objects)
    orders = {key[2]: obj["spec"]["order"] for key, obj in objects.items() if obj["kind"] == "GlobalNetworkPolicy"
              and obj["spec"]["tier"] == "security"}
    assert orders == {"threat-nets-deny": 0, "trusted-domains": 100, "tenant-shop-pci": 200, "tenant-shop-pci-boundary": 250,
                      "tenant-shop": 300, "tenant-shop-boundary": 350, "tenant-bank": 300, "tenant-bank-boundary": 350,
                      "security-default-pass": 10000}


def test_threat_nets_set_and_deny_for_every_pod():
    objects = index(plan(SHOP, "deploy").objects)
    assert objects[("GlobalNetworkSet", "", "threat-nets")] == {
        "apiVersion": API, "kind": "GlobalNetworkSet",
        "metadata": {"name": "threat-nets", "labels": {MANAGED[0]: MANAGED[1], TIER: "security",
                                                       "zerotrust.microseg/network-set": "threat-nets"}},
        "spec": {"nets": ["203.0.113.0/24"]}}
    deny = objects[("GlobalNetworkPolicy", "", "threat-nets-deny")]
    assert deny["spec"] == {"tier": "security", "order": 0, "selector": "all()",
                            "egress": [{"action": "Deny", "destination": {"selector": "zerotrust.microseg/network-set == 'threat-nets'"}}],
                            "types": ["Egress"]}
    assert "namespaceSelector" not in deny["spec"]


def test_no_threat_nets_no_threat_objects():
    objects = names(plan(dict(SHOP, microseg_threat_nets=[])).objects)
    assert "threat-nets" not in objects and "threat-nets-deny" not in objects


def test_oss_trusted_domains_widen_to_443_outside_the_cluster():
    result = plan(SHOP)
    policy = index(result.objects)[("GlobalNetworkPolicy", "", "trusted-domains")]
    assert policy["spec"] == {"tier": "security", "order": 100, "selector": "all()",
                              "namespaceSelector": "projectcalico.org/name in {'bookinfo', 'hipstershop', 'ledger', 'yaobank'}",
                              "egress": [{"action": "Allow", "protocol": "TCP", "destination": {"notNets": CIDRS, "ports": [443]}}],
                              "types": ["Egress"]}
    assert ("trusted domains google.com, tigera.io: the oss edition cannot match domain names; "
            "allowed to any address outside 10.244.0.0/16, 10.96.0.0/12 on 443/TCP") in result.warnings
    assert "trusted-domains" not in names(result.objects, "GlobalNetworkSet")


def test_enterprise_trusted_domains_are_a_named_set_on_any_port():
    result = plan(ENTERPRISE)
    objects = index(result.objects)
    assert objects[("GlobalNetworkSet", "", "trusted-domains")]["spec"] == {"allowedEgressDomains": ["google.com", "tigera.io"]}
    assert objects[("GlobalNetworkSet", "", "trusted-domains")]["metadata"]["labels"]["zerotrust.microseg/network-set"] == "trusted-domains"
    assert objects[("GlobalNetworkPolicy", "", "trusted-domains")]["spec"]["egress"] == [
        {"action": "Allow", "destination": {"selector": "zerotrust.microseg/network-set == 'trusted-domains'"}}]
    assert not any("trusted domains" in w for w in result.warnings)


def test_trusted_domains_need_an_in_scope_namespace():
    objects = plan({"microseg_trusted_domains": ["tigera.io"], "microseg_calico_edition": "enterprise"}).objects
    assert names(objects) == ["application", "appsec", "platform", "security", "security-default-pass"]


def test_pci_guardrail_passes_only_dns_and_declared_flows():
    spec = index(plan(SHOP).objects)[("GlobalNetworkPolicy", "", "tenant-shop-pci")]["spec"]
    shop = ns("hipstershop")
    assert spec["selector"] == "pci == 'true'"
    assert spec["namespaceSelector"] == shop
    # no same-tenant Pass: every hipstershop flow is listed, internal ones too; external rows are not
    assert spec["ingress"] == [
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'cartservice'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'redis-cart'", "namespaceSelector": shop, "ports": [6379]}},
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'cartservice'", "namespaceSelector": shop, "ports": [7070]}},
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'cartservice'", "namespaceSelector": shop, "ports": ["8000:8080"]}},
        {"action": "Pass", "protocol": "SCTP", "source": {"selector": "app == 'loadgenerator'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'frontend'", "namespaceSelector": shop, "ports": [3868]}},
        {"action": "Pass", "protocol": "TCP",
         "source": {"selector": "app.kubernetes.io/name == 'ingress-nginx'", "namespaceSelector": ns("ingress-nginx")},
         "destination": {"selector": "app == 'frontend'", "namespaceSelector": shop, "ports": [8080]}},
    ]
    assert spec["egress"] == dns_rules("Pass") + [
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'cartservice'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'redis-cart'", "namespaceSelector": shop, "ports": [6379]}},
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'cartservice'", "namespaceSelector": shop, "ports": [7070]}},
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'cartservice'", "namespaceSelector": shop, "ports": ["8000:8080"]}},
        {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'summary'", "namespaceSelector": ns("yaobank"), "ports": [80]}},
        {"action": "Pass", "protocol": "SCTP", "source": {"selector": "app == 'loadgenerator'", "namespaceSelector": shop},
         "destination": {"selector": "app == 'frontend'", "namespaceSelector": shop, "ports": [3868]}},
    ]
    boundary = index(plan(SHOP).objects)[("GlobalNetworkPolicy", "", "tenant-shop-pci-boundary")]["spec"]
    assert (boundary["selector"], boundary["namespaceSelector"]) == ("pci == 'true'", shop)


def test_tenant_guardrail_passes_the_tenant_dns_and_flows_crossing_its_boundary():
    objects = index(plan(SHOP).objects)
    bank = "projectcalico.org/name in {'ledger', 'yaobank'}"
    spec = objects[("GlobalNetworkPolicy", "", "tenant-bank")]["spec"]
    assert spec == {
        "tier": "security", "order": 300, "selector": "all()", "namespaceSelector": bank,
        "ingress": [
            {"action": "Pass", "source": {"namespaceSelector": bank}},
            {"action": "Pass", "protocol": "TCP", "source": {"namespaceSelector": ns("monitoring")},
             "destination": {"namespaceSelector": ns("yaobank"), "ports": ["9090:9100"]}},
            {"action": "Pass", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": ns("hipstershop")},
             "destination": {"selector": "app == 'summary'", "namespaceSelector": ns("yaobank"), "ports": [80]}},
        ],
        "egress": [{"action": "Pass", "destination": {"namespaceSelector": bank}}] + dns_rules("Pass"),
        "types": ["Ingress", "Egress"],
    }
    boundary = objects[("GlobalNetworkPolicy", "", "tenant-bank-boundary")]["spec"]
    assert (boundary["selector"], boundary["namespaceSelector"]) == ("all()", bank)
    shop = objects[("GlobalNetworkPolicy", "", "tenant-shop")]["spec"]
    assert shop["selector"] == "all()"
    assert shop["ingress"][0] == {"action": "Pass", "source": {"namespaceSelector": ns("hipstershop")}}
    assert len(shop["ingress"]) == 2  # + ingress-nginx -> frontend
    assert len(shop["egress"]) == 1 + 2 + 1  # tenant, DNS, frontend -> yaobank/summary


@pytest.mark.parametrize("pci, expected", [
    (True, ["tenant-t-pci", "tenant-t-pci-boundary", "tenant-t", "tenant-t-boundary"]),
    (False, ["tenant-t", "tenant-t-boundary"]),
])
def test_pci_guardrail_only_for_pci_tenants(pci, expected):
    objects = plan({"microseg_tenants": [{"name": "t", "namespaces": ["a"], "pci": pci}]}).objects
    found = [o["metadata"]["name"] for o in objects if o["kind"] == "GlobalNetworkPolicy" and o["spec"]["tier"] == "security"]
    assert found == expected + ["security-default-pass"]


# -- platform tier ----------------------------------------------------------------------------------

def test_platform_dns_and_pass_all():
    objects = index(plan(dict(SHOP, microseg_dns={"namespace": "dns", "selector": "app == 'coredns'", "port": 5353})).objects)
    in_scope = "projectcalico.org/name in {'bookinfo', 'hipstershop', 'ledger', 'yaobank'}"
    assert objects[("GlobalNetworkPolicy", "", "cluster-dns")]["spec"] == {
        "tier": "platform", "order": 100, "selector": "all()", "namespaceSelector": in_scope,
        "egress": [{"action": "Allow", "protocol": proto,
                    "destination": {"selector": 'app == "coredns"', "namespaceSelector": ns("dns"), "ports": [5353]}}
                   for proto in ("UDP", "TCP")],
        "types": ["Egress"]}
    assert objects[("GlobalNetworkPolicy", "", "platform-default-pass")]["spec"] == {
        "tier": "platform", "order": 10000, "selector": "all()", "namespaceSelector": in_scope,
        "ingress": [{"action": "Pass"}], "egress": [{"action": "Pass"}], "types": ["Ingress", "Egress"]}


def test_security_pass_all_selects_every_pod():
    spec = index(plan(SHOP).objects)[("GlobalNetworkPolicy", "", "security-default-pass")]["spec"]
    assert spec == {"tier": "security", "order": 10000, "selector": "all()", "ingress": [{"action": "Pass"}],
                    "egress": [{"action": "Pass"}], "types": ["Ingress", "Egress"]}


# -- appsec tier ------------------------------------------------------------------------------------

def test_appsec_one_policy_per_identity_with_exactly_its_rules():
    objects = plan(SHOP).objects
    assert names(objects, "NetworkPolicy", "hipstershop") == ["cartservice", "frontend", "loadgenerator", "redis-cart"]
    shop = {o["metadata"]["name"]: o for o in objects if o["metadata"].get("namespace") == "hipstershop"}
    assert shop["cartservice"] == {
        "apiVersion": API, "kind": "NetworkPolicy",
        "metadata": {"name": "cartservice", "namespace": "hipstershop",
                     "labels": {MANAGED[0]: MANAGED[1], TIER: "appsec", "projectcalico.org/tier": "appsec"}},
        "spec": {"tier": "appsec", "order": 100, "selector": "app == 'cartservice'",
                 "ingress": [
                     {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'frontend'"}, "destination": {"ports": [7070]}},
                     {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'frontend'"},
                      "destination": {"ports": ["8000:8080"]}}],
                 "egress": [{"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'redis-cart'", "ports": [6379]}}],
                 "types": ["Ingress", "Egress"]}}
    assert shop["frontend"]["spec"]["ingress"] == [
        {"action": "Allow", "protocol": "SCTP", "source": {"selector": "app == 'loadgenerator'"}, "destination": {"ports": [3868]}},
        {"action": "Allow", "protocol": "TCP",
         "source": {"selector": "app.kubernetes.io/name == 'ingress-nginx'", "namespaceSelector": ns("ingress-nginx")},
         "destination": {"ports": [8080]}},
    ]
    assert shop["frontend"]["spec"]["egress"] == [  # destinations sorted: domain, net, then workloads by namespace
        {"action": "Allow", "protocol": "TCP", "destination": {"notNets": CIDRS, "ports": [443]}},
        {"action": "Allow", "protocol": "TCP", "destination": {"nets": ["192.0.2.0/24"], "ports": [443]}},
        {"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'cartservice'", "ports": [7070]}},
        {"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'cartservice'", "ports": ["8000:8080"]}},
        {"action": "Allow", "protocol": "TCP",
         "destination": {"selector": "app == 'summary'", "namespaceSelector": ns("yaobank"), "ports": [80]}},
    ]
    assert shop["loadgenerator"]["spec"] == {"tier": "appsec", "order": 100, "selector": "app == 'loadgenerator'",
                                             "egress": [{"action": "Allow", "protocol": "SCTP",
                                                         "destination": {"selector": "app == 'frontend'", "ports": [3868]}}],
                                             "types": ["Egress"]}
    assert shop["redis-cart"]["spec"]["types"] == ["Ingress"] and "egress" not in shop["redis-cart"]["spec"]


def test_appsec_pass_all_covers_appsec_namespaces():
    spec = index(plan(SHOP).objects)[("GlobalNetworkPolicy", "", "appsec-default-pass")]["spec"]
    assert (spec["namespaceSelector"], spec["order"], spec["ingress"], spec["egress"]) == (
        ns("hipstershop"), 10000, [{"action": "Pass"}], [{"action": "Pass"}])


@pytest.mark.parametrize("row, policy, rule_key, rule", [
    # a whole namespace as destination in the home namespace -> one policy selecting all()
    (flow("monitoring/*", "*", 9090), "all-workloads", "ingress",
     {"action": "Allow", "protocol": "TCP", "source": {"namespaceSelector": ns("monitoring")}, "destination": {"ports": [9090]}}),
    (flow("*", "db", 5432), "all-workloads", "egress",
     {"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'db'", "ports": [5432]}}),
    (flow("web", "shop/*", 80), "web", "egress",
     {"action": "Allow", "protocol": "TCP", "destination": {"selector": "all()", "ports": [80]}}),
    (flow("web", "other/*", 80), "web", "egress",
     {"action": "Allow", "protocol": "TCP", "destination": {"namespaceSelector": ns("other"), "ports": [80]}}),
    (flow("web", "other/api", "8000-8080/UDP"), "web", "egress",
     {"action": "Allow", "protocol": "UDP", "destination": {"selector": "app == 'api'", "namespaceSelector": ns("other"),
                                                            "ports": ["8000:8080"]}}),
    (flow("net:198.51.100.0/24", "web", 443), "web", "ingress",
     {"action": "Allow", "protocol": "TCP", "source": {"nets": ["198.51.100.0/24"]}, "destination": {"ports": [443]}}),
    (flow("web", "net:198.51.100.7", "53/UDP"), "web", "egress",
     {"action": "Allow", "protocol": "UDP", "destination": {"nets": ["198.51.100.7/32"], "ports": [53]}}),
    (flow("web", "domain:www.github.com", 443), "web", "egress",
     {"action": "Allow", "protocol": "TCP", "destination": {"notNets": CIDRS, "ports": [443]}}),
    (flow("run=batch", "web", 80), "run-batch", "egress",
     {"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'web'", "ports": [80]}}),
    (flow("other/app.kubernetes.io/name=x", "web", 80), "web", "ingress",
     {"action": "Allow", "protocol": "TCP", "source": {"selector": "app.kubernetes.io/name == 'x'", "namespaceSelector": ns("other")},
      "destination": {"ports": [80]}}),
])
def test_appsec_endpoint_forms(row, policy, rule_key, rule):
    objects = index(plan({"microseg_apps": [{"name": "shop", "flows": [row]}]}).objects)
    spec = objects[("NetworkPolicy", "shop", policy)]["spec"]
    assert spec[rule_key] == [rule]
    if policy == "all-workloads":
        assert spec["selector"] == "all()"


def test_appsec_policy_for_a_foreign_identity_label():
    objects = plan({"microseg_apps": [{"name": "shop", "identity_label": "app.kubernetes.io/name",
                                       "flows": [flow("web", "app=db", 5432), flow("web", "api", 80)]}]}).objects
    assert names(objects, "NetworkPolicy") == ["api", "app-db", "web"]
    shop = index(objects)
    assert shop[("NetworkPolicy", "shop", "web")]["spec"]["selector"] == "app.kubernetes.io/name == 'web'"
    assert shop[("NetworkPolicy", "shop", "app-db")]["spec"]["selector"] == "app == 'db'"


# -- application tier -------------------------------------------------------------------------------

def test_application_one_policy_per_namespace_with_narrowing():
    objects = index(plan(SHOP).objects)
    yaobank = objects[("NetworkPolicy", "yaobank", "yaobank")]
    assert yaobank["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "application", "projectcalico.org/tier": "application"}
    assert yaobank["spec"] == {
        "tier": "application", "order": 100, "selector": "all()",
        "ingress": [
            {"action": "Allow", "protocol": "TCP", "source": {"namespaceSelector": ns("monitoring")}, "destination": {"ports": ["9090:9100"]}},
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'frontend'", "namespaceSelector": ns("hipstershop")},
             "destination": {"selector": "app == 'summary'", "ports": [80]}},
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'customer'"},
             "destination": {"selector": "app == 'summary'", "ports": [80]}},
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'summary'"},
             "destination": {"selector": "app == 'database'", "ports": [2379]}},
        ],
        "egress": [
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'customer'"},
             "destination": {"notNets": CIDRS, "ports": [443]}},
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'customer'"},
             "destination": {"selector": "app == 'summary'", "ports": [80]}},
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'summary'"},
             "destination": {"namespaceSelector": ns("ledger"), "ports": [5432]}},
            {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'summary'"},
             "destination": {"selector": "app == 'database'", "ports": [2379]}},
        ],
        "types": ["Ingress", "Egress"]}
    ledger = objects[("NetworkPolicy", "ledger", "ledger")]["spec"]
    assert ledger["ingress"] == [{"action": "Allow", "protocol": "TCP",
                                  "source": {"selector": "app == 'summary'", "namespaceSelector": ns("yaobank")},
                                  "destination": {"ports": [5432]}}]
    # a tenant namespace without app still gets its namespace policy; an empty rule list is left out, as the API server
    # stores it, and the policy then governs only the direction it has rules for
    assert "egress" not in ledger and ledger["types"] == ["Ingress"]
    assert objects[("GlobalNetworkPolicy", "", "application-default-pass")]["spec"]["namespaceSelector"] == \
        "projectcalico.org/name in {'bookinfo', 'ledger', 'yaobank'}"


# -- default tier -----------------------------------------------------------------------------------

@pytest.mark.parametrize("phase, action", [("deploy", "Allow"), ("enforce", "Deny")])
def test_default_catch_all_per_security_domain(phase, action):
    objects = [o for o in plan(SHOP, phase).objects if o["metadata"]["labels"][TIER] == "default"]
    assert [(o["kind"], o["metadata"]["name"], o["spec"]["namespaceSelector"]) for o in objects] == [
        ("GlobalNetworkPolicy", "tenant-shop-catch-all", ns("hipstershop")),
        ("GlobalNetworkPolicy", "tenant-bank-catch-all", "projectcalico.org/name in {'ledger', 'yaobank'}"),
        ("GlobalNetworkPolicy", "namespace-bookinfo-catch-all", ns("bookinfo")),
    ]
    for obj in objects:
        assert obj["spec"] == {"tier": "default", "order": 100, "selector": "all()", "namespaceSelector": obj["spec"]["namespaceSelector"],
                               "ingress": [{"action": action}], "egress": [{"action": action}], "types": ["Ingress", "Egress"]}


# -- domains: oss widening vs enterprise network sets --------------------------------------------

def test_oss_domain_rows_widen_and_warn():
    result = plan(SHOP)
    assert [w for w in result.warnings if "->" in w] == [  # in render order: application tier, then appsec
        "yaobank/customer -> domain:*.bloomberg.com on 443/TCP: the oss edition cannot match domain names; "
        "allowed to any address outside 10.244.0.0/16, 10.96.0.0/12 on that port",
        "hipstershop/frontend -> domain:api.example.com on 443/TCP: the oss edition cannot match domain names; "
        "allowed to any address outside 10.244.0.0/16, 10.96.0.0/12 on that port",
    ]
    assert len(result.warnings) == len(set(result.warnings)) == 3


def test_oss_output_uses_no_enterprise_only_field():
    keys = set(walk_keys(plan(SHOP).objects))
    assert not keys & {"allowedEgressDomains", "domains"}
    assert "notNets" in keys


def test_enterprise_domain_rows_become_global_network_sets():
    result = plan(ENTERPRISE)
    objects = index(result.objects)
    assert not [w for w in result.warnings if "cannot match domain names" in w]
    sets = {key[2]: obj for key, obj in objects.items() if key[0] == "GlobalNetworkSet"}
    assert sorted(sets) == ["domain-api.example.com", "domain-wildcard.bloomberg.com", "threat-nets", "trusted-domains"]
    assert sets["domain-api.example.com"] == {
        "apiVersion": API, "kind": "GlobalNetworkSet",
        "metadata": {"name": "domain-api.example.com",
                     "labels": {MANAGED[0]: MANAGED[1], TIER: "appsec", "zerotrust.microseg/network-set": "domain-api.example.com"}},
        "spec": {"allowedEgressDomains": ["api.example.com"]}}
    assert sets["domain-wildcard.bloomberg.com"]["spec"] == {"allowedEgressDomains": ["*.bloomberg.com"]}
    assert sets["domain-wildcard.bloomberg.com"]["metadata"]["labels"][TIER] == "application"
    assert {"action": "Allow", "protocol": "TCP",
            "destination": {"selector": "zerotrust.microseg/network-set == 'domain-api.example.com'", "namespaceSelector": "global()",
                            "ports": [443]}} in objects[("NetworkPolicy", "hipstershop", "frontend")]["spec"]["egress"]
    assert {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'customer'"},
            "destination": {"selector": "zerotrust.microseg/network-set == 'domain-wildcard.bloomberg.com'",
                            "namespaceSelector": "global()", "ports": [443]}} in objects[("NetworkPolicy", "yaobank", "yaobank")]["spec"]["egress"]
    assert "notNets" not in set(walk_keys(result.objects))


def test_enterprise_domain_sets_are_written_after_the_policies_that_use_them():
    kinds = [o["kind"] for o in plan(ENTERPRISE).objects]
    assert kinds[-2:] == ["GlobalNetworkSet", "GlobalNetworkSet"]


def test_enterprise_domain_used_by_two_workloads_is_one_set():
    result = plan({"microseg_calico_edition": "enterprise", "microseg_apps": [{"name": "a", "flows": [
        flow("x", "domain:tigera.io", 443), flow("y", "domain:tigera.io", 80)]}]})
    assert names(result.objects, "GlobalNetworkSet") == ["domain-tigera.io"]


def test_enterprise_wildcard_and_literal_wildcard_label_get_separate_sets():
    """``*.example.com`` and ``wildcard.example.com`` must not share a set: each flow reaches only its own name."""
    objects = index(plan({"microseg_calico_edition": "enterprise", "microseg_apps": [{"name": "a", "flows": [
        flow("x", "domain:*.example.com", 443), flow("y", "domain:wildcard.example.com", 443)]}]}).objects)
    sets = {key[2]: obj["spec"]["allowedEgressDomains"] for key, obj in objects.items() if key[0] == "GlobalNetworkSet"}
    assert sorted(map(tuple, sets.values())) == [("*.example.com",), ("wildcard.example.com",)]
    for workload, domain in (("x", "*.example.com"), ("y", "wildcard.example.com")):
        selector = objects[("NetworkPolicy", "a", workload)]["spec"]["egress"][0]["destination"]["selector"]
        slug = selector.split("'")[1]
        assert sets[slug] == [domain]


@pytest.mark.parametrize("domain, slug", [
    ("tigera.io", "domain-tigera.io"),
    ("*.ubuntu.com", "domain-wildcard.ubuntu.com"),
    ("update.*.example.com", "domain-update.wildcard.example.com"),
    ("a" * 60 + ".com", "domain-" + "a" * 40 + "-"),
])
def test_set_slug(domain, slug):
    found = set_slug(domain)
    assert found.startswith(slug)
    assert len(found) <= 63
    assert set_slug(domain) == found


def test_set_slug_of_long_domains_is_unique_and_hashed():
    first, second = set_slug("a" * 60 + ".com"), set_slug("a" * 60 + ".org")
    assert first != second and len(first) == len(second) == len("domain-") + 40 + 1 + 8


# -- renderer entry point and determinism ------------------------------------------------------

def test_render_returns_objects_and_losses_whose_sentences_are_the_plans_warnings():
    intent = load_intent(SHOP)
    objects, losses = render(intent, declared_flows(intent), "enforced")
    assert objects == plan(SHOP).objects and losses == plan(SHOP).losses
    assert [loss.why for loss in losses] == plan(SHOP).warnings and losses, losses
    assert {(loss.change, loss.tier) for loss in losses} <= {("widened", "security"), ("widened", "application"), ("widened", "appsec")}


@pytest.mark.parametrize("variables", [SHOP, ENTERPRISE], ids=["oss", "enterprise"])
@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_two_renders_are_equal(variables, phase):
    first, second = plan(variables, phase), plan(variables, phase)
    assert first.objects == second.objects and first.warnings == second.warnings


def test_row_order_does_not_change_the_output():
    shuffled = dict(SHOP, microseg_apps=[dict(app, flows=list(reversed(app["flows"]))) for app in reversed(SHOP["microseg_apps"])])
    assert plan(shuffled).objects == plan(SHOP).objects


def test_nothing_in_scope_renders_tiers_and_the_security_pass_only():
    objects = plan({}).objects
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Tier", "security"), ("Tier", "platform"), ("Tier", "application"), ("Tier", "appsec"),
        ("GlobalNetworkPolicy", "security-default-pass")]
