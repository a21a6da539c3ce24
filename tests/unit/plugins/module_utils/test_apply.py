"""The apply engine against the directory target: create, update, prune, check mode, rollback."""
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import ApplyResult, apply_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, POSTURE_LABEL, TIER_LABEL, diff_entry, dump, identity)

CALICO = "projectcalico.org/v3"


def _tree(root):
    """Every directory and file below root (dot-entries included): ``{relpath: bytes or None}``."""
    found = {}
    for base, _dirs, files in os.walk(root):
        rel = os.path.relpath(base, root)
        found[rel + "/"] = None
        for name in files:
            with open(os.path.join(base, name), "rb") as handle:
                found[os.path.normpath(os.path.join(rel, name))] = handle.read()
    return found


def _stats(root):
    """Inode and mtime of every entry below root."""
    stats = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            info = os.stat(os.path.join(base, name))
            stats[os.path.join(base, name)] = (info.st_ino, info.st_mtime_ns)
    return stats


def _obj(kind, name, namespace=None, tier="platform", managed=True, posture=None, **spec):
    labels = {TIER_LABEL: tier}
    if managed:
        labels[MANAGED_BY[0]] = MANAGED_BY[1]
    if posture:
        labels[POSTURE_LABEL] = posture
    metadata = {"name": name, "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": CALICO, "kind": kind, "metadata": metadata, "spec": dict(spec or {"order": 100})}


def _np(name, namespace="hipstershop", **kwargs):
    return _obj("NetworkPolicy", name, namespace, **kwargs)


def _gnp(name, **kwargs):
    return _obj("GlobalNetworkPolicy", name, **kwargs)


def _rel(obj):
    group, kind, namespace, name = identity(obj)
    return "%s/%s/%s/%s.yaml" % (group, kind, namespace or "_cluster", name)


def _seed(root, objects):
    """Write objects straight to disk (not through the engine or the target)."""
    for obj in objects:
        path = os.path.join(root, _rel(obj))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dump(obj))


@pytest.fixture(name="root")
def _root(tmp_path):
    return str(tmp_path)


def test_create_writes_one_canonical_file_per_object(root):
    desired = [_np("frontend"), _gnp("deny-threats"), _obj("Tier", "platform")]
    result = apply_objects(DirectoryTarget(root), desired)
    assert result.changed and result.updated == [] and result.deleted == [] and result.unchanged == 0
    assert result.created == ["projectcalico.org/Tier/_cluster/platform.yaml",
                              "projectcalico.org/GlobalNetworkPolicy/_cluster/deny-threats.yaml",
                              "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"]
    for obj in desired:
        with open(os.path.join(root, _rel(obj)), encoding="utf-8") as handle:
            assert handle.read() == dump(obj)
    assert result.diff == [diff_entry(identity(obj), None, obj) for obj in (desired[2], desired[1], desired[0])]


def test_identical_rerun_writes_nothing(root, monkeypatch):
    desired = [_np("frontend"), _np("cart"), _gnp("deny-threats"), _obj("Tier", "platform")]
    apply_objects(DirectoryTarget(root), desired)
    stats, tree = _stats(root), _tree(root)
    target = DirectoryTarget(root)
    monkeypatch.setattr(target, "put", lambda obj: pytest.fail("put called"))
    monkeypatch.setattr(target, "delete", lambda ident: pytest.fail("delete called"))
    result = apply_objects(target, desired)
    assert result == ApplyResult(changed=False, created=[], updated=[], deleted=[], unchanged=4, kept=[], diff=[])
    assert _stats(root) == stats and _tree(root) == tree


def test_update_writes_only_what_changed(root):
    apply_objects(DirectoryTarget(root), [_np("frontend"), _np("cart")])
    cart = os.path.join(root, _rel(_np("cart")))
    cart_stat = os.stat(cart)
    result = apply_objects(DirectoryTarget(root), [_np("frontend", order=5), _np("cart")])
    assert result.updated == ["projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"]
    assert result.unchanged == 1 and result.created == []
    assert result.diff == [diff_entry(identity(_np("frontend")), _np("frontend"), _np("frontend", order=5))]
    assert (os.stat(cart).st_ino, os.stat(cart).st_mtime_ns) == (cart_stat.st_ino, cart_stat.st_mtime_ns)


