"""A run that died mid-phase (SIGKILL) and the next run's recovery, on both targets: the lock taken over, the target
restored to before the interrupted phase, leftovers discarded, half-written bookkeeping removed, a warning; check mode
only warns."""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import apply as apply_module
from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects, apply_with_rollback, recover
from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.locking import process_gone
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, SERVER_METADATA, TIER_LABEL
from ansible_collections.zerotrust.microseg.plugins.module_utils.phases import ClusterRun
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan

CALICO = "projectcalico.org/v3"
SCOPE = [{TIER_LABEL: "platform"}]
_HERE = apply_module.__file__
COLLECTIONS = _HERE[:_HERE.rindex(os.sep + "ansible_collections" + os.sep)]

# The child: the real phase path (apply_with_rollback) on a fresh target, killed by SIGKILL right before write number
# ``die_at`` (counted over puts and deletes): what a controller that dies mid-phase leaves behind.
CHILD = r"""
import json, os, signal, sys, threading
from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_with_rollback
spec = json.loads(sys.argv[1])
if "root" in spec:
    from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
    target = DirectoryTarget(spec["root"])
else:
    from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import ClusterTarget
    target = ClusterTarget(kubeconfig=spec["kubeconfig"], state_dir=spec["state_dir"])
count, guard = [0], threading.Lock()
def dying(real):
    def call(argument):
        with guard:
            count[0] += 1
            if count[0] == spec["die_at"]:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(argument)
    return call
target.put, target.delete = dying(target.put), dying(target.delete)
if spec.get("snapshot", True):
    apply_with_rollback(target, spec["objects"], spec["scope"], label=spec["phase"])
else:
    with target.lock(spec["phase"]):
        os.kill(os.getpid(), signal.SIGKILL)
"""


def die_mid_phase(phase="deploy", objects=(), die_at=1, snapshot=True, scope=None, **where):
    """Run a phase in a child process that is SIGKILLed before its ``die_at``-th write; returns its pid."""
    spec = dict(where, phase=phase, objects=list(objects), scope=SCOPE if scope is None else scope, die_at=die_at, snapshot=snapshot)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec)], env=env, stderr=subprocess.PIPE)
    _out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err.decode()
    return child.pid


def obj(name, namespace="shop", tier="platform", **spec):
    labels = {TIER_LABEL: tier, MANAGED_BY[0]: MANAGED_BY[1]}
    metadata = {"name": name, "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    kind = "NetworkPolicy" if namespace else "GlobalNetworkPolicy"
    return {"apiVersion": CALICO, "kind": kind, "metadata": metadata, "spec": dict(spec or {"order": 100})}


def before_set():
    return [obj("keep-%d" % index) for index in range(4)] + [obj("gone-%d" % index, namespace="old") for index in range(3)]


def after_set():
    """Updates the four kept ones, creates six (one in a new namespace), prunes the three old ones: 13 writes."""
    return [obj("keep-%d" % index, order=200 + index) for index in range(4)] + [obj("new-%d" % index, namespace="fresh") for index in range(6)]


def files(root, bookkeeping=False):
    """Every file below root -> bytes (without .microseg/ unless asked)."""
    found = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(base, name), root)
            if bookkeeping or not rel.startswith(".microseg"):
                with open(os.path.join(base, name), "rb") as handle:
                    found[rel] = handle.read()
    return found


def dirs(root):
    return sorted(os.path.relpath(base, root) for base, _dirs, _names in os.walk(root) if not base.startswith(os.path.join(root, ".microseg")))


@pytest.fixture(name="root")
def _root(tmp_path):
    root = str(tmp_path / "cluster")
    apply_with_rollback(DirectoryTarget(root), before_set(), SCOPE, label="deploy")
    return root


@pytest.fixture(name="clean")
def _clean(tmp_path):
    """The directory a clean run leaves: before_set, then after_set, never interrupted."""
    root = str(tmp_path / "clean")
    apply_with_rollback(DirectoryTarget(root), before_set(), SCOPE, label="deploy")
    apply_with_rollback(DirectoryTarget(root), after_set(), SCOPE, label="deploy")
    return root


# -- the lock ---------------------------------------------------------------------------------------------------------

