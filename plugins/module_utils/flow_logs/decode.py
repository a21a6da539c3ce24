"""JSON decoding for flow logs: a fast decoder that builds only the fields a format reads, and the standard library.

With msgspec installed (optional, ``requirements.txt``), each format's records are decoded
against the fields its converter reads (``FIELDS`` in ``hubble.py``, ``calico.py`` and
``goldmane.py``): the rest of a record (uuids, MAC addresses, byte counters, policy traces)
is scanned but never built, which is where a Hubble record spends most of its parsing time.
Without msgspec, the standard library's C scanner decodes every line whole. Whatever a decoder refuses -- invalid JSON, a field of an unexpected type, a list
response -- goes to the standard library's ``json`` and the converter as before, so the fast
path only ever changes the speed, never the result or the message.
"""
from __future__ import annotations

import json
from typing import Any, Optional, TypedDict

try:
    import msgspec
except ImportError:  # the standard library does all the work, more slowly
    msgspec = None

FAST = msgspec is not None
# What a decoder raises for a line it does not take; the caller then reads the line carefully.
REFUSED = (ValueError, StopIteration) + ((msgspec.DecodeError,) if FAST else ())
_SCAN = json.JSONDecoder().scan_once
# In a format's FIELDS: keep this value as JSON text (an UNDECODED object, bytes(value) is the text); the standard decoder decodes it.
KEEP_TEXT = "keep-text"
UNDECODED = msgspec.Raw if FAST else type("NeverUndecoded", (), {})


def _typed(name, fields):
    """A TypedDict of ``fields`` (key -> None for any value, KEEP_TEXT for a value kept as text, or a nested mapping for an
    object, which may also be null)."""
    hints = {}
    for key, inner in fields.items():
        if inner is None:
            hints[key] = Any
        elif inner == KEEP_TEXT:
            hints[key] = msgspec.Raw
        else:
            hints[key] = Optional[_typed(name + "_" + key.strip("_"), inner)]
    return TypedDict(name, hints, total=False)


def scan(line):
    """``bytes ->`` the one JSON value the line holds, with the standard library's C scanner; ValueError or StopIteration
    when it holds anything else (json.loads then says what, and takes a byte order mark or leading spaces)."""
    text = line.decode()
    value, end = _SCAN(text, 0)
    if end != len(text) and text[end:].strip():
        raise ValueError("more than one JSON value")
    return value


def standard_decode(line):
    """``bytes -> dict``: one JSON object and nothing after it, else REFUSED."""
    record = scan(line)
    if record.__class__ is not dict:
        raise ValueError("not one JSON object")
    return record


def fast_decoder(name, fields):
    """``bytes -> dict`` holding only ``fields`` (msgspec), or ``standard_decode`` without msgspec."""
    if not FAST:
        return standard_decode
    return msgspec.json.Decoder(_typed(name, fields)).decode
