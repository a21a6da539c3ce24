"""The directory-backed cluster target.

One YAML file per object at ``<group>/<Kind>/<namespace or _cluster>/<name>.yaml`` below a
root directory. Dot-entries at any level (``.git``, ``.microseg``, temp files) are never read
or touched; our own bookkeeping (lock, snapshots) lives only under ``<root>/.microseg/``.
Check mode is a flag set once: a check-mode target reads and never writes (no lock file,
no snapshot, no bookkeeping directory).

A run that dies mid-phase leaves its snapshot (labelled with the phase and the process that
took it), its name in the lock file, and perhaps a half-written snapshot staging directory
(``snapshots/.<id>``) or one of our own temp files (``.<8 random>.tmp`` beside an object
file): ``leftovers()`` finds the snapshots, ``clean_debris()`` removes the rest.
"""
import copy
import hashlib
import json
import marshal
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping

from ansible_collections.zerotrust.microseg.plugins.module_utils.locking import RunLock, run_record
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    CLUSTER_SCOPE, dump, identity, is_managed, labels as object_labels, load, relpath)

BOOKKEEPING = ".microseg"
SUFFIX = ".yaml"
LOCK_TIMEOUT = 60.0
_SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}$")
_MANIFEST = "manifest.json"
_TEMP_FILE = re.compile(r"^\.[a-z0-9_]{8}\.tmp$")   # what _write's mkstemp names a file while it is being written


def _copy(obj):
    """A deep copy of a parsed object: marshal for plain data (a few times faster than deepcopy), else deepcopy."""
    try:
        return marshal.loads(marshal.dumps(obj))
    except ValueError:   # a value marshal does not take (a YAML timestamp, for one)
        return copy.deepcopy(obj)