def test_a_killed_holder_leaves_its_name_in_a_lock_the_next_run_takes_over(root):
    pid = die_mid_phase("enforce", snapshot=False, root=root)
    with open(os.path.join(root, ".microseg", "lock"), encoding="utf-8") as handle:
        left = json.load(handle)
    assert (left["pid"], left["phase"]) == (pid, "enforce") and process_gone(left)
    target = DirectoryTarget(root, lock_timeout=1)
    with target.lock("deploy"):
        assert target.stale_holder() == left
        assert target.stale_holder() is None                 # handed over once
    assert os.path.getsize(os.path.join(root, ".microseg", "lock")) == 0   # a clean release leaves no name


def test_a_lock_held_without_a_phase_writes_nothing_and_a_live_holder_is_named_when_it_blocks(root):
    lock = os.path.join(root, ".microseg", "lock")
    with DirectoryTarget(root).lock():
        assert os.path.getsize(lock) == 0
    with DirectoryTarget(root).lock("deploy"):
        with pytest.raises(TargetError, match=r"another run holds the lock \(waited 0.1s\): pid %d on .* \(deploy, since " % os.getpid()):
            with DirectoryTarget(root, lock_timeout=0.1).lock():
                pass


def test_only_a_lock_left_behind_is_said_and_taken_over_with_nothing_to_restore(root):
    pid = die_mid_phase("remediate", snapshot=False, root=root)
    before = files(root)
    result = apply_with_rollback(DirectoryTarget(root), before_set(), SCOPE, label="deploy")
    assert result.warnings == [
        "interrupted run of remediate found (lock held by pid %d on %s (remediate, since %s); its process is gone): it left no snapshot, "
        "so there was nothing to restore; the lock was taken over and this run converges the target"
        % (pid, os.uname().nodename, result.warnings[0].split("since ")[1].split(")")[0])]
    assert files(root) == before and not result.changed
    assert apply_with_rollback(DirectoryTarget(root), before_set(), SCOPE, label="deploy").warnings == []


# -- directory target -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("die_at", [1, 2, 5, 11, 13])
def test_directory_a_phase_killed_at_any_write_is_restored_then_applied_as_a_clean_run(root, clean, die_at):
    before = files(root)
    pid = die_mid_phase("deploy", after_set(), die_at=die_at, root=root)
    target = DirectoryTarget(root)
    [left] = target.leftovers()
    assert (left["label"], left["pid"]) == ("deploy", pid)
    if die_at > 1:
        assert files(root) != before, "the child must have written part of the phase"
    recovered = DirectoryTarget(root)
    warnings = recover(recovered)
    assert warnings == ["interrupted run of deploy found (snapshot %s taken %s by pid %d on %s): the target was restored to before it "
                        "(%d object(s) reverted) and the snapshot discarded; the lock it held was taken over"
                        % (left["id"], left["created"], pid, os.uname().nodename, die_at - 1)]
    assert files(root) == before and recovered.leftovers() == [] and recover(DirectoryTarget(root)) == []
    result = apply_with_rollback(DirectoryTarget(root), after_set(), SCOPE, label="deploy")
    assert result.warnings == [] and files(root) == files(clean) and dirs(root) == dirs(clean)
    assert not apply_with_rollback(DirectoryTarget(root), after_set(), SCOPE, label="deploy").changed


def test_directory_the_phase_itself_recovers_first_and_says_so(root, clean):
    die_mid_phase("enforce", after_set(), die_at=7, root=root)
    result = apply_with_rollback(DirectoryTarget(root), after_set(), SCOPE, label="deploy")
    assert len(result.warnings) == 1 and result.warnings[0].startswith("interrupted run of enforce found (snapshot ")
    assert "the target was restored to before it (6 object(s) reverted)" in result.warnings[0]
    # the apply ran against the restored target: it reports the whole phase, as a clean run does
    assert (len(result.created), len(result.updated), len(result.deleted)) == (6, 4, 3)
    assert files(root) == files(clean) and DirectoryTarget(root).snapshots() == []


def test_directory_check_mode_warns_writes_nothing_and_diffs_the_target_as_it_is(root):
    die_mid_phase("deploy", after_set(), die_at=6, root=root)
    everything = files(root, bookkeeping=True)
    checker = DirectoryTarget(root, check_mode=True)
    result = apply_with_rollback(checker, after_set(), SCOPE, label="deploy")
    [warning] = result.warnings
    assert warning.startswith("interrupted run of deploy found (snapshot ")
    assert warning.endswith(": a real run restores it first (5 object(s) differ from it); until then this diff is against the target as it is")
    assert files(root, bookkeeping=True) == everything
    as_it_is = apply_objects(DirectoryTarget(root, check_mode=True), after_set(), scope=SCOPE)
    assert (result.created, result.updated, result.deleted) == (as_it_is.created, as_it_is.updated, as_it_is.deleted)
    assert apply_with_rollback(checker, after_set(), SCOPE, label="deploy").warnings == []   # said once per run
    assert recover(DirectoryTarget(root)) and files(root) != everything                       # a real run restores


