"""Desired objects -> target: create, update, prune, check mode, diff, rollback on error.

The target is anything with this shape (``DirectoryTarget`` and ``ClusterTarget`` are two):
``check_mode`` (bool, set once), ``list(kinds=None, labels=None) -> {ident: obj}``, ``put(obj)``,
``delete(ident)``, ``save(idents) -> memo`` and ``revert(memo)`` (put those objects back exactly),
and optionally ``lock()`` (a re-entrant context manager held for the whole apply) and these
attributes (absent means False / None / 1):

* ``managed_kinds``: the ``(group, kind)`` pairs to list for prune; the plan then lists those
  and the desired kinds only, not every kind the target holds;
* ``server_defaults``: the target fills in defaults, so live objects are compared with
  ``without_server_defaults`` (a field the desired object does not set is not a difference);
* ``dry_run_writes``: in check mode the writes are still sent, and the target only validates
  them (a cluster's ``dryRun=All``), so admission and schema errors show without writing;
* ``write_workers``: how many writes of the same rank may go out at once.

The engine decides everything from one listing; in check mode it returns the very result a real
run would return, and sends no write unless the target validates dry-run writes.

``apply_with_rollback`` (a phase: lock, snapshot, apply, restore on failure, discard) needs
``lock(label)``, ``snapshot(idents, label)``, ``restore(id)`` and ``discard(id)``; with
``stale_holder()``, ``leftovers()`` and ``clean_debris()`` as well, it first recovers from a
run that died mid-phase (``recover``): the lock it held is taken over, the target is restored
to its oldest leftover snapshot (the state before the interrupted phase), every leftover is
discarded, half-written bookkeeping is removed, and a warning says so. Check mode only warns.
"""
import contextlib
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.locking import describe_holder, process_gone
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, POSTURE_LABEL, diff_entry, identity, is_managed, labels, relpath, same_content, strip_server_fields,
    without_server_defaults, write_rank)

FAILSAFE = "failsafe"
ENFORCED = "enforced"


@dataclass
class ApplyResult:
    """What an apply did (or, in check mode, would do). Lists hold relpaths, in write order."""

    changed: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)
    diff: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self):
        """Plain dict, ready for a module result."""
        return asdict(self)


@dataclass
class _Plan:
    """The changes one apply needs, keyed by identity (updates and deletes map to the live object)."""

    creates: set = field(default_factory=set)
    updates: dict = field(default_factory=dict)
    deletes: dict = field(default_factory=dict)
    kept: list = field(default_factory=list)
    unchanged: int = 0


def apply_objects(target, desired, scope=None, prune=True, keep_enforced=False, force=False, with_diff=True):
    """Make the target hold ``desired``; prune our in-scope objects that are no longer desired.

    ``scope``: labels (a dict, or a list of dicts for a union) an object must carry, besides
    managed-by, to be pruned; None means every managed object. ``force`` takes over objects we
    do not manage. ``keep_enforced`` keeps a live ``posture: enforced`` object where the desired
    one is ``posture: failsafe``. Any failure while writing restores every touched path.
    ``with_diff=False`` skips rendering the before/after texts (the result's diff is empty).
    """
    wanted = _index_desired(desired)
    scopes = _scopes(scope)
    with _locked(target):
        plan = _plan(wanted, _listing(target, wanted), scopes if prune else [], keep_enforced, force,
                     getattr(target, "server_defaults", False))
        writes = sorted(list(plan.creates) + list(plan.updates), key=_write_key)
        deletes = sorted(plan.deletes, key=_write_key, reverse=True)
        result = _result(plan, wanted, writes, deletes, with_diff)
        if result.changed and not target.check_mode:
            _execute(target, [(ident, wanted[ident]) for ident in writes], deletes)
        elif result.changed and getattr(target, "dry_run_writes", False):
            _dry_run(target, [(ident, wanted[ident]) for ident in writes], deletes)
    return result


def apply_with_rollback(target, objects, scope, keep_enforced=False, then=None, label=None):
    """Recover from an interrupted run, snapshot the managed objects, apply ``objects``, call ``then()`` (the rest of the
    same change), and restore the target exactly as it was if anything fails. ``label`` (the phase) is recorded in the
    lock and the snapshot. The snapshot is kept when even the restore fails, for the next run, which restores it."""
    label = label or "apply"
    with target.lock(label):
        warnings = recover(target)
        snapshot = target.snapshot(None, label=label)
        try:
            result = apply_objects(target, objects, scope=scope, keep_enforced=keep_enforced)
            if then is not None:
                then()
        except BaseException:
            if snapshot is not None:
                target.restore(snapshot)
                target.discard(snapshot)
            raise
        if snapshot is not None:
            target.discard(snapshot)
    result.warnings = warnings + result.warnings
    return result


