"""The kubernetes dialect on the lab, through playbooks/site.yml: honest about what the cluster serves (microseg_cluster_serves
on the directory target, API discovery on the cluster target) and about what it cannot express (fidelity.json and one printed
line per rule). Flow by flow with the evaluator, the Calico rendering and the kubernetes dialect agree on every flow except
those a loss of the fidelity report covers, after deploy and after enforce."""
import json
import os

import pytest
import yaml

from conftest import copy_lab, policy_tree, run_playbook, tree
from kube_cluster import Cluster, needs_fake, on_cluster
from test_semantics import THREAT, cases, declared, evaluate, set_lab_variable

from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import External
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss

IDENTITY = "app"
REFUSED = ("dialect kubernetes denies microseg_threat_nets (203.0.113.0/24) cluster-wide with an AdminNetworkPolicy "
           "(policy.networking.k8s.io/v1alpha1), which cluster lab-cluster %s does not serve. Ways out: ")


def fidelity_report(lab):
    with open(os.path.join(lab, "reports", "lab-cluster", "fidelity.json"), encoding="utf-8") as handle:
        return json.load(handle)


def notations(peer):
    """Every flow-table notation of one evaluator endpoint: a pod by its identity label and by each of its labels."""
    if isinstance(peer, External):
        return ["net:%s" % peer.ip] if peer.ip else ["domain:%s" % peer.domain]
    found = ["%s/%s" % (peer.namespace, peer.labels[IDENTITY])] if IDENTITY in peer.labels else []
    return found + ["%s/%s=%s" % (peer.namespace, key, value) for key, value in sorted(peer.labels.items())]


def verdicts(lab, pods=None):
    """(source, destination, protocol, port) -> allowed, for every case of test_semantics over the lab's pods."""
    policy_set, found = evaluate(lab)
    pods = pods or found
    return {case: policy_set.verdict(*case).allowed for case in cases(pods, declared(lab))}, pods


def uncovered(reference, rendered, losses):
    """The cases on which the two verdicts differ and no loss covers the flow."""
    missed = []
    for (source, destination, protocol, port), allowed in rendered.items():
        if allowed == reference[(source, destination, protocol, port)]:
            continue
        flow = (notations(source), notations(destination), "%d/%s" % (port, protocol))
        if not any(loss.covers(*flow) for loss in losses):
            missed.append((flow, "allowed" if allowed else "denied"))
    return missed


@pytest.fixture(scope="module")
def calico(tmp_path_factory):
    """The Calico rendering of the lab: the verdicts after deploy and after enforce."""
    lab = copy_lab(tmp_path_factory.mktemp("calico") / "lab")
    found = {}
    for phase in ("deploy", "enforce"):
        result = run_playbook(lab, "--tags", phase)
        assert result.rc == 0, result.out
        found[phase] = verdicts(lab)
    assert not os.path.exists(os.path.join(lab, "reports", "lab-cluster", "fidelity.json"))   # Calico's own model: none
    return found


@pytest.mark.parametrize("fallback", [False, True], ids=["admin-network-policy", "except-fallback"])
def test_the_kubernetes_dialect_agrees_with_calico_on_every_flow_the_fidelity_report_does_not_list(calico, lab, fallback):
    set_lab_variable(lab, "microseg_dialect", "kubernetes")
    if fallback:
        set_lab_variable(lab, "microseg_cluster_serves", [])
        set_lab_variable(lab, "microseg_threat_nets_fallback", "except")
    for phase in ("deploy", "enforce"):
        result = run_playbook(lab, "--tags", phase)
        assert result.rc == 0, result.out
        report = fidelity_report(lab)
        assert report["dialect"] == "kubernetes" and report["phase"] == phase
        losses = [Loss(**loss) for loss in report["losses"]]
        # every loss names the traffic it concerns: none covers every flow
        assert losses and all((loss.source, loss.destination, loss.port) != ("*", "*", "*") for loss in losses)
        reference, pods = calico[phase]
        rendered, _pods = verdicts(lab, pods)
        assert len(rendered) > 10000 and rendered.keys() == reference.keys()
        assert uncovered(reference, rendered, losses) == [], phase
        differing = [case for case, allowed in rendered.items() if allowed != reference[case]]
        if fallback:   # pods out of scope reach the threat nets: the only difference, and reported
            assert differing and all(destination == THREAT and source.namespace not in ("bookinfo", "hipstershop", "yaobank")
                                     for source, destination, _protocol, _port in differing), differing[:5]
            assert ("widened", "security", "threat-nets-deny", "net:203.0.113.0/24") in {
                (loss.change, loss.tier, loss.rule, loss.destination) for loss in losses}
        else:
            assert differing == []