def test_content_not_bytes_is_compared(root):
    obj = _np("frontend", order=100, selector="app == 'frontend'")
    path = os.path.join(root, _rel(obj))
    os.makedirs(os.path.dirname(path))
    hand = ("# formatted by hand\nkind: NetworkPolicy\napiVersion: projectcalico.org/v3\n"
            "metadata: {namespace: hipstershop, name: frontend, resourceVersion: '7', uid: abc,\n"
            "  labels: {zerotrust.microseg/tier: platform, app.kubernetes.io/managed-by: zerotrust.microseg}}\n"
            "spec: {selector: \"app == 'frontend'\", order: 100}\nstatus: {ok: true}\n")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(hand)
    result = apply_objects(DirectoryTarget(root), [obj])
    assert not result.changed and result.unchanged == 1
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == hand


def test_type_change_is_an_update(root):
    apply_objects(DirectoryTarget(root), [_np("frontend", port="7070")])
    result = apply_objects(DirectoryTarget(root), [_np("frontend", port=7070)])
    assert result.updated == [_rel(_np("frontend"))]


LIVE = [
    _np("plat-old", tier="platform"),
    _np("app-old", tier="application"),
    _gnp("sec-old", tier="security"),
    _np("foreign", tier="platform", managed=False),
    _np("keep", tier="platform"),
]
PRUNES = [
    ("no scope prunes every managed object", None, True,
     ["plat-old", "app-old", "sec-old"]),
    ("tier scope", {TIER_LABEL: "platform"}, True, ["plat-old"]),
    ("union of scopes", [{TIER_LABEL: "platform"}, {TIER_LABEL: "security"}], True, ["plat-old", "sec-old"]),
    ("scope matching nothing", {TIER_LABEL: "appsec"}, True, []),
    ("empty scope list", [], True, []),
    ("prune off", None, False, []),
]


@pytest.mark.parametrize("scope, prune, pruned", [case[1:] for case in PRUNES], ids=[case[0] for case in PRUNES])
def test_prune_only_managed_objects_in_scope(root, scope, prune, pruned):
    _seed(root, LIVE)
    result = apply_objects(DirectoryTarget(root), [_np("keep"), _np("new")], scope=scope, prune=prune)
    names = {identity(obj)[3]: obj for obj in LIVE}
    assert sorted(result.deleted) == sorted(_rel(names[name]) for name in pruned)
    assert result.created == [_rel(_np("new"))] and result.unchanged == 1
    remaining = {ident[3] for ident in DirectoryTarget(root).list()}
    assert remaining == ({"plat-old", "app-old", "sec-old", "foreign", "keep", "new"} - set(pruned))
    assert "foreign" in remaining


def test_prune_leaves_dot_entries_alone(root):
    _seed(root, LIVE)
    git = os.path.join(root, ".git", "refs", "heads")
    os.makedirs(git)
    with open(os.path.join(git, "main"), "w", encoding="utf-8") as handle:
        handle.write("0123\n")
    with open(os.path.join(root, ".git", "stray.yaml"), "w", encoding="utf-8") as handle:
        handle.write(dump(_np("stray")))
    git_before = {rel: raw for rel, raw in _tree(root).items() if rel.startswith(".git")}
    apply_objects(DirectoryTarget(root), [])
    after = _tree(root)
    assert {rel: raw for rel, raw in after.items() if rel.startswith(".git")} == git_before
    assert sorted(rel for rel in after if not rel.startswith(".") and rel.endswith(".yaml")) == [
        "projectcalico.org/NetworkPolicy/hipstershop/foreign.yaml"]


