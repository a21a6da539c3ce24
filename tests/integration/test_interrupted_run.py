"""A controller that dies mid-phase: a real ansible-playbook killed (SIGKILL, its whole process tree) during a large
deploy, then the next run: it says "interrupted run of deploy found ...", takes the lock over, restores the target to
before the interrupted phase, deploys, and the result equals a clean deploy; a run after that changes nothing. On the
directory target (the lab) and on the cluster target (the lab against the fake API server)."""
import glob
import json
import os
import signal
import subprocess
import time


from conftest import copy_lab, playbook_command, policy_tree, run_playbook, tree
from kube_cluster import Cluster, needs_fake, on_cluster

from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, SERVER_METADATA

# A test-only hook (tests/integration/slow_writes/sitecustomize.py): every object write of the directory target sleeps
# this long, so that the lab's deploy (33 objects) takes seconds and can be killed in the middle.
SLOW = {"PYTHONPATH": os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow_writes"), "MICROSEG_TEST_WRITE_DELAY": "0.1"}
HELD = 0.3   # the fake API server holds every apply this long (4 go out at once)


def flat(text):
    """Output with Ansible's line wrapping undone."""
    return " ".join(text.split())


def wait_until(condition, proc, what, timeout=90):
    """Poll until ``condition()``; the run must still be going."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError("the run ended (rc %s) before %s:\n%s" % (proc.returncode, what, proc.stdout.read()))
        if time.monotonic() > deadline:
            raise AssertionError("no %s after %ss" % (what, timeout))
        time.sleep(0.02)


def start(inventory, *args, env=None):
    """ansible-playbook in its own process group."""
    cmd, environment = playbook_command(inventory, *args, env=env)
    return subprocess.Popen(cmd, cwd=inventory, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _process_table():
    """``{pid: (parent pid, state)}`` of every process, from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def _descendants(pid):
    """The pids below ``pid``: Ansible's workers call setsid(), so its process group does not hold them all."""
    table = _process_table()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _state) in table.items():
            if ppid == parent and child not in found:
                found.append(child)
                todo.append(child)
    return found


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def kill(proc):
    """SIGKILL the whole run, as when the controller dies: ansible-playbook, its workers (each in a session of its own)
    and the module process. The tree is frozen first, so that nothing forks or writes on while it is collected."""
    os.killpg(proc.pid, signal.SIGSTOP)
    frozen = set()
    while True:
        tree_now = set(_descendants(proc.pid))
        if tree_now <= frozen:
            break
        for pid in tree_now - frozen:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        frozen |= tree_now
    assert frozen, "the run had started no worker or module process yet"
    for pid in sorted(frozen) + [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in frozen):
        assert time.monotonic() < deadline, "processes of the killed run are still alive"
        time.sleep(0.05)
    out = proc.stdout.read()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and "PLAY RECAP" not in out, out
    return out


