"""policy_apply module against a directory target: create, idempotence, check mode, diff, prune, snapshot/restore, failures."""
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import dump, identity, relpath
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan
from ansible_collections.zerotrust.microseg.plugins.modules import policy_apply

VARIABLES = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True}],
    "microseg_apps": [{"name": "hipstershop", "tenant": "shop", "flows": [{"source": "frontend", "destination": "cartservice", "port": 7070}]},
                      {"name": "yaobank", "tier": "application", "flows": [{"source": "customer", "destination": "summary", "port": 80}]}],
    "microseg_threat_nets": ["203.0.113.0/24"],
}
POSTURE_PATHS = sorted([
    "projectcalico.org/GlobalNetworkPolicy/_cluster/namespace-yaobank-catch-all.yaml",
    "projectcalico.org/GlobalNetworkPolicy/_cluster/tenant-shop-boundary.yaml",
    "projectcalico.org/GlobalNetworkPolicy/_cluster/tenant-shop-catch-all.yaml",
    "projectcalico.org/GlobalNetworkPolicy/_cluster/tenant-shop-pci-boundary.yaml",
])
DNS_PATH = "projectcalico.org/GlobalNetworkPolicy/_cluster/cluster-dns.yaml"


def rendered(phase="deploy", tiers=None):
    return make_plan(load_intent(VARIABLES), phase, tiers).objects


def path_of(obj):
    return relpath(identity(obj))


def tree(root):
    """Every file below root, dot-entries included: ``{relpath: bytes}``."""
    found = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def policy_tree(root):
    return {k: v for k, v in tree(root).items() if not k.startswith(".microseg" + os.sep)}


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(policy_apply, **args)


@pytest.fixture
def target(tmp_path):
    return str(tmp_path / "cluster")


@pytest.fixture
def applied(run, target):
    """A target holding the deploy set."""
    assert run(target="directory", directory=target, resources=rendered("deploy"))["changed"] is True
    return target


# -- create, rerun, check mode ---------------------------------------------------------------------

def test_create_writes_one_file_per_object(run, target):
    objects = rendered("deploy")
    result = run(target="directory", directory=target, resources=objects)
    assert result["changed"] is True
    assert sorted(result["created"]) == sorted(path_of(o) for o in objects)
    assert [p.split("/")[1] for p in result["created"][:5]] == ["Tier"] * 4 + ["GlobalNetworkSet"]  # referenced kinds first
    assert (result["updated"], result["deleted"], result["kept"], result["unchanged"]) == ([], [], [], 0)
    assert "diff" not in result
    files = policy_tree(target)
    assert files == {os.path.join(*path_of(o).split("/")): dump(o).encode("utf-8") for o in objects}


def test_second_identical_run_changes_nothing(run, applied):
    before = tree(applied)
    result = run(target="directory", directory=applied, resources=rendered("deploy"))
    assert result["changed"] is False
    assert (result["created"], result["updated"], result["deleted"], result["kept"]) == ([], [], [], [])
    assert result["unchanged"] == len(rendered("deploy"))
    assert tree(applied) == before


def test_check_mode_on_an_empty_target_writes_nothing_and_reports_the_real_result(run, target, tmp_path):
    checked = run(target="directory", directory=target, resources=rendered("deploy"), _ansible_check_mode=True)
    assert not os.path.exists(target)
    real = run(target="directory", directory=str(tmp_path / "real"), resources=rendered("deploy"))
    assert checked == dict(real, invocation=checked["invocation"])


def test_check_mode_update_writes_nothing(run, applied):
    before = tree(applied)
    result = run(target="directory", directory=applied, resources=rendered("enforce"), _ansible_check_mode=True)
    assert result["changed"] is True
    assert result["updated"] == POSTURE_PATHS
    assert tree(applied) == before


# -- diff ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("check_mode", [False, True])
def test_diff_lists_one_entry_per_changed_object(run, applied, check_mode):
    before = tree(applied)
    result = run(target="directory", directory=applied, resources=rendered("enforce"), _ansible_diff=True, _ansible_check_mode=check_mode)
    assert result["changed"] is True
    assert [d["before_header"] for d in result["diff"]] == POSTURE_PATHS
    enforced = {path_of(o): o for o in rendered("enforce")}
    for entry in result["diff"]:
        assert entry["after_header"] == entry["before_header"]
        assert entry["before"] == before[os.path.join(*entry["before_header"].split("/"))].decode("utf-8")
        assert entry["after"] == dump(enforced[entry["before_header"]])
        assert "zerotrust.microseg/posture: failsafe" in entry["before"] and "zerotrust.microseg/posture: enforced" in entry["after"]
    if check_mode:
        assert tree(applied) == before


