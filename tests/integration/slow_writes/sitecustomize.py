"""Test hook, never product code: slows down every object write of the directory target.

A test puts this directory on PYTHONPATH and sets ``MICROSEG_TEST_WRITE_DELAY`` (seconds) for one
ansible-playbook run; Python imports ``sitecustomize`` at start-up in the controller and in every
module process. When the module process imports the directory target, ``DirectoryTarget.put``
first sleeps that long, so that a phase takes seconds and the test can kill the run in the middle
of it. Without the variable nothing is changed.
"""
import importlib.abc
import os
import sys
import time

_MODULE = "ansible_collections.zerotrust.microseg.plugins.module_utils.directory"


def _slow_down(module, delay):
    real = module.DirectoryTarget.put

    def put(self, obj):
        time.sleep(delay)
        return real(self, obj)

    module.DirectoryTarget.put = put


class _Loader(importlib.abc.Loader):
    """Runs the real loader, then slows the target down."""

    def __init__(self, real, delay):
        self.real = real
        self.delay = delay

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        self.real.exec_module(module)
        _slow_down(module, self.delay)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the directory target with the other finders and wraps its loader."""

    def __init__(self, delay):
        self.delay = delay

    def find_spec(self, name, path, target=None):
        if name != _MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, self.delay)
                return spec
        return None


_DELAY = float(os.environ.get("MICROSEG_TEST_WRITE_DELAY") or 0)
if _DELAY > 0:
    sys.meta_path.insert(0, _Finder(_DELAY))
