"""The directory-backed cluster target: read, write, delete, lock, snapshot, restore."""
import os
import threading
import time

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, TIER_LABEL, dump, identity

MANAGED = {MANAGED_BY[0]: MANAGED_BY[1]}


def _tree(root):
    """Every directory and file below root (dot-entries included): ``{relpath: bytes or None}``."""
    found = {}
    for base, _dirs, files in os.walk(root):
        rel = os.path.relpath(base, root)
        found[rel + "/"] = None
        for name in files:
            with open(os.path.join(base, name), "rb") as handle:
                found[os.path.join(rel, name)] = handle.read()
    return found


def _policy(name, namespace="hipstershop", managed=True, tier="platform", **spec):
    labels = dict(MANAGED, **{TIER_LABEL: tier}) if managed else {"owner": "someone"}
    metadata = {"name": name, "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    kind = "NetworkPolicy" if namespace else "GlobalNetworkPolicy"
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": metadata, "spec": dict(spec or {"order": 10})}


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


@pytest.fixture(name="target")
def _target(tmp_path):
    return DirectoryTarget(str(tmp_path))


def test_put_get_list_round_trip(target, tmp_path):
    obj = _policy("frontend")
    assert target.put(obj) == "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"
    path = tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"
    assert path.read_text() == dump(obj)
    assert target.get(identity(obj)) == obj
    assert target.list() == {identity(obj): obj}
    assert target.get(("projectcalico.org", "NetworkPolicy", "hipstershop", "absent")) is None


def test_put_cluster_scoped_goes_to_cluster_dir(target, tmp_path):
    target.put(_policy("deny-threats", namespace=None))
    assert (tmp_path / "projectcalico.org/GlobalNetworkPolicy/_cluster/deny-threats.yaml").is_file()
    assert list(target.list()) == [("projectcalico.org", "GlobalNetworkPolicy", "", "deny-threats")]


def test_put_is_atomic_replace_and_leaves_no_temp_files(target, tmp_path):
    target.put(_policy("frontend"))
    path = tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    target.put(_policy("frontend", order=20))
    assert path.stat().st_ino != inode
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(path.parent)) == ["frontend.yaml"]


