"""Make this checkout importable as ``ansible_collections.zerotrust.microseg``.

pytest runs from a plain clone; the collection's Python code imports itself by its
collection path. We link the checkout into ``collections/ansible_collections`` once.
"""
import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
_COLLECTIONS = os.path.join(_ROOT, "collections")
_LINK = os.path.join(_COLLECTIONS, "ansible_collections", "zerotrust", "microseg")

if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(os.path.relpath(_ROOT, os.path.dirname(_LINK)), _LINK)
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