def test_deleting_a_kind_removes_its_empty_directories(root):
    apply_objects(DirectoryTarget(root), [_np("a", namespace="one"), _gnp("g")])
    apply_objects(DirectoryTarget(root), [_gnp("g")])
    assert sorted(os.listdir(os.path.join(root, "projectcalico.org"))) == ["GlobalNetworkPolicy"]


def test_write_order_tiers_then_sets_then_rest_and_deletes_reversed(root, monkeypatch):
    old = [_obj("Tier", "old"), _obj("GlobalNetworkSet", "old-set"), _obj("NetworkSet", "old-ns", "hipstershop"),
           _gnp("old-gnp"), _np("old-np")]
    _seed(root, old)
    target = DirectoryTarget(root)
    calls = []
    real_put, real_delete = target.put, target.delete
    monkeypatch.setattr(target, "put", lambda obj: calls.append(("put", _rel(obj))) or real_put(obj))
    monkeypatch.setattr(target, "delete", lambda ident: calls.append(("delete", ident[1])) or real_delete(ident))
    desired = [_np("b"), _np("a"), _gnp("z"), _obj("NetworkSet", "ns", "hipstershop"), _obj("GlobalNetworkSet", "gs"),
               _obj("Tier", "application"), _obj("Tier", "platform")]
    result = apply_objects(target, desired)
    assert calls == [
        ("put", "projectcalico.org/Tier/_cluster/application.yaml"),
        ("put", "projectcalico.org/Tier/_cluster/platform.yaml"),
        ("put", "projectcalico.org/GlobalNetworkSet/_cluster/gs.yaml"),
        ("put", "projectcalico.org/NetworkSet/hipstershop/ns.yaml"),
        ("put", "projectcalico.org/GlobalNetworkPolicy/_cluster/z.yaml"),
        ("put", "projectcalico.org/NetworkPolicy/hipstershop/a.yaml"),
        ("put", "projectcalico.org/NetworkPolicy/hipstershop/b.yaml"),
        ("delete", "NetworkPolicy"), ("delete", "GlobalNetworkPolicy"), ("delete", "NetworkSet"),
        ("delete", "GlobalNetworkSet"), ("delete", "Tier"),
    ]
    assert [entry["after_header"] for entry in result.diff] == result.created + result.deleted


SCENARIOS = [
    ("create into an empty directory", [], [_np("a"), _gnp("b"), _obj("Tier", "platform")], {}),
    ("update and prune", [_np("a"), _np("b"), _gnp("c")], [_np("a", order=1), _gnp("c")], {}),
    ("scoped prune", [_np("a", tier="platform"), _np("b", tier="application")], [], {"scope": {TIER_LABEL: "platform"}}),
    ("force takes over", [_np("a", managed=False)], [_np("a")], {"force": True}),
    ("nothing to do", [_np("a")], [_np("a")], {}),
]


@pytest.mark.parametrize("live, desired, options", [case[1:] for case in SCENARIOS], ids=[case[0] for case in SCENARIOS])
def test_check_mode_writes_nothing_and_reports_the_same_result(tmp_path, live, desired, options):
    checked, real = str(tmp_path / "checked"), str(tmp_path / "real")
    os.makedirs(checked)
    _seed(checked, live)
    _seed(real, live)
    tree, stats = _tree(checked), _stats(checked)
    dry = apply_objects(DirectoryTarget(checked, check_mode=True), desired, **options)
    assert _tree(checked) == tree and _stats(checked) == stats
    assert not os.path.exists(os.path.join(checked, ".microseg"))
    assert dry == apply_objects(DirectoryTarget(real), desired, **options)


def test_check_mode_never_calls_put_or_delete(root, monkeypatch):
    _seed(root, [_np("a"), _np("b")])
    target = DirectoryTarget(root, check_mode=True)
    monkeypatch.setattr(target, "put", lambda obj: pytest.fail("put called in check mode"))
    monkeypatch.setattr(target, "delete", lambda ident: pytest.fail("delete called in check mode"))
    monkeypatch.setattr(target, "save", lambda idents: pytest.fail("save called in check mode"))
    result = apply_objects(target, [_np("a", order=1), _np("c")])
    assert result.changed and len(result.diff) == 3