class DirectoryTarget:
    """A directory that behaves like a cluster: list, get, put, delete, lock, snapshot, restore."""

    def __init__(self, root, check_mode=False, lock_timeout=LOCK_TIMEOUT):
        self.root = os.path.abspath(root)
        self.check_mode = bool(check_mode)
        self.lock_timeout = lock_timeout
        self._parsed = {}   # path -> (bytes, object) as last parsed
        self._lock = RunLock(self._lock_path(), check_mode, lock_timeout, self._ensure_bookkeeping)

    # -- reading ---------------------------------------------------------------------------

    def list(self, kinds=None, labels=None):
        """All objects as ``{ident: obj}``, optionally only ``(group, kind)`` pairs and label matches."""
        found = {}
        for ident, path in self._scan(kinds):
            obj = self._read(ident, path)[1]
            if _has_labels(obj, labels):
                found[ident] = obj
        return found

    def get(self, ident):
        """The object at ``ident``, or None when there is no such file."""
        path = self.path(ident)
        if not os.path.isfile(path):
            return None
        return self._read(ident, path)[1]

    def path(self, ident):
        """Absolute file path of an identity."""
        return self._abs(relpath(ident))

    def _abs(self, rel):
        """Absolute path of a ``/``-separated path relative to the root."""
        return os.path.join(self.root, *rel.split("/"))

    def _scan(self, kinds=None):
        """Yield ``(ident, path)`` for every object file, in sorted order, skipping dot-entries."""
        wanted = None if kinds is None else {tuple(pair) for pair in kinds}
        for group in _entries(self.root, dirs=True):
            for kind in _entries(os.path.join(self.root, group), dirs=True):
                if wanted is not None and (group, kind) not in wanted:
                    continue
                yield from self._scan_kind(group, kind)

    def _scan_kind(self, group, kind):
        """Yield ``(ident, path)`` for the files of one kind directory."""
        kind_dir = os.path.join(self.root, group, kind)
        for scope in _entries(kind_dir, dirs=True):
            namespace = "" if scope == CLUSTER_SCOPE else scope
            for name in _entries(os.path.join(kind_dir, scope), dirs=False):
                if name.endswith(SUFFIX) and len(name) > len(SUFFIX):
                    yield (group, kind, namespace, name[:-len(SUFFIX)]), os.path.join(kind_dir, scope, name)

    def _read(self, ident, path):
        """Raw bytes and parsed object of one file; its content must match its path.

        A run lists the target several times (identify, each phase's plan, snapshot, gate, remediate): a file whose
        bytes did not change since this target last parsed it is not parsed again; the caller gets its own copy.
        """
        raw = _read_bytes(path)
        cached = self._parsed.get(path)
        if cached is not None and cached[0] == raw:
            return raw, _copy(cached[1])
        obj = load(raw, source=path)
        try:
            found = identity(obj)
        except InputError as exc:
            raise InputError(exc.message, source=path, field=exc.field) from exc
        if found != ident:
            raise InputError("holds %s, which belongs at %s" % ("/".join(found), relpath(found)), source=path)
        self._parsed[path] = (raw, _copy(obj))
        return raw, obj

    # -- writing ---------------------------------------------------------------------------

    def put(self, obj):
        """Create or replace one object file atomically; returns its relative path."""
        self._refuse_in_check_mode("put")
        ident = identity(obj)
        rel = relpath(ident)
        self._write(rel, dump(obj).encode("utf-8"))
        return rel

    def delete(self, ident):
        """Remove one object file and its emptied parent directories; False if it was absent."""
        self._refuse_in_check_mode("delete")
        return self._remove(relpath(ident))

    def _refuse_in_check_mode(self, what):
        """Writes in check mode are a bug in the caller, never a user error."""
        if self.check_mode:
            raise RuntimeError("internal error: %s() called on a check-mode directory target" % what)

    def _write(self, rel, data, mode=None):
        """Write bytes to a temp file in the same directory, then rename it over the target."""
        path = self._abs(rel)
        parent = os.path.dirname(path)
        tmp = None
        try:
            mode = _file_mode(path) if mode is None else mode
            os.makedirs(parent, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            raise TargetError("%s: cannot write: %s" % (path, exc.strerror or exc)) from exc

    def _remove(self, rel, stop=None):
        """Remove a file, then empty parents up to ``stop`` (default: the root, never included)."""
        path = self._abs(rel)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise TargetError("%s: cannot delete: %s" % (path, exc.strerror or exc)) from exc
        self._prune_dirs(os.path.dirname(path), stop or self.root)
        return True

    def _prune_dirs(self, directory, stop):
        """Remove empty directories from ``directory`` upwards, stopping at ``stop`` or the root."""
        while directory not in (stop, self.root) and directory.startswith(self.root + os.sep):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    # -- in-memory undo for one apply ---------------------------------------------------

    def save(self, idents):
        """Remember the exact bytes and mode (or absence) of these objects' files, for ``revert``."""
        saved = {}
        for ident in idents:
            rel = relpath(ident)
            path = self._abs(rel)
            if os.path.isfile(path):
                saved[rel] = (_read_bytes(path), _file_mode(path), None)
            else:
                saved[rel] = (None, None, _existing_ancestor(os.path.dirname(path)))
        return saved

    def revert(self, saved):
        """Put every saved path back exactly: old bytes rewritten, files that were absent removed."""
        self._refuse_in_check_mode("revert")
        failures = []
        for rel, (raw, mode, anchor) in saved.items():
            try:
                self._put_back(rel, raw, mode, anchor)
            except TargetError as exc:
                failures.append(str(exc))
        if failures:
            raise TargetError("could not restore: %s" % "; ".join(failures))

    def _put_back(self, rel, raw, mode, anchor):
        """Restore one path to ``raw`` bytes, or to absence (removing only directories made since)."""
        path = self._abs(rel)
        if raw is None:
            self._remove(rel, stop=anchor)
        elif not os.path.isfile(path) or _read_bytes(path) != raw:
            self._write(rel, raw, mode)

    # -- lock ----------------------------------------------------------------------------

    def lock(self, label=None):
        """Hold ``<root>/.microseg/lock`` exclusively (re-entrant within this target); ``label`` (the phase) is
        recorded in the file while it is held.

        In check mode nothing is created: an existing lock file is held shared, else none is taken.
        """
        return self._lock.held(self, label)

    def stale_holder(self):
        """While the lock is held: the run that died holding it before (``{pid, host, phase, since}``), once; else None."""
        return self._lock.claim_stale()

    def _lock_path(self):
        """Path of the lock file."""
        return os.path.join(self.root, BOOKKEEPING, "lock")

    def _ensure_bookkeeping(self):
        """Create ``.microseg/`` with a ``.gitignore`` so a GitOps repository never commits it."""
        base = os.path.join(self.root, BOOKKEEPING)
        os.makedirs(base, exist_ok=True)
        ignore = os.path.join(base, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w", encoding="utf-8") as handle:
                handle.write("*\n")
        return base

    # -- snapshots ---------------------------------------------------------------------

    def snapshots(self):
        """Ids of the stored snapshots, oldest first."""
        base = os.path.join(self.root, BOOKKEEPING, "snapshots")
        return [name for name in _entries(base, dirs=True) if _SNAPSHOT_ID.match(name)]

    def snapshot(self, idents=None, label=None):
        """Store the exact bytes of every managed object file (or of ``idents``); returns the id.

        With ``idents`` the snapshot covers exactly those paths, managed or not, present or not.
        ``label`` names the phase taking it (with this process and host, in the manifest): a
        labelled snapshot that outlives its run is a leftover of an interrupted run (``leftovers``).
        In check mode nothing is written and the id is None.
        """
        if self.check_mode:
            return None
        files, selected = self._snapshot_files(idents)
        snap_id = _new_snapshot_id()
        base = os.path.join(self._ensure_bookkeeping(), "snapshots")
        staging = os.path.join(base, "." + snap_id)
        try:
            self._write_snapshot(staging, snap_id, files, selected, label)
            os.rename(staging, os.path.join(base, snap_id))
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise TargetError("%s: cannot store snapshot: %s" % (base, exc.strerror or exc)) from exc
        return snap_id

    def _snapshot_files(self, idents):
        """``{relpath: bytes}`` to store, and the selected relpaths (None: all managed files)."""
        files = {}
        if idents is None:
            for ident, path in self._scan():
                raw, obj = self._read(ident, path)
                if is_managed(obj):
                    files[relpath(ident)] = raw
            return files, None
        selected = sorted({relpath(ident) for ident in idents})
        for rel in selected:
            path = self._abs(rel)
            if os.path.isfile(path):
                files[rel] = _read_bytes(path)
        return files, selected

    @staticmethod
    def _write_snapshot(staging, snap_id, files, selected, label=None):
        """Write the files and the manifest into a staging directory."""
        os.makedirs(os.path.join(staging, "files"))
        digests = {}
        for rel, raw in sorted(files.items()):
            path = os.path.join(staging, "files", *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(raw)
            digests[rel] = hashlib.sha256(raw).hexdigest()
        run = run_record(label)
        manifest = {"id": snap_id, "created": run["since"], "files": digests, "selected": selected,
                    "label": label, "pid": run["pid"], "host": run["host"]}
        with open(os.path.join(staging, _MANIFEST), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")

    def restore(self, snap_id):
        """Make managed object files byte-identical to a snapshot; returns the relpaths changed.

        Snapshotted files get their exact bytes back, managed files (or selected paths) that did
        not exist then are deleted, unmanaged files are left alone. In check mode nothing is
        written and the relpaths that would change are returned. ``None`` restores nothing.
        """
        if snap_id is None:
            return []
        stored, selected = self._load_snapshot(snap_id)
        plan = self._restore_plan(stored, selected)
        if not self.check_mode:
            for rel, raw in plan:
                self._put_back(rel, raw, None, None)
        return sorted(item[0] for item in plan)

    def _snapshot_dir(self, snap_id):
        """Directory of one snapshot; unknown or malformed ids are errors."""
        base = os.path.join(self.root, BOOKKEEPING, "snapshots", str(snap_id))
        if not _SNAPSHOT_ID.match(str(snap_id)) or not os.path.isdir(base):
            raise TargetError("%s: no such snapshot" % base)
        return base

    def _load_snapshot(self, snap_id):
        """``{relpath: bytes}`` stored in a snapshot (digests verified) and its selected paths."""
        base = self._snapshot_dir(snap_id)
        try:
            with open(os.path.join(base, _MANIFEST), encoding="utf-8") as handle:
                manifest = json.load(handle)
            stored = {}
            for rel, digest in manifest["files"].items():
                _check_relpath(rel, base)
                stored[rel] = _read_bytes(os.path.join(base, "files", *rel.split("/")))
                if hashlib.sha256(stored[rel]).hexdigest() != digest:
                    raise TargetError("%s: snapshot file %s is corrupt" % (base, rel))
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise TargetError("%s: unreadable snapshot: %s" % (base, exc)) from exc
        selected = manifest.get("selected")
        for rel in selected or ():
            _check_relpath(rel, base)
        return stored, selected

    def _restore_plan(self, stored, selected):
        """``[(relpath, bytes or None)]`` needed to match the snapshot."""
        plan = []
        for rel, raw in sorted(stored.items()):
            path = self._abs(rel)
            if not os.path.isfile(path) or _read_bytes(path) != raw:
                plan.append((rel, raw))
        if selected is not None:
            extra = [rel for rel in selected if rel not in stored and os.path.isfile(self._abs(rel))]
        else:
            extra = [rel for rel in self._managed_relpaths() if rel not in stored]
        return plan + [(rel, None) for rel in sorted(extra)]

    def _managed_relpaths(self):
        """Relpaths of managed object files; unreadable files cannot be ours to delete."""
        for ident, path in self._scan():
            try:
                obj = self._read(ident, path)[1]
            except (InputError, TargetError):
                continue
            if is_managed(obj):
                yield relpath(ident)

    def discard(self, snap_id):
        """Delete a snapshot; False when there is none (or in check mode, which writes nothing)."""
        if snap_id is None or self.check_mode:
            return False
        try:
            base = self._snapshot_dir(snap_id)
        except TargetError:
            return False
        shutil.rmtree(base)
        return True

    # -- what an interrupted run leaves behind ---------------------------------------------

    def snapshot_record(self, snap_id):
        """``{id, label, created, pid, host}`` of a stored snapshot (``label`` None: not taken by a phase)."""
        base = self._snapshot_dir(snap_id)
        try:
            with open(os.path.join(base, _MANIFEST), encoding="utf-8") as handle:
                manifest = json.load(handle)
            return dict({key: manifest.get(key) for key in ("label", "created", "pid", "host")}, id=snap_id)
        except (OSError, ValueError, AttributeError) as exc:
            raise TargetError("%s: unreadable snapshot: %s" % (base, exc)) from exc

    def leftovers(self):
        """The snapshots a phase took and never discarded (its run died, or even its rollback failed), oldest first.

        Only phases label their snapshots: one taken on request (``policy_apply state=snapshot``) is the caller's to
        restore or discard, and is never a leftover.
        """
        records = [self.snapshot_record(snap_id) for snap_id in self.snapshots()]
        return [record for record in records if record["label"]]

    def debris(self):
        """Absolute paths of what a write cut short leaves: snapshot staging directories and our temp files."""
        found = []
        base = os.path.join(self.root, BOOKKEEPING, "snapshots")
        found += [os.path.join(base, name) for name in _dot_entries(base, dirs=True) if _SNAPSHOT_ID.match(name[1:])]
        for group in _entries(self.root, dirs=True):
            for kind in _entries(os.path.join(self.root, group), dirs=True):
                for scope in _entries(os.path.join(self.root, group, kind), dirs=True):
                    directory = os.path.join(self.root, group, kind, scope)
                    found += [os.path.join(directory, name) for name in _dot_entries(directory, dirs=False) if _TEMP_FILE.match(name)]
        return found

    def clean_debris(self):
        """Remove ``debris()`` and the object directories that leaves empty; returns the paths removed (none in check mode)."""
        if self.check_mode:
            return []
        found = self.debris()
        for path in found:
            try:
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                    self._prune_dirs(os.path.dirname(path), self.root)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise TargetError("%s: cannot remove what an interrupted run left: %s" % (path, exc.strerror or exc)) from exc
        return found


def _entries(directory, dirs):
    """Sorted names of the non-dot directories (or files) in ``directory``; none if it is absent."""
    try:
        with os.scandir(directory) as listing:
            names = [entry.name for entry in listing
                     if not entry.name.startswith(".") and (entry.is_dir() if dirs else entry.is_file())]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise TargetError("%s: cannot list: %s" % (directory, exc.strerror or exc)) from exc
    return sorted(names)


def _dot_entries(directory, dirs):
    """Sorted names of the dot-directories (or dot-files) in ``directory``; none if it is absent."""
    try:
        with os.scandir(directory) as listing:
            return sorted(entry.name for entry in listing
                          if entry.name.startswith(".") and (entry.is_dir(follow_symlinks=False) if dirs else entry.is_file(follow_symlinks=False)))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise TargetError("%s: cannot list: %s" % (directory, exc.strerror or exc)) from exc


def _read_bytes(path):
    """Bytes of a file, or a TargetError naming it."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise TargetError("%s: cannot read: %s" % (path, exc.strerror or exc)) from exc


def _has_labels(obj, required):
    """True when every ``key: value`` of ``required`` is among the object's labels."""
    if not required:
        return True
    if not isinstance(required, Mapping):
        raise InputError("must be a mapping of label keys to values", field="labels")
    found = object_labels(obj)
    return all(found.get(key) == value for key, value in required.items())


def _file_mode(path):
    """Keep an existing file's mode; new files get 0666 minus the process umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _existing_ancestor(directory):
    """The deepest directory on the way up from ``directory`` that exists now."""
    while not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    return directory


def _check_relpath(rel, where):
    """A relpath from a manifest must be ``group/Kind/scope/name.yaml`` with no dot-segment."""
    parts = rel.split("/") if isinstance(rel, str) else []
    if len(parts) != 4 or any(not part or part.startswith(".") for part in parts) or not rel.endswith(SUFFIX):
        raise TargetError("%s: manifest names an invalid path %r" % (where, rel))


def _new_snapshot_id():
    """UTC timestamp to the microsecond plus random hex: ids sort by creation time."""
    now = time.time()
    return "%s.%06dZ-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)),
                            int((now % 1) * 1e6), secrets.token_hex(4))
