"""One run at a time per target: a re-entrant ``flock`` on a lock file that names its holder.

Writers hold it exclusively; a check-mode run holds it shared and never creates it, so a
dry run writes nothing yet still waits for a writer to finish. Both targets use it.

While a phase holds the lock (``held(owner, label)`` with a label: a writer that is about to
change the target), the file holds one JSON line naming it (``pid``, ``host``, ``phase``,
``since``); its clean release empties the file again, and a lock held without a label writes
nothing at all. The kernel releases the flock of a process that dies, but not the file's
content: whoever takes the lock next and finds a holder named there knows that holder died
holding it (``stale``; ``claim_stale()`` hands it over once) and says so.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import TargetError

POLL = 0.05
_RECORD_LIMIT = 4096


def run_record(label=None):
    """Who is running: ``{"pid", "host", "phase", "since"}`` (``phase`` None when not known)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "phase": label,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def process_gone(record):
    """True unless the record names a process of this host that still exists."""
    pid = record.get("pid")
    if record.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class RunLock:
    """``path`` is the lock file; ``prepare()`` creates its directory; ``mode`` its permissions."""

    def __init__(self, path, check_mode, timeout, prepare, mode=0o644, holder="another run"):
        self.path = path
        self.check_mode = check_mode
        self.timeout = timeout
        self.prepare = prepare
        self.mode = mode
        self.holder = holder
        self.depth = 0
        self.stale = None
        self._fd = None
        self._recorded = False

    @contextlib.contextmanager
    def held(self, owner, label=None):
        """Hold the lock (re-entrant) and yield ``owner``; a ``label`` (the phase) names this run in the file."""
        if self.depth:
            self.depth += 1
            try:
                self._record(label)
                yield owner
            finally:
                self.depth -= 1
            return
        fd = self._open()
        try:
            if fd is not None:
                self._acquire(fd)
                self.stale = _read_record(fd)
            self._fd, self.depth = fd, 1
            self._record(label)
            yield owner
        finally:
            self.depth = 0
            self.stale = None
            self._fd = None
            if fd is not None:
                if self._recorded:
                    _clear_record(fd)
                os.close(fd)
            self._recorded = False

    def _record(self, label):
        """Name this run in the held lock file, once, when a label says which phase is about to write."""
        if label and not self._recorded and not self.check_mode and self._fd is not None:
            _write_record(self._fd, run_record(label))
            self._recorded = True

    def claim_stale(self):
        """The record of a holder that died holding the lock (found when this run took it), once; else None.

        Claiming takes the lock over: a writer that has not named itself yet erases the dead holder's name.
        """
        stale, self.stale = self.stale, None
        if stale is not None and not self._recorded and not self.check_mode and self._fd is not None:
            _clear_record(self._fd)
        return stale

    def _open(self):
        """Open (creating unless in check mode) the lock file; None when check mode finds none."""
        if self.check_mode and not os.path.isfile(self.path):
            return None
        try:
            if self.check_mode:
                return os.open(self.path, os.O_RDONLY)
            self.prepare()
            return os.open(self.path, os.O_RDWR | os.O_CREAT, self.mode)
        except OSError as exc:
            raise TargetError("%s: cannot open lock: %s" % (self.path, exc.strerror or exc)) from exc

    def _acquire(self, fd):
        """flock with a deadline: another run holding the lock longer is an error."""
        operation = (fcntl.LOCK_SH if self.check_mode else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, operation)
                return
            except BlockingIOError as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TargetError("%s: %s holds the lock (waited %ss)%s"
                                      % (self.path, self.holder, self.timeout, _named(fd))) from exc
                time.sleep(min(POLL, remaining))


def _read_record(fd):
    """The holder named in the lock file, or None (empty, or not a record: a lock file of an older version)."""
    try:
        raw = os.pread(fd, _RECORD_LIMIT, 0)
    except OSError:
        return None
    if not raw.strip():
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {"pid": None, "host": None, "phase": None, "since": None}
    return record if isinstance(record, dict) else {"pid": None, "host": None, "phase": None, "since": None}


def _write_record(fd, record):
    """Name this run in the lock file (best effort: the flock is what excludes)."""
    data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:
        pass


def _clear_record(fd):
    """Empty the lock file again, so that only a holder that died leaves its name behind."""
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass


def _named(fd):
    """``: pid 123 on host, deploy since ...`` for the current holder, when the file names one."""
    record = _read_record(fd)
    if not record or record.get("pid") is None:
        return ""
    return ": %s" % describe_holder(record)


def describe_holder(record):
    """``pid 123 on host (deploy, since 2024-01-01T00:00:00Z)``."""
    details = ", ".join(part for part in (record.get("phase"), "since %s" % record["since"] if record.get("since") else None) if part)
    return "pid %s on %s%s" % (record.get("pid"), record.get("host") or "an unknown host", " (%s)" % details if details else "")
