"""Desired objects -> target: create, update, prune, check mode, diff, rollback on error.

The target is anything with this shape (``DirectoryTarget`` is one):
``check_mode`` (bool, set once), ``list() -> {ident: obj}``, ``put(obj)``, ``delete(ident)``,
``save(idents) -> memo`` and ``revert(memo)`` (put those objects back exactly), and
optionally ``lock()`` (a re-entrant context manager held for the whole apply).
The engine decides everything from one listing; in check mode it stops before the first write
and returns the very result a real run would return.
"""
import contextlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, POSTURE_LABEL, diff_entry, identity, is_managed, labels, relpath, same_content, strip_server_fields)

FAILSAFE = "failsafe"
ENFORCED = "enforced"
# Kinds others refer to are written first and deleted last.
WRITE_RANK = {"Tier": 0, "GlobalNetworkSet": 1, "NetworkSet": 1}
_OTHER_RANK = 2


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
        plan = _plan(wanted, target.list(), scopes if prune else [], keep_enforced, force)
        writes = sorted(list(plan.creates) + list(plan.updates), key=_write_key)
        deletes = sorted(plan.deletes, key=_write_key, reverse=True)
        result = _result(plan, wanted, writes, deletes, with_diff)
        if result.changed and not target.check_mode:
            _execute(target, [(ident, wanted[ident]) for ident in writes], deletes)
    return result


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


def _plan(wanted, live, prune_scopes, keep_enforced, force):
    """Sort every desired and live object into create / update / keep / unchanged / delete."""
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
        elif same_content(current, want):
            plan.unchanged += 1
        else:
            plan.updates[ident] = current
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
    return (WRITE_RANK.get(ident[1], _OTHER_RANK), relpath(ident))


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
    current = None
    try:
        for current, obj in writes:
            target.put(obj)
        for current in deletes:
            target.delete(current)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        _roll_back(target, saved, relpath(current), exc)


def _roll_back(target, saved, where, exc):
    """Revert the saved paths, then raise a TargetError saying what failed and that it was undone."""
    try:
        target.revert(saved)
    except Exception as again:  # pylint: disable=broad-exception-caught
        raise TargetError("%s: apply failed (%s) and rollback failed too: %s" % (where, exc, again)) from again
    raise TargetError("%s: apply failed (%s); rolled back all %d touched objects" % (where, exc, len(saved))) from exc
