"""Report and table files: written in one step, and only when their text changes."""
from __future__ import annotations

import os
import tempfile


def read_text(path):
    """The file's text, or "" when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def replace_text(path, text):
    """Replace ``path`` by ``text`` in one step (a reader never sees half a file); creates its directory."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_if_changed(path, text, check_mode=False):
    """Write ``text`` at ``path`` unless it already holds it (never in check mode); returns (changed, before)."""
    before = read_text(path)
    if before == text:
        return False, before
    if not check_mode:
        replace_text(path, text)
    return True, before