def test_diff_of_creates_and_deletes(run, target):
    created = run(target="directory", directory=target, resources=rendered("deploy", ["platform"]), _ansible_diff=True)
    assert [(d["before"], d["before_header"]) for d in created["diff"]] == [("", p) for p in created["created"]]
    assert all(d["after"] for d in created["diff"])
    deleted = run(target="directory", directory=target, resources=[], tiers=["platform"], _ansible_diff=True)
    assert deleted["deleted"] == list(reversed(created["created"]))  # referenced kinds are deleted last
    assert [(d["after"], d["before_header"]) for d in deleted["diff"]] == [("", p) for p in deleted["deleted"]]
    assert policy_tree(target) == {}


def test_unchanged_run_has_an_empty_diff(run, applied):
    assert run(target="directory", directory=applied, resources=rendered("deploy"), _ansible_diff=True)["diff"] == []


# -- prune and keep_enforced ---------------------------------------------------------------------

def test_prune_deletes_managed_objects_of_the_given_tiers_only(run, applied):
    platform = [o for o in rendered("deploy", ["platform"]) if path_of(o) != DNS_PATH]
    others = {k: v for k, v in policy_tree(applied).items() if "platform" not in v.decode("utf-8")}
    result = run(target="directory", directory=applied, resources=platform, tiers=["platform"])
    assert (result["changed"], result["deleted"], result["unchanged"]) == (True, [DNS_PATH], len(platform))
    assert not os.path.exists(os.path.join(applied, DNS_PATH))
    assert {k: v for k, v in policy_tree(applied).items() if k in others} == others


def test_prune_false_keeps_objects(run, applied):
    result = run(target="directory", directory=applied, resources=[], tiers=["platform"], prune=False)
    assert (result["changed"], result["deleted"]) == (False, [])
    assert os.path.exists(os.path.join(applied, DNS_PATH))


def test_keep_enforced_never_loosens_an_enforced_catch_all(run, applied):
    run(target="directory", directory=applied, resources=rendered("enforce"))
    enforced = tree(applied)
    result = run(target="directory", directory=applied, resources=rendered("deploy"), keep_enforced=True)
    assert (result["changed"], result["kept"]) == (False, POSTURE_PATHS)
    assert tree(applied) == enforced
    loosened = run(target="directory", directory=applied, resources=rendered("deploy"))
    assert loosened["updated"] == POSTURE_PATHS


def test_unmanaged_object_is_a_conflict_unless_forced(run, applied):
    path = os.path.join(applied, DNS_PATH)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: cluster-dns\nspec: {}\n")
    before = tree(applied)
    result = run(target="directory", directory=applied, resources=rendered("deploy"))
    assert result["failed"] is True
    assert result["msg"] == ("%s: exists and is not managed by zerotrust.microseg "
                             "(app.kubernetes.io/managed-by=zerotrust.microseg); force takes it over" % DNS_PATH)
    assert tree(applied) == before
    forced = run(target="directory", directory=applied, resources=rendered("deploy"), force=True)
    assert (forced["changed"], forced["updated"]) == (True, [DNS_PATH])


# -- snapshot, restore, discard ------------------------------------------------------------------

def test_snapshot_restore_round_trip(run, applied):
    before = policy_tree(applied)
    snap = run(target="directory", directory=applied, state="snapshot")
    assert snap["changed"] is False and isinstance(snap["snapshot"], str)
    assert run(target="directory", directory=applied, resources=rendered("enforce"))["updated"] == POSTURE_PATHS
    run(target="directory", directory=applied, resources=[], tiers=["platform"])  # prune the platform tier too
    assert policy_tree(applied) != before
    # restore in check mode changes nothing (check mode never wrote anything to undo)
    changed_tree = tree(applied)
    checked = run(target="directory", directory=applied, state="restore", snapshot=snap["snapshot"], _ansible_check_mode=True)
    assert checked["changed"] is False
    assert tree(applied) == changed_tree
    restored = run(target="directory", directory=applied, state="restore", snapshot=snap["snapshot"])
    assert restored["changed"] is True
    assert restored["restored"] == sorted(POSTURE_PATHS + [DNS_PATH, "projectcalico.org/GlobalNetworkPolicy/_cluster/platform-default-pass.yaml",
                                                           "projectcalico.org/Tier/_cluster/platform.yaml"])
    assert policy_tree(applied) == before
    # a restore consumes its snapshot; discarding it afterwards (as a rescue's always-block does) is a no-op
    assert not os.path.exists(os.path.join(applied, ".microseg", "snapshots", snap["snapshot"]))
    assert run(target="directory", directory=applied, state="discard", snapshot=snap["snapshot"])["changed"] is False
    assert policy_tree(applied) == before


