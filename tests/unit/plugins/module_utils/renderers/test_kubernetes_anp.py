"""kubernetes-anp renderer: admin policies for security and platform, the BANP for default, NetworkPolicies for the
application tiers; priorities, postures, determinism, the CRD schemas and the losses."""
import glob
import ipaddress
import os
import random

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.doc_fragments.intent import ModuleDocFragment
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.face import INTENT_SPEC
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import merge_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS, RENDERERS, kubernetes, kubernetes_anp
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.kubernetes_anp import AdminPolicyRenderer, outside_networks

ANP_API = "policy.networking.k8s.io/v1alpha1"
MANAGED = ("app.kubernetes.io/managed-by", "zerotrust.microseg")
TIER = "zerotrust.microseg/tier"
POSTURE = "zerotrust.microseg/posture"
NS = "kubernetes.io/metadata.name"
SERVED = ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]
CRDS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "crds", "network-policy-api-v0.1.8")


def flow(source, destination, port):
    return {"source": source, "destination": destination, "port": port}


def plan(variables, phase="enforce", tiers=None):
    return make_plan(load_intent(dict({"microseg_cluster_serves": SERVED}, microseg_dialect="kubernetes-anp", **variables)), phase, tiers)


def index(objects):
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


def admin(objects, name):
    return index(objects)[("AdminNetworkPolicy", "", name)]


def pods(namespace, **labels):
    return {"pods": {"namespaceSelector": {"matchLabels": {NS: namespace}}, "podSelector": {"matchLabels": labels}}}


def tcp(port):
    return {"portNumber": {"protocol": "TCP", "port": port}}


SHOP = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True},
                         {"name": "bank", "namespaces": ["yaobank", "ledger"]}],
    "microseg_apps": [
        {"name": "hipstershop", "tenant": "shop", "flows": [
            flow("frontend", "cartservice", 7070),
            flow("frontend", "cartservice", "8000-8080"),
            flow("checkoutservice", "cartservice", 7070),
            flow("frontend", "yaobank/summary", "80"),
            flow("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "frontend", 8080),
            flow("loadgenerator", "frontend", "3868/SCTP"),
            flow("frontend", "net:192.0.2.0/24", 443),
            flow("frontend", "domain:api.example.com", 443),
            flow("monitoring/*", "*", "9090-9100"),
        ]},
        {"name": "yaobank", "tenant": "bank", "tier": "application", "flows": [
            flow("customer", "summary", 80), flow("summary", "ledger/*", 5432), flow("summary", "run=db", "53/UDP")]},
    ],
    "microseg_trusted_domains": ["tigera.io"],
    "microseg_threat_nets": ["203.0.113.0/24"],
}
ADMIN_NAMES = ["microseg-threat-nets-deny", "microseg-trusted-domains", "microseg-tenant-shop-pci", "microseg-tenant-shop-pci-boundary",
               "microseg-tenant-bank", "microseg-tenant-shop", "microseg-tenant-bank-boundary", "microseg-tenant-shop-boundary",
               "microseg-cluster-dns"]


def test_registered_as_a_dialect_and_a_choice_everywhere():
    assert RENDERERS["kubernetes-anp"] is kubernetes_anp and "kubernetes-anp" in DIALECTS
    assert INTENT_SPEC["dialect"]["choices"] == list(DIALECTS)
    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]["dialect"]["choices"] == list(DIALECTS)


# -- priorities -------------------------------------------------------------------------------------------------------

def test_priorities_follow_the_calico_model_unique_security_before_platform():
    objects = plan(SHOP).objects
    ranked = sorted((o for o in objects if o["kind"] == "AdminNetworkPolicy"), key=lambda o: o["spec"]["priority"])
    # the Calico orders: threat nets 0, trusted domains 100, PCI 200, PCI boundary 250, tenant 300, boundary 350 (then by
    # name: bank before shop), platform's DNS after every security policy
    assert [o["metadata"]["name"] for o in ranked] == ADMIN_NAMES
    assert [o["spec"]["priority"] for o in ranked] == list(range(100, 108)) + [900]
    assert all(o["metadata"]["labels"][TIER] == ("platform" if o["metadata"]["name"] == "microseg-cluster-dns" else "security")
               for o in ranked)