def test_directory_the_oldest_leftover_is_restored_and_every_leftover_discarded(root):
    before = files(root)
    target = DirectoryTarget(root)
    first = target.snapshot(None, label="deploy")
    target.put(obj("keep-0", order=1))
    second = target.snapshot(None, label="enforce")
    target.put(obj("keep-1", order=1))
    [warning] = recover(DirectoryTarget(root))
    assert warning.startswith("interrupted run of deploy found (snapshot %s " % first)
    assert "restored to before it (2 object(s) reverted) and the snapshot and 1 later leftover snapshot(s) discarded" in warning
    assert files(root) == before and target.snapshots() == [] and second not in os.listdir(os.path.join(root, ".microseg", "snapshots"))


def test_directory_a_snapshot_taken_on_request_is_not_a_leftover(root):
    target = DirectoryTarget(root)
    kept = target.snapshot()                                  # policy_apply state=snapshot: the caller restores or discards it
    target.put(obj("keep-0", order=1))
    result = apply_with_rollback(DirectoryTarget(root), after_set(), SCOPE, label="deploy")
    assert result.warnings == [] and target.snapshots() == [kept] and target.leftovers() == []


def test_directory_half_written_bookkeeping_and_temp_files_are_removed_silently(root):
    staging = os.path.join(root, ".microseg", "snapshots", ".20240101T000000.000000Z-0123abcd")
    os.makedirs(os.path.join(staging, "files"))
    temp = os.path.join(root, "projectcalico.org", "NetworkPolicy", "brand-new", ".k2j_8x9q.tmp")
    os.makedirs(os.path.dirname(temp))
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write("apiVersion: projectcalico.org/v3\nkind: Netw")
    theirs = os.path.join(root, "projectcalico.org", "NetworkPolicy", "shop", ".editor-swap.tmp")
    with open(theirs, "w", encoding="utf-8") as handle:
        handle.write("not ours")
    os.makedirs(os.path.join(root, ".git"))
    target = DirectoryTarget(root)
    assert sorted(target.debris()) == sorted([staging, temp])
    assert DirectoryTarget(root, check_mode=True).clean_debris() == [] and os.path.exists(temp)
    assert recover(target) == []
    assert not os.path.exists(staging) and not os.path.exists(os.path.dirname(temp)) and os.path.exists(theirs)
    assert os.path.isdir(os.path.join(root, ".git"))


def test_directory_nothing_left_behind_means_no_warning_and_no_write(root):
    everything = files(root, bookkeeping=True)
    assert recover(DirectoryTarget(root)) == [] and recover(DirectoryTarget(root, check_mode=True)) == []
    assert files(root, bookkeeping=True) == everything
    assert apply_with_rollback(DirectoryTarget(root), before_set(), SCOPE, label="deploy").warnings == []


def test_directory_a_restore_that_fails_keeps_the_snapshot_for_the_next_run(root, monkeypatch):
    die_mid_phase("deploy", after_set(), die_at=4, root=root)
    target = DirectoryTarget(root)

    def broken(snap_id):
        raise TargetError("disk gone")

    monkeypatch.setattr(target, "restore", broken)
    with pytest.raises(TargetError, match=r"^interrupted run of deploy found \(snapshot .*\), but restoring the target to before it failed: "
                                          r"disk gone; the snapshot is kept for the next run$"):
        apply_with_rollback(target, after_set(), SCOPE, label="deploy")
    assert len(DirectoryTarget(root).leftovers()) == 1
    assert recover(DirectoryTarget(root))[0].startswith("interrupted run of deploy found")


# -- the phases of one cluster ----------------------------------------------------------------------------------------

APPS = [{"name": "shop", "tenant": "t", "flows": [{"source": "web", "destination": "db", "port": 5432}]}]
VARIABLES = {"microseg_apps": APPS, "microseg_tenants": [{"name": "t", "namespaces": ["shop"]}],
             "microseg_observed_flows": [{"source": "shop/web", "destination": "shop/db", "port": 5432}]}


def cluster_run(base, check_mode=False, **variables):
    intent = load_intent(dict(VARIABLES, **variables), str(base))
    return ClusterRun(intent, DirectoryTarget(str(base / "cluster"), check_mode=check_mode), "c1", "reports")


