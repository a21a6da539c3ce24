"""kubernetes-cnp renderer: the anp dialect's shape as ClusterNetworkPolicy v1alpha2 (tier Admin for security and platform,
tier Baseline for default), NetworkPolicies for the application tiers; actions, protocols, limits, postures, determinism,
the v0.2.0 CRD schema, the refusal and the losses."""
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
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS, RENDERERS, kubernetes_anp, kubernetes_cnp
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.kubernetes_cnp import ClusterPolicyRenderer
from ansible_collections.zerotrust.microseg.tests.unit.plugins.module_utils.renderers.test_kubernetes_anp import (
    ADMIN_NAMES, MANAGED, NS, POSTURE, SHOP, TIER, _problems, _walk, index, pods)

CNP_API = "policy.networking.k8s.io/v1alpha2"
SERVED = ["ClusterNetworkPolicy"]
CRD = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "crds", "network-policy-api-v0.2.0",
                   "policy.networking.k8s.io_clusternetworkpolicies.yaml")
EVERY_NS = {"namespaces": {"matchExpressions": [{"key": NS, "operator": "In", "values": ["hipstershop", "ledger", "yaobank"]}]}}


def plan(variables, phase="enforce", tiers=None, dialect="kubernetes-cnp", served=None):
    if served is None:
        served = SERVED if dialect == "kubernetes-cnp" else list(kubernetes_anp.AdminPolicyRenderer.REQUIRED_KINDS)
    variables = dict({"microseg_cluster_serves": served}, microseg_dialect=dialect, **variables)
    return make_plan(load_intent(variables), phase, tiers)


def cnp(objects, name):
    return index(objects)[("ClusterNetworkPolicy", "", name)]


def tcp(port):
    return {"tcp": {"destinationPort": {"number": port}}}


def test_registered_as_a_dialect_and_a_choice_everywhere():
    assert RENDERERS["kubernetes-cnp"] is kubernetes_cnp and "kubernetes-cnp" in DIALECTS
    assert INTENT_SPEC["dialect"]["choices"] == list(DIALECTS)
    assert yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]["dialect"]["choices"] == list(DIALECTS)
    for role in ("identify", "analyze", "deploy", "enforce", "remediate"):
        path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "..", "roles", role, "meta", "argument_specs.yml")
        with open(path, encoding="utf-8") as handle:
            options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
        assert options["microseg_dialect"]["choices"] == list(DIALECTS), role


# -- the anp dialect's shape, in v1alpha2 -------------------------------------------------------------------------------

def test_every_cluster_wide_object_is_a_cluster_network_policy_with_the_anp_priorities():
    objects = plan(SHOP).objects
    admins = [o for o in objects if o["apiVersion"] == CNP_API]
    assert {o["kind"] for o in admins} == {"ClusterNetworkPolicy"}
    assert not [o for o in objects if o["apiVersion"] == kubernetes_anp.API_VERSION]
    ranked = sorted((o for o in admins if o["spec"]["tier"] == "Admin"), key=lambda o: o["spec"]["priority"])
    assert [o["metadata"]["name"] for o in ranked] == ADMIN_NAMES
    assert [o["spec"]["priority"] for o in ranked] == list(range(100, 108)) + [900]
    anp = {o["metadata"]["name"]: o["spec"]["priority"] for o in plan(SHOP, dialect="kubernetes-anp").objects if o["kind"] == "AdminNetworkPolicy"}
    assert {o["metadata"]["name"]: o["spec"]["priority"] for o in ranked} == anp
    (baseline,) = [o for o in admins if o["spec"]["tier"] == "Baseline"]
    assert baseline["metadata"]["name"] == "microseg-default" and baseline["spec"]["priority"] == 1000


