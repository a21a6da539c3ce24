"""The cluster target end to end with the official client: a FakeKube per test, or MICROSEG_TEST_KUBECONFIG's cluster."""
import copy
import os

import pytest

from conftest import run_playbook
from kube_cluster import Cluster, needs_fake, on_cluster

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, identity, relpath

PHASE = ("platform", "application")


@pytest.fixture(name="kube")
def _kube(tmp_path):
    cluster = Cluster(tmp_path)
    yield cluster
    cluster.close()


def apply(kube, objects, tiers=PHASE, target=None, **kwargs):
    """Apply a phase's objects through a fresh target, pruning the phase's tiers of this run."""
    return apply_objects(target or kube.target(), objects, scope=kube.scope(tiers), **kwargs)


def test_fifty_objects_are_applied_and_an_unchanged_rerun_writes_nothing(kube):
    objects = kube.objects()
    first = apply(kube, objects)
    assert len(first.created) == 50 and first.updated == first.deleted == []
    writes = kube.writes()
    assert len(writes) == 50
    assert all(method == "PATCH" and query == {"fieldManager": "zerotrust.microseg"} for method, path, query in writes)
    calico = kube.live(objects[2])
    assert calico["spec"]["tier"] == "default" and calico["metadata"]["labels"]["projectcalico.org/tier"] == "default"
    second = apply(kube, objects)
    assert (second.changed, second.unchanged, second.created, second.updated, second.deleted) == (False, 50, [], [], [])
    assert kube.writes() == writes


@needs_fake
def test_a_rerun_reads_one_list_per_kind_and_no_object(kube):
    objects = kube.objects()
    apply(kube, objects)
    kube.fake.clear_requests()
    apply(kube, objects)
    listed = [request.path for request in kube.fake.requests if request.method == "GET" and "/namespaces/" not in request.path
              and request.path.count("/") >= 4]
    assert sorted(listed) == sorted(set(listed))
    assert "/apis/networking.k8s.io/v1/networkpolicies" in listed and "/apis/projectcalico.org/v3/tiers" in listed
    assert not [request for request in kube.fake.requests if "/namespaces/" in request.path]
    assert sum(1 for request in kube.fake.requests if request.path == "/apis") == 1


@needs_fake
def test_results_are_deterministic_whatever_order_concurrent_writes_take(tmp_path):
    results = []
    for index in range(2):
        other = Cluster(tmp_path / str(index))
        try:
            other.run = "same"
            other.namespaces = ["zt-it-same-a", "zt-it-same-b"]
            results.append(apply(other, other.objects(), with_diff=True).as_dict())
        finally:
            other.close()
    assert results[0] == results[1]


def test_check_mode_sends_only_dry_run_writes_and_changes_nothing(kube):
    apply(kube, kube.objects())
    before_writes = len(kube.writes())
    before = kube.fake.dump() if kube.fake else kube.content()
    desired = kube.objects(count=40, variant=1)[:30] + kube.objects(count=40)[30:]
    result = apply(kube, desired, target=kube.target(check_mode=True))
    assert (len(result.updated), len(result.deleted)) == (30, 10)
    dry = kube.writes()[before_writes:]
    assert len(dry) == 40 and all(query.get("dryRun") == "All" for method, path, query in dry)
    assert sorted(method for method, path, query in dry) == ["DELETE"] * 10 + ["PATCH"] * 30
    assert (kube.fake.dump() if kube.fake else kube.content()) == before


def test_check_mode_shows_what_the_server_would_refuse(kube):
    bad = kube.objects(count=3)
    bad[2]["metadata"]["labels"]["zerotrust.microseg/bad"] = "not a valid label value!"
    with pytest.raises(TargetError, match=r"^projectcalico.org/NetworkPolicy/%s/cnp-02.yaml: would fail: projectcalico.org "
                                          r"NetworkPolicy %s/cnp-02: the API server answered 422 Invalid" % (kube.namespaces[0], kube.namespaces[0])):
        apply(kube, bad, target=kube.target(check_mode=True))
    assert all(query.get("dryRun") == "All" for method, path, query in kube.writes())
    assert kube.content() == b"[]"


