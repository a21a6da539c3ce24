"""The cluster target without a server: comparison with server defaults, requests it sends (stub API), the engine's hooks."""
import json
import os
import threading

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import (
    MANAGED_KINDS, READ_ONLY_KINDS, ClusterTarget, describe, label_selector, server_key)
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.kube_api import ApiFailure, Resource
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, TIER_LABEL, identity, merge_patch, same_content, without_server_defaults)

OURS = {MANAGED_BY[0]: MANAGED_BY[1], TIER_LABEL: "platform"}


def calico_np(name="frontend", namespace="shop", labels=None, **spec):
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(OURS if labels is None else labels)},
            "spec": spec or {"selector": "app == 'frontend'", "ingress": [{"action": "Allow"}]}}


def k8s_np(name="frontend", namespace="shop", **spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(OURS)},
            "spec": spec or {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}


def served_by_server(obj, **fields):
    """``obj`` as the server stores it: server metadata plus ``fields`` merged into spec / labels."""
    live = json.loads(json.dumps(obj))
    live["metadata"].update(uid="u-1", resourceVersion="7", generation=2, creationTimestamp="2026-01-01T00:00:00Z",
                            managedFields=[{"manager": "zerotrust.microseg", "operation": "Apply"}])
    live["metadata"]["labels"].update(fields.pop("labels", {}))
    live["spec"].update(fields)
    live["status"] = {}
    return live


# -- comparison: what the server fills in is not a difference ---------------------------------------

@pytest.mark.parametrize("desired, live", [
    (calico_np(), served_by_server(calico_np(), tier="default", types=["Ingress"], labels={"projectcalico.org/tier": "default"})),
    (calico_np(egress=[], selector="all()"), served_by_server(calico_np(selector="all()"), types=["Ingress"])),
    (k8s_np(), served_by_server(k8s_np(), policyTypes=["Ingress"], ingress=[{"ports": [{"port": 80, "protocol": "TCP"}]}])),
    (k8s_np(podSelector={}, egress=[], ingress=None), served_by_server(k8s_np(podSelector={}), policyTypes=["Egress"])),
])
def test_server_filled_fields_the_desired_object_leaves_out_are_ignored(desired, live):
    assert not same_content(live, desired)
    assert same_content(*without_server_defaults(live, desired))


TIER = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security", "labels": dict(OURS)}, "spec": {"order": 200}}
ANP = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy", "metadata": {"name": "a", "labels": dict(OURS)},
       "spec": {"priority": 10, "subject": {"namespaces": {}},
                "egress": [{"name": "x", "action": "Deny", "to": [{"networks": ["203.0.113.0/24"]}], "ports": [{"portNumber": {"port": 53}}]}]}}


BANP = dict(ANP, kind="BaselineAdminNetworkPolicy", metadata={"name": "default", "labels": dict(OURS)},
            spec={"subject": {"namespaces": {}},
                  "ingress": [{"action": "Deny", "from": [{"namespaces": {}}], "ports": [{"portRange": {"start": 1, "end": 9}}]}]})


@pytest.mark.parametrize("desired, live", [
    (TIER, dict(TIER, spec={"order": 200, "defaultAction": "Deny"})),  # the Tier CRD's schema default (Calico 3.30+)
    (ANP, dict(ANP, spec=dict(ANP["spec"], egress=[dict(ANP["spec"]["egress"][0], ports=[{"portNumber": {"port": 53, "protocol": "TCP"}}])]))),
    (BANP, dict(BANP, spec=dict(BANP["spec"], ingress=[dict(BANP["spec"]["ingress"][0],
                                                            ports=[{"portRange": {"start": 1, "end": 9, "protocol": "TCP"}}])]))),
], ids=["tier-defaultAction", "anp-port-protocol", "banp-port-protocol"])
def test_crd_schema_defaults_are_not_differences(desired, live):
    assert not same_content(live, desired)
    assert same_content(*without_server_defaults(live, desired))


