"""Report and table files: written in one step, and only when their text changes."""
from __future__ import annotations

import json
import os
import re
import tempfile

try:
    import msgspec
except ImportError:  # the standard library writes the same text, more slowly
    msgspec = None

_EXPONENT = re.compile(rb"[0-9][eE][-+]?[0-9]")


def json_text(document):
    """``document`` as report JSON: keys sorted, two-space indent, ASCII, a final newline (``json.dumps``'s text).

    With msgspec (optional) a large report is written about ten times faster; its text is used only when it is ASCII,
    and holds no exponent, where it is byte for byte what the standard library writes (reports hold no NaN or infinity,
    which the two write differently too).
    """
    if msgspec is not None:
        try:
            text = msgspec.json.format(msgspec.json.encode(document, order="sorted"), indent=2)
        except (TypeError, ValueError, msgspec.EncodeError):
            text = None
        if text is not None and text.isascii() and not _EXPONENT.search(text):   # json writes 1e-07 where msgspec writes 1e-7
            return text.decode("ascii") + "\n"
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


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
