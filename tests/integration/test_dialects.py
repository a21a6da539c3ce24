"""The kubernetes-anp and kubernetes-cnp dialects against the tiered (Calico) model they render, on the lab's pods.

Flow by flow: for deploy and for enforce, the Calico set and the dialect's set of the same intent are judged by the
offline evaluator on every (source pod or outside address, destination pod or outside address, protocol, port) case;
they must agree on every case but those a ``Loss`` of the dialect's plan covers. Then through the playbooks: the lab
deploys fail-safe, enforce flips only the posture objects, reruns change nothing, check mode writes nothing."""
import json
import os

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import External, PolicySet, Workload, namespaces_from_objects, workloads_from_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_flow_rows
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import POSTURE_LABEL
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan
from conftest import LAB, policy_tree, run_playbook, tree
from kube_cluster import Cluster, needs_fake, on_cluster
from test_semantics import CLUSTER_CIDRS, STRANGER, THREAT, cases, declared, evaluate, expected_after_enforce, set_lab_variable

ANP_SERVED = ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]
CNP_SERVED = ["ClusterNetworkPolicy"]
SERVED = {"kubernetes-anp": ANP_SERVED, "kubernetes-cnp": CNP_SERVED}
ADMIN_DIALECTS = sorted(SERVED)
ANP_API = "policy.networking.k8s.io/v1alpha1"
ANP = os.path.join("policy.networking.k8s.io", "AdminNetworkPolicy", "_cluster")
BANP = os.path.join("policy.networking.k8s.io", "BaselineAdminNetworkPolicy", "_cluster")
CNP = os.path.join("policy.networking.k8s.io", "ClusterNetworkPolicy", "_cluster")
NP = os.path.join("networking.k8s.io", "NetworkPolicy")
# dialect -> (the admin policies' folder, the default tier's cluster-wide object)
LAYOUT = {"kubernetes-anp": (ANP, os.path.join(BANP, "default.yaml")), "kubernetes-cnp": (CNP, os.path.join(CNP, "microseg-default.yaml"))}

# a second tenant of two namespaces and flows across tenants, within one, from a whole namespace, to DNS, a range
BANK = {"name": "bank", "namespaces": ["bookinfo", "yaobank"]}
CROSSING = [
    {"source": "hipstershop/frontend", "destination": "yaobank/summary", "port": 80},
    {"source": "yaobank/customer", "destination": "bookinfo/productpage", "port": 9080},
    {"source": "bookinfo/reviews", "destination": "hipstershop/cartservice", "port": 7070},
    {"source": "yaobank/*", "destination": "bookinfo/details", "port": "9080"},
    {"source": "monitoring/run=monitoring-pod", "destination": "hipstershop/*", "port": "9090-9100"},
    {"source": "hipstershop/checkoutservice", "destination": "kube-system/k8s-app=kube-dns", "port": "5353/UDP"},
    {"source": "bookinfo/ratings", "destination": "net:198.51.100.0/24", "port": 8443},
    {"source": "net:198.51.100.0/24", "destination": "yaobank/customer", "port": 8443},
    {"source": "ingress-nginx/app.kubernetes.io/name=ingress-nginx", "destination": "hipstershop/frontend", "port": 8080},
]


def lab_variables(**changes):
    with open(os.path.join(LAB, "group_vars", "lab.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables.update(changes)
    return variables


def notations(endpoint, identity):
    """Every flow-table notation of a pod (by each label, and by its identity label alone) or an outside address."""
    if isinstance(endpoint, External):
        return [name for name in ("net:" + endpoint.ip if endpoint.ip else "", "domain:" + endpoint.domain if endpoint.domain else "") if name]
    names = ["%s/%s=%s" % (endpoint.namespace, key, value) for key, value in sorted(endpoint.labels.items())]
    key = identity.get(endpoint.namespace, "app")
    if key in endpoint.labels:
        names.append("%s/%s" % (endpoint.namespace, endpoint.labels[key]))
    return names


def hand_written(namespaces):
    """What an application team may add: a NetworkPolicy allowing everything to and from its namespace's pods."""
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "team-allow-all", "namespace": namespace},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}]}} for namespace in namespaces]


