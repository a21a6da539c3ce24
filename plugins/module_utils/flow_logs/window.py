"""The time window of a ``microseg_flow_logs`` entry: ``since`` and ``until`` (RFC 3339 or a duration before now).

A record is kept when its time (its interval, for aggregated Calico and Goldmane records)
overlaps the window; records outside it, or without a time, are skipped and counted.
"""
from __future__ import annotations

import datetime
import re
import time

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_UNITS = (604800, 86400, 3600, 60, 1)
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)?$")


def _utc_seconds(date, clock, offset):
    """Seconds since the epoch of a date, a clock time and a UTC offset (``Z``, ``+02:00``; none means UTC)."""
    stamp = datetime.datetime.fromisoformat("%sT%s" % (date, clock))
    seconds = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    if offset and offset not in "Zz":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError("UTC offset out of range")
        seconds -= sign * (hours * 3600 + minutes * 60)
    return seconds


def parse_bound(value, field, source, now=None):
    """``since`` / ``until`` -> seconds since the epoch; ``InputError`` naming ``source`` and ``field`` otherwise."""
    if isinstance(value, datetime.datetime):   # YAML reads an unquoted timestamp as a datetime
        return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc).timestamp()
    if isinstance(value, str) and value.strip():
        text = value.strip()
        found = _DURATION.match(text)
        if found and any(found.groups()):
            length = sum(int(part or 0) * unit for part, unit in zip(found.groups(), _DURATION_UNITS))
            return (time.time() if now is None else now) - length
        found = _RFC3339.match(text)
        if found:
            try:
                return _utc_seconds(found.group(1), found.group(2), found.group(4)) + float(found.group(3) or 0)
            except ValueError:
                pass
    raise InputError("must be an RFC 3339 time (2025-05-12T09:00:00Z) or a duration before now (24h, 30m, 7d, 1h30m), not %r" % (value,),
                     source=source, field=field)


class Window:
    """``since`` and ``until`` in seconds since the epoch (None: open on that side)."""

    def __init__(self, since=None, until=None):
        self.since = since
        self.until = until
        self.memo = {}

    def keeps(self, start, end):
        """True when the interval [start, end] (one of them may be None) overlaps the window; None when there is no time."""
        if start is None:
            start = end
        if end is None:
            end = start
        if start is None:
            return None
        return (self.since is None or end >= self.since) and (self.until is None or start <= self.until)

    def seconds(self, value):
        """A record's time -> seconds since the epoch, or None: a number (seconds, or milli/micro/nanoseconds by size), digits,
        RFC 3339 text, or a protobuf ``{"seconds", "nanos"}``."""
        if value.__class__ is str:
            if value[-1:] in ("Z", "z"):   # the usual UTC stamp: the part to the second once, then only its fraction
                found = self.memo.get(value[:19])
                fraction = value[19:-1]
                if found is not None and (not fraction or (fraction[0] == "." and fraction[1:].isdigit())):
                    return found + float(fraction) if fraction else found
            if value.isdigit():
                return _scaled(int(value))
            match = _RFC3339.match(value.strip())
            if not match:
                return None
            try:
                base = _utc_seconds(match.group(1), match.group(2), match.group(4))
            except ValueError:
                return None
            if not match.group(4) or match.group(4) in "Zz":
                self.memo[value[:19]] = base
            return base + float(match.group(3) or 0)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _scaled(value)
        if isinstance(value, dict) and isinstance(value.get("seconds"), (int, str)):
            try:
                return int(value["seconds"]) + int(value.get("nanos") or 0) / 1e9
            except ValueError:
                return None
        return None


def _scaled(number):
    """Epoch seconds from seconds, milliseconds, microseconds or nanoseconds (told apart by size)."""
    for limit, scale in ((1e11, 1), (1e14, 1e3), (1e17, 1e6)):
        if abs(number) < limit:
            return number / scale
    return number / 1e9


def window_from_spec(spec, source, now=None):
    """A Window from the ``since`` / ``until`` keys of a spec, or None when neither is given."""
    since, until = spec.get("since"), spec.get("until")
    if since is None and until is None:
        return None
    window = Window(None if since is None else parse_bound(since, "since", source, now),
                    None if until is None else parse_bound(until, "until", source, now))
    if window.since is not None and window.until is not None and window.since > window.until:
        raise InputError("since (%s) is after until (%s)" % (since, until), source=source)
    return window