def test_prune_deletes_only_our_objects_of_the_phase_tiers(kube):
    kept_tier = kube.objects(first=10, count=1, tiers=("security",))[0]
    unmanaged = kube.objects(first=11, count=1, managed=False)[0]
    foreign = kube.objects(first=12, count=1)[0]
    foreign["metadata"]["labels"][MANAGED_BY[0]] = "someone-else"
    stale = kube.objects(first=13, count=2)
    for obj in [kept_tier, unmanaged, foreign] + stale:
        kube.seed(obj, manager="zerotrust.microseg" if obj in [kept_tier] + stale else "kubectl")
    result = apply(kube, kube.objects(count=4))
    assert sorted(result.deleted) == sorted(relpath(identity(obj)) for obj in stale)
    for obj in [kept_tier, unmanaged, foreign]:
        assert kube.live(obj) is not None
    assert all(kube.live(obj) is None for obj in stale)


def test_a_field_owned_by_another_manager_is_a_conflict_until_forced(kube):
    mine = kube.objects(first=4, count=1)[0]
    edited = copy.deepcopy(mine)
    edited["spec"]["selector"] = "app == 'hand-edited'"
    kube.seed(edited, manager="kubectl-edit")
    before = kube.content()
    with pytest.raises(TargetError) as info:
        apply(kube, [mine])
    message = str(info.value)
    assert "projectcalico.org NetworkPolicy %s/cnp-04: conflict: field manager \"kubectl-edit\" already owns" % kube.namespaces[0] in message
    assert ".spec.selector" in message and "set microseg_force: true" in message
    assert kube.content() == before
    result = apply(kube, [mine], target=kube.target(force=True), force=True)
    assert result.updated == [relpath(identity(mine))]
    assert kube.live(mine)["spec"]["selector"] == mine["spec"]["selector"]
    assert not apply(kube, [mine]).changed