def test_priorities_are_stable_and_leave_platform_where_it_is():
    assert plan(SHOP).objects == plan(SHOP).objects
    fewer = plan(dict(SHOP, microseg_threat_nets=[], microseg_trusted_domains=[])).objects
    assert admin(fewer, "microseg-tenant-shop-pci")["spec"]["priority"] == 100
    assert admin(fewer, "microseg-cluster-dns")["spec"]["priority"] == 900


def test_too_many_security_policies_for_the_priorities_is_an_error(monkeypatch):
    monkeypatch.setattr(AdminPolicyRenderer, "PRIORITIES", {"security": (100, 104), "platform": (900, 999)})
    with pytest.raises(InputError, match="the security tier needs 8 AdminNetworkPolicy objects; their priorities 100-104 hold 5"):
        plan(SHOP)


# -- the security tier -----------------------------------------------------------------------------------------------

def test_threat_nets_denied_for_every_pod():
    spec = admin(plan(SHOP).objects, "microseg-threat-nets-deny")["spec"]
    assert spec == {"priority": 100, "subject": {"namespaces": {}},
                    "egress": [{"name": "threat-nets", "action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}]}]}


def test_more_threat_nets_than_a_peer_holds_are_split():
    nets = ["198.18.%d.0/24" % i for i in range(30)]
    rule = admin(plan(dict(SHOP, microseg_threat_nets=nets)).objects, "microseg-threat-nets-deny")["spec"]["egress"][0]
    assert [len(peer["networks"]) for peer in rule["to"]] == [25, 5]
    assert sorted(n for peer in rule["to"] for n in peer["networks"]) == sorted(nets)


@pytest.mark.parametrize("cidrs", [["10.244.0.0/16", "10.96.0.0/12"], ["10.0.0.0/8", "fd00::/64"], ["192.168.0.0/16", "192.168.1.0/24"]])
def test_outside_networks_are_the_complement_of_the_cluster_cidrs(cidrs):
    outside = [ipaddress.ip_network(n) for n in outside_networks(cidrs)]
    inside = [ipaddress.ip_network(c) for c in cidrs]
    for version in {c.version for c in inside}:
        together = [n for n in outside + inside if n.version == version]
        assert [n.prefixlen for n in ipaddress.collapse_addresses(together)] == [0]
        assert not any(o.overlaps(c) for o in outside for c in inside if o.version == c.version == version)
    assert {n.version for n in outside} == {c.version for c in inside}   # no /0 of a family the cluster does not use


def test_trusted_domains_allowed_as_any_outside_address_on_443():
    spec = admin(plan(SHOP).objects, "microseg-trusted-domains")["spec"]
    assert spec["subject"] == {"namespaces": {"matchExpressions": [{"key": NS, "operator": "In",
                                                                    "values": ["hipstershop", "ledger", "yaobank"]}]}}
    (rule,) = spec["egress"]
    assert rule["action"] == "Allow" and rule["ports"] == [tcp(443)]
    assert [n for peer in rule["to"] for n in peer["networks"]] == outside_networks(["10.244.0.0/16", "10.96.0.0/12"])


def test_pci_guardrail_passes_declared_flows_only_and_allows_dns():
    spec = admin(plan(SHOP).objects, "microseg-tenant-shop-pci")["spec"]
    assert spec["subject"] == {"pods": {"namespaceSelector": {"matchLabels": {NS: "hipstershop"}}, "podSelector": {"matchLabels": {"pci": "true"}}}}
    # peers with the same ports share a rule: the rule's peers x ports is exactly the declared flows
    assert spec["ingress"] == [   # sorted by ports, then peers
        {"name": "declared-flows-1", "action": "Pass", "from": [pods("hipstershop", app="loadgenerator")],
         "ports": [{"portNumber": {"protocol": "SCTP", "port": 3868}}]},
        {"name": "declared-flows-2", "action": "Pass", "from": [pods("hipstershop", app="checkoutservice")], "ports": [tcp(7070)]},
        {"name": "declared-flows-3", "action": "Pass", "from": [pods("hipstershop", app="frontend")],
         "ports": [tcp(7070), {"portRange": {"protocol": "TCP", "start": 8000, "end": 8080}}]},
        {"name": "declared-flows-4", "action": "Pass", "from": [pods("ingress-nginx", **{"app.kubernetes.io/name": "ingress-nginx"})],
         "ports": [tcp(8080)]},
        {"name": "declared-flows-5", "action": "Pass", "from": [{"namespaces": {"matchLabels": {NS: "monitoring"}}}],
         "ports": [{"portRange": {"protocol": "TCP", "start": 9090, "end": 9100}}]},
    ]
    assert spec["egress"][0] == {"name": "cluster-dns", "action": "Allow", "to": [pods("kube-system", **{"k8s-app": "kube-dns"})],
                                 "ports": [tcp(53), {"portNumber": {"protocol": "UDP", "port": 53}}]}
    assert spec["egress"][1:] == [
        {"name": "declared-flows-1", "action": "Pass", "to": [pods("hipstershop", app="frontend")],
         "ports": [{"portNumber": {"protocol": "SCTP", "port": 3868}}]},
        {"name": "declared-flows-2", "action": "Pass", "to": [pods("yaobank", app="summary")], "ports": [tcp(80)]},
        {"name": "declared-flows-3", "action": "Pass", "to": [pods("hipstershop", app="cartservice")],
         "ports": [tcp(7070), {"portRange": {"protocol": "TCP", "start": 8000, "end": 8080}}]},
    ]


def test_tenant_guardrail_passes_the_same_tenant_and_flows_across():
    spec = admin(plan(SHOP).objects, "microseg-tenant-bank")["spec"]
    bank = {"matchExpressions": [{"key": NS, "operator": "In", "values": ["ledger", "yaobank"]}]}
    assert spec["subject"] == {"namespaces": bank}
    assert spec["ingress"] == [
        {"name": "same-tenant", "action": "Pass", "from": [{"namespaces": bank}]},
        {"name": "declared-flows-1", "action": "Pass", "from": [pods("hipstershop", app="frontend")], "ports": [tcp(80)]}]
    assert [rule["name"] for rule in spec["egress"]] == ["cluster-dns", "same-tenant"]   # summary -> ledger stays inside
    assert spec["egress"][0]["action"] == "Allow"


@pytest.mark.parametrize("phase, action", [("deploy", "Pass"), ("enforce", "Deny")])
def test_boundaries_pass_while_deploying_and_deny_once_enforced(phase, action):
    objects = plan(SHOP, phase).objects
    for name, subject in (("microseg-tenant-shop-pci-boundary", admin(objects, "microseg-tenant-shop-pci")["spec"]["subject"]),
                          ("microseg-tenant-bank-boundary", admin(objects, "microseg-tenant-bank")["spec"]["subject"])):
        boundary = admin(objects, name)
        posture = "failsafe" if phase == "deploy" else "enforced"
        assert boundary["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "security", POSTURE: posture}
        assert boundary["spec"]["subject"] == subject
        assert boundary["spec"]["ingress"] == [{"name": "boundary", "action": action, "from": [{"namespaces": {}}]}]
        assert boundary["spec"]["egress"] == [{"name": "boundary", "action": action, "to": [{"namespaces": {}}]}]


def test_past_the_rule_limit_passes_merge_their_peers_without_ports(monkeypatch):
    monkeypatch.setattr(AdminPolicyRenderer, "MAX_RULES", 3)
    spec = admin(plan(SHOP).objects, "microseg-tenant-shop-pci")["spec"]
    assert [rule["name"] for rule in spec["ingress"]] == ["declared-flows-1"]
    assert "ports" not in spec["ingress"][0] and len(spec["ingress"][0]["from"]) == 5
    result = plan(SHOP)
    assert {loss.port for loss in result.losses if loss.rule == "tenant-shop-pci"} == {"*"}


# -- platform, application tiers, default ----------------------------------------------------------------------------

def test_cluster_dns_allowed_for_every_in_scope_pod():
    spec = admin(plan(SHOP).objects, "microseg-cluster-dns")["spec"]
    assert spec["subject"]["namespaces"]["matchExpressions"][0]["values"] == ["hipstershop", "ledger", "yaobank"]
    assert spec["egress"] == [admin(plan(SHOP).objects, "microseg-tenant-bank")["spec"]["egress"][0]]


def test_application_tiers_are_the_kubernetes_dialects_network_policies():
    objects = plan(SHOP).objects
    theirs = index(kubernetes.render(load_intent(dict(SHOP, microseg_dialect="kubernetes")), declared_flows(load_intent(SHOP)), "enforced")[0])
    ours = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["labels"][TIER] in ("application", "appsec")]
    assert ours and all(theirs[key] == obj for key, obj in index(ours).items())
    assert sorted(index(ours)) == sorted(key for key, obj in theirs.items() if obj["metadata"]["labels"][TIER] in ("application", "appsec"))


@pytest.mark.parametrize("phase, posture, action, catch_all", [
    ("deploy", "failsafe", "Allow", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}]}),
    ("enforce", "enforced", "Deny", {"podSelector": {}, "policyTypes": ["Ingress"]}),
])
def test_default_tier_is_the_one_banp_and_a_catch_all_per_namespace(phase, posture, action, catch_all):
    objects = index(plan(SHOP, phase).objects)
    banp = objects[("BaselineAdminNetworkPolicy", "", "default")]
    assert [key for key in objects if key[0] == "BaselineAdminNetworkPolicy"] == [("BaselineAdminNetworkPolicy", "", "default")]
    assert banp["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "default", POSTURE: posture}
    assert banp["spec"] == {
        "subject": {"namespaces": {"matchExpressions": [{"key": NS, "operator": "In", "values": ["hipstershop", "ledger", "yaobank"]}]}},
        "ingress": [{"name": "catch-all", "action": action, "from": [{"namespaces": {}}]}],
        "egress": [{"name": "catch-all", "action": action, "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}]}
    for namespace in ("hipstershop", "ledger", "yaobank"):
        policy = objects[("NetworkPolicy", namespace, "microseg-catch-all")]
        assert policy["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "default", POSTURE: posture}
        assert policy["spec"] == catch_all


def test_nothing_in_scope_renders_only_the_threat_nets():
    objects = plan({"microseg_threat_nets": ["203.0.113.0/24"]}).objects
    assert [o["metadata"]["name"] for o in objects] == ["microseg-threat-nets-deny"]


# -- postures, determinism, labels ---------------------------------------------------------------------------------

def test_deploy_and_enforce_differ_only_in_the_posture_objects():
    deploy, enforce = index(plan(SHOP, "deploy").objects), index(plan(SHOP, "enforce").objects)
    assert list(deploy) == list(enforce)
    changed = sorted(key for key in deploy if deploy[key] != enforce[key])
    assert changed == sorted(key for key, obj in deploy.items() if POSTURE in obj["metadata"]["labels"])
    assert changed == sorted([("AdminNetworkPolicy", "", "microseg-tenant-shop-pci-boundary"), ("AdminNetworkPolicy", "", "microseg-tenant-bank-boundary"),
                              ("AdminNetworkPolicy", "", "microseg-tenant-shop-boundary"), ("BaselineAdminNetworkPolicy", "", "default")]
                             + [("NetworkPolicy", ns, "microseg-catch-all") for ns in ("hipstershop", "ledger", "yaobank")])


def test_the_same_flows_in_any_order_render_the_same_objects():
    intent = load_intent(dict(SHOP, microseg_dialect="kubernetes-anp", microseg_cluster_serves=SERVED))
    flows = declared_flows(intent)
    shuffled = list(flows)
    random.Random(7).shuffle(shuffled)   # as declared in any order: the plan merges (and sorts) them before rendering
    assert kubernetes_anp.render(intent, flows, "enforced")[0] == kubernetes_anp.render(intent, merge_flows(shuffled), "enforced")[0]

    def admins(some):
        return [o for o in kubernetes_anp.render(intent, some, "enforced")[0] if o["apiVersion"] == ANP_API]
    # the admin policies do not depend on the flows' order (the NetworkPolicies keep it, as the kubernetes dialect does;
    # the plan always hands flows over merged and sorted)
    assert admins(shuffled) == admins(flows)


def _walk(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, "%s.%s" % (path, key))
    elif isinstance(value, list):
        yield path, value
        for number, item in enumerate(value):
            yield from _walk(item, "%s[%d]" % (path, number))


@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_every_object_is_ours_and_has_no_empty_list(phase):
    for obj in plan(SHOP, phase).objects:
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED[0]] == MANAGED[1] and labels[TIER] in ("security", "platform", "application", "appsec", "default")
        assert [path for path, value in _walk(obj) if value == []] == [], obj["metadata"]["name"]


def test_objects_share_no_mutable_part():
    objects = plan(SHOP).objects
    seen = {}
    for number, obj in enumerate(objects):
        for path, value in _walk(obj):
            assert seen.setdefault(id(value), (number, path)) == (number, path)


def test_tier_selection_keeps_the_priorities():
    objects = plan(SHOP, tiers=["platform"]).objects
    assert [(o["metadata"]["name"], o["spec"]["priority"]) for o in objects] == [("microseg-cluster-dns", 900)]


# -- the CRDs ---------------------------------------------------------------------------------------------------------

def _schema(kind):
    for path in glob.glob(os.path.join(CRDS, "*.yaml")):
        with open(path, encoding="utf-8") as handle:
            crd = yaml.safe_load(handle)
        if crd["spec"]["names"]["kind"] == kind:
            (version,) = crd["spec"]["versions"]
            assert version["name"] == "v1alpha1"
            return version["schema"]["openAPIV3Schema"]
    raise AssertionError(kind)


def _problems(value, schema, path="$"):
    """What the API server's structural schema validation would refuse (CEL rules aside: isCIDR is checked here too)."""
    kind = schema.get("type")
    found = []
    if kind == "object":
        if not isinstance(value, dict):
            return ["%s: not an object" % path]
        found += ["%s: %s is required" % (path, key) for key in schema.get("required", ()) if key not in value]
        if "maxProperties" in schema and len(value) > schema["maxProperties"] or "minProperties" in schema and len(value) < schema["minProperties"]:
            found.append("%s: %d properties" % (path, len(value)))
        for key, item in value.items():
            if key in schema.get("properties", {}):
                found += _problems(item, schema["properties"][key], "%s.%s" % (path, key))
            elif isinstance(schema.get("additionalProperties"), dict):
                found += _problems(item, schema["additionalProperties"], "%s.%s" % (path, key))
            elif "properties" in schema:
                found.append("%s: unknown field %s" % (path, key))
    elif kind == "array":
        if not isinstance(value, list):
            return ["%s: not an array" % path]
        if len(value) > schema.get("maxItems", len(value)) or len(value) < schema.get("minItems", 0):
            found.append("%s: %d items" % (path, len(value)))
        if schema.get("x-kubernetes-list-type") == "set" and len(set(map(str, value))) != len(value):
            found.append("%s: repeated items in a set" % path)
        for number, item in enumerate(value):
            found += _problems(item, schema["items"], "%s[%d]" % (path, number))
    elif kind == "string":
        if not isinstance(value, str):
            return ["%s: not a string" % path]
        if len(value) > schema.get("maxLength", len(value)) or ("enum" in schema and value not in schema["enum"]):
            found.append("%s: %r" % (path, value))
        if any(rule.get("rule") == "isCIDR(self)" for rule in schema.get("x-kubernetes-validations", ())):
            try:
                ipaddress.ip_network(value)
            except ValueError:
                found.append("%s: %r is not a CIDR" % (path, value))
    elif kind == "integer":
        if not isinstance(value, int) or value < schema.get("minimum", value) or value > schema.get("maximum", value):
            found.append("%s: %r" % (path, value))
    return found


@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_every_admin_policy_fits_the_standard_channel_crds(phase):
    variables = dict(SHOP, microseg_threat_nets=["198.18.%d.0/24" % i for i in range(30)])
    admins = [o for o in plan(variables, phase).objects if o["apiVersion"] == ANP_API]
    assert {o["kind"] for o in admins} == {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy"}
    for obj in admins:
        assert _problems(obj, _schema(obj["kind"])) == [], obj["metadata"]["name"]
        assert obj["kind"] == "AdminNetworkPolicy" or obj["metadata"]["name"] == "default"   # the BANP's CEL rule
        for direction in ("ingress", "egress"):
            for rule in obj["spec"].get(direction, ()):
                for port in rule.get("ports", ()):
                    assert "portRange" not in port or port["portRange"]["start"] < port["portRange"]["end"]


def test_the_standard_channel_has_no_domain_names_peer():
    egress = _schema("AdminNetworkPolicy")["properties"]["spec"]["properties"]["egress"]["items"]["properties"]["to"]["items"]
    assert sorted(egress["properties"]) == ["namespaces", "networks", "pods"]


# -- what the cluster must serve -------------------------------------------------------------------------------------

@pytest.mark.parametrize("served, missing", [(["AdminNetworkPolicy"], "BaselineAdminNetworkPolicy"),
                                             ([], "AdminNetworkPolicy, BaselineAdminNetworkPolicy")])
def test_a_cluster_that_does_not_serve_both_kinds_is_refused(served, missing):
    with pytest.raises(InputError, match="dialect kubernetes-anp writes %s " % missing):
        plan(dict(SHOP, microseg_cluster_serves=served))


# -- losses -----------------------------------------------------------------------------------------------------------

def _losses(variables, phase="enforce"):
    return [(loss.change, loss.tier, loss.rule, loss.source, loss.destination, loss.port) for loss in plan(variables, phase).losses]


def test_losses_name_the_rules_and_the_traffic():
    losses = _losses(SHOP)
    assert losses == _losses(SHOP, "deploy")
    trusted = [loss for loss in losses if loss[2] == "trusted-domains"]
    assert trusted == [("widened", "security", "trusted-domains", ns + "/*", "net:*", "443/TCP") for ns in ("hipstershop", "ledger", "yaobank")]
    assert ("widened", "appsec", "hipstershop/frontend -> domain:api.example.com 443/TCP", "hipstershop/frontend", "*", "443/TCP") in losses
    # the Pass of a declared flow across a guardrail covers every pod the guardrail selects, on that peer and port
    assert sorted(loss[3:] for loss in losses if loss[2] == "tenant-bank") == [
        ("hipstershop/frontend", "ledger/*", "80/TCP"), ("hipstershop/frontend", "yaobank/*", "80/TCP")]
    pci = [loss[3:] for loss in losses if loss[2] == "tenant-shop-pci"]
    assert ("monitoring/*", "hipstershop/pci=true", "9090-9100/TCP") in pci
    assert ("hipstershop/pci=true", "yaobank/summary", "80/TCP") in pci
    assert sorted(loss[3:] for loss in losses if loss[2] == "tenant-shop") == [   # only what crosses the tenant's boundary
        ("hipstershop/*", "yaobank/summary", "80/TCP"), ("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "hipstershop/*", "8080/TCP"),
        ("monitoring/*", "hipstershop/*", "9090-9100/TCP")]
    assert {loss[0] for loss in losses} == {"widened"}


def test_enterprise_domains_on_other_ports_are_dropped():
    losses = _losses(dict(SHOP, microseg_calico_edition="enterprise", microseg_trusted_domains=["tigera.io", "*.google.com"]))
    dropped = [loss[3:] for loss in losses if loss[0] == "dropped"]
    assert dropped == [(ns + "/*", "domain:" + domain, "*") for ns in ("hipstershop", "ledger", "yaobank") for domain in ("*.google.com", "tigera.io")]


def test_warnings_are_one_fidelity_line_per_rule():
    warnings = plan(SHOP).warnings
    assert len([w for w in warnings if "rule trusted-domains" in w]) == 1
    assert len([w for w in warnings if "rule tenant-shop-pci" in w]) == 1
    assert any("AdminNetworkPolicy v1alpha1 has no domainNames peer" in w for w in warnings)