@pytest.mark.parametrize("desired, live", [
    (calico_np(tier="security"), served_by_server(calico_np(tier="security"), tier="default")),
    (calico_np(types=["Egress"]), served_by_server(calico_np(types=["Egress"]), types=["Ingress"])),
    (calico_np(labels=dict(OURS, **{"projectcalico.org/tier": "x"})), served_by_server(calico_np(), labels={"projectcalico.org/tier": "y"})),
    (k8s_np(ingress=[{"ports": [{"port": 80, "protocol": "UDP"}]}]), served_by_server(k8s_np(), ingress=[{"ports": [{"port": 80, "protocol": "TCP"}]}])),
    (k8s_np(), served_by_server(k8s_np(), ingress=[{"ports": [{"port": 81, "protocol": "TCP"}]}])),
    (calico_np(), served_by_server(calico_np(), order=100)),
    (calico_np(), served_by_server(calico_np(), labels={"extra": "x"})),
    (k8s_np(podSelector={"matchLabels": {"a": "b"}}), served_by_server(k8s_np(podSelector={}))),
])
def test_fields_the_desired_object_sets_or_the_server_never_fills_still_count(desired, live):
    assert not same_content(*without_server_defaults(live, desired))


def test_defaults_are_dropped_only_for_their_kind_and_inputs_are_not_changed():
    tier = {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "t", "labels": dict(OURS)}, "spec": {"order": 1}}
    live = served_by_server(tier, types=["Ingress"])
    snapshot = json.dumps(live, sort_keys=True)
    assert not same_content(*without_server_defaults(live, tier))
    assert json.dumps(live, sort_keys=True) == snapshot
    empty_dict_matters = k8s_np(ingress=[{"from": [{"namespaceSelector": {}}]}])
    assert not same_content(*without_server_defaults(k8s_np(ingress=[{"from": [{"podSelector": {}}]}]), empty_dict_matters))
    assert without_server_defaults({"kind": "NoIdentity"}, {}) == ({"kind": "NoIdentity"}, {})


def test_merge_patch_turns_the_live_object_into_the_saved_one_under_its_resource_version():
    saved = calico_np(labels={"team": "a"}, selector="all()", ingress=[{"action": "Allow"}], order=10)
    saved["metadata"]["annotations"] = {"note": "kept"}
    live = served_by_server(calico_np(labels={"team": "b", "extra": "x"}, selector="all()", egress=[{"action": "Deny"}], order=10),
                            tier="default")
    live["metadata"]["annotations"] = {"other": "y"}
    assert merge_patch(live, saved) == {
        "metadata": {"resourceVersion": "7", "labels": {"team": "a", "extra": None}, "annotations": {"note": "kept", "other": None}},
        "spec": {"tier": None, "egress": None, "ingress": [{"action": "Allow"}]}}
    assert merge_patch(saved, saved) == {"metadata": {"resourceVersion": None}}
    assert merge_patch(calico_np(order=1), calico_np(order=True))["spec"] == {"order": True}


# -- small helpers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("host, key", [("https://10.0.0.1:6443", "10.0.0.1_6443"), ("http://127.0.0.1:8080/prefix", "127.0.0.1_8080"),
                                       ("https://api.example.com", "api.example.com"), (None, "unknown")])
def test_server_key(host, key):
    assert server_key(host) == key


def test_label_selector():
    assert label_selector({"b": "2", "a": "1"}) == "a=1,b=2"
    assert label_selector(None) is None and label_selector({}) is None
    with pytest.raises(InputError, match="labels: must be a mapping"):
        label_selector(["a=1"])


def test_describe():
    assert describe(("projectcalico.org", "NetworkPolicy", "shop", "a")) == "projectcalico.org NetworkPolicy shop/a"
    assert describe(("projectcalico.org", "Tier", "", "security")) == "projectcalico.org Tier security"


# -- the target against a stub API --------------------------------------------------------------------

RESOURCES = {
    ("projectcalico.org", "NetworkPolicy"): Resource("projectcalico.org", "v3", "NetworkPolicy", "networkpolicies", True),
    ("projectcalico.org", "Tier"): Resource("projectcalico.org", "v3", "Tier", "tiers", False),
    ("networking.k8s.io", "NetworkPolicy"): Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ("core", "Namespace"): Resource("core", "v1", "Namespace", "namespaces", False),
}