def test_conflict_with_an_unmanaged_object(root):
    _seed(root, [_np("frontend", managed=False), _np("cart", managed=False)])
    tree = _tree(root)
    with pytest.raises(TargetError) as info:
        apply_objects(DirectoryTarget(root), [_np("frontend"), _np("cart"), _np("new")])
    message = str(info.value)
    assert message.startswith("projectcalico.org/NetworkPolicy/hipstershop/cart.yaml, "
                              "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml: exists and is not managed")
    assert "force" in message
    assert {rel: raw for rel, raw in _tree(root).items() if not rel.startswith(".microseg")} == tree


def test_force_overwrites_an_unmanaged_object(root):
    _seed(root, [_np("frontend", managed=False)])
    result = apply_objects(DirectoryTarget(root), [_np("frontend")], force=True)
    assert result.updated == [_rel(_np("frontend"))]
    assert DirectoryTarget(root).get(identity(_np("frontend"))) == _np("frontend")


KEEPS = [
    ("enforced kept", "enforced", "failsafe", True, True),
    ("without keep_enforced the failsafe wins", "enforced", "failsafe", False, False),
    ("failsafe live is updated", "failsafe", "failsafe", True, False),
    ("enforced desired replaces enforced", "enforced", "enforced", True, False),
]


@pytest.mark.parametrize("live_posture, want_posture, keep, kept",
                         [case[1:] for case in KEEPS], ids=[case[0] for case in KEEPS])
def test_keep_enforced(root, live_posture, want_posture, keep, kept):
    live = _gnp("default.catch-all", tier="default", posture=live_posture, action="Deny" if live_posture == "enforced" else "Pass")
    _seed(root, [live])
    want = _gnp("default.catch-all", tier="default", posture=want_posture, action="Log")
    result = apply_objects(DirectoryTarget(root), [want], scope={TIER_LABEL: "default"}, keep_enforced=keep)
    rel = _rel(want)
    assert result.kept == ([rel] if kept else [])
    assert result.updated == ([] if kept else [rel])
    assert result.deleted == []
    assert DirectoryTarget(root).get(identity(want)) == (live if kept else want)


INPUT_ERRORS = [
    ("missing managed-by", [_np("a", managed=False)], {}, "lacks label app.kubernetes.io/managed-by=zerotrust.microseg"),
    ("duplicate", [_np("a"), _np("a", order=3)], {}, "appears more than once"),
    ("not a mapping", ["a"], {}, "desired object #1: is not a mapping"),
    ("no name", [{"apiVersion": CALICO, "kind": "Tier", "metadata": {}}], {}, "desired object #1: metadata.name"),
    ("bad scope", [_np("a")], {"scope": "platform"}, "scope: must be a mapping"),
    ("bad scope item", [_np("a")], {"scope": [{"a": "b"}, "c"]}, "scope: must be a mapping"),
]


@pytest.mark.parametrize("desired, options, message", [case[1:] for case in INPUT_ERRORS], ids=[case[0] for case in INPUT_ERRORS])
def test_bad_input_writes_nothing(root, desired, options, message):
    with pytest.raises(InputError) as info:
        apply_objects(DirectoryTarget(root), desired, **options)
    assert message in str(info.value)
    assert os.listdir(root) == []


def _fifty(root):
    """45 managed objects on disk; the desired set creates 22, updates 20, keeps 10 and prunes 15."""
    live = [_np("upd-%02d" % i) for i in range(20)] + [_np("same-%02d" % i) for i in range(10)]
    live += [_np("gone-%02d" % i, namespace="old-%d" % (i % 3)) for i in range(10)]
    live += [_np("hand-%02d" % i) for i in range(5)]
    with DirectoryTarget(root).lock():  # creates the lock file, so only objects differ later
        _seed(root, live)
    for i in range(5):  # hand-formatted files must come back byte for byte
        path = os.path.join(root, _rel(_np("hand-%02d" % i)))
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("# edited by hand\n")
    desired = [_np("upd-%02d" % i, order=i) for i in range(15)] + [_np("hand-%02d" % i, order=i) for i in range(5)]
    desired += [_np("same-%02d" % i) for i in range(10)]
    desired += [_np("new-%02d" % i, namespace="fresh-%d" % (i % 4)) for i in range(20)]
    desired += [_obj("Tier", "platform"), _obj("GlobalNetworkSet", "threats")]
    return desired