def test_snapshot_then_discard(run, applied):
    before = tree(applied)
    snap = run(target="directory", directory=applied, state="snapshot")["snapshot"]
    assert os.path.isdir(os.path.join(applied, ".microseg", "snapshots", snap))
    assert run(target="directory", directory=applied, state="discard", snapshot=snap, _ansible_check_mode=True)["changed"] is False
    assert os.path.isdir(os.path.join(applied, ".microseg", "snapshots", snap))
    assert run(target="directory", directory=applied, state="discard", snapshot=snap)["changed"] is False
    assert not os.path.exists(os.path.join(applied, ".microseg", "snapshots", snap))
    assert policy_tree(applied) == {k: v for k, v in before.items() if not k.startswith(".microseg" + os.sep)}


def test_restore_with_nothing_to_undo_is_unchanged(run, applied):
    snap = run(target="directory", directory=applied, state="snapshot")["snapshot"]
    result = run(target="directory", directory=applied, state="restore", snapshot=snap)
    assert (result["changed"], result["restored"]) == (False, [])


def test_snapshot_in_check_mode_writes_nothing(run, target):
    result = run(target="directory", directory=target, state="snapshot", _ansible_check_mode=True)
    assert (result["changed"], result["snapshot"]) == (False, None)
    assert not os.path.exists(target)


@pytest.mark.parametrize("state", ["restore", "discard"])
def test_restore_and_discard_without_a_snapshot_do_nothing(run, applied, state):
    before = tree(applied)
    assert run(target="directory", directory=applied, state=state)["changed"] is False
    assert tree(applied) == before


def test_restore_of_an_unknown_snapshot_fails(run, applied):
    result = run(target="directory", directory=applied, state="restore", snapshot="20200101T000000.000000Z-deadbeef")
    assert result["failed"] is True
    assert result["msg"] == "%s: no such snapshot" % os.path.join(applied, ".microseg", "snapshots", "20200101T000000.000000Z-deadbeef")


# -- failures ------------------------------------------------------------------------------------

MANAGED = {"app.kubernetes.io/managed-by": "zerotrust.microseg", "zerotrust.microseg/tier": "appsec"}


@pytest.mark.parametrize("args, message", [
    ({"resources": [{"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": {"namespace": "a", "labels": MANAGED}}]},
     "desired object #1: metadata.name: is missing or not a non-empty string"),
    ({"resources": [{"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "a"}}]},
     "projectcalico.org/NetworkPolicy/a/x.yaml: metadata.labels: lacks label app.kubernetes.io/managed-by=zerotrust.microseg"),
    ({"resources": [{"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "metadata": {"name": "x", "namespace": "a", "labels": MANAGED}}] * 2},
     "projectcalico.org/NetworkPolicy/a/x.yaml: appears more than once among the desired objects"),
    ({"resources": [{"kind": "NetworkPolicy", "metadata": {"name": "x", "labels": MANAGED}}]},
     "desired object #1: apiVersion: is missing or not a non-empty string"),
    ({"resources": [], "tiers": ["bogus"]}, "tiers: unknown tier(s) bogus; tiers are security, platform, application, appsec, default"),
])
def test_invalid_resources_fail_naming_the_field_and_write_nothing(run, applied, args, message):
    before = tree(applied)
    result = run(target="directory", directory=applied, **args)
    assert result["failed"] is True
    assert result["msg"] == message
    assert tree(applied) == before


@pytest.mark.parametrize("args, message", [
    ({"target": "directory"}, "directory: target 'directory' needs the directory option (microseg_directory)"),
    ({"kubeconfig": "/nonexistent/kubeconfig"},
     "cannot load the Kubernetes client configuration from kubeconfig /nonexistent/kubeconfig: Invalid kube-config file. No configuration found."),
])
def test_target_errors(run, args, message):
    result = run(resources=rendered("deploy"), **args)
    assert (result["failed"], result["msg"]) == (True, message)