def test_a_phase_passes_the_recovery_on_as_its_warning_once_and_keeps_it_when_it_fails(tmp_path):
    cluster_run(tmp_path).run(["deploy"])
    before = files(str(tmp_path / "cluster"))
    enforced = cluster_run(tmp_path).run(["enforce"])
    assert enforced["enforce"]["changed"]
    after_enforce = files(str(tmp_path / "cluster"))
    for rel, raw in before.items():                        # back to deploy's state, as the restore will leave it
        with open(os.path.join(tmp_path, "cluster", rel), "wb") as handle:
            handle.write(raw)
    plan = cluster_run(tmp_path)
    enforce = make_plan(plan.intent, "enforce", flows=plan.declared)
    die_mid_phase("enforce", enforce.objects, die_at=2, scope=enforce.scope, root=str(tmp_path / "cluster"))
    checked = cluster_run(tmp_path, check_mode=True).run(["deploy", "enforce", "remediate"])
    assert [warning for warning in checked["deploy"]["warnings"] if "interrupted run of enforce found" in warning]
    assert not [warning for phase in ("enforce", "remediate") for warning in checked[phase]["warnings"] if "interrupted" in warning]
    refused = cluster_run(tmp_path, microseg_observed_flows=[{"source": "shop/web", "destination": "shop/cache", "port": 6379}])
    results = refused.run(["enforce"])
    assert results["enforce"]["failed"] and "enforce refused" in results["enforce"]["msg"]
    assert results["enforce"]["warnings"][0].startswith("interrupted run of enforce found (snapshot ")
    assert files(str(tmp_path / "cluster")) == before      # restored to before the interrupted enforce, then refused
    again = cluster_run(tmp_path).run(["enforce"])
    assert not [warning for warning in again["enforce"]["warnings"] if "interrupted" in warning]
    assert files(str(tmp_path / "cluster")) == after_enforce


def test_remediate_recovers_before_it_judges_the_live_set(tmp_path):
    cluster_run(tmp_path).run(["deploy", "enforce"])
    enforced = files(str(tmp_path / "cluster"))
    # a dying deploy loosens the catch-alls part-way: judged as it is, some denied flows would look allowed
    plan = cluster_run(tmp_path)
    deploy = make_plan(plan.intent, "deploy", flows=plan.declared)
    die_mid_phase("deploy", deploy.objects, die_at=2, scope=deploy.scope, root=str(tmp_path / "cluster"))
    assert files(str(tmp_path / "cluster")) != enforced
    results = cluster_run(tmp_path).run(["remediate"])
    assert results["remediate"]["warnings"][0].startswith("interrupted run of deploy found (snapshot ")
    staged = {rel for rel in files(str(tmp_path / "cluster")) if "/Staged" in rel}
    assert {rel: raw for rel, raw in files(str(tmp_path / "cluster")).items() if rel not in staged} == enforced


# -- cluster target (a loopback FakeKube) -----------------------------------------------------------------------------

@pytest.fixture(name="kube")
def _kube(tmp_path):
    pytest.importorskip("kubernetes")
    from ansible_collections.zerotrust.microseg.tests.fake_kube.server import FakeKube
    with FakeKube() as fake:
        fake.seed({"apiVersion": CALICO, "kind": "Tier", "metadata": {"name": "default"}, "spec": {"order": 1000000}})
        yield fake, fake.write_kubeconfig(tmp_path / "kubeconfig"), str(tmp_path / "state")


def cluster_target(kube, **kwargs):
    from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import ClusterTarget
    _fake, kubeconfig, state_dir = kube
    return ClusterTarget(kubeconfig=kubeconfig, state_dir=kwargs.pop("state_dir", state_dir), **kwargs)


def content(kube):
    """Our objects as stored, without what the server owns."""
    target = cluster_target(kube)
    found = target.list(kinds=target.managed_kinds, labels=dict([MANAGED_BY]))
    objects = []
    for ident in sorted(found):
        stored = dict(found[ident])
        stored["metadata"] = {key: value for key, value in stored["metadata"].items() if key not in SERVER_METADATA}
        stored.pop("status", None)
        objects.append(stored)
    return json.dumps(objects, sort_keys=True)