def test_an_object_without_our_label_is_taken_over_only_with_force(kube):
    theirs = kube.objects(first=3, count=1, managed=False)[0]
    kube.seed(theirs, manager="helm")
    mine = kube.objects(first=3, count=1)[0]
    with pytest.raises(TargetError, match=r"exists and is not managed by zerotrust.microseg .*; force takes it over"):
        apply(kube, [mine])
    assert apply(kube, [mine], target=kube.target(force=True), force=True).updated == [relpath(identity(mine))]
    assert kube.live(mine)["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]


def phase_setup(kube):
    """Before: 20 objects in their first form and 10 stale ones. The phase: update the 20, create 20, prune the 10."""
    apply(kube, kube.objects(count=20) + kube.objects(first=40, count=10))
    return kube.objects(count=20, variant=1) + kube.objects(first=20, count=20)


WRITE_POSITIONS = [("PATCH", position) for position in range(40)] + [("DELETE", position) for position in range(10)]


@needs_fake
@pytest.mark.parametrize("method, position", WRITE_POSITIONS, ids=["%s-%d" % item for item in WRITE_POSITIONS])
def test_a_fault_at_any_write_of_a_fifty_object_phase_rolls_the_server_back(kube, method, position):
    phase = phase_setup(kube)
    before = kube.content()
    target = kube.target()
    snapshot = target.snapshot()
    kube.fake.fail(method=method, status=422, after=position, reason="injected fault")
    with pytest.raises(TargetError, match=r": apply failed \(.*injected fault\); rolled back all 50 touched objects$"):
        apply(kube, phase, target=target)
    assert kube.content() == before
    writes = len(kube.writes())
    assert kube.target().restore(snapshot) == []
    assert len(kube.writes()) == writes
    assert not apply(kube, kube.objects(count=20) + kube.objects(first=40, count=10)).changed


@needs_fake
def test_a_rollback_hands_a_taken_over_object_back_exactly(kube):
    theirs = kube.objects(first=3, count=1, managed=False)[0]
    kube.seed(theirs, manager="helm")
    before = kube.content()
    phase = kube.objects(first=3, count=5, variant=1)
    kube.fake.fail(method="PATCH", status=403, after=4, reason="denied by a webhook")
    with pytest.raises(TargetError, match=r"denied by a webhook\); rolled back all 5 touched objects"):
        apply(kube, phase, target=kube.target(force=True), force=True)
    assert kube.content() == before
    assert MANAGED_BY[0] not in kube.live(theirs)["metadata"]["labels"]


def test_a_restore_also_removes_what_another_manager_added_during_the_phase(kube):
    phase = phase_setup(kube)
    before = kube.content()
    snapshot = kube.snapshot(phase)
    apply(kube, phase)
    annotated = kube.objects(count=3, variant=1)[2]
    target = kube.target()
    path = target.api.resource("projectcalico.org", "NetworkPolicy").path(annotated["metadata"]["namespace"], annotated["metadata"]["name"])
    target.api.request("PATCH", path, [("fieldManager", "kubectl-annotate")], {"metadata": {"annotations": {"seen": "yes"}}},
                       "application/merge-patch+json")
    assert kube.target().restore(snapshot)
    assert kube.content() == before


def test_a_snapshot_restores_a_whole_phase_and_ownership_stays_ours(kube):
    phase = phase_setup(kube)
    before = kube.content()
    snapshot = kube.snapshot(phase)
    result = apply(kube, phase)
    assert (len(result.created), len(result.updated), len(result.deleted)) == (20, 20, 10)
    restored = kube.target().restore(snapshot)
    assert len(restored) == 50 and restored == sorted(restored)
    assert kube.content() == before
    assert kube.target().restore(snapshot) == []
    writes = len(kube.writes())
    again = apply(kube, kube.objects(count=20) + kube.objects(first=40, count=10))
    assert not again.changed and len(kube.writes()) == writes
    assert kube.target().discard(snapshot) is True


@needs_fake
def test_throttling_server_errors_and_timeouts_are_retried(kube):
    kube.fake.fail(method="PATCH", status=429, times=2)
    kube.fake.fail(method="PATCH", status=503, after=10)
    kube.fake.fail(method="PATCH", status=None, delay=1.5, after=20)
    result = apply(kube, kube.objects(count=30), target=kube.target(timeout=0.5))
    assert len(result.created) == 30
    patches = [request.path for request in kube.fake.mutations()]
    assert len(patches) == 30 + 2 + 1 + 1
    assert not apply(kube, kube.objects(count=30)).changed


@needs_fake
def test_a_persistent_server_error_fails_naming_the_object_after_the_retries_and_rolls_back(kube):
    kube.fake.fail(method="PATCH", path_contains="/cnp-06", status=500, times=None, reason="etcd is sad")
    where = "%s/cnp-06" % kube.namespaces[0]
    with pytest.raises(TargetError) as info:
        apply(kube, kube.objects(count=10), target=kube.target(retries=2))
    assert str(info.value) == ("projectcalico.org/NetworkPolicy/%s.yaml: apply failed (projectcalico.org NetworkPolicy %s: the API server "
                               "answered 500 InternalError: etcd is sad); rolled back all 10 touched objects" % (where, where))
    assert len([request for request in kube.fake.mutations() if request.path.endswith("/cnp-06")]) == 3
    assert kube.content() == b"[]"


@needs_fake
def test_a_delete_rereads_an_object_changed_since_and_spares_it_once_it_is_no_longer_ours(kube):
    stale = kube.objects(first=5, count=1)[0]
    apply(kube, [stale])
    target = kube.target()
    target.list(kinds=[("networking.k8s.io", "NetworkPolicy")])
    relabelled = copy.deepcopy(kube.live(stale))
    del relabelled["metadata"]["labels"][MANAGED_BY[0]]
    del relabelled["metadata"]["managedFields"]
    kube.fake.seed(relabelled, manager="kubectl-label")
    with pytest.raises(TargetError, match=r"np-05: not deleted: it does not carry app.kubernetes.io/managed-by=zerotrust.microseg"):
        target.delete(identity(stale))
    assert kube.live(stale) is not None


@needs_fake
@pytest.mark.parametrize("options, kind, message", [
    ({"calico": False}, "GlobalNetworkSet", "does not serve projectcalico.org, needed for kind GlobalNetworkSet: install Calico 3.29+ or its v3 CRDs"),
    ({"network_policy_api": False}, "AdminNetworkPolicy",
     "does not serve policy.networking.k8s.io, needed for kind AdminNetworkPolicy: install the network-policy-api CRDs"),
])
def test_a_missing_crd_group_is_named_with_how_to_install_it(tmp_path, options, kind, message):
    kube = Cluster(tmp_path, **options)
    try:
        objects = kube.objects(count=4)
        objects.append({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
                        "metadata": {"name": "zt-threats", "labels": kube.labels("security")},
                        "spec": {"priority": 10, "subject": {"namespaces": {}}, "egress": [{"name": "deny", "action": "Deny", "to": []}]}})
        objects = [obj for obj in objects if obj["kind"] == kind or obj["apiVersion"].startswith("networking.k8s.io")]
        with pytest.raises(TargetError) as info:
            apply(kube, objects, target=kube.target(check_mode=True))
        assert message in str(info.value)
        with pytest.raises(TargetError):
            apply(kube, objects)
        assert kube.writes() == []
    finally:
        kube.close()


@needs_fake
def test_an_unreachable_server_is_reported_plainly(tmp_path):
    kube = Cluster(tmp_path)
    kube.fake.stop()
    with pytest.raises(TargetError, match=r"^cannot reach the Kubernetes API at http://127.0.0.1:\d+: no answer from"):
        apply(kube, kube.objects(count=2), target=kube.target(retries=1))


@needs_fake
def test_site_playbook_on_the_cluster_target_then_a_rerun_changes_nothing(lab, tmp_path):
    kube = Cluster(tmp_path / "kube")
    try:
        on_cluster(lab, kube)
        env = {"HOME": str(tmp_path / "home")}
        first = run_playbook(lab, env=env)
        assert first.rc == 0, first.out
        catch_all = kube.fake.get("projectcalico.org/v3", "GlobalNetworkPolicy", "tenant-hipstershop-catch-all")
        assert catch_all["metadata"]["labels"]["zerotrust.microseg/posture"] == "enforced"
        assert catch_all["metadata"]["managedFields"][0]["manager"] == "zerotrust.microseg"
        assert kube.fake.get("projectcalico.org/v3", "NetworkPolicy", "frontend", "hipstershop")["spec"]["tier"] == "appsec"
        assert not os.path.exists(os.path.join(lab, "cluster", "projectcalico.org"))
        writes = len(kube.fake.mutations())
        assert writes > 30 and kube.fake.mutations(dry_run=True) == []
        second = run_playbook(lab, env=env)
        assert second.rc == 0 and second.changed == 0, second.out
        assert len(kube.fake.mutations()) == writes
        before = kube.fake.dump()
        check = run_playbook(lab, "--check", "--diff", "--tags", "deploy", "-e", "microseg_keep_enforced=false", env=env)
        assert check.rc == 0, check.out
        assert "+  - action: Allow" in check.out and kube.fake.dump() == before
        assert kube.fake.mutations(dry_run=False) == kube.fake.mutations()[:writes]
    finally:
        kube.close()


@needs_fake
def test_remediate_stages_on_the_cluster_then_accepts_and_removes_the_staged_policies(lab, tmp_path):
    kube = Cluster(tmp_path / "kube")
    try:
        on_cluster(lab, kube)
        env = {"HOME": str(tmp_path / "home")}
        assert run_playbook(lab, "--tags", "identify,analyze,deploy,enforce", env=env).rc == 0
        with open(os.path.join(lab, "flows", "observed.md"), "a", encoding="utf-8") as handle:
            handle.write("monitoring/run=monitoring-pod | yaobank/customer | 80\n")
        enforced = kube.fake.get("projectcalico.org/v3", "NetworkPolicy", "yaobank", "yaobank")
        checked = run_playbook(lab, "--tags", "remediate", "--check", env=env)
        assert checked.rc == 0, checked.out
        assert kube.fake.get("projectcalico.org/v3", "StagedNetworkPolicy", "yaobank", "yaobank") is None
        preview = run_playbook(lab, "--tags", "remediate", env=env)
        assert preview.rc == 0, preview.out
        staged = kube.fake.get("projectcalico.org/v3", "StagedNetworkPolicy", "yaobank", "yaobank")
        assert staged["metadata"]["labels"]["zerotrust.microseg/remediation"] == "proposed" and staged["spec"]["tier"] == "application"
        assert kube.fake.get("projectcalico.org/v3", "NetworkPolicy", "yaobank", "yaobank") == enforced
        writes = len(kube.fake.mutations())
        again = run_playbook(lab, "--tags", "remediate", env=env)
        assert again.rc == 0 and again.changed == 0 and len(kube.fake.mutations()) == writes, again.out
        applied = run_playbook(lab, "--tags", "remediate", "-e", "microseg_remediate_apply=true", env=env)
        assert applied.rc == 0, applied.out
        assert kube.fake.get("projectcalico.org/v3", "StagedNetworkPolicy", "yaobank", "yaobank") is None
        rules = kube.fake.get("projectcalico.org/v3", "NetworkPolicy", "yaobank", "yaobank")["spec"]["ingress"]
        assert any(rule["source"].get("selector") == "run == 'monitoring-pod'" for rule in rules), rules
        writes = len(kube.fake.mutations())
        final = run_playbook(lab, env=env)
        assert final.rc == 0, final.out
        last = run_playbook(lab, env=env)
        assert last.rc == 0 and last.changed == 0, last.out
        assert len(kube.fake.mutations()) == writes
    finally:
        kube.close()
