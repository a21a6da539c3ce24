"""One flow log's aggregation: lines -> records -> flow keys with the first line each was seen on and its record count.

The hot loop decodes a line with the format's fast decoder (``decode.py``) and converts it;
anything unusual (blank, invalid or cut JSON, a list response, a record the converter
refuses) takes the careful path, which uses the standard library so that every skipped line
is named with the same message whichever decoder is installed. Lines that hold no flow
record are skipped and counted by reason (``MALFORMED_REASONS``); records that are valid
but not a usable flow are counted in ``skipped`` (``SKIP_REASONS``).
"""
from __future__ import annotations

import array
import json
from dataclasses import astuple

from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import Endpoint, Flow
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import (
    CUT, NO_TIME, NOT_A_FLOW, NOT_A_RECORD, NOT_JSON, UNDETECTED, WINDOW, Endpoints, RecordError, json_type, type_problem)
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.decode import REFUSED, scan
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.formats import CONVERTERS, decoder, detect_format, undetected
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.hubble import EVENTS

KEPT = 100   # skipped lines a tally names one by one; malformed_total counts them all
DOCUMENT = "document"   # feed(): the first line only begins a (pretty-printed) JSON document


def json_problem(err):
    """A JSON parse error in a few words."""
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text: %s" % err.reason
    if isinstance(err, json.JSONDecodeError):
        return "invalid JSON: %s (column %d)" % (err.msg, err.colno)
    return "invalid JSON: %s" % err


def container_items(record):
    """``(JSON path, records)`` of a list response (Whisker ``items``, Goldmane ``flows``, Elasticsearch ``hits.hits``), else None."""
    for key in ("items", "flows"):
        value = record.get(key)
        if isinstance(value, list):
            return key, value
    hits = record.get("hits")
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
        return "hits.hits", hits["hits"]
    return None


def _refuse(_line):
    raise ValueError("the format is not known yet")