def _faulty(target, monkeypatch, method, fail_at):
    real = getattr(target, method)
    calls = []

    def faulty(arg):
        calls.append(arg)
        if len(calls) == fail_at:
            raise TargetError("injected fault #%d" % fail_at)
        return real(arg)

    monkeypatch.setattr(target, method, faulty)
    return calls


@pytest.mark.parametrize("method, fail_at", [("put", 1), ("put", 2), ("put", 17), ("put", 33), ("put", 42),
                                             ("delete", 1), ("delete", 4), ("delete", 10)])
def test_fault_mid_apply_leaves_the_directory_byte_identical(root, monkeypatch, method, fail_at):
    desired = _fifty(root)
    tree = _tree(root)
    target = DirectoryTarget(root)
    calls = _faulty(target, monkeypatch, method, fail_at)
    with pytest.raises(TargetError, match="injected fault #%d.*rolled back" % fail_at) as info:
        apply_objects(target, desired, scope={TIER_LABEL: "platform"})
    assert isinstance(info.value.__cause__, TargetError)
    assert len(calls) == fail_at
    assert _tree(root) == tree


def test_fault_scenario_really_writes_when_nothing_fails(root):
    desired = _fifty(root)
    result = apply_objects(DirectoryTarget(root), desired)
    assert (len(result.created), len(result.updated), len(result.deleted), result.unchanged) == (22, 20, 15, 10)
    assert not apply_objects(DirectoryTarget(root), desired).changed


def test_unexpected_exception_is_rolled_back_too(root, monkeypatch):
    desired = _fifty(root)
    tree = _tree(root)
    target = DirectoryTarget(root)
    real = target.put
    calls = []

    def flaky(obj):
        calls.append(obj)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(obj)

    monkeypatch.setattr(target, "put", flaky)
    with pytest.raises(TargetError, match="No space left on device.*rolled back"):
        apply_objects(target, desired)
    assert _tree(root) == tree


def test_failed_rollback_says_so(root, monkeypatch):
    desired = _fifty(root)
    target = DirectoryTarget(root)
    _faulty(target, monkeypatch, "put", 3)

    def broken_revert(saved):
        raise TargetError("disk gone")

    monkeypatch.setattr(target, "revert", broken_revert)
    with pytest.raises(TargetError, match="injected fault #3.*rollback failed too: disk gone"):
        apply_objects(target, desired)


def test_thousands_of_objects_are_read_once_and_left_untouched(root, monkeypatch):
    desired = [_np("p-%04d" % i, namespace="ns-%02d" % (i % 40)) for i in range(2000)]
    workloads = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d-%04d" % i, "namespace": "ns-%02d" % (i % 40)},
                  "spec": {"replicas": 1}} for i in range(1000)]
    _seed(root, desired + workloads)
    target = DirectoryTarget(root)
    reads = []
    real_read = target._read  # pylint: disable=protected-access
    monkeypatch.setattr(target, "_read", lambda ident, path: reads.append(path) or real_read(ident, path))
    desired[7] = _np("p-0007", namespace="ns-07", order=1)
    stats = _stats(root)
    result = apply_objects(target, desired)
    assert len(reads) == 3000 and len(set(reads)) == 3000
    assert result.updated == [_rel(desired[7])] and result.unchanged == 1999
    changed = {path for path, stat in _stats(root).items() if stats.get(path) != stat and os.path.isfile(path)}
    assert changed - {os.path.join(root, ".microseg", name) for name in ("lock", ".gitignore")} == {os.path.join(root, _rel(desired[7]))}