def lock_holder(path):
    """The run the lock file names (a dead one after the kill), or None when it is empty."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return json.loads(text) if text.strip() else None


# -- directory target -------------------------------------------------------------------------------------------------

def snapshot_dirs(cluster):
    base = os.path.join(cluster, ".microseg", "snapshots")
    return sorted(name for name in os.listdir(base) if not name.startswith(".")) if os.path.isdir(base) else []


def policy_files_written(cluster, initial):
    """The policy files written since ``initial``: not our temp files (``.<name>...``), which a kill may cut short too."""
    return {rel for rel in set(policy_tree(cluster)) - set(initial) if not os.path.basename(rel).startswith(".")}


def test_a_deploy_killed_mid_apply_on_the_directory_is_recovered_and_equals_a_clean_deploy(lab, tmp_path):
    clean = copy_lab(tmp_path / "clean")
    assert run_playbook(clean, "--tags", "deploy").rc == 0
    expected = policy_tree(os.path.join(clean, "cluster"))
    cluster = os.path.join(lab, "cluster")
    initial = policy_tree(cluster)
    policies = len(set(expected) - set(initial))
    assert policies >= 30

    proc = start(lab, "--tags", "deploy", env=SLOW)
    wait_until(lambda: snapshot_dirs(cluster) and len(policy_files_written(cluster, initial)) >= 5, proc, "snapshot and five policy files")
    kill(proc)

    written = policy_files_written(cluster, initial)
    assert 5 <= len(written) < policies, "the kill must leave the deploy half-written"
    [snap_id] = snapshot_dirs(cluster)
    with open(os.path.join(cluster, ".microseg", "snapshots", snap_id, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    holder = lock_holder(os.path.join(cluster, ".microseg", "lock"))
    assert manifest["label"] == holder["phase"] == "deploy" and manifest["pid"] == holder["pid"]

    everything = tree(lab)
    check = run_playbook(lab, "--check", "--diff", "--tags", "deploy")
    assert check.rc == 0, check.out
    assert "interrupted run of deploy found (snapshot %s taken %s by pid %d" % (snap_id, manifest["created"], manifest["pid"]) in flat(check.out), check.out
    assert "a real run restores it first (%d object(s) differ from it)" % len(written) in flat(check.out), check.out
    assert tree(lab) == everything, "check mode must write nothing"

    second = run_playbook(lab, "--tags", "deploy")
    assert second.rc == 0, second.out
    said = flat(second.out)
    assert "[WARNING]: interrupted run of deploy found (snapshot %s taken %s by pid %d" % (snap_id, manifest["created"], manifest["pid"]) in said
    assert ("the target was restored to before it (%d object(s) reverted) and the snapshot discarded; the lock it held was taken over"
            % len(written)) in said, second.out
    assert snapshot_dirs(cluster) == [] and lock_holder(os.path.join(cluster, ".microseg", "lock")) is None
    assert os.listdir(os.path.join(cluster, ".microseg", "snapshots")) == []
    assert policy_tree(cluster) == expected

    third = run_playbook(lab, "--tags", "deploy")
    assert third.rc == 0 and third.changed == 0, third.out
    assert "interrupted" not in third.out and policy_tree(cluster) == expected


# -- cluster target (the fake API server) -----------------------------------------------------------------------------

def stored(kube):
    """Our objects as the fake stores them, without what the server owns."""
    found = []
    for obj in kube.fake.objects():
        if (obj["metadata"].get("labels") or {}).get(MANAGED_BY[0]) == MANAGED_BY[1]:
            obj["metadata"] = {key: value for key, value in obj["metadata"].items() if key not in SERVER_METADATA}
            obj.pop("status", None)
            found.append(obj)
    return json.dumps(found, sort_keys=True)


def state_files(home):
    """``(state directory, snapshot files)`` of the controller whose HOME is ``home``; (None, []) before any."""
    found = glob.glob(os.path.join(home, ".ansible", "zerotrust.microseg", "snapshots", "*"))
    if not found:
        return None, []
    return found[0], sorted(name for name in os.listdir(found[0]) if name.endswith(".json"))


@needs_fake
def test_a_deploy_killed_mid_apply_on_the_cluster_is_recovered_and_equals_a_clean_deploy(lab, tmp_path):
    kube, reference = Cluster(tmp_path / "kube"), Cluster(tmp_path / "reference")
    try:
        clean = copy_lab(tmp_path / "clean")
        on_cluster(clean, reference)
        assert run_playbook(clean, "--tags", "deploy", env={"HOME": str(tmp_path / "clean-home")}).rc == 0
        expected = stored(reference)
        policies = len(json.loads(expected))
        assert policies >= 30

        on_cluster(lab, kube)
        home = str(tmp_path / "home")
        kube.fake.fail(method="PATCH", status=None, delay=HELD, times=None)
        proc = start(lab, "--tags", "deploy", env={"HOME": home})
        wait_until(lambda: state_files(home)[1] and len(json.loads(stored(kube))) >= 6, proc, "snapshot and six stored objects")
        kill(proc)
        time.sleep(HELD + 0.5)          # the applies in flight when the controller died still land, as on a real server
        kube.fake.clear_faults()

        half = json.loads(stored(kube))
        assert 6 <= len(half) < policies, "the kill must leave the deploy half-written"
        state_dir, [snapshot] = state_files(home)
        with open(os.path.join(state_dir, snapshot), encoding="utf-8") as handle:
            record = json.load(handle)
        holder = lock_holder(os.path.join(state_dir, "lock"))
        assert record["label"] == holder["phase"] == "deploy" and record["pid"] == holder["pid"]

        dump = kube.fake.dump()
        check = run_playbook(lab, "--check", "--tags", "deploy", env={"HOME": home})
        assert check.rc == 0, check.out
        assert "interrupted run of deploy found (snapshot %s" % record["id"] in flat(check.out) and "a real run restores it first" in flat(check.out)
        assert kube.fake.dump() == dump and state_files(home)[1] == [snapshot]

        second = run_playbook(lab, "--tags", "deploy", env={"HOME": home})
        assert second.rc == 0, second.out
        said = flat(second.out)
        assert "[WARNING]: interrupted run of deploy found (snapshot %s taken %s by pid %d" % (record["id"], record["created"], record["pid"]) in said
        assert "the target was restored to before it (%d object(s) reverted)" % len(half) in said, second.out
        assert state_files(home)[1] == [] and sorted(os.listdir(state_dir)) == ["lock"] and lock_holder(os.path.join(state_dir, "lock")) is None
        assert stored(kube) == expected

        writes = len(kube.fake.mutations())
        third = run_playbook(lab, "--tags", "deploy", env={"HOME": home})
        assert third.rc == 0 and third.changed == 0, third.out
        assert "interrupted" not in third.out and len(kube.fake.mutations()) == writes and stored(kube) == expected
    finally:
        kube.close()
        reference.close()
