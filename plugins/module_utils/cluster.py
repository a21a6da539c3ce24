"""The cluster target: a live Kubernetes API server, read and written like the directory target.

Reads are one LIST per kind (label-selected when the caller passes labels), never a GET per
object. Writes are server-side apply as field manager ``zerotrust.microseg`` (``force`` only when
asked); deletes only touch objects carrying our label, with the uid and resourceVersion seen as
preconditions. In check mode every write goes out with ``dryRun=All``: admission and schema
errors show, nothing is stored. Snapshots for the roles' phase rollback are JSON files of the
full live objects under a local state directory; ``lock()`` is a local file lock there, which
serialises runs from this controller against one API server. A phase's snapshot names the phase
and the process that took it: one that outlives its run is what an interrupted run left
(``leftovers()``), found by the next run from this controller (the same state directory).
"""
import functools
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.locking import RunLock, run_record
from ansible_collections.zerotrust.microseg.plugins.module_utils.kube_api import (
    CORE_GROUP, DEFAULT_DEADLINE, DEFAULT_RETRIES, DEFAULT_TIMEOUT, ApiFailure, KubeApi, configure, connection_source)
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, identity, is_managed, merge_patch, relpath, same_content, strip_server_fields, write_rank)
from ansible_collections.zerotrust.microseg.plugins.module_utils.workloads import NAMESPACE_KIND, WORKLOAD_KINDS

FIELD_MANAGER = "zerotrust.microseg"
CALICO_GROUP = "projectcalico.org"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
# Kinds the collection writes, and prunes when they carry its label.
MANAGED_KINDS = (
    ("projectcalico.org", "Tier"), ("projectcalico.org", "GlobalNetworkSet"), ("projectcalico.org", "NetworkSet"),
    ("projectcalico.org", "GlobalNetworkPolicy"), ("projectcalico.org", "NetworkPolicy"), ("networking.k8s.io", "NetworkPolicy"),
    ("policy.networking.k8s.io", "AdminNetworkPolicy"), ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"),
    ("policy.networking.k8s.io", "ClusterNetworkPolicy"),   # v1alpha2 (kube_api.KIND_VERSIONS)
    # remediate's proposals (Calico 3.30+)
    ("projectcalico.org", "StagedNetworkPolicy"), ("projectcalico.org", "StagedGlobalNetworkPolicy"),
)
# Kinds only read (staged Kubernetes policies for the evaluator, namespaces and workloads); absent ones simply hold nothing.
READ_ONLY_KINDS = (("projectcalico.org", "StagedKubernetesNetworkPolicy"), NAMESPACE_KIND) + tuple(WORKLOAD_KINDS)
STATE_ROOT = os.path.join("~", ".ansible", "zerotrust.microseg", "snapshots")
LIST_PAGE = 500
WRITE_WORKERS = 4  # concurrent writes per rank: a fraction of what API Priority and Fairness grants one client
LOCK_TIMEOUT = 60.0
_SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}$")
_SUFFIX = ".json"
_TEMP_FILE = re.compile(r"^\.[a-z0-9_]{8}\.tmp$")   # a snapshot being written (mkstemp), cut short when its run died


def server_key(host):
    """A directory name for an API server URL: ``https://10.0.0.1:6443`` -> ``10.0.0.1_6443``."""
    netloc = urlparse(host or "").netloc or host or "unknown"
    return re.sub(r"[^A-Za-z0-9.-]", "_", netloc)


def label_selector(labels):
    """``{k: v}`` -> ``k=v,...`` (sorted); None or empty selects everything."""
    if not labels:
        return None
    if not isinstance(labels, Mapping):
        raise InputError("must be a mapping of label keys to values", field="labels")
    return ",".join("%s=%s" % (key, labels[key]) for key in sorted(labels))


def describe(ident):
    """``projectcalico.org NetworkPolicy hipstershop/frontend`` (group, kind, namespace/name)."""
    group, kind, namespace, name = ident
    return "%s %s %s" % (group, kind, "%s/%s" % (namespace, name) if namespace else name)


