"""The whole method through playbooks/site.yml on the lab's directory-backed cluster."""
import json
import os

import yaml

from conftest import policy_tree, run_playbook, tree

GNP = os.path.join("projectcalico.org", "GlobalNetworkPolicy", "_cluster")


def load(lab, relpath):
    with open(os.path.join(lab, "cluster", relpath), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def policies(lab):
    return sorted(k for k in policy_tree(os.path.join(lab, "cluster")) if k.startswith("projectcalico.org"))


def test_full_run_deploys_then_enforces_and_reruns_unchanged(lab):
    first = run_playbook(lab)
    assert first.rc == 0, first.out
    assert first.changed >= 3
    catch_all = load(lab, os.path.join(GNP, "tenant-hipstershop-catch-all.yaml"))
    assert catch_all["metadata"]["labels"]["zerotrust.microseg/posture"] == "enforced"
    assert catch_all["spec"]["ingress"] == [{"action": "Deny"}]
    frontend = load(lab, "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml")
    assert frontend["spec"]["tier"] == "appsec" and frontend["spec"]["selector"] == "app == 'frontend'"
    assert "appsec" in [load(lab, p)["metadata"]["name"] for p in policies(lab) if "/Tier/" in p]
    before = tree(os.path.join(lab, "cluster"))
    second = run_playbook(lab)
    assert second.rc == 0, second.out
    assert second.changed == 0, second.out
    assert policy_tree(os.path.join(lab, "cluster")) == {k: v for k, v in before.items() if not k.startswith(".microseg")}


def test_report_lists_confirmed_unobserved_undeclared(lab):
    with open(os.path.join(lab, "flows", "observed.md"), "a", encoding="utf-8") as handle:
        handle.write("hipstershop/frontend | hipstershop/frontend | 8080\n")
    result = run_playbook(lab, "--tags", "analyze")
    assert result.rc == 0, result.out
    with open(os.path.join(lab, "reports", "lab-cluster", "reconciliation.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    assert {"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"} in report["confirmed"]
    assert {"source": "hipstershop/frontend", "destination": "hipstershop/adservice", "port": "9555/TCP"} in report["unobserved"]
    assert report["undeclared"] == [  # the second comes from the lab's flow log: DNS is never declared
        {"source": "hipstershop/frontend", "destination": "hipstershop/frontend", "port": "8080/TCP"},
        {"source": "hipstershop/frontend", "destination": "kube-system/k8s-app=kube-dns", "port": "53/UDP"}]


def test_check_mode_writes_nothing_and_shows_per_object_diffs(lab):
    before = tree(lab)
    result = run_playbook(lab, "--check", "--diff")
    assert result.rc == 0, result.out
    assert tree(lab) == before
    assert "+++ after: projectcalico.org/GlobalNetworkPolicy/_cluster/cluster-dns.yaml" in result.out
    assert result.out.count("+++ after: projectcalico.org/") >= 33


def test_check_mode_after_deploy_shows_only_the_enforce_flip(lab):
    assert run_playbook(lab, "--tags", "deploy").rc == 0
    before = tree(lab)
    result = run_playbook(lab, "--tags", "enforce", "--check", "--diff")
    assert result.rc == 0, result.out
    assert tree(lab) == before
    assert "-  - action: Allow\n+  - action: Deny" in result.out or "+  - action: Deny" in result.out
    assert result.changed == 1


def test_deploy_is_fail_safe_and_enforce_flips_only_catch_alls(lab):
    assert run_playbook(lab, "--tags", "deploy").rc == 0
    deployed = policy_tree(os.path.join(lab, "cluster"))
    assert load(lab, os.path.join(GNP, "tenant-hipstershop-boundary.yaml"))["spec"]["ingress"][0]["action"] == "Pass"
    assert load(lab, os.path.join(GNP, "namespace-yaobank-catch-all.yaml"))["spec"]["egress"] == [{"action": "Allow"}]
    assert run_playbook(lab, "--tags", "enforce").rc == 0
    enforced = policy_tree(os.path.join(lab, "cluster"))
    flipped = sorted(k for k in enforced if deployed.get(k) != enforced[k])
    assert flipped == sorted(os.path.join(GNP, name + ".yaml") for name in (
        "namespace-bookinfo-catch-all", "namespace-yaobank-catch-all", "tenant-hipstershop-boundary",
        "tenant-hipstershop-catch-all", "tenant-hipstershop-pci-boundary"))
    again = run_playbook(lab, "--tags", "deploy")
    assert again.rc == 0 and again.changed == 0, again.out
    assert "enforced catch-all(s) kept" in again.out


def test_tier_tags_deploy_only_that_tier(lab):
    result = run_playbook(lab, "--tags", "deploy,tier_platform")
    assert result.rc == 0, result.out
    assert policies(lab) == sorted([
        os.path.join(GNP, "cluster-dns.yaml"), os.path.join(GNP, "platform-default-pass.yaml"),
        os.path.join("projectcalico.org", "Tier", "_cluster", "platform.yaml")])
    # only deploy ran (no reconciliation); its evidence report shows the platform tier alone (CONTRACT §8: every phase)
    assert sorted(os.listdir(os.path.join(lab, "reports", "lab-cluster"))) == ["report.html", "report.json"]
    with open(os.path.join(lab, "reports", "lab-cluster", "report.json"), encoding="utf-8") as handle:
        assert [tier["tier"] for tier in json.load(handle)["policies"]] == ["platform"]


def test_tier_tag_alone_means_deploy_of_that_tier(lab):
    result = run_playbook(lab, "--tags", "tier_security")
    assert result.rc == 0, result.out
    names = {os.path.basename(p) for p in policies(lab)}
    assert "threat-nets-deny.yaml" in names and "cluster-dns.yaml" not in names
    assert load(lab, os.path.join(GNP, "tenant-hipstershop-boundary.yaml"))["spec"]["ingress"][0]["action"] == "Pass"


def test_prune_removes_objects_of_a_dropped_app_only_in_scope(lab):
    assert run_playbook(lab, "--tags", "deploy").rc == 0
    stranger = os.path.join(lab, "cluster", "projectcalico.org", "NetworkPolicy", "bookinfo", "hand-written.yaml")
    with open(stranger, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                        "metadata": {"name": "hand-written", "namespace": "bookinfo"}, "spec": {"selector": "all()"}}, handle)
    vars_file = os.path.join(lab, "group_vars", "lab.yml")
    with open(vars_file, encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables["microseg_apps"] = [a for a in variables["microseg_apps"] if a["name"] != "yaobank"]
    with open(vars_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(variables, handle)
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc == 0, result.out
    names = policies(lab)
    assert os.path.join("projectcalico.org", "NetworkPolicy", "yaobank", "yaobank.yaml") not in names
    assert os.path.join(GNP, "namespace-yaobank-catch-all.yaml") not in names
    assert os.path.exists(stranger)


def test_failing_phase_restores_the_directory_exactly(lab):
    assert run_playbook(lab, "--tags", "deploy").rc == 0
    cluster = os.path.join(lab, "cluster")
    # a directory where enforce must write a file: the write fails part-way through the phase
    blocker = os.path.join(cluster, GNP, "tenant-hipstershop-pci-boundary.yaml")
    with open(blocker, "rb") as handle:
        original = handle.read()
    os.remove(blocker)
    os.makedirs(blocker)
    before = policy_tree(cluster)
    result = run_playbook(lab, "--tags", "enforce")
    assert result.rc != 0
    assert result.failed == 1, result.out   # the phase fails the host (batches and canaries see it) after restoring
    assert "enforce failed on lab-cluster and was rolled back" in result.out
    assert policy_tree(cluster) == before
    os.rmdir(blocker)
    with open(blocker, "wb") as handle:
        handle.write(original)
    assert run_playbook(lab, "--tags", "enforce").rc == 0


def test_bad_flow_row_fails_naming_file_line_and_field_and_writes_nothing(lab):
    with open(os.path.join(lab, "flows", "yaobank.md"), "a", encoding="utf-8") as handle:
        handle.write("customer | summary | 80x\n")
    before = tree(lab)
    result = run_playbook(lab)
    assert result.rc != 0
    assert "flows/yaobank.md:7: port:" in result.out, result.out
    assert tree(lab) == before


def test_selector_syntax_in_a_name_is_refused(lab):
    with open(os.path.join(lab, "flows", "bookinfo.md"), "a", encoding="utf-8") as handle:
        handle.write("productpage | x'&&all()&&'y | 9080\n")
    before = tree(lab)
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc != 0
    assert "flows/bookinfo.md:8: destination:" in result.out, result.out
    assert tree(lab) == before


def test_calico_before_3_32_gets_tier_prefixed_names(lab):
    result = run_playbook(lab, "--tags", "deploy", "-e", "microseg_calico_version=3.31")
    assert result.rc == 0, result.out
    names = {os.path.basename(p) for p in policies(lab)}
    assert {"security.tenant-hipstershop-boundary.yaml", "platform.cluster-dns.yaml", "appsec.frontend.yaml",
            "default.tenant-hipstershop-catch-all.yaml", "security.yaml"} <= names
    assert "frontend.yaml" not in names
    rerun = run_playbook(lab, "--tags", "deploy", "-e", "microseg_calico_version=3.31")
    assert rerun.changed == 0, rerun.out