class StubApi:
    """Serves RESOURCES; ``answer(method, path, query, body)`` scripts the replies; every request is recorded."""

    host = "https://kube.test:6443"

    def __init__(self, answer=None):
        self.answer = answer or (lambda method, path, query, body: {})
        self.requests = []
        self._lock = threading.Lock()

    def serves(self, group, kind, version=None):
        return (group, kind) in RESOURCES and version in (None, RESOURCES[(group, kind)].version)

    def resource(self, group, kind, version=None):
        if (group, kind) not in RESOURCES:
            raise TargetError("does not serve %s %s" % (group, kind))
        return RESOURCES[(group, kind)]

    def request(self, method, path, query=None, body=None, content_type="application/json", reread=None):
        with self._lock:
            self.requests.append((method, path, dict(query or ()), body, content_type))
        return self.answer(method, path, dict(query or ()), body)


def target_with(answer=None, **kwargs):
    api = StubApi(answer)
    return ClusterTarget(api=api, **kwargs), api


def test_list_is_one_paginated_request_per_kind_with_the_label_selector():
    pages = {None: {"items": [{"metadata": {"name": "a", "namespace": "shop", "labels": OURS}}], "metadata": {"continue": "p2"}},
             "p2": {"items": [{"metadata": {"name": "b", "namespace": "shop", "labels": OURS}}], "metadata": {}}}
    target, api = target_with(lambda method, path, query, body: pages[query.get("continue")])
    found = target.list(kinds=[("networking.k8s.io", "NetworkPolicy")], labels=dict([MANAGED_BY]))
    assert sorted(found) == [("networking.k8s.io", "NetworkPolicy", "shop", "a"), ("networking.k8s.io", "NetworkPolicy", "shop", "b")]
    assert found[("networking.k8s.io", "NetworkPolicy", "shop", "a")]["apiVersion"] == "networking.k8s.io/v1"
    assert found[("networking.k8s.io", "NetworkPolicy", "shop", "a")]["kind"] == "NetworkPolicy"
    assert [(method, path, query) for method, path, query, body, ctype in api.requests] == [
        ("GET", "/apis/networking.k8s.io/v1/networkpolicies", {"limit": "500", "labelSelector": "app.kubernetes.io/managed-by=zerotrust.microseg"}),
        ("GET", "/apis/networking.k8s.io/v1/networkpolicies",
         {"limit": "500", "labelSelector": "app.kubernetes.io/managed-by=zerotrust.microseg", "continue": "p2"})]


def test_list_of_everything_reads_the_served_kinds_only_and_named_kinds_must_be_served():
    target, api = target_with(lambda method, path, query, body: {"items": []})
    assert target.list() == {}
    assert sorted(path for method, path, query, body, ctype in api.requests) == sorted(
        {"/apis/projectcalico.org/v3/networkpolicies", "/apis/projectcalico.org/v3/tiers", "/apis/networking.k8s.io/v1/networkpolicies",
         "/api/v1/namespaces"})
    assert target.managed_kinds == [kind for kind in MANAGED_KINDS if kind in RESOURCES]
    assert target.list(kinds=[("apps", "Deployment"), ("batch", "Job")]) == {}
    with pytest.raises(TargetError, match="does not serve policy.networking.k8s.io AdminNetworkPolicy"):
        target.list(kinds=[("policy.networking.k8s.io", "AdminNetworkPolicy")])


def test_served_kinds_are_discovered_in_the_version_they_are_written_as():
    target = target_with()[0]
    kinds = {"NetworkPolicy": "networking.k8s.io/v1", "Tier": "projectcalico.org/v2", "AdminNetworkPolicy": "policy.networking.k8s.io/v1alpha1",
             "Namespace": "v1"}
    assert target.served_kinds(kinds) == ["Namespace", "NetworkPolicy"]


def test_list_forbidden_points_at_the_rbac_manifest():
    def answer(method, path, query, body):
        raise ApiFailure(method, path, 403, {"message": "forbidden"})
    target = target_with(answer)[0]
    with pytest.raises(TargetError, match=r"cannot list projectcalico.org/v3 tiers at https://kube.test:6443: 403 forbidden \(grant what "
                                          r"rbac/clusterrole.yaml grants\)"):
        target.list(kinds=[("projectcalico.org", "Tier")])