class ClusterTarget:
    """A Kubernetes API server that behaves like the directory target (see apply.py for the shape)."""

    server_defaults = True
    dry_run_writes = True
    write_workers = WRITE_WORKERS

    def __init__(self, kubeconfig=None, context=None, check_mode=False, force=False, state_dir=None,  # pylint: disable=too-many-arguments
                 timeout=DEFAULT_TIMEOUT, deadline=DEFAULT_DEADLINE, retries=DEFAULT_RETRIES, api=None, environ=None,
                 lock_timeout=LOCK_TIMEOUT):
        """Resolve the connection (no request yet); ``api`` replaces the KubeApi (tests)."""
        self.check_mode = bool(check_mode)
        self.force = bool(force)
        self.connection = None
        if api is None:
            self.connection = connection_source(kubeconfig, context, environ)
            api = KubeApi(configure(self.connection), timeout=timeout, deadline=deadline, retries=retries)
        self.api = api
        self.state_dir = os.path.abspath(os.path.expanduser(state_dir or os.path.join(STATE_ROOT, server_key(api.host))))
        self.lock_timeout = lock_timeout
        self._seen = {}
        self._dry_run_tiers = set()
        self._lock = RunLock(os.path.join(self.state_dir, "lock"), check_mode, lock_timeout,
                             lambda: os.makedirs(self.state_dir, mode=0o700, exist_ok=True), mode=0o600,
                             holder="another run against %s" % api.host)

    # -- reading ---------------------------------------------------------------------------

    @property
    def managed_kinds(self):
        """The kinds of MANAGED_KINDS this server serves: what apply lists for prune and snapshots cover."""
        return [kind for kind in MANAGED_KINDS if self.api.serves(*kind)]

    def served_kinds(self, kinds):
        """The names of ``kinds`` (kind -> apiVersion) that this API server serves in that apiVersion, by discovery (one
        request per group version, cached). The directory target has no such method: it has no API server to ask."""
        served = []
        for kind, api_version in sorted(kinds.items()):
            group, _slash, version = api_version.rpartition("/")
            if self.api.serves(group or CORE_GROUP, kind, version):
                served.append(kind)
        return served

    def list(self, kinds=None, labels=None):
        """Objects as ``{ident: obj}``: one LIST per kind, label-selected by ``labels``.

        ``kinds`` None means every kind the collection reads (the served ones). A kind asked for
        by name must be served unless it is only ever read (workloads, staged policies).
        """
        selector = label_selector(labels)
        if kinds is None:
            wanted = [kind for kind in MANAGED_KINDS + READ_ONLY_KINDS if self.api.serves(*kind)]
        else:
            wanted = list(dict.fromkeys(tuple(kind) for kind in kinds))
            wanted = [kind for kind in wanted if kind not in READ_ONLY_KINDS or self.api.serves(*kind)]
        found = {}
        for kind in wanted:
            found.update(self._list(self.api.resource(*kind), selector))
        return found

    def _list(self, resource, selector):
        """Every object of one resource (following ``continue`` pages), with apiVersion and kind set."""
        query = [("limit", str(LIST_PAGE))] + ([("labelSelector", selector)] if selector else [])
        found, token = {}, None
        while True:
            try:
                page = self.api.request("GET", resource.path(), query + ([("continue", token)] if token else [])) or {}
            except ApiFailure as failure:
                if failure.status in (401, 403):
                    raise TargetError("cannot list %s/%s %s at %s: %s %s (grant what rbac/clusterrole.yaml grants)"
                                      % (resource.group, resource.version, resource.plural, self.api.host, failure.status,
                                         failure.detail)) from failure
                raise
            for item in page.get("items") or []:
                obj = dict(item, apiVersion=resource.api_version, kind=resource.kind)
                ident = identity(obj)
                found[ident] = obj
                self._seen[ident] = obj
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return found

    def get(self, ident):
        """The live object at ``ident``, or None (one GET: for deletes that must re-read, never for planning)."""
        resource = self.api.resource(ident[0], ident[1])
        try:
            obj = self.api.request("GET", resource.path(ident[2], ident[3]))
        except ApiFailure as failure:
            if failure.status == 404:
                return None
            raise
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        return obj

    def _resource_of(self, obj):
        """The served resource for an object's apiVersion and kind."""
        api_version = obj["apiVersion"]
        group, version = api_version.split("/", 1) if "/" in api_version else (CORE_GROUP, api_version)
        return self.api.resource(group, obj["kind"], version)

    # -- writing ---------------------------------------------------------------------------

    def put(self, obj):
        """Server-side apply one object (``force`` as set; ``dryRun=All`` in check mode); returns its relpath.

        In check mode a Calico policy in a tier that this run only dry-run created is not sent:
        Calico would refuse it for lack of its tier, which a real run creates first.
        """
        ident = identity(obj)
        if self.check_mode and ident[0] == CALICO_GROUP and (obj.get("spec") or {}).get("tier") in self._dry_run_tiers:
            return relpath(ident)
        self._apply(obj, self.force)
        if self.check_mode and ident[:2] == (CALICO_GROUP, "Tier") and ident not in self._seen:
            self._dry_run_tiers.add(ident[3])
        return relpath(ident)

    def _apply(self, obj, force):
        """PATCH apply-patch; a field-manager conflict names the other managers and the way out."""
        ident = identity(obj)
        resource = self._resource_of(obj)
        query = [("fieldManager", FIELD_MANAGER)] + ([("force", "true")] if force else []) + self._dry_run()
        try:
            return self.api.request("PATCH", resource.path(ident[2], ident[3]), query, strip_server_fields(obj), APPLY_PATCH)
        except ApiFailure as failure:
            raise _write_error(ident, failure) from failure

    def _dry_run(self):
        """``dryRun=All`` in check mode."""
        return [("dryRun", "All")] if self.check_mode else []

    def delete(self, ident):
        """Delete one object that carries our label (``dryRun=All`` in check mode); False when it is already gone.

        The uid and resourceVersion seen are preconditions: when the object changed since, it is
        re-read and deleted only if it still carries our label.
        """
        ident = tuple(ident)
        resource = self.api.resource(ident[0], ident[1])
        live = self._seen.get(ident) or self.get(ident)
        if live is None:
            return False
        _require_managed(ident, live)
        path, query = resource.path(ident[2], ident[3]), self._dry_run()

        def reread():
            fresh = self.get(ident)
            if fresh is None:
                return None
            _require_managed(ident, fresh)
            return query, _delete_options(fresh)

        try:
            answer = self.api.request("DELETE", path, query, _delete_options(live), reread=reread)
        except ApiFailure as failure:
            if failure.status == 404:
                return False
            raise _write_error(ident, failure) from failure
        if not self.check_mode:
            self._seen.pop(ident, None)
        return answer is not None

    def _merge_back(self, obj, current):
        """Make the live object equal ``obj`` (spec, labels, annotations): a merge patch over ``current``, or a create.

        The patch carries ``current``'s resourceVersion, so a change made since is a 409: the object
        is re-read and the patch recomputed.
        """
        ident = identity(obj)
        resource = self._resource_of(obj)
        query = [("fieldManager", FIELD_MANAGER)]
        try:
            if current is None:
                return self.api.request("POST", resource.path(ident[2]), query, strip_server_fields(obj))

            def reread():
                fresh = self.get(ident)
                return None if fresh is None else (query, merge_patch(fresh, obj))

            return self.api.request("PATCH", resource.path(ident[2], ident[3]), query, merge_patch(current, obj), MERGE_PATCH,
                                    reread=reread)
        except ApiFailure as failure:
            raise _write_error(ident, failure) from failure

    def _put_back(self, obj, current):
        """Restore one saved object: apply it with force as our manager if it was ours; then, if anything still differs
        (fields of other managers, or an object that was not ours), merge-patch it back exactly."""
        if is_managed(obj):
            current = self._apply(obj, True)
            if current is not None and same_content(current, obj):
                return
        self._merge_back(obj, current)

    def _restore(self, puts, deletes, current):
        """Put objects back (tiers first) and delete others (tiers last); returns the failures as text."""
        failures = []
        put_calls = [(identity(obj), functools.partial(self._put_back, obj, current.get(identity(obj)))) for obj in puts]
        delete_calls = [(ident, functools.partial(self.delete, ident)) for ident in deletes]
        for wave in _waves(put_calls, delete_calls):
            failures += _concurrently(wave, self.write_workers)
        return failures

    # -- in-memory undo for one apply ---------------------------------------------------

    def save(self, idents):
        """The live objects (or None for absent ones) at these identities, for ``revert``: one LIST per kind."""
        idents = sorted({tuple(ident) for ident in idents})
        live = self.list(kinds=sorted({ident[:2] for ident in idents})) if idents else {}
        return {ident: live.get(ident) for ident in idents}

    def revert(self, saved):
        """Put every saved object back as it was; delete the saved-absent ones we created since."""
        if self.check_mode:
            raise RuntimeError("internal error: revert() called on a check-mode cluster target")
        current = self.list(kinds=sorted({ident[:2] for ident in saved})) if saved else {}
        puts, deletes = _differences(saved, current, [ident for ident, obj in saved.items() if obj is None])
        failures = self._restore(puts, deletes, current)
        if failures:
            raise TargetError("could not restore: %s" % "; ".join(failures))

    # -- lock ----------------------------------------------------------------------------

    def lock(self, label=None):
        """Hold ``<state_dir>/lock`` exclusively (re-entrant), naming ``label`` (the phase) in it; in check mode shared,
        and only if it exists."""
        return self._lock.held(self, label)

    def stale_holder(self):
        """While the lock is held: the run that died holding it before (``{pid, host, phase, since}``), once; else None."""
        return self._lock.claim_stale()

    # -- snapshots ---------------------------------------------------------------------

    def snapshots(self):
        """Ids of the stored snapshots, oldest first."""
        try:
            names = os.listdir(self.state_dir)
        except OSError:
            return []
        return sorted(name[:-len(_SUFFIX)] for name in names if name.endswith(_SUFFIX) and _SNAPSHOT_ID.match(name[:-len(_SUFFIX)]))

    def snapshot(self, idents=None, label=None):
        """Store the full live objects a phase may touch; returns the id (None in check mode).

        Without ``idents``: every object carrying our label, of every managed kind served. With
        ``idents``: exactly those identities, ours or not, present or not. ``label`` names the phase
        taking it (with this process and host): a labelled snapshot that outlives its run is a
        leftover of an interrupted run (``leftovers``).
        """
        if self.check_mode:
            return None
        if idents is None:
            kinds, selected = self.managed_kinds, None
            objects = self.list(kinds=kinds, labels=dict([MANAGED_BY]))
        else:
            selected = sorted({tuple(ident) for ident in idents})
            kinds = sorted({ident[:2] for ident in selected})
            live = self.list(kinds=kinds) if selected else {}
            objects = {ident: live[ident] for ident in selected if ident in live}
        snap_id = "%s.%06dZ-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), int((time.time() % 1) * 1e6), secrets.token_hex(4))
        run = run_record(label)
        record = {"id": snap_id, "created": run["since"], "server": self.api.host,
                  "kinds": [list(kind) for kind in kinds], "selected": None if selected is None else [list(ident) for ident in selected],
                  "objects": [objects[ident] for ident in sorted(objects)], "label": label, "pid": run["pid"], "host": run["host"]}
        self._write_snapshot(snap_id, record)
        return snap_id

    def _write_snapshot(self, snap_id, record):
        """Write the record atomically (temp file, then rename) with mode 0600."""
        tmp = None
        try:
            os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.state_dir)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, os.path.join(self.state_dir, snap_id + _SUFFIX))
        except OSError as exc:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            raise TargetError("%s: cannot store snapshot: %s" % (self.state_dir, exc.strerror or exc)) from exc

    def _snapshot_path(self, snap_id):
        """File of one snapshot; unknown or malformed ids are errors."""
        path = os.path.join(self.state_dir, str(snap_id) + _SUFFIX)
        if not _SNAPSHOT_ID.match(str(snap_id)) or not os.path.isfile(path):
            raise TargetError("%s: no such snapshot" % path)
        return path

    def _load_snapshot(self, snap_id):
        """The stored record; it must have been taken on this API server."""
        path = self._snapshot_path(snap_id)
        try:
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
            stored = {identity(obj): obj for obj in record["objects"]}
            kinds = [tuple(kind) for kind in record["kinds"]]
            selected = None if record.get("selected") is None else [tuple(ident) for ident in record["selected"]]
        except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
            raise TargetError("%s: unreadable snapshot: %s" % (path, exc)) from exc
        if record.get("server") != self.api.host:
            raise TargetError("%s: taken on %s, not on %s" % (path, record.get("server"), self.api.host))
        return stored, kinds, selected

    def restore(self, snap_id):
        """Put the server back as it was at a snapshot; returns the relpaths changed (would change, in check mode).

        Updated objects get their stored content back, objects created since (ours, in the
        snapshot's scope) are deleted, deleted ones are recreated. ``None`` restores nothing.
        """
        if snap_id is None:
            return []
        stored, kinds, selected = self._load_snapshot(snap_id)
        scope = kinds if selected is None else sorted({ident[:2] for ident in selected})
        current = self.list(kinds=scope) if scope else {}
        if selected is None:
            created = [ident for ident, obj in current.items() if is_managed(obj) and ident not in stored]
        else:
            created = [ident for ident in selected if ident not in stored]
            current = {ident: current[ident] for ident in selected if ident in current}
        puts, deletes = _differences(stored, current, created)
        changed = sorted(relpath(identity(obj)) for obj in puts) + sorted(relpath(ident) for ident in deletes)
        if not self.check_mode:
            failures = self._restore(puts, deletes, current)
            if failures:
                raise TargetError("could not restore snapshot %s: %s" % (snap_id, "; ".join(failures)))
        return sorted(changed)

    def discard(self, snap_id):
        """Delete a snapshot; False when there is none (or in check mode, which writes nothing)."""
        if snap_id is None or self.check_mode:
            return False
        try:
            os.unlink(self._snapshot_path(snap_id))
        except TargetError:
            return False
        return True

    # -- what an interrupted run leaves behind ---------------------------------------------

    def snapshot_record(self, snap_id):
        """``{id, label, created, pid, host, server}`` of a stored snapshot (``label`` None: not taken by a phase)."""
        path = self._snapshot_path(snap_id)
        try:
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
            return dict({key: record.get(key) for key in ("label", "created", "pid", "host", "server")}, id=snap_id)
        except (OSError, ValueError, AttributeError) as exc:
            raise TargetError("%s: unreadable snapshot: %s" % (path, exc)) from exc

    def leftovers(self):
        """The snapshots a phase took on this API server and never discarded (its run died, or even its rollback
        failed), oldest first. One taken on request (``policy_apply state=snapshot``) has no label and is never one."""
        records = [self.snapshot_record(snap_id) for snap_id in self.snapshots()]
        return [record for record in records if record["label"] and record["server"] == self.api.host]

    def debris(self):
        """Absolute paths of snapshots whose writing was cut short (temp files in the state directory)."""
        try:
            names = sorted(os.listdir(self.state_dir))
        except OSError:
            return []
        return [os.path.join(self.state_dir, name) for name in names if _TEMP_FILE.match(name)]

    def clean_debris(self):
        """Remove ``debris()``; returns the paths removed (none in check mode)."""
        if self.check_mode:
            return []
        found = self.debris()
        for path in found:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise TargetError("%s: cannot remove what an interrupted run left: %s" % (path, exc.strerror or exc)) from exc
        return found