def test_threat_nets_and_trusted_domains():
    objects = plan(SHOP).objects
    assert cnp(objects, "microseg-threat-nets-deny")["spec"] == {
        "tier": "Admin", "priority": 100, "subject": {"namespaces": {}},
        "egress": [{"name": "threat-nets", "action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}]}]}
    spec = cnp(objects, "microseg-trusted-domains")["spec"]
    (rule,) = spec["egress"]
    assert spec["subject"] == EVERY_NS
    assert rule["action"] == "Accept" and rule["protocols"] == [tcp(443)] and "ports" not in rule
    anp_rule = index(plan(SHOP, dialect="kubernetes-anp").objects)[("AdminNetworkPolicy", "", "microseg-trusted-domains")]["spec"]["egress"][0]
    assert rule["to"] == anp_rule["to"]


def test_threat_nets_need_no_admin_network_policy_nor_the_except_fallback():
    """The threat nets are the Admin tier's: the kubernetes dialect's check (AdminNetworkPolicy or except) does not apply."""
    objects = plan(SHOP).objects
    assert cnp(objects, "microseg-threat-nets-deny")
    blocks = [peer["ipBlock"] for o in objects if o["kind"] == "NetworkPolicy" for rule in o["spec"].get("egress", ())
              for peer in rule.get("to", ()) if "ipBlock" in peer]
    anp_blocks = [peer["ipBlock"] for o in plan(SHOP, dialect="kubernetes-anp").objects if o["kind"] == "NetworkPolicy"
                  for rule in o["spec"].get("egress", ()) for peer in rule.get("to", ()) if "ipBlock" in peer]
    assert blocks == anp_blocks


def test_guardrails_use_accept_pass_and_protocols():
    spec = cnp(plan(SHOP).objects, "microseg-tenant-shop-pci")["spec"]
    assert spec["tier"] == "Admin"
    assert spec["ingress"][0] == {"name": "declared-flows-1", "action": "Pass", "from": [pods("hipstershop", app="loadgenerator")],
                                  "protocols": [{"sctp": {"destinationPort": {"number": 3868}}}]}
    assert spec["ingress"][2]["protocols"] == [tcp(7070), {"tcp": {"destinationPort": {"range": {"start": 8000, "end": 8080}}}}]
    assert spec["egress"][0] == {"name": "cluster-dns", "action": "Accept", "to": [pods("kube-system", **{"k8s-app": "kube-dns"})],
                                 "protocols": [tcp(53), {"udp": {"destinationPort": {"number": 53}}}]}


@pytest.mark.parametrize("phase, action", [("deploy", "Pass"), ("enforce", "Deny")])
def test_boundaries_pass_while_deploying_and_deny_once_enforced(phase, action):
    boundary = cnp(plan(SHOP, phase).objects, "microseg-tenant-bank-boundary")
    assert boundary["metadata"]["labels"][POSTURE] == ("failsafe" if phase == "deploy" else "enforced")
    assert boundary["spec"]["ingress"] == [{"name": "boundary", "action": action, "from": [{"namespaces": {}}]}]
    assert boundary["spec"]["egress"] == [{"name": "boundary", "action": action, "to": [{"namespaces": {}}]}]


@pytest.mark.parametrize("phase, posture, action", [("deploy", "failsafe", "Accept"), ("enforce", "enforced", "Deny")])
def test_default_tier_is_one_baseline_policy_and_a_catch_all_per_namespace(phase, posture, action):
    objects = index(plan(SHOP, phase).objects)
    baseline = objects[("ClusterNetworkPolicy", "", "microseg-default")]
    assert baseline["metadata"]["labels"] == {MANAGED[0]: MANAGED[1], TIER: "default", POSTURE: posture}
    assert baseline["spec"] == {
        "tier": "Baseline", "priority": 1000, "subject": EVERY_NS,
        "ingress": [{"name": "catch-all", "action": action, "from": [{"namespaces": {}}]}],
        "egress": [{"name": "catch-all", "action": action, "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}]}
    anp = index(plan(SHOP, phase, dialect="kubernetes-anp").objects)
    for namespace in ("hipstershop", "ledger", "yaobank"):
        key = ("NetworkPolicy", namespace, "microseg-catch-all")
        assert objects[key] == anp[key]


def test_network_policies_are_the_anp_dialects():
    ours = {k: o for k, o in index(plan(SHOP).objects).items() if k[0] == "NetworkPolicy"}
    theirs = {k: o for k, o in index(plan(SHOP, dialect="kubernetes-anp").objects).items() if k[0] == "NetworkPolicy"}
    assert ours and ours == theirs


def test_past_25_rules_passes_merge_their_peers_without_protocols():
    flows = [{"source": "frontend", "destination": "cartservice", "port": 7000 + n} for n in range(30)]
    spec = cnp(plan({"microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True}],
                     "microseg_apps": [{"name": "hipstershop", "tenant": "shop", "flows": flows}]}).objects, "microseg-tenant-shop-pci")["spec"]
    assert len(spec["ingress"]) <= 25 and all(len(rule.get("protocols", ())) <= 25 for rule in spec["ingress"])
    assert [len(rule["protocols"]) for rule in spec["ingress"]] == [25, 5]   # one peer, 30 ports: split at 25 protocols


def test_past_the_rule_limit_passes_merge_their_peers(monkeypatch):
    monkeypatch.setattr(ClusterPolicyRenderer, "MAX_RULES", 3)
    spec = cnp(plan(SHOP).objects, "microseg-tenant-shop-pci")["spec"]
    assert [rule["name"] for rule in spec["ingress"]] == ["declared-flows-1"]
    assert "protocols" not in spec["ingress"][0] and len(spec["ingress"][0]["from"]) == 5
    assert {loss.port for loss in plan(SHOP).losses if loss.rule == "tenant-shop-pci"} == {"*"}
    monkeypatch.setattr(ClusterPolicyRenderer, "MAX_RULES", 25)
    assert {loss.port for loss in plan(SHOP).losses if loss.rule == "tenant-shop-pci"} != {"*"}   # exact ports: the protocols count


def test_nothing_in_scope_renders_only_the_threat_nets():
    objects = plan({"microseg_threat_nets": ["203.0.113.0/24"]}).objects
    assert [o["metadata"]["name"] for o in objects] == ["microseg-threat-nets-deny"]


# -- postures, determinism, labels ---------------------------------------------------------------------------------

def test_deploy_and_enforce_differ_only_in_the_posture_objects():
    deploy, enforce = index(plan(SHOP, "deploy").objects), index(plan(SHOP, "enforce").objects)
    assert list(deploy) == list(enforce)
    changed = sorted(key for key in deploy if deploy[key] != enforce[key])
    assert changed == sorted(key for key, obj in deploy.items() if POSTURE in obj["metadata"]["labels"])
    assert changed == sorted([("ClusterNetworkPolicy", "", "microseg-tenant-shop-pci-boundary"), ("ClusterNetworkPolicy", "", "microseg-tenant-bank-boundary"),
                              ("ClusterNetworkPolicy", "", "microseg-tenant-shop-boundary"), ("ClusterNetworkPolicy", "", "microseg-default")]
                             + [("NetworkPolicy", ns, "microseg-catch-all") for ns in ("hipstershop", "ledger", "yaobank")])


def test_the_same_flows_in_any_order_render_the_same_cluster_network_policies():
    intent = load_intent(dict(SHOP, microseg_dialect="kubernetes-cnp", microseg_cluster_serves=SERVED))
    flows = declared_flows(intent)
    shuffled = list(flows)
    random.Random(11).shuffle(shuffled)   # as declared in any order: the plan merges (and sorts) them before rendering
    assert kubernetes_cnp.render(intent, flows, "enforced") == kubernetes_cnp.render(intent, merge_flows(shuffled), "enforced")

    def admins(some):
        return [o for o in kubernetes_cnp.render(intent, some, "enforced")[0] if o["apiVersion"] == CNP_API]
    assert admins(shuffled) == admins(flows)


@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_every_object_is_ours_shares_nothing_and_has_no_empty_list(phase):
    seen = {}
    for number, obj in enumerate(plan(SHOP, phase).objects):
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED[0]] == MANAGED[1] and labels[TIER] in ("security", "platform", "application", "appsec", "default")
        assert [path for path, value in _walk(obj) if value == []] == [], obj["metadata"]["name"]
        for path, value in _walk(obj):
            assert seen.setdefault(id(value), (number, path)) == (number, path)


def test_tier_selection_keeps_the_priorities():
    objects = plan(SHOP, tiers=["platform", "default"]).objects
    assert [(o["metadata"]["name"], o["spec"]["priority"]) for o in objects if o["kind"] == "ClusterNetworkPolicy"] == [
        ("microseg-cluster-dns", 900), ("microseg-default", 1000)]


# -- the CRD ------------------------------------------------------------------------------------------------------------

def _schema():
    with open(CRD, encoding="utf-8") as handle:
        crd = yaml.safe_load(handle)
    assert crd["spec"]["names"]["kind"] == "ClusterNetworkPolicy" and crd["spec"]["scope"] == "Cluster"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha2"
    return version["schema"]["openAPIV3Schema"]


def _ranges(value):
    if isinstance(value, dict):
        if set(value) == {"start", "end"}:
            yield value
        for item in value.values():
            yield from _ranges(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ranges(item)


@pytest.mark.parametrize("phase", ["deploy", "enforce"])
@pytest.mark.parametrize("variables", [
    dict(SHOP, microseg_threat_nets=["198.18.%d.0/24" % i for i in range(30)]),
    dict(SHOP, microseg_cluster_cidrs=["10.0.0.0/8", "fd00::/48"], microseg_calico_edition="enterprise"),
])
def test_every_cluster_network_policy_fits_the_crd(phase, variables):
    schema = _schema()
    objects = [o for o in plan(variables, phase).objects if o["apiVersion"] == CNP_API]
    assert {o["spec"]["tier"] for o in objects} == {"Admin", "Baseline"}
    for obj in objects:
        assert _problems(obj, schema) == [], obj["metadata"]["name"]
        assert all(r["start"] < r["end"] for r in _ranges(obj["spec"])), obj["metadata"]["name"]   # the CEL rule of a range


def test_the_schema_check_would_see_anp_shapes():
    """The validation is not vacuous: an AdminNetworkPolicy's rules (ports, Allow) and a missing tier are refused."""
    anp = index(plan(SHOP, dialect="kubernetes-anp").objects)[("AdminNetworkPolicy", "", "microseg-tenant-shop-pci")]
    problems = _problems(dict(anp, apiVersion=CNP_API, kind="ClusterNetworkPolicy"), _schema())
    assert "$.spec: tier is required" in problems
    assert any("unknown field ports" in p for p in problems) and any("'Allow'" in p for p in problems)


def test_the_standard_channel_has_no_domain_names_peer_and_no_ingress_networks():
    spec = _schema()["properties"]["spec"]["properties"]
    assert sorted(spec["egress"]["items"]["properties"]["to"]["items"]["properties"]) == ["namespaces", "networks", "pods"]
    assert sorted(spec["ingress"]["items"]["properties"]["from"]["items"]["properties"]) == ["namespaces", "pods"]
    limits = (spec["ingress"]["maxItems"], spec["egress"]["maxItems"], spec["egress"]["items"]["properties"]["to"]["maxItems"],
              spec["egress"]["items"]["properties"]["protocols"]["maxItems"],
              spec["egress"]["items"]["properties"]["to"]["items"]["properties"]["networks"]["maxItems"])
    assert limits == (ClusterPolicyRenderer.MAX_RULES, ClusterPolicyRenderer.MAX_RULES, ClusterPolicyRenderer.MAX_PEERS,
                      ClusterPolicyRenderer.MAX_PORTS, ClusterPolicyRenderer.MAX_NETWORKS)


# -- what the cluster must serve -------------------------------------------------------------------------------------

@pytest.mark.parametrize("served", [["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"], []])
def test_a_cluster_that_does_not_serve_cluster_network_policy_is_refused(served):
    with pytest.raises(InputError, match=r"dialect kubernetes-cnp writes ClusterNetworkPolicy \(policy.networking.k8s.io/v1alpha2\), "
                                         r"which the cluster \(microseg_cluster_serves\) does not serve"):
        plan(SHOP, served=served)
    with pytest.raises(InputError, match="dialect kubernetes-cnp writes ClusterNetworkPolicy"):
        kubernetes_cnp.check(load_intent(dict(SHOP, microseg_dialect="kubernetes-cnp", microseg_cluster_serves=served)))


def test_unset_cluster_serves_is_a_cluster_serving_cluster_network_policy_and_one_without_it_is_refused():
    intent = load_intent(dict(SHOP, microseg_dialect="kubernetes-cnp"))
    assert intent.cluster_serves == ("ClusterNetworkPolicy",) and not intent.cluster_serves_given
    assert make_plan(intent, "deploy").objects
    for served in ([], ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]):
        with pytest.raises(InputError, match="dialect kubernetes-cnp writes ClusterNetworkPolicy"):
            make_plan(load_intent(dict(SHOP, microseg_dialect="kubernetes-cnp", microseg_cluster_serves=served)), "deploy")


# -- losses -----------------------------------------------------------------------------------------------------------

def _losses(variables, phase="enforce", dialect="kubernetes-cnp"):
    return [(loss.change, loss.tier, loss.rule, loss.source, loss.destination, loss.port) for loss in plan(variables, phase, dialect=dialect).losses]


@pytest.mark.parametrize("edition", ["oss", "enterprise"])
def test_the_losses_are_the_anp_dialects(edition):
    """v1alpha2's standard channel can express nothing more of the model than v1alpha1: the same rules are widened or dropped."""
    variables = dict(SHOP, microseg_calico_edition=edition)
    losses = _losses(variables)
    assert losses == _losses(variables, dialect="kubernetes-anp") == _losses(variables, "deploy")
    assert ("widened", "security", "trusted-domains", "hipstershop/*", "net:*", "443/TCP") in losses
    assert {loss[0] for loss in losses} == ({"widened", "dropped"} if edition == "enterprise" else {"widened"})


def test_warnings_name_the_kind_and_version():
    warnings = plan(SHOP).warnings
    assert any("ClusterNetworkPolicy v1alpha2 has no domainNames peer" in w for w in warnings)
    assert any("ClusterNetworkPolicy rules cannot narrow the policy's subject" in w for w in warnings)
    assert all(w.startswith("kubernetes-cnp dialect: ") for w in warnings if "ClusterNetworkPolicy" in w)