@pytest.mark.parametrize("kwargs, query", [
    ({}, {"fieldManager": "zerotrust.microseg"}),
    ({"force": True}, {"fieldManager": "zerotrust.microseg", "force": "true"}),
    ({"check_mode": True}, {"fieldManager": "zerotrust.microseg", "dryRun": "All"}),
    ({"check_mode": True, "force": True}, {"fieldManager": "zerotrust.microseg", "force": "true", "dryRun": "All"}),
])
def test_put_is_a_server_side_apply_without_server_fields(kwargs, query):
    target, api = target_with(**kwargs)
    assert target.put(served_by_server(calico_np())) == "projectcalico.org/NetworkPolicy/shop/frontend.yaml"
    method, path, sent, body, ctype = api.requests[0]
    assert (method, path, sent, ctype) == ("PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/frontend", query,
                                           "application/apply-patch+yaml")
    assert "status" not in body and set(body["metadata"]) == {"name", "namespace", "labels"}


def test_check_mode_does_not_send_policies_of_a_tier_it_only_dry_run_created():
    target, api = target_with(lambda method, path, query, body: {"items": []}, check_mode=True)
    target.list(kinds=[("projectcalico.org", "Tier")])
    target.put(tier("new"))
    target.put(calico_np("in-new", tier="new"))
    target.put(calico_np("in-default", tier="default"))
    assert [(method, path) for method, path, query, body, ctype in api.requests[1:]] == [
        ("PATCH", "/apis/projectcalico.org/v3/tiers/new"), ("PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/in-default")]
    real, sent = target_with(lambda method, path, query, body: {"items": []})
    real.put(tier("new"))
    real.put(calico_np("in-new", tier="new"))
    assert len(sent.requests) == 2


def test_an_apply_conflict_names_the_object_the_other_manager_and_force():
    def answer(method, path, query, body):
        raise ApiFailure(method, path, 409, {"reason": "Conflict", "message": "Apply failed with 2 conflicts", "details": {"causes": [
            {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-client-side-apply" using projectcalico.org/v3', "field": ".spec.selector"},
            {"reason": "FieldManagerConflict", "message": 'conflict with "helm" using projectcalico.org/v3', "field": ".spec.order"}]}})
    target = target_with(answer)[0]
    with pytest.raises(TargetError) as info:
        target.put(calico_np())
    assert str(info.value) == ('projectcalico.org NetworkPolicy shop/frontend: conflict: field manager "helm", "kubectl-client-side-apply" '
                               'already owns .spec.order, .spec.selector; set microseg_force: true (option force) to take these fields over')


def test_other_write_errors_name_the_object_and_the_answer():
    def answer(method, path, query, body):
        raise ApiFailure(method, path, 422, {"reason": "Invalid", "message": "spec.order: Invalid value"})
    with pytest.raises(TargetError, match=r"^projectcalico.org NetworkPolicy shop/frontend: the API server answered 422 Invalid: spec.order: Invalid value$"):
        target_with(answer)[0].put(calico_np())


def test_delete_sends_preconditions_and_refuses_objects_without_our_label():
    listed = {"items": [{"metadata": {"name": "ours", "namespace": "shop", "labels": OURS, "uid": "u1", "resourceVersion": "5"}},
                        {"metadata": {"name": "theirs", "namespace": "shop", "labels": {}, "uid": "u2", "resourceVersion": "6"}}]}
    target, api = target_with(lambda method, path, query, body: listed if method == "GET" else {"status": "Success"}, check_mode=True)
    target.list(kinds=[("networking.k8s.io", "NetworkPolicy")])
    assert target.delete(("networking.k8s.io", "NetworkPolicy", "shop", "ours")) is True
    assert api.requests[-1] == ("DELETE", "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/ours", {"dryRun": "All"},
                                {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "u1", "resourceVersion": "5"}},
                                "application/json")
    with pytest.raises(TargetError, match=r"networking.k8s.io NetworkPolicy shop/theirs: not deleted: it does not carry "
                                          r"app.kubernetes.io/managed-by=zerotrust.microseg"):
        target.delete(("networking.k8s.io", "NetworkPolicy", "shop", "theirs"))
    assert len(api.requests) == 2


def test_deleting_what_is_gone_is_not_an_error():
    def answer(method, path, query, body):
        raise ApiFailure(method, path, 404, {"reason": "NotFound"})
    assert target_with(answer)[0].delete(("projectcalico.org", "Tier", "", "gone")) is False


# -- snapshots and lock (state directory) -------------------------------------------------------------

