"""One run at a time per target: a re-entrant ``flock`` on a lock file.

Writers hold it exclusively; a check-mode run holds it shared and never creates it, so a
dry run writes nothing yet still waits for a writer to finish. Both targets use it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import TargetError

POLL = 0.05


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

    @contextlib.contextmanager
    def held(self, owner):
        """Hold the lock (re-entrant) and yield ``owner``."""
        if self.depth:
            self.depth += 1
            try:
                yield owner
            finally:
                self.depth -= 1
            return
        fd = self._open()
        try:
            if fd is not None:
                self._acquire(fd)
            self.depth = 1
            yield owner
        finally:
            self.depth = 0
            if fd is not None:
                os.close(fd)

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
                    raise TargetError("%s: %s holds the lock (waited %ss)" % (self.path, self.holder, self.timeout)) from exc
                time.sleep(min(POLL, remaining))