def judged(variables, phase, extra=(), foreign=(), dialect="kubernetes-anp"):
    """``(calico set, dialect's set, dialect's plan, pods, flows)`` of one intent on the lab's pods, each set with the
    ``foreign`` objects beside it."""
    live = DirectoryTarget(os.path.join(LAB, "cluster")).list().values()
    namespaces = namespaces_from_objects(live)
    sets, plans = [], []
    for name in ("calico", dialect):
        intent = load_intent(dict(variables, microseg_dialect=name, microseg_cluster_serves=SERVED[dialect]), base_dir=LAB)
        flows = declared_flows(intent) + parse_flow_rows(list(extra), "extra", None, intent.identity_labels)
        plan = make_plan(intent, phase, flows=sorted(set(flows)))
        plans.append(plan)
        sets.append(PolicySet(plan.objects + list(foreign), namespaces=namespaces, cluster_cidrs=[str(c) for c in CLUSTER_CIDRS]))
    return sets[0], sets[1], plans[1], workloads_from_objects(live) + [STRANGER], plans[1].flows


def differences(variables, phase, extra=(), foreign=(), only=None, dialect="kubernetes-anp"):
    """The cases the two sets judge differently: ``[(case, calico allowed, covering losses)]``; every case (that ``only``
    keeps) checked."""
    calico, anp, plan, pods, flows = judged(variables, phase, extra, foreign, dialect)
    assert {o["kind"] for o in plan.objects if o["apiVersion"].startswith("policy.")} == set(SERVED[dialect])
    identity = load_intent(variables, base_dir=LAB).identity_labels
    found, checked = [], 0
    for source, destination, protocol, port in cases(pods, flows):
        if only is not None and not only(source, destination):
            continue
        checked += 1
        reference = calico.verdict(source, destination, protocol, port).allowed
        if anp.verdict(source, destination, protocol, port).allowed == reference:
            continue
        key = (notations(source, identity), notations(destination, identity), "%d/%s" % (port, protocol))
        found.append(((source, destination, protocol, port), reference, [loss for loss in plan.losses if loss.covers(*key)]))
    assert checked > 1000
    return found


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_the_admin_dialects_judge_every_lab_case_as_calico_does(phase, dialect):
    """oss: the Calico rendering widens domains as these dialects do, so no case at all may differ."""
    assert differences(lab_variables(), phase, dialect=dialect) == []


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_the_admin_dialects_agree_across_tenants_and_namespaces_too(phase, dialect):
    variables = lab_variables()
    variables["microseg_tenants"] = variables["microseg_tenants"] + [BANK]
    assert differences(variables, phase, CROSSING, dialect=dialect) == []


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
def test_the_admin_dialects_differ_from_enterprise_calico_only_where_a_loss_says(dialect):
    """enterprise: Calico allows the trusted domains by name on every port; these dialects any outside address on 443/TCP."""
    variables = lab_variables(microseg_calico_edition="enterprise")
    found = differences(variables, "enforce", dialect=dialect)
    uncovered = [(case, reference) for case, reference, losses in found if not losses]
    assert uncovered == []
    widened = [case for case, reference, losses in found if not reference]
    dropped = [case for case, reference, losses in found if reference]
    assert widened and dropped
    assert all(case[3] == 443 and case[2] == "TCP" for case in widened)   # anything outside, on 443/TCP only
    assert {case[1].domain for case in dropped} == {"google.com"}          # the trusted domain the lab's cases name
    assert differences(variables, "deploy", dialect=dialect) == []          # deploy allows everything but threat nets in both


def _crosses(namespaces, pci=False):
    """Cases between a pod of ``namespaces`` (with pci=true when ``pci``) and a pod outside them (or not PCI)."""
    def inside(endpoint):
        return (isinstance(endpoint, Workload) and endpoint.namespace in namespaces
                and (not pci or endpoint.labels.get("pci") == "true"))

    def crosses(source, destination):
        return isinstance(source, Workload) and isinstance(destination, Workload) and inside(source) != inside(destination)
    return crosses


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
@pytest.mark.parametrize("guardrail", ["tenant", "pci"])
def test_a_hand_written_network_policy_cannot_open_a_guardrail_where_no_loss_says(guardrail, dialect):
    """NetworkPolicies are additive: what a guardrail passes, any NetworkPolicy can allow. Across the tenant (or PCI)
    boundary only the declared flows are passed, so a team's allow-all opens nothing there but what the guardrail's Losses
    name (the Pass of a declared flow covers every pod of the guardrail on that peer and port)."""
    variables = lab_variables()
    variables["microseg_tenants"] = variables["microseg_tenants"] + [BANK]
    foreign = hand_written(["bookinfo", "hipstershop", "yaobank"])
    crosses = _crosses({"bookinfo", "yaobank"}) if guardrail == "tenant" else _crosses({"hipstershop"}, pci=True)
    found = differences(variables, "enforce", CROSSING, foreign, only=crosses, dialect=dialect)
    assert [(case, reference) for case, reference, losses in found if not losses] == []
    assert found   # the widened Passes do show: the test would see a boundary that passes everything
    assert differences(variables, "deploy", CROSSING, foreign, only=crosses, dialect=dialect) == []