_REPORTED = weakref.WeakKeyDictionary()   # check-mode target -> the warnings recover already gave (it changes nothing)


def recover(target):
    """Under the target's lock: undo what a run that died mid-phase left behind; returns the warnings that say so.

    A run that died holding the lock left its name in the lock file (taken over now) and, when it died inside a phase,
    that phase's snapshot: the target is restored to the oldest such leftover (the state before the interrupted phase
    began) and every leftover is discarded. Snapshot staging directories and temp files cut short are removed. A
    restore that fails keeps the snapshots (the next run tries again) and fails with a TargetError. Check mode changes
    nothing and warns that a real run restores first; each warning is given once per target. Targets without
    ``leftovers`` have nothing to recover.
    """
    if not hasattr(target, "leftovers"):
        return []
    with target.lock():
        holder = target.stale_holder()
        leftovers = target.leftovers()
        target.clean_debris()
        if not leftovers and holder is None:
            return []
        if not leftovers:
            warning = _lock_only(target, holder)
        else:
            warning = _restore_leftovers(target, leftovers, holder)
    if target.check_mode:
        try:
            reported = _REPORTED.setdefault(target, set())
        except TypeError:
            return [warning]
        if warning in reported:
            return []
        reported.add(warning)
    return [warning]


def _restore_leftovers(target, leftovers, holder):
    """Restore the oldest leftover, discard them all; the warning."""
    oldest = leftovers[0]
    found = "interrupted run of %s found (snapshot %s taken %s by pid %s on %s)" % (
        oldest["label"], oldest["id"], oldest.get("created") or "at an unknown time", oldest.get("pid"), oldest.get("host") or "an unknown host")
    later = " and %d later leftover snapshot(s)" % (len(leftovers) - 1) if len(leftovers) > 1 else ""
    try:
        changed = target.restore(oldest["id"])
    except TargetError as err:
        raise TargetError("%s, but restoring the target to before it failed: %s; the snapshot is kept for the next run" % (found, err)) from err
    if target.check_mode:
        return "%s%s: a real run restores it first (%d object(s) differ from it); until then this diff is against the target as it is" % (
            found, later, len(changed))
    for record in leftovers:
        target.discard(record["id"])
    taken = "; the lock it held was taken over" if holder is not None else ""
    return "%s: the target was restored to before it (%d object(s) reverted) and the snapshot%s discarded%s" % (
        found, len(changed), later, taken)


def _lock_only(target, holder):
    """A run died holding the lock outside any snapshot (before taking it, after discarding it, or in a phase that takes
    none, such as remediate's staging): nothing to restore; this run converges the target."""
    gone = "its process is gone" if process_gone(holder) else "it no longer holds the lock"
    found = "interrupted run of %s found (lock held by %s; %s)" % (holder.get("phase") or "an unnamed phase", describe_holder(holder), gone)
    if target.check_mode:
        return "%s: it left no snapshot, so there is nothing to restore; a real run takes the lock over" % found
    return "%s: it left no snapshot, so there was nothing to restore; the lock was taken over and this run converges the target" % found


def _listing(target, wanted):
    """The one listing the plan is made from: everything, or the target's managed kinds and the desired kinds."""
    kinds = getattr(target, "managed_kinds", None)
    if kinds is None:
        return target.list()
    return target.list(kinds=sorted(set(kinds) | {ident[:2] for ident in wanted}))


def _locked(target):
    """The target's lock when it has one."""
    lock = getattr(target, "lock", None)
    return lock() if lock is not None else contextlib.nullcontext()


def _index_desired(desired):
    """``{ident: object without server fields}``; each must be ours and appear once."""
    index = {}
    for position, obj in enumerate(desired):
        where = "desired object #%d" % (position + 1)
        if not isinstance(obj, Mapping):
            raise InputError("is not a mapping", source=where)
        try:
            ident = identity(obj)
        except InputError as exc:
            raise InputError(exc.message, source=where, field=exc.field) from exc
        if not is_managed(obj):
            raise InputError("lacks label %s=%s" % MANAGED_BY, source=relpath(ident), field="metadata.labels")
        if ident in index:
            raise InputError("appears more than once among the desired objects", source=relpath(ident))
        index[ident] = strip_server_fields(obj)
    return index


def _scopes(scope):
    """Normalise ``scope`` to a list of label dicts (None: one empty dict, i.e. everything)."""
    if scope is None:
        return [{}]
    scopes = [scope] if isinstance(scope, Mapping) else scope
    if not isinstance(scopes, (list, tuple)) or not all(isinstance(item, Mapping) for item in scopes):
        raise InputError("must be a mapping of labels or a list of such mappings", field="scope")
    return [dict(item) for item in scopes]


def _in_scope(obj, scopes):
    """True when the object carries every label of at least one scope."""
    found = labels(obj)
    return any(all(found.get(key) == value for key, value in item.items()) for item in scopes)