def test_new_files_honour_the_umask(target, tmp_path):
    old = os.umask(0o022)
    try:
        target.put(_policy("frontend"))
    finally:
        os.umask(old)
    assert (tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml").stat().st_mode & 0o777 == 0o644


def test_delete_removes_file_and_empty_parents_but_not_root(target, tmp_path):
    target.put(_policy("frontend"))
    target.put(_policy("cart", namespace="other"))
    assert target.delete(identity(_policy("frontend"))) is True
    assert sorted(os.listdir(tmp_path / "projectcalico.org/NetworkPolicy")) == ["other"]
    assert target.delete(identity(_policy("cart", namespace="other"))) is True
    assert os.listdir(tmp_path) == []
    assert tmp_path.is_dir()
    assert target.delete(identity(_policy("cart", namespace="other"))) is False


def test_list_filters_by_kind_and_labels(target):
    target.put(_policy("frontend", tier="platform"))
    target.put(_policy("cart", tier="application"))
    target.put(_policy("global", namespace=None))
    target.put(_policy("foreign", managed=False))
    calico_np = ("projectcalico.org", "NetworkPolicy")
    assert sorted(name for *_ignored, name in target.list(kinds=[calico_np])) == ["cart", "foreign", "frontend"]
    assert [name for *_ignored, name in target.list(labels=dict(MANAGED, **{TIER_LABEL: "application"}))] == ["cart"]
    assert sorted(name for *_ignored, name in target.list(labels=MANAGED)) == ["cart", "frontend", "global"]
    assert target.list(kinds=[("core", "Namespace")]) == {}


def test_list_of_a_missing_root_is_empty(tmp_path):
    assert DirectoryTarget(str(tmp_path / "absent")).list() == {}


DOT_ENTRIES = [
    ".git/objects/ab/cdef.yaml",
    ".microseg/snapshots/x/y.yaml",
    "projectcalico.org/.hidden/ns/a.yaml",
    "projectcalico.org/NetworkPolicy/.ns/a.yaml",
    "projectcalico.org/NetworkPolicy/hipstershop/.frontend.yaml.tmp",
    "projectcalico.org/NetworkPolicy/hipstershop/.swp.yaml",
]


@pytest.mark.parametrize("rel", DOT_ENTRIES)
def test_dot_entries_are_never_read(target, tmp_path, rel):
    _write(str(tmp_path), rel, "not: [valid yaml\n")
    target.put(_policy("frontend"))
    assert list(target.list()) == [identity(_policy("frontend"))]


def test_non_object_files_are_ignored(target, tmp_path):
    _write(str(tmp_path), "README.md", "# GitOps repo\n")
    _write(str(tmp_path), "kustomization.yaml", "resources: []\n")
    _write(str(tmp_path), "projectcalico.org/NetworkPolicy/hipstershop/notes.txt", "x\n")
    assert target.list() == {}


BAD_FILES = [
    ("invalid yaml", "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml", "a: 1\nb: [1\nc: 2\n", "invalid YAML", 3),
    ("not a mapping", "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml", "- a\n", "exactly one object", None),
    ("wrong name", "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml", dump(_policy("cart")), "belongs at", None),
    ("wrong namespace", "projectcalico.org/NetworkPolicy/other/frontend.yaml", dump(_policy("frontend")), "belongs at", None),
    ("wrong kind dir", "projectcalico.org/GlobalNetworkPolicy/_cluster/frontend.yaml", dump(_policy("frontend")),
     "belongs at", None),
    ("no kind", "core/Namespace/_cluster/x.yaml", "apiVersion: v1\nmetadata: {name: x}\n", "kind", None),
]


@pytest.mark.parametrize("rel, text, message, line", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_bad_files_are_errors_naming_the_file(target, tmp_path, rel, text, message, line):
    path = _write(str(tmp_path), rel, text)
    with pytest.raises(InputError) as info:
        target.list()
    assert info.value.source == path
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(path + (":%d" % line if line else ""))


def test_check_mode_refuses_writes(tmp_path):
    checker = DirectoryTarget(str(tmp_path), check_mode=True)
    with pytest.raises(RuntimeError, match="check-mode"):
        checker.put(_policy("frontend"))
    with pytest.raises(RuntimeError, match="check-mode"):
        checker.delete(identity(_policy("frontend")))
    with pytest.raises(RuntimeError, match="check-mode"):
        checker.revert({})
    assert not os.listdir(tmp_path)


def test_save_and_revert_restore_bytes_and_absence(target, tmp_path):
    _write(str(tmp_path), "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml", "# hand-written\n" + dump(_policy("frontend")))
    before = _tree(str(tmp_path))
    idents = [identity(_policy("frontend")), identity(_policy("new", namespace="fresh"))]
    saved = target.save(idents)
    target.put(_policy("frontend", order=99))
    target.put(_policy("new", namespace="fresh"))
    target.revert(saved)
    assert _tree(str(tmp_path)) == before


def test_revert_restores_the_mode_of_a_deleted_file(target, tmp_path):
    target.put(_policy("frontend"))
    path = tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"
    os.chmod(path, 0o600)
    saved = target.save([identity(_policy("frontend"))])
    target.delete(identity(_policy("frontend")))
    target.revert(saved)
    assert path.stat().st_mode & 0o777 == 0o600


def test_revert_keeps_directories_that_existed_empty(target, tmp_path):
    (tmp_path / "projectcalico.org/NetworkPolicy/empty").mkdir(parents=True)
    before = _tree(str(tmp_path))
    saved = target.save([identity(_policy("x", namespace="empty"))])
    target.put(_policy("x", namespace="empty"))
    target.revert(saved)
    assert _tree(str(tmp_path)) == before


# -- lock ------------------------------------------------------------------------------


def test_lock_creates_bookkeeping_only(target, tmp_path):
    with target.lock():
        with target.lock():  # re-entrant
            pass
    assert sorted(_tree(str(tmp_path))) == ["./", ".microseg/", ".microseg/.gitignore", ".microseg/lock"]


def test_check_mode_lock_creates_nothing(tmp_path):
    with DirectoryTarget(str(tmp_path), check_mode=True).lock():
        pass
    assert not os.listdir(tmp_path)
    assert not (tmp_path / "absent").exists()
    with DirectoryTarget(str(tmp_path / "absent"), check_mode=True).lock():
        pass
    assert not (tmp_path / "absent").exists()


def test_second_lock_times_out(tmp_path):
    holder = DirectoryTarget(str(tmp_path))
    waiter = DirectoryTarget(str(tmp_path), lock_timeout=0.2)
    with holder.lock():
        started = time.monotonic()
        with pytest.raises(TargetError, match="another run holds the lock"):
            with waiter.lock():
                pass
        assert time.monotonic() - started >= 0.2
    with waiter.lock():  # free again
        pass


def test_check_mode_lock_waits_for_a_writer(tmp_path):
    holder = DirectoryTarget(str(tmp_path))
    with holder.lock():
        with pytest.raises(TargetError):
            with DirectoryTarget(str(tmp_path), check_mode=True, lock_timeout=0.1).lock():
                pass


def test_second_lock_waits_until_released(tmp_path):
    holder = DirectoryTarget(str(tmp_path))
    waiter = DirectoryTarget(str(tmp_path), lock_timeout=5)
    entered = threading.Event()
    release = threading.Event()

    def hold():
        with holder.lock():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    threading.Timer(0.2, release.set).start()
    started = time.monotonic()
    with waiter.lock():
        assert time.monotonic() - started >= 0.1
    thread.join()


# -- snapshots -------------------------------------------------------------------------


def _populate(target, tmp_path):
    """Managed objects, an unmanaged one, a hand-formatted managed file and a .git entry."""
    for name in ("a", "b", "c"):
        target.put(_policy(name))
    target.put(_policy("global", namespace=None))
    target.put(_policy("foreign", managed=False))
    _write(str(tmp_path), "projectcalico.org/NetworkPolicy/hipstershop/hand.yaml",
           "# keep these bytes\n" + dump(_policy("hand")).replace("  ", "    "))
    _write(str(tmp_path), ".git/HEAD", "ref: refs/heads/main\n")


def _without_bookkeeping(tree):
    return {rel: raw for rel, raw in tree.items() if not rel.startswith(".microseg")}


def test_snapshot_restore_round_trip_is_byte_identical(target, tmp_path):
    _populate(target, tmp_path)
    before = _without_bookkeeping(_tree(str(tmp_path)))
    snap = target.snapshot()
    target.put(_policy("a", order=99))                       # changed
    target.delete(identity(_policy("b")))                    # deleted
    target.delete(identity(_policy("global", namespace=None)))  # deleted with its directories
    target.put(_policy("d", namespace="new"))                # added
    (tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/hand.yaml").write_text(dump(_policy("hand")))  # reformatted
    changed = target.restore(snap)
    assert _without_bookkeeping(_tree(str(tmp_path))) == before
    assert changed == sorted(["projectcalico.org/NetworkPolicy/hipstershop/a.yaml",
                              "projectcalico.org/NetworkPolicy/hipstershop/b.yaml",
                              "projectcalico.org/GlobalNetworkPolicy/_cluster/global.yaml",
                              "projectcalico.org/NetworkPolicy/new/d.yaml",
                              "projectcalico.org/NetworkPolicy/hipstershop/hand.yaml"])
    assert target.restore(snap) == []


def test_restore_leaves_unmanaged_files_alone(target, tmp_path):
    _populate(target, tmp_path)
    snap = target.snapshot()
    target.put(_policy("later-foreign", managed=False))
    foreign = tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/foreign.yaml"
    foreign.write_text(dump(_policy("foreign", managed=False, order=5)))
    target.restore(snap)
    assert (tmp_path / "projectcalico.org/NetworkPolicy/hipstershop/later-foreign.yaml").is_file()
    assert foreign.read_text() == dump(_policy("foreign", managed=False, order=5))


def test_snapshot_of_selected_idents(target, tmp_path):
    _populate(target, tmp_path)
    before = _without_bookkeeping(_tree(str(tmp_path)))
    chosen = [identity(_policy("a")), identity(_policy("foreign", managed=False)), identity(_policy("z", namespace="zz"))]
    snap = target.snapshot(chosen)
    target.put(_policy("a", order=1))
    target.put(_policy("foreign", managed=False, order=1))
    target.put(_policy("z", namespace="zz"))
    target.put(_policy("b", order=1))                        # not selected: stays changed
    target.restore(snap)
    after = _without_bookkeeping(_tree(str(tmp_path)))
    changed = {rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel)}
    assert changed == {"projectcalico.org/NetworkPolicy/hipstershop/b.yaml"}


def test_restore_in_check_mode_reports_and_writes_nothing(target, tmp_path):
    _populate(target, tmp_path)
    snap = target.snapshot()
    target.put(_policy("a", order=99))
    tree = _tree(str(tmp_path))
    checker = DirectoryTarget(str(tmp_path), check_mode=True)
    assert checker.restore(snap) == ["projectcalico.org/NetworkPolicy/hipstershop/a.yaml"]
    assert checker.discard(snap) is False
    assert _tree(str(tmp_path)) == tree


def test_check_mode_snapshot_writes_nothing(target, tmp_path):
    _populate(target, tmp_path)
    tree = _tree(str(tmp_path))
    checker = DirectoryTarget(str(tmp_path), check_mode=True)
    assert checker.snapshot() is None
    assert checker.restore(None) == []
    assert _tree(str(tmp_path)) == tree


def test_snapshot_layout_ids_and_discard(target, tmp_path):
    _populate(target, tmp_path)
    first, second = target.snapshot(), target.snapshot()
    assert first < second
    assert target.snapshots() == [first, second]
    assert (tmp_path / ".microseg/snapshots" / first / "manifest.json").is_file()
    assert (tmp_path / ".microseg/snapshots" / first / "files/projectcalico.org/NetworkPolicy/hipstershop/a.yaml").is_file()
    assert not (tmp_path / ".microseg/snapshots" / first / "files/projectcalico.org/NetworkPolicy/hipstershop/foreign.yaml").exists()
    assert target.discard(first) is True
    assert target.discard(first) is False
    assert target.snapshots() == [second]


@pytest.mark.parametrize("snap_id", ["nope", "../../etc", "20240101T000000.000000Z-deadbeef"])
def test_restore_of_an_unknown_snapshot_is_an_error(target, snap_id):
    with pytest.raises(TargetError, match="no such snapshot"):
        target.restore(snap_id)


def test_corrupt_snapshot_is_refused(target, tmp_path):
    _populate(target, tmp_path)
    snap = target.snapshot()
    (tmp_path / ".microseg/snapshots" / snap / "files/projectcalico.org/NetworkPolicy/hipstershop/a.yaml").write_text("x")
    with pytest.raises(TargetError, match="corrupt"):
        target.restore(snap)


def test_restore_skips_unreadable_files_it_does_not_own(target, tmp_path):
    _populate(target, tmp_path)
    snap = target.snapshot()
    broken = _write(str(tmp_path), "projectcalico.org/NetworkPolicy/hipstershop/broken.yaml", "a: [\n")
    target.restore(snap)
    assert os.path.isfile(broken)


def test_repeated_listings_give_independent_copies_and_see_changed_files(target, tmp_path):
    obj = _policy("frontend", order=10)
    target.put(obj)
    first = target.list()[identity(obj)]
    first["spec"]["order"] = 99             # a caller changing what it got changes nothing for the next one
    first["metadata"]["labels"]["x"] = "y"
    assert target.list()[identity(obj)] == obj
    assert target.get(identity(obj)) == obj
    changed = _policy("frontend", order=20)
    _write(str(tmp_path), "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml", dump(changed))   # written by someone else
    assert target.list()[identity(obj)] == changed
    _write(str(tmp_path), "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml", "kind: [\n")
    with pytest.raises(InputError):
        target.list()