def test_snapshot_and_lock_live_under_the_state_dir_per_server(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    target = target_with(lambda method, path, query, body: {"items": []})[0]
    assert target.state_dir == str(tmp_path / ".ansible" / "zerotrust.microseg" / "snapshots" / "kube.test_6443")
    with target.lock():
        with target.lock():
            snap = target.snapshot()
    assert target.snapshots() == [snap]
    with open(os.path.join(target.state_dir, snap + ".json"), encoding="utf-8") as handle:
        record = json.load(handle)
    assert (record["server"], record["selected"], record["objects"]) == ("https://kube.test:6443", None, [])
    assert os.stat(os.path.join(target.state_dir, snap + ".json")).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(target.state_dir)) == sorted(["lock", snap + ".json"])
    assert target.discard(snap) is True and target.discard(snap) is False and target.snapshots() == []


def test_check_mode_keeps_the_state_dir_untouched(tmp_path):
    target = target_with(check_mode=True, state_dir=str(tmp_path / "state"))[0]
    with target.lock():
        assert target.snapshot() is None
    assert target.restore(None) == [] and target.discard("x") is False
    assert not os.path.exists(tmp_path / "state")


def test_a_snapshot_of_another_server_or_unknown_id_is_refused(tmp_path):
    target = target_with(lambda method, path, query, body: {"items": []}, state_dir=str(tmp_path))[0]
    snap = target.snapshot()
    other = target_with(state_dir=str(tmp_path))[0]
    other.api.host = "https://elsewhere:6443"
    with pytest.raises(TargetError, match=r"taken on https://kube.test:6443, not on https://elsewhere:6443"):
        other.restore(snap)
    with pytest.raises(TargetError, match=r"no such snapshot"):
        target.restore("../../etc/passwd")


def test_revert_is_refused_in_check_mode():
    with pytest.raises(RuntimeError, match="check-mode"):
        target_with(check_mode=True)[0].revert({})


# -- the engine's hooks, with a recording target ----------------------------------------------------

class RecordingTarget:
    """A minimal target that opts into the engine's hooks and records what it is asked to do."""

    def __init__(self, live, check_mode=False, dry_run_writes=True, workers=4, fail_on=None):
        self.live = live
        self.check_mode = check_mode
        self.dry_run_writes = dry_run_writes
        self.write_workers = workers
        self.server_defaults = True
        self.managed_kinds = [("projectcalico.org", "Tier")]
        self.fail_on = fail_on
        self.calls = []
        self.listed = []
        self.reverted = None
        self._lock = threading.Lock()

    def list(self, kinds=None, labels=None):
        self.listed.append(kinds)
        return dict(self.live)

    def put(self, obj):
        with self._lock:
            self.calls.append(("put", identity(obj)))
        if obj["metadata"]["name"] == self.fail_on:
            raise TargetError("refused by admission")

    def delete(self, ident):
        with self._lock:
            self.calls.append(("delete", ident))

    def save(self, idents):
        return {"saved": sorted(idents)}

    def revert(self, saved):
        self.reverted = saved