def _posture(obj):
    """The posture label's value, or None."""
    return labels(obj).get(POSTURE_LABEL)


def _plan(wanted, live, prune_scopes, keep_enforced, force, server_defaults=False):
    """Sort every desired and live object into create / update / keep / unchanged / delete.

    With ``server_defaults`` a live object is compared (and shown in the diff) without the
    fields the server filled in that the desired object does not set.
    """
    plan = _Plan()
    conflicts = []
    for ident, want in wanted.items():
        current = live.get(ident)
        if current is None:
            plan.creates.add(ident)
        elif not is_managed(current) and not force:
            conflicts.append(relpath(ident))
        elif keep_enforced and _posture(want) == FAILSAFE and _posture(current) == ENFORCED:
            plan.kept.append(relpath(ident))
        else:
            before, after = without_server_defaults(current, want) if server_defaults else (current, want)
            if same_content(before, after):
                plan.unchanged += 1
            else:
                plan.updates[ident] = before
    if conflicts:
        raise TargetError("%s: exists and is not managed by %s (%s); force takes it over"
                          % (", ".join(sorted(conflicts)), MANAGED_BY[1], "=".join(MANAGED_BY)))
    for ident, current in live.items():
        if ident not in wanted and is_managed(current) and _in_scope(current, prune_scopes):
            plan.deletes[ident] = current
    plan.kept.sort()
    return plan


def _write_key(ident):
    """Tiers, then network sets, then the rest; by path within each."""
    return (write_rank(ident), relpath(ident))


def _result(plan, wanted, writes, deletes, with_diff=True):
    """The result and per-object diff, in write order (writes, then deletes)."""
    diff = []
    if with_diff:
        diff = [diff_entry(ident, plan.updates.get(ident), wanted[ident]) for ident in writes]
        diff += [diff_entry(ident, plan.deletes[ident], None) for ident in deletes]
    return ApplyResult(
        changed=bool(writes or deletes),
        created=[relpath(ident) for ident in writes if ident in plan.creates],
        updated=[relpath(ident) for ident in writes if ident in plan.updates],
        deleted=[relpath(ident) for ident in deletes],
        unchanged=plan.unchanged,
        kept=list(plan.kept),
        diff=diff,
    )


def _execute(target, writes, deletes):
    """Write, then delete; on any failure put every touched path back and raise TargetError."""
    if target.check_mode:
        raise RuntimeError("internal error: apply tried to write to a check-mode target")
    saved = target.save([write[0] for write in writes] + list(deletes))
    try:
        _send(target, writes, deletes)
    except _Failed as failed:
        _roll_back(target, saved, relpath(failed.ident), failed.error)


def _dry_run(target, writes, deletes):
    """Send every write as the target's dry run; the first refusal (in write order) fails the task."""
    try:
        _send(target, writes, deletes)
    except _Failed as failed:
        raise TargetError("%s: would fail: %s" % (relpath(failed.ident), failed.error)) from failed.error


class _Failed(Exception):
    """A write failed: which object, and why."""

    def __init__(self, ident, error):
        super().__init__(str(error))
        self.ident = ident
        self.error = error


def _send(target, writes, deletes):
    """Writes rank by rank, then deletes in reverse rank order; each rank's calls may run concurrently.

    A failure stops before the next rank; the one reported is the first in write order.
    """
    workers = max(1, int(getattr(target, "write_workers", 1) or 1))
    for wave in _waves(writes):
        _run_wave(target.put, wave, workers)
    for wave in _waves([(ident, ident) for ident in deletes]):
        _run_wave(target.delete, wave, workers)


def _waves(calls):
    """Split ``[(ident, argument)]`` (already in rank order) into runs of the same write rank."""
    waves = []
    for call in calls:
        if waves and write_rank(waves[-1][-1][0]) == write_rank(call[0]):
            waves[-1].append(call)
        else:
            waves.append([call])
    return waves


def _run_wave(action, calls, workers):
    """``action(argument)`` for every ``(ident, argument)``: one by one, or on up to ``workers`` threads."""
    if workers == 1 or len(calls) == 1:
        for ident, argument in calls:
            try:
                action(argument)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                raise _Failed(ident, exc) from exc
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        futures = [(ident, pool.submit(action, argument)) for ident, argument in calls]
    for ident, future in futures:
        error = future.exception()
        if error is not None:
            raise _Failed(ident, error) from error


def _roll_back(target, saved, where, exc):
    """Revert the saved paths, then raise a TargetError saying what failed and that it was undone."""
    try:
        target.revert(saved)
    except Exception as again:  # pylint: disable=broad-exception-caught
        raise TargetError("%s: apply failed (%s) and rollback failed too: %s" % (where, exc, again)) from again
    raise TargetError("%s: apply failed (%s); rolled back all %d touched objects" % (where, exc, len(saved))) from exc