class Tally:
    """The aggregation of one file (or, in a worker process, of the chunks it was given)."""

    def __init__(self, fmt, identity, denied=False, window=None):
        self.endpoints = Endpoints(identity)
        self.denied = denied
        self.window = window
        self.seen = {}              # (source id, destination id, protocol, port) -> [first line, records]
        self.skipped = {}           # skip reason -> records
        self.malformed = []         # the first KEPT (line, reason) of lines that hold no flow record
        self.malformed_total = 0
        self.malformed_by_reason = {}
        self.records = 0
        self.started = False        # a line with content was read: no JSON document can begin any more
        self.documents = True       # whether a first line that is only a beginning may start a JSON document
        self.undetected = None      # (line, message) of the first record whose format could not be told
        self.last_bad = -1
        self.fmt = fmt
        self.converter = self.decode = None
        if fmt != "auto":
            self.use(fmt)

    def use(self, fmt):
        """Read the rest as ``fmt``."""
        self.fmt = fmt
        self.converter = CONVERTERS[fmt](self.endpoints, take_denied=self.denied)
        self.decode = decoder(fmt, times=self.window is not None)

    def bad_line(self, line, kind, message):
        """A line (or an item of a JSON document, line None) that holds no flow record; one entry per line."""
        if line is not None and line == self.last_bad:
            return
        self.last_bad = line
        self.malformed_total += 1
        self.malformed_by_reason[kind] = self.malformed_by_reason.get(kind, 0) + 1
        if len(self.malformed) < KEPT:
            self.malformed.append((line, message))

    def feed(self, data, number):
        """The complete lines in ``data`` (bytes, or a list of lines), the first being line ``number + 1``.

        Returns the number of lines, or (DOCUMENT, index) when the file's first line with content is only the beginning
        of a JSON value, which may be one pretty-printed document starting at that line's ``index`` in ``data``.
        """
        lines = data.split(b"\n") if data.__class__ is bytes else data
        count = len(lines)
        start = 0
        if not self.started:
            for start, line in enumerate(lines):
                if self.started:
                    break
                if self.careful(line, number + start + 1) is DOCUMENT:
                    return DOCUMENT, start
            else:
                return count
            number += start
            lines = lines[start:]
        decode, converter, seen, skipped, window = self.decode, self.converter, self.seen, self.skipped, self.window
        convert = converter.convert if converter is not None else None
        if decode is None:   # the format is not told yet: the careful path tells it
            decode = _refuse
        counted = 0
        for line in lines:
            number += 1
            try:
                record = decode(line)
                result = convert(record)
            except REFUSED:
                result = None
            except (RecordError, TypeError):
                result = None
            if result is None:
                self.careful(line, number)
                if convert is None and self.converter is not None:   # the format was just told
                    decode, converter = self.decode, self.converter
                    convert = converter.convert
                continue
            counted += 1
            if result.__class__ is tuple:
                if window is not None and not self.inside(record):
                    continue
                entry = seen.get(result)
                if entry is None:
                    seen[result] = [number, 1]
                else:
                    entry[1] += 1
            elif result == NOT_A_FLOW:
                counted -= 1
                self.bad_line(number, NOT_A_FLOW, self.event(record))
            else:
                skipped[result] = skipped.get(result, 0) + 1
        self.records += counted
        return count

    def careful(self, line, number):
        """One line with the standard library: skipped and named when it holds no flow record. DOCUMENT: see ``feed``."""
        try:
            record = scan(line)   # the C scanner; json.loads (BOM, leading spaces, the message) only if that fails
        except (StopIteration, ValueError):
            try:
                record = json.loads(line)
            except ValueError as err:
                if not line.strip():
                    return None
                cut = isinstance(err, json.JSONDecodeError) and err.pos >= len(line.rstrip().decode("utf-8", "replace"))
                if cut and not self.started and self.documents:
                    return DOCUMENT
                self.started = True
                self.bad_line(number, CUT if cut else NOT_JSON, json_problem(err))
                return None
        self.started = True
        self.add(record, number)
        return None

    def add(self, record, line, where=""):
        """One parsed JSON value: a record, an array of records or a list response."""
        if isinstance(record, dict):
            found = container_items(record)
            if found is not None:
                path, items = found
                for index, item in enumerate(items):
                    self.add(item, line, "%s%s%s[%d]" % (where, "." if where else "", path, index))
                return
        elif isinstance(record, list):
            for index, item in enumerate(record):
                self.add(item, line, "%s[%d]" % (where, index))
            return
        else:
            self.bad_line(line, NOT_A_RECORD, "%sexpected a JSON object (one flow record), got %s" % (where + ": " if where else "", json_type(record)))
            return
        if self.converter is None:
            fmt = detect_format(record)
            if fmt is None:
                message = undetected(record)
                if self.undetected is None:
                    self.undetected = (line, (where + ": " if where else "") + message)
                self.bad_line(line, UNDETECTED, message)
                return
            self.use(fmt)
        try:
            result = self.converter.convert(record)
        except RecordError as err:
            self.bad_line(line, NOT_A_RECORD, "%s%s: %s" % (where + "." if where else "", err.field, err.message))
            return
        except TypeError as err:
            self.bad_line(line, NOT_A_RECORD, "%s%s" % (where + ": " if where else "", type_problem(err)))
            return
        if result == NOT_A_FLOW:
            self.bad_line(line, NOT_A_FLOW, self.event(record))
            return
        self.records += 1
        if result.__class__ is tuple:
            if self.window is not None and not self.inside(record):
                return
            entry = self.seen.get(result)
            if entry is None:
                self.seen[result] = [line, 1]
            else:
                entry[1] += 1
        else:
            self.skipped[result] = self.skipped.get(result, 0) + 1

    def inside(self, record):
        """Whether the record's time is inside the window; counts it in ``skipped`` when it is not (or has no time)."""
        window = self.window
        start, end = self.converter.time(record)
        kept = window.keeps(None if start is None else window.seconds(start), None if end is None else window.seconds(end))
        if not kept:
            reason = NO_TIME if kept is None else WINDOW
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
        return kept

    @staticmethod
    def event(record):
        names = [name for name in EVENTS if name in record]
        return "a Hubble %s event, not a flow" % (names[0] if names else "exporter")

    def export(self):
        """What a worker process sends back: plain data, endpoints as field tuples and the flows as two flat integer arrays
        (cheap to pickle and unpickle: the reader waits for this)."""
        protocols = sorted({key[2] for key in self.seen})
        index = {protocol: number for number, protocol in enumerate(protocols)}
        keys, values = array.array("q"), array.array("q")
        for (source, destination, protocol, port), (line, count) in self.seen.items():
            keys.extend((source, destination, index[protocol], port))
            values.extend((line, count))
        endpoints = [astuple(endpoint) for endpoint in self.endpoints.endpoints]
        return (self.fmt, endpoints, protocols, keys, values, self.skipped, self.malformed, self.malformed_total,
                self.malformed_by_reason, self.records, self.undetected)

    def merge(self, state, offset=0):
        """Add a worker's ``export()`` to this tally; its line numbers count from ``offset``."""
        fmt, endpoints, protocols, keys, values, skipped, malformed, malformed_total, by_reason, records, undetected_record = state
        if self.converter is None and fmt != "auto":
            self.use(fmt)
        ids = [self.endpoints.register(Endpoint(*fields)) for fields in endpoints]
        mine = self.seen
        for at in range(0, len(keys), 4):
            key = (ids[keys[at]], ids[keys[at + 1]], protocols[keys[at + 2]], keys[at + 3])
            line = values[at // 2] + offset
            count = values[at // 2 + 1]
            entry = mine.get(key)
            if entry is None:
                mine[key] = [line, count]
            else:
                entry[0] = min(entry[0], line)
                entry[1] += count
        for reason, count in skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count
        for reason, count in by_reason.items():
            self.malformed_by_reason[reason] = self.malformed_by_reason.get(reason, 0) + count
        malformed = [(line + offset, reason) for line, reason in malformed]
        self.malformed = sorted(self.malformed + malformed, key=lambda entry: (entry[0] is None, entry[0] or 0))[:KEPT]
        self.malformed_total += malformed_total
        self.records += records
        if self.undetected is None and undetected_record is not None:
            self.undetected = (undetected_record[0] + offset, undetected_record[1])

    def flows(self, path):
        """``(flows, counts)``: the aggregated flows sorted as ``merge_flows`` sorts, each with the first place it was seen as
        origin, and the number of records of each. Endpoints are ranked once, so the sort compares small tuples."""
        endpoints = self.endpoints.endpoints
        rank = [0] * len(endpoints)
        for position, index in enumerate(sorted(range(len(endpoints)), key=endpoints.__getitem__)):
            rank[index] = position
        ordered = [(rank[source], rank[destination], protocol, port, source, destination, line, count)
                   for (source, destination, protocol, port), (line, count) in self.seen.items()]
        ordered.sort()   # the first four items are unique per flow: the comparison never reaches the rest
        flows = [Flow(endpoints[source], endpoints[destination], protocol, port, port, origin=path if line is None else "%s:%d" % (path, line))
                 for _rank, _other, protocol, port, source, destination, line, _count in ordered]
        return flows, [entry[7] for entry in ordered]