def _differences(wanted, current, absent):
    """What makes ``current`` match ``wanted`` ({ident: obj or None}): objects to put back, ours to delete."""
    puts = [obj for ident, obj in sorted(wanted.items()) if obj is not None
            and (current.get(ident) is None or not same_content(current[ident], obj))]
    deletes = [ident for ident in sorted(absent) if current.get(ident) is not None and is_managed(current[ident])]
    return puts, deletes


def _waves(put_calls, delete_calls):
    """Puts in runs of one write rank (tiers first), then deletes in runs of one rank (tiers last)."""
    waves = []
    for calls, reverse in ((put_calls, False), (delete_calls, True)):
        start = len(waves)
        for call in sorted(calls, key=lambda item: (write_rank(item[0]), item[0]), reverse=reverse):
            if len(waves) > start and write_rank(waves[-1][-1][0]) == write_rank(call[0]):
                waves[-1].append(call)
            else:
                waves.append([call])
    return waves


def _concurrently(calls, workers):
    """Run ``[(ident, fn)]`` on up to ``workers`` threads; ``["<ident>: <error>"]`` for those that failed, in order."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
        futures = [(ident, pool.submit(call)) for ident, call in calls]
    return ["%s: %s" % (relpath(ident), future.exception()) for ident, future in futures if future.exception() is not None]


def _require_managed(ident, obj):
    """Deletes only ever touch objects carrying our label."""
    if not is_managed(obj):
        raise TargetError("%s: not deleted: it does not carry %s" % (describe(ident), "=".join(MANAGED_BY)))


def _delete_options(obj):
    """DeleteOptions whose preconditions are the uid and resourceVersion seen."""
    meta = obj.get("metadata") or {}
    preconditions = {key: meta[key] for key in ("uid", "resourceVersion") if meta.get(key)}
    return {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}


def _write_error(ident, failure):
    """A TargetError that says which object, what the server said, and for a conflict how to take over."""
    conflicts = failure.field_conflicts()
    if conflicts:
        managers = sorted({manager for manager, field in conflicts})
        fields = ", ".join(sorted({field for manager, field in conflicts}))
        return TargetError("%s: conflict: field manager %s already owns %s; set microseg_force: true (option force) to take "
                           "these fields over" % (describe(ident), ", ".join('"%s"' % manager for manager in managers), fields))
    if failure.status == 0:
        return TargetError("%s: %s" % (describe(ident), failure.detail))
    return TargetError("%s: the API server answered %s %s: %s" % (describe(ident), failure.status, failure.reason, failure.detail))