def test_a_kubernetes_run_writes_fidelity_json_prints_each_rule_once_and_a_rerun_changes_nothing(lab):
    set_lab_variable(lab, "microseg_dialect", "kubernetes")
    result = run_playbook(lab)
    assert result.rc == 0, result.out
    report = fidelity_report(lab)
    assert (report["dialect"], report["phase"], report["cluster_serves"]) == ("kubernetes", "enforce", ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"])
    rules = {(loss["change"], loss["tier"], loss["rule"]) for loss in report["losses"]}
    assert rules == {("widened", "application", "bookinfo/ratings -> domain:*.ubuntu.com 443/TCP"),
                     ("widened", "application", "yaobank/customer -> domain:*.bloomberg.com 443/TCP"),
                     ("widened", "security", "trusted-domains"), ("merged", "security", "tenant-hipstershop-pci"),
                     ("merged", "security", "tenant-hipstershop")}
    shown = " ".join(result.out.split())   # the callback folds long lines
    for change, tier, rule in rules:
        line = "[WARNING]: kubernetes dialect: %s rule %s %s: " % (tier, rule, change)
        assert shown.count(line) == 1, (line, result.out)
    assert "fidelity to the tiered model: 3 widened, 2 merged (report %s)" % os.path.join(lab, "reports", "lab-cluster", "fidelity.json") in shown
    before = tree(lab)
    again = run_playbook(lab)
    assert again.rc == 0 and again.changed == 0, again.out
    assert {path: text for path, text in tree(lab).items() if not path.endswith(("report.html", "report.json"))} == \
        {path: text for path, text in before.items() if not path.endswith(("report.html", "report.json"))}
    check = run_playbook(lab, "--check", "--diff", "-e", '{"microseg_trusted_domains": []}')
    assert check.rc == 0, check.out
    assert fidelity_report(lab) == report


def test_a_cluster_that_serves_no_admin_network_policy_fails_before_anything_is_written(lab):
    set_lab_variable(lab, "microseg_dialect", "kubernetes")
    set_lab_variable(lab, "microseg_cluster_serves", [])
    before = tree(lab)
    result = run_playbook(lab)
    assert result.rc != 0, result.out
    shown = " ".join(result.out.split())
    assert "identify failed on lab-cluster before writing anything: inventory: microseg_threat_nets: " + \
           REFUSED % "(microseg_cluster_serves: [])" in shown, result.out
    assert "microseg_threat_nets_fallback: except" in shown
    assert tree(lab) == before   # no policy, no report


def test_the_except_fallback_renders_the_excepts_and_warns_about_the_namespaces_out_of_scope(lab):
    set_lab_variable(lab, "microseg_dialect", "kubernetes")
    set_lab_variable(lab, "microseg_cluster_serves", [])
    set_lab_variable(lab, "microseg_threat_nets_fallback", "except")
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc == 0, result.out
    written = policy_tree(os.path.join(lab, "cluster"))
    assert not [path for path in written if path.startswith("policy.networking.k8s.io")]
    trusted = yaml.safe_load(written[os.path.join("networking.k8s.io", "NetworkPolicy", "yaobank", "microseg-trusted-domains.yaml")])
    assert trusted["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16", "10.96.0.0/12", "203.0.113.0/24"]}}]
    catch_all = yaml.safe_load(written[os.path.join("networking.k8s.io", "NetworkPolicy", "yaobank", "microseg-catch-all.yaml")])
    assert catch_all["spec"]["egress"] == [{"to": [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"]}},
                                                   {"ipBlock": {"cidr": "::/0"}}]}]
    shown = " ".join(result.out.split())
    assert ("[WARNING]: kubernetes dialect: security rule threat-nets-deny widened: cluster lab-cluster (microseg_cluster_serves: []) "
            "does not serve AdminNetworkPolicy (microseg_threat_nets_fallback: except): the threat nets are denied only in the except of "
            "the egress ipBlocks of the in-scope namespaces (bookinfo, hipstershop, yaobank); pods of every other namespace (out of "
            "scope, e.g. ingress-nginx, kube-system") in shown, result.out


@needs_fake
def test_on_the_cluster_target_discovery_finds_no_admin_network_policy_and_the_run_fails_before_writing(lab, tmp_path):
    kube = Cluster(tmp_path / "kube", network_policy_api=False)
    try:
        on_cluster(lab, kube)
        set_lab_variable(lab, "microseg_dialect", "kubernetes")
        env = {"HOME": str(tmp_path / "home")}
        before = tree(lab)
        result = run_playbook(lab, env=env)
        assert result.rc != 0, result.out
        shown = " ".join(result.out.split())
        assert REFUSED % ("(the Kubernetes API at %s)" % kube.fake.url) in shown, result.out
        assert kube.fake.mutations() == [] and tree(lab) == before
        set_lab_variable(lab, "microseg_threat_nets_fallback", "except")
        result = run_playbook(lab, env=env)
        assert result.rc == 0, result.out
        report = fidelity_report(lab)
        assert report["cluster_serves"] == []
        assert "cluster lab-cluster (the Kubernetes API at %s) does not serve AdminNetworkPolicy" % kube.fake.url in \
            [loss for loss in report["losses"] if loss["rule"] == "threat-nets-deny"][0]["why"]
        assert kube.fake.objects("networking.k8s.io/v1", "NetworkPolicy")
    finally:
        kube.close()


@needs_fake
def test_on_the_cluster_target_discovery_wins_over_microseg_cluster_serves(lab, tmp_path):
    kube = Cluster(tmp_path / "kube")
    try:
        on_cluster(lab, kube)
        set_lab_variable(lab, "microseg_dialect", "kubernetes")
        set_lab_variable(lab, "microseg_cluster_serves", [])   # says no: the API server, asked, says yes
        result = run_playbook(lab, "--tags", "deploy", env={"HOME": str(tmp_path / "home")})
        assert result.rc == 0, result.out
        assert ("[WARNING]: microseg_cluster_serves [] is not used on the cluster target: discovery at %s finds "
                "[AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy]" % kube.fake.url) in " ".join(result.out.split()), result.out
        assert kube.fake.get("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", "microseg-threat-nets-deny") is not None
        assert fidelity_report(lab)["cluster_serves"] == ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"]
    finally:
        kube.close()