@pytest.mark.parametrize("die_at", [5, 9, 13])   # up to 4 writes go out at once: the 5th starts only once one is done
def test_cluster_a_phase_killed_mid_apply_is_restored_then_applied_as_a_clean_run(kube, tmp_path, die_at):
    fake, kubeconfig, state_dir = kube
    apply_with_rollback(cluster_target(kube), before_set(), SCOPE, label="deploy")
    before = content(kube)
    pid = die_mid_phase("deploy", after_set(), die_at=die_at, kubeconfig=kubeconfig, state_dir=state_dir)
    [left] = cluster_target(kube).leftovers()
    assert (left["label"], left["pid"], left["server"]) == ("deploy", pid, fake.url)
    assert content(kube) != before, "the child must have written part of the phase"
    assert os.path.exists(os.path.join(state_dir, "lock"))
    writes = len(fake.mutations())
    checked = apply_with_rollback(cluster_target(kube, check_mode=True), after_set(), SCOPE, label="deploy")
    assert checked.warnings[0].startswith("interrupted run of deploy found (snapshot %s taken %s by pid %d on " % (left["id"], left["created"], pid))
    assert "a real run restores it first" in checked.warnings[0]
    assert fake.mutations(dry_run=False)[writes:] == [] and cluster_target(kube).leftovers() == [left]
    result = apply_with_rollback(cluster_target(kube), after_set(), SCOPE, label="deploy")
    assert result.warnings[0].startswith("interrupted run of deploy found (snapshot %s " % left["id"])
    assert "the target was restored to before it" in result.warnings[0] and result.warnings[0].endswith("; the lock it held was taken over")
    assert (len(result.created), len(result.updated), len(result.deleted)) == (6, 4, 3)
    assert cluster_target(kube).snapshots() == [] and sorted(os.listdir(state_dir)) == ["lock"]
    clean_kube = pytest.importorskip("ansible_collections.zerotrust.microseg.tests.fake_kube.server").FakeKube()
    with clean_kube as other:
        other.seed({"apiVersion": CALICO, "kind": "Tier", "metadata": {"name": "default"}, "spec": {"order": 1000000}})
        clean = (other, other.write_kubeconfig(tmp_path / "clean-kubeconfig"), str(tmp_path / "clean-state"))
        apply_with_rollback(cluster_target(clean), before_set(), SCOPE, label="deploy")
        apply_with_rollback(cluster_target(clean), after_set(), SCOPE, label="deploy")
        assert content(kube) == content(clean)
    writes = len(fake.mutations())
    assert not apply_with_rollback(cluster_target(kube), after_set(), SCOPE, label="deploy").changed
    assert len(fake.mutations()) == writes


def test_cluster_recovery_puts_back_exactly_the_state_before_the_phase(kube):
    fake, kubeconfig, state_dir = kube
    apply_with_rollback(cluster_target(kube), before_set(), SCOPE, label="deploy")
    before = content(kube)
    die_mid_phase("enforce", after_set(), die_at=8, kubeconfig=kubeconfig, state_dir=state_dir)
    [warning] = recover(cluster_target(kube))
    assert warning.startswith("interrupted run of enforce found (snapshot ")
    put_back = int(re.search(r"restored to before it \((\d+) object\(s\) reverted\)", warning).group(1))
    assert 4 <= put_back <= 7                 # 4 writes go out at once: of the 7 begun, the last may not have landed
    assert content(kube) == before and recover(cluster_target(kube)) == []


def test_cluster_only_this_servers_labelled_snapshots_are_leftovers_and_temp_files_are_removed(kube, tmp_path):
    target = cluster_target(kube)
    on_request = target.snapshot()
    phase = target.snapshot(None, label="deploy")
    other_server = os.path.join(target.state_dir, "20240101T000000.000000Z-0123abcd.json")
    with open(os.path.join(target.state_dir, phase + ".json"), encoding="utf-8") as handle:
        record = json.load(handle)
    with open(other_server, "w", encoding="utf-8") as handle:
        json.dump(dict(record, id="20240101T000000.000000Z-0123abcd", server="https://elsewhere:6443"), handle)
    temp = os.path.join(target.state_dir, ".a1b2c3d4.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write("{\"objects\": [")
    assert [left["id"] for left in target.leftovers()] == [phase]
    assert target.debris() == [temp] and cluster_target(kube, check_mode=True).clean_debris() == []
    assert recover(target)[0].startswith("interrupted run of deploy found (snapshot %s " % phase)
    assert sorted(target.snapshots()) == sorted([on_request, "20240101T000000.000000Z-0123abcd"]) and not os.path.exists(temp)


def test_cluster_check_mode_without_a_state_dir_finds_nothing_and_writes_nothing(kube, tmp_path):
    target = cluster_target(kube, check_mode=True, state_dir=str(tmp_path / "absent"))
    assert recover(target) == [] and not os.path.exists(tmp_path / "absent")