# -- through the playbooks ---------------------------------------------------------------------------------------------

def _anp_lab(lab, dialect="kubernetes-anp"):
    set_lab_variable(lab, "microseg_dialect", dialect)   # microseg_cluster_serves unset: a cluster serving what the dialect writes
    return lab


def _posture(lab, relpath):
    with open(os.path.join(lab, "cluster", relpath), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["metadata"]["labels"].get(POSTURE_LABEL)


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
def test_lab_deploys_fail_safe_and_enforce_flips_only_the_posture_objects(lab, dialect):
    _anp_lab(lab, dialect)
    admins, baseline = LAYOUT[dialect]
    first = run_playbook(lab, "--tags", "deploy")
    assert first.rc == 0, first.out
    assert dialect in first.out and "trusted-domains" in first.out   # the fidelity lines
    with open(os.path.join(lab, "reports", "lab-cluster", "fidelity.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    assert (report["dialect"], report["phase"], report["cluster_serves"]) == (dialect, "deploy", SERVED[dialect])
    assert {loss["rule"] for loss in report["losses"]} >= {"trusted-domains"}
    deployed = policy_tree(os.path.join(lab, "cluster"))
    assert baseline in deployed
    assert not [k for k in deployed if k.startswith("policy.") and not k.startswith(admins) and k != baseline]
    policy_set, pods = evaluate(lab)
    for source, destination, protocol, port in cases(pods, declared(lab)):
        assert policy_set.verdict(source, destination, protocol, port).allowed == (destination != THREAT), (source, destination, port)
    again = run_playbook(lab, "--tags", "deploy")
    assert again.rc == 0 and again.changed == 0, again.out
    assert policy_tree(os.path.join(lab, "cluster")) == deployed

    enforced_run = run_playbook(lab, "--tags", "enforce")
    assert enforced_run.rc == 0, enforced_run.out
    enforced = policy_tree(os.path.join(lab, "cluster"))
    assert sorted(enforced) == sorted(deployed)   # the same objects: only their content may change
    flipped = sorted(k for k in enforced if deployed[k] != enforced[k])
    assert flipped == sorted([os.path.join(admins, "microseg-tenant-hipstershop-boundary.yaml"),
                              os.path.join(admins, "microseg-tenant-hipstershop-pci-boundary.yaml"), baseline]
                             + [os.path.join(NP, ns, "microseg-catch-all.yaml") for ns in ("bookinfo", "hipstershop", "yaobank")])
    assert all(_posture(lab, k) == "enforced" for k in flipped)
    assert all(_posture(lab, k) is None for k in enforced if k not in flipped and k.startswith(("policy.", "networking.")))
    policy_set, pods = evaluate(lab)
    flows = declared(lab)
    allowed = 0
    for source, destination, protocol, port in cases(pods, flows):
        verdict = policy_set.verdict(source, destination, protocol, port)
        assert verdict.allowed == expected_after_enforce(flows, source, destination, protocol, port), (source, destination, port, verdict)
        allowed += verdict.allowed
    assert allowed
    rerun = run_playbook(lab, "--tags", "enforce")
    assert rerun.rc == 0 and rerun.changed == 0, rerun.out
    back = run_playbook(lab, "--tags", "deploy")
    assert back.rc == 0, back.out
    assert "enforced catch-all(s) kept" in back.out
    assert policy_tree(os.path.join(lab, "cluster")) == enforced


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
def test_check_mode_writes_nothing_and_shows_the_admin_policies(lab, dialect):
    _anp_lab(lab, dialect)
    admins, baseline = LAYOUT[dialect]
    before = tree(lab)
    result = run_playbook(lab, "--check", "--diff")
    assert result.rc == 0, result.out
    assert tree(lab) == before
    assert "+++ after: %s" % os.path.join(admins, "microseg-threat-nets-deny.yaml") in result.out
    assert "+++ after: %s" % baseline in result.out


@pytest.mark.parametrize("dialect", ADMIN_DIALECTS)
def test_pruning_finds_the_admin_policies_and_network_policies_of_the_tiers_run(lab, dialect):
    _anp_lab(lab, dialect)
    admins, baseline = LAYOUT[dialect]
    assert run_playbook(lab, "--tags", "deploy").rc == 0
    vars_file = os.path.join(lab, "group_vars", "lab.yml")
    with open(vars_file, encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables["microseg_tenants"] = []
    variables["microseg_apps"] = [dict((k, v) for k, v in app.items() if k != "tenant") for app in variables["microseg_apps"]
                                  if app["name"] != "yaobank"]
    with open(vars_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(variables, handle)
    result = run_playbook(lab, "--tags", "deploy,tier_security")   # the guardrails go; the other tiers are not touched
    assert result.rc == 0, result.out
    assert sorted(os.listdir(os.path.join(lab, "cluster", admins))) == sorted(
        ["microseg-cluster-dns.yaml", "microseg-threat-nets-deny.yaml", "microseg-trusted-domains.yaml"]
        + (["microseg-default.yaml"] if dialect == "kubernetes-cnp" else []))
    assert os.path.exists(os.path.join(lab, "cluster", NP, "yaobank", "microseg-catch-all.yaml"))
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc == 0, result.out
    assert not os.path.exists(os.path.join(lab, "cluster", NP, "yaobank"))
    with open(os.path.join(lab, "cluster", baseline), encoding="utf-8") as handle:
        subject = yaml.safe_load(handle)["spec"]["subject"]
    assert subject["namespaces"]["matchExpressions"][0]["values"] == ["bookinfo", "hipstershop"]


def test_kubernetes_cnp_is_refused_before_anything_is_written_where_cluster_network_policy_is_not_served(lab):
    """A directory target whose microseg_cluster_serves names only the v1alpha1 kinds (a cluster on Calico 3.31, say)."""
    set_lab_variable(lab, "microseg_dialect", "kubernetes-cnp")
    set_lab_variable(lab, "microseg_cluster_serves", ANP_SERVED)
    before = policy_tree(os.path.join(lab, "cluster"))
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc != 0
    assert "dialect kubernetes-cnp writes ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2)" in " ".join(result.out.split()), result.out
    assert policy_tree(os.path.join(lab, "cluster")) == before


@needs_fake
def test_the_cluster_target_applies_and_prunes_the_admin_policies(lab, tmp_path):
    """On the cluster target discovery says what is served (no microseg_cluster_serves needed); a rerun writes nothing."""
    kube = Cluster(tmp_path / "kube")
    try:
        on_cluster(lab, kube)
        set_lab_variable(lab, "microseg_dialect", "kubernetes-anp")
        env = {"HOME": str(tmp_path / "home")}
        first = run_playbook(lab, env=env)
        assert first.rc == 0, first.out
        banp = kube.fake.get(ANP_API, "BaselineAdminNetworkPolicy", "default")
        assert banp["metadata"]["labels"][POSTURE_LABEL] == "enforced" and banp["spec"]["egress"][0]["action"] == "Deny"
        assert banp["metadata"]["managedFields"][0]["manager"] == "zerotrust.microseg"
        names = sorted(o["metadata"]["name"] for o in kube.fake.objects(ANP_API, "AdminNetworkPolicy"))
        assert names == ["microseg-cluster-dns", "microseg-tenant-hipstershop", "microseg-tenant-hipstershop-boundary",
                         "microseg-tenant-hipstershop-pci", "microseg-tenant-hipstershop-pci-boundary", "microseg-threat-nets-deny",
                         "microseg-trusted-domains"]
        catch_all = kube.fake.get("networking.k8s.io/v1", "NetworkPolicy", "microseg-catch-all", "yaobank")
        assert catch_all["spec"]["policyTypes"] == ["Ingress"]
        writes = len(kube.fake.mutations())
        second = run_playbook(lab, env=env)
        assert second.rc == 0 and second.changed == 0, second.out
        assert len(kube.fake.mutations()) == writes
        vars_file = os.path.join(lab, "group_vars", "lab.yml")
        with open(vars_file, encoding="utf-8") as handle:
            variables = yaml.safe_load(handle)
        variables["microseg_tenants"] = []
        variables["microseg_apps"] = [dict((k, v) for k, v in app.items() if k != "tenant") for app in variables["microseg_apps"]]
        with open(vars_file, "w", encoding="utf-8") as handle:
            yaml.safe_dump(variables, handle)
        third = run_playbook(lab, "--tags", "deploy", env=env)
        assert third.rc == 0, third.out
        names = sorted(o["metadata"]["name"] for o in kube.fake.objects(ANP_API, "AdminNetworkPolicy"))
        assert names == ["microseg-cluster-dns", "microseg-threat-nets-deny", "microseg-trusted-domains"]
    finally:
        kube.close()


@needs_fake
def test_the_cluster_target_applies_and_prunes_cluster_network_policies_in_v1alpha2(lab, tmp_path):
    """Discovery finds ClusterNetworkPolicy in v1alpha2 beside the v1alpha1 kinds of the same group; a rerun writes nothing;
    what leaves the intent is pruned by label."""
    kube = Cluster(tmp_path / "kube")
    try:
        on_cluster(lab, kube)
        set_lab_variable(lab, "microseg_dialect", "kubernetes-cnp")
        env = {"HOME": str(tmp_path / "home")}
        first = run_playbook(lab, env=env)
        assert first.rc == 0, first.out
        cnp_api = "policy.networking.k8s.io/v1alpha2"
        baseline = kube.fake.get(cnp_api, "ClusterNetworkPolicy", "microseg-default")
        assert baseline["metadata"]["labels"][POSTURE_LABEL] == "enforced" and baseline["spec"]["tier"] == "Baseline"
        assert baseline["spec"]["egress"][0]["action"] == "Deny"
        assert baseline["metadata"]["managedFields"][0]["manager"] == "zerotrust.microseg"
        names = sorted(o["metadata"]["name"] for o in kube.fake.objects(cnp_api, "ClusterNetworkPolicy"))
        assert names == ["microseg-cluster-dns", "microseg-default", "microseg-tenant-hipstershop", "microseg-tenant-hipstershop-boundary",
                         "microseg-tenant-hipstershop-pci", "microseg-tenant-hipstershop-pci-boundary", "microseg-threat-nets-deny",
                         "microseg-trusted-domains"]
        assert kube.fake.objects(ANP_API, "AdminNetworkPolicy") == []
        writes = len(kube.fake.mutations())
        second = run_playbook(lab, env=env)
        assert second.rc == 0 and second.changed == 0, second.out
        assert len(kube.fake.mutations()) == writes
        vars_file = os.path.join(lab, "group_vars", "lab.yml")
        with open(vars_file, encoding="utf-8") as handle:
            variables = yaml.safe_load(handle)
        variables["microseg_tenants"] = []
        variables["microseg_apps"] = [dict((k, v) for k, v in app.items() if k != "tenant") for app in variables["microseg_apps"]]
        with open(vars_file, "w", encoding="utf-8") as handle:
            yaml.safe_dump(variables, handle)
        third = run_playbook(lab, "--tags", "deploy", env=env)
        assert third.rc == 0, third.out
        names = sorted(o["metadata"]["name"] for o in kube.fake.objects(cnp_api, "ClusterNetworkPolicy"))
        assert names == ["microseg-cluster-dns", "microseg-default", "microseg-threat-nets-deny", "microseg-trusted-domains"]
    finally:
        kube.close()


@needs_fake
def test_a_cluster_without_the_admin_kinds_is_refused_before_anything_is_written(lab, tmp_path):
    kube = Cluster(tmp_path / "kube", network_policy_api=False)
    try:
        on_cluster(lab, kube)
        set_lab_variable(lab, "microseg_dialect", "kubernetes-anp")
        result = run_playbook(lab, "--tags", "deploy", env={"HOME": str(tmp_path / "home")})
        assert result.rc != 0
        assert "dialect kubernetes-anp writes AdminNetworkPolicy, BaselineAdminNetworkPolicy" in " ".join(result.out.split())
        assert [m for m in kube.fake.mutations() if "policy.networking.k8s.io" in m.path or "networking.k8s.io" in m.path] == []
    finally:
        kube.close()