def tier(name):
    return {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": name, "labels": dict(OURS)}, "spec": {"order": 1}}


def test_check_mode_sends_dry_run_writes_only_to_targets_that_validate_them():
    desired = [tier("security"), calico_np("a"), calico_np("b")]
    stale = calico_np("old")
    validating = RecordingTarget({identity(stale): stale}, check_mode=True)
    result = apply_objects(validating, desired)
    assert result.changed and validating.reverted is None
    assert validating.calls[0] == ("put", ("projectcalico.org", "Tier", "", "security"))
    assert sorted(validating.calls[1:3]) == [("put", identity(calico_np("a"))), ("put", identity(calico_np("b")))]
    assert validating.calls[3:] == [("delete", identity(stale))]
    assert validating.listed == [[("projectcalico.org", "NetworkPolicy"), ("projectcalico.org", "Tier")]]
    silent = RecordingTarget({}, check_mode=True, dry_run_writes=False)
    assert apply_objects(silent, desired).changed and silent.calls == []


def test_a_refused_dry_run_fails_naming_the_object_and_reverts_nothing():
    target = RecordingTarget({}, check_mode=True, fail_on="b")
    with pytest.raises(TargetError, match=r"^projectcalico.org/NetworkPolicy/shop/b.yaml: would fail: refused by admission$"):
        apply_objects(target, [calico_np("a"), calico_np("b"), calico_np("c")])
    assert target.reverted is None


def test_concurrent_writes_report_the_first_failure_in_write_order_and_roll_back():
    target = RecordingTarget({}, workers=8, fail_on="n05")
    with pytest.raises(TargetError, match=r"^projectcalico.org/NetworkPolicy/shop/n05.yaml: apply failed \(refused by admission\); rolled back"):
        apply_objects(target, [tier("t")] + [calico_np("n%02d" % index) for index in range(20)])
    assert target.calls[0] == ("put", ("projectcalico.org", "Tier", "", "t"))
    assert len(target.calls) == 21 and target.reverted["saved"][0] == ("projectcalico.org", "NetworkPolicy", "shop", "n00")


def test_live_objects_are_compared_without_server_defaults_and_shown_so_in_the_diff():
    want = calico_np()
    live = served_by_server(calico_np(), tier="default", types=["Ingress"], labels={"projectcalico.org/tier": "default"})
    target = RecordingTarget({identity(live): live})
    result = apply_objects(target, [want])
    assert (result.changed, result.unchanged, target.calls) == (False, 1, [])
    live["spec"]["selector"] = "app == 'other'"
    result = apply_objects(target, [want])
    assert result.updated == ["projectcalico.org/NetworkPolicy/shop/frontend.yaml"]
    assert "tier: default" not in result.diff[0]["before"] and "projectcalico.org/tier" not in result.diff[0]["before"]
    assert "selector: app == 'other'" in result.diff[0]["before"]


# -- the RBAC manifest grants exactly what the target uses --------------------------------------------

PLURALS = {"Tier": "tiers", "GlobalNetworkSet": "globalnetworksets", "NetworkSet": "networksets", "GlobalNetworkPolicy": "globalnetworkpolicies",
           "NetworkPolicy": "networkpolicies", "AdminNetworkPolicy": "adminnetworkpolicies",
           "BaselineAdminNetworkPolicy": "baselineadminnetworkpolicies", "ClusterNetworkPolicy": "clusternetworkpolicies",
           "StagedNetworkPolicy": "stagednetworkpolicies",
           "StagedGlobalNetworkPolicy": "stagedglobalnetworkpolicies", "StagedKubernetesNetworkPolicy": "stagedkubernetesnetworkpolicies",
           "Namespace": "namespaces", "Pod": "pods", "Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets",
           "Job": "jobs", "CronJob": "cronjobs"}
MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "rbac", "clusterrole.yaml")


def test_the_cluster_role_grants_exactly_the_verbs_and_kinds_the_target_uses():
    with open(MANIFEST, encoding="utf-8") as handle:
        manifest = yaml.safe_load(handle)
    assert (manifest["apiVersion"], manifest["kind"]) == ("v1", "List")
    role, binding = manifest["items"]
    granted = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted[(group or "core", resource)] = set(rule["verbs"])
    expected = {(group, PLURALS[kind]): {"get", "list", "create", "patch", "delete"} for group, kind in MANAGED_KINDS}
    expected.update({(group, PLURALS[kind]): {"get", "list"} for group, kind in READ_ONLY_KINDS})
    calico_tiered = {key: verbs for key, verbs in granted.items() if key[1].startswith("tier.")}
    assert {key: verbs for key, verbs in granted.items() if key not in calico_tiered} == expected
    assert calico_tiered == {("projectcalico.org", "tier.globalnetworkpolicies"): expected[("projectcalico.org", "globalnetworkpolicies")],
                             ("projectcalico.org", "tier.networkpolicies"): expected[("projectcalico.org", "networkpolicies")],
                             ("projectcalico.org", "tier.stagednetworkpolicies"): expected[("projectcalico.org", "stagednetworkpolicies")],
                             ("projectcalico.org", "tier.stagedglobalnetworkpolicies"): expected[("projectcalico.org", "stagedglobalnetworkpolicies")]}
    assert (binding["kind"], binding["roleRef"]["name"], binding["subjects"][0]["kind"]) == ("ClusterRoleBinding", role["metadata"]["name"],
                                                                                             "ServiceAccount")
