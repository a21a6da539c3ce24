"""Reading one flow log file: gzip or plain, JSON Lines streamed in blocks or one JSON document, aggregated as it goes."""
from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Mapping

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import Flow
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import Endpoints, RecordError, json_type, type_problem
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.formats import CONVERTERS, checked_identity_labels, detect_format, format_name, undetected

SPEC_KEYS = ("path", "format")
# The largest single JSON document (not JSON Lines) read whole, in bytes after decompression.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
BLOCK = 1 << 20
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_SCAN = json.JSONDecoder().scan_once


class _Reader:
    """One file: lines -> records -> aggregated flow keys, with the first line each key was seen on."""

    def __init__(self, path, fmt, identity):
        self.path = path
        self.fmt = fmt
        self.endpoints = Endpoints(identity)
        self.converter = None if fmt == "auto" else CONVERTERS[fmt](self.endpoints)
        self.seen = {}
        self.skipped = {}
        self.records = 0

    def error(self, message, line=None, field=None):
        """An InputError about this file."""
        return InputError(message, source=self.path, line=line, field=field)

    def start(self, record, line, where):
        """Pick the converter for ``auto`` from the first record."""
        fmt = detect_format(record)
        if fmt is None:
            raise self.error(undetected(record), line, where or None)
        self.fmt = fmt
        self.converter = CONVERTERS[fmt](self.endpoints)

    def add(self, record, line, where=""):
        """One parsed JSON value (a record, an array of records or a list response)."""
        if isinstance(record, dict):
            found = _container_items(record)
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
            raise self.error("expected a JSON object (one flow record), got %s" % json_type(record), line, where or None)
        if self.converter is None:
            self.start(record, line, where)
        self.records += 1
        try:
            result = self.converter.convert(record)
        except RecordError as err:
            raise self.error(err.message, line, (where + "." if where else "") + err.field) from None
        except TypeError as err:
            raise self.error(type_problem(err), line, where or None) from None
        if isinstance(result, tuple):
            if result not in self.seen:
                self.seen[result] = line
        else:
            self.skipped[result] = self.skipped.get(result, 0) + 1

    def read_lines(self, stream):
        """JSON Lines, streamed in blocks; falls back to one JSON document when the first line is only its beginning."""
        setdefault = self.seen.setdefault
        skipped = self.skipped
        convert = self.converter.convert if self.converter else None
        scan = _SCAN
        number = counted = 0
        started = False
        pieces, pending = [], 0   # the line still being read, and its length so far
        read = getattr(stream, "read1", stream.read)   # read1: a truncated gzip fails at the line it cuts, not a block early
        try:
            block = read(BLOCK)
            if block.startswith(_WIDE_BOMS):
                raise self.error("is UTF-16 or UTF-32 text: flow logs must be UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)")
            while True:
                if block:
                    if b"\n" not in block:
                        pieces.append(block)
                        pending += len(block)
                        if pending > MAX_DOCUMENT_BYTES:
                            raise self.error("has a line longer than %s" % _size(MAX_DOCUMENT_BYTES), number + 1)
                        block = read(BLOCK)
                        continue
                    if pieces:
                        pieces.append(block)
                        block = b"".join(pieces)
                    lines = block.split(b"\n")
                    last = lines.pop()
                    pieces, pending = ([last], len(last)) if last else ([], 0)
                else:
                    lines = [b"".join(pieces)] if pieces else []
                    pieces = []
                base = number
                for line in lines:
                    number += 1
                    try:
                        # The C scanner straight on the decoded line; json.loads (BOM, spaces, errors) only if that fails.
                        text = line.decode()
                        record, end = scan(text, 0)
                        if end != len(text) and text[end:].strip():
                            record = json.loads(line)
                    except (StopIteration, ValueError):
                        try:
                            record = json.loads(line)
                        except ValueError as err:
                            if not line.strip():
                                continue
                            if not started and isinstance(err, json.JSONDecodeError) and err.pos >= len(line.rstrip()):
                                tail = [b"".join(pieces)] if block else []   # a split block ended with a separator
                                return self.read_document(b"\n".join(lines[number - base - 1:] + tail), stream, number)
                            raise self.error(_json_problem(err), number) from None
                    started = True
                    if convert is not None and isinstance(record, dict):
                        try:
                            result = convert(record)
                        except RecordError as err:
                            if _container_items(record) is None:   # a list response is no record: its items are
                                raise self.error(err.message, number, err.field) from None
                            self.add(record, number)
                            continue
                        except TypeError as err:
                            raise self.error(type_problem(err), number) from None
                        counted += 1
                        if isinstance(result, tuple):
                            setdefault(result, number)
                        else:
                            skipped[result] = skipped.get(result, 0) + 1
                    else:
                        self.add(record, number)
                        convert = self.converter.convert if self.converter else None
                if not block:
                    return None
                block = read(BLOCK)
        except (OSError, EOFError, zlib.error) as err:
            raise self.error("cannot read flow log: %s" % _os_problem(err), number + 1) from None
        finally:
            self.records += counted

    def read_document(self, first, stream, first_line):
        """A small file holding one (pretty-printed) JSON document."""
        data = first + stream.read(max(0, MAX_DOCUMENT_BYTES + 1 - len(first)))
        if len(data) > MAX_DOCUMENT_BYTES:
            raise self.error("is one JSON document larger than %s: write it as JSON Lines, one record per line (e.g. jq -c '.[]')"
                             % _size(MAX_DOCUMENT_BYTES))
        try:
            document = json.loads(data)
        except ValueError as err:
            line = first_line - 1 + err.lineno if isinstance(err, json.JSONDecodeError) else first_line
            raise self.error(_json_problem(err), line) from None
        self.add(document, None)

    def flows(self):
        """The aggregated flows, each with the first place it was seen as origin, sorted as ``merge_flows`` sorts.

        Endpoints are ranked once, so the sort compares small tuples, not dataclasses.
        """
        endpoints = self.endpoints.endpoints
        rank = [0] * len(endpoints)
        for position, index in enumerate(sorted(range(len(endpoints)), key=endpoints.__getitem__)):
            rank[index] = position
        ordered = sorted(self.seen.items(), key=lambda item: (rank[item[0][0]], rank[item[0][1]], item[0][2], item[0][3]))
        path = self.path
        return [Flow(endpoints[source_id], endpoints[destination_id], protocol, port, port,
                     origin=path if line is None else "%s:%d" % (path, line))
                for (source_id, destination_id, protocol, port), line in ordered]


def _container_items(record):
    """``(JSON path, records)`` of a list response (Whisker ``items``, Goldmane ``flows``, Elasticsearch ``hits.hits``), else None."""
    for key in ("items", "flows"):
        value = record.get(key)
        if isinstance(value, list):
            return key, value
    hits = record.get("hits")
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
        return "hits.hits", hits["hits"]
    return None


def _size(count):
    return "%d MiB" % (count // 2 ** 20) if count >= 2 ** 20 else "%d bytes" % count


def _json_problem(err):
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text: %s" % err.reason
    if isinstance(err, json.JSONDecodeError):
        return "invalid JSON: %s (column %d)" % (err.msg, err.colno)
    return "invalid JSON: %s" % err


def _os_problem(err):
    if isinstance(err, EOFError):
        return "the gzip data is truncated (%s)" % err
    if isinstance(err, zlib.error):
        return "the gzip data is corrupt (%s)" % err
    return err.strerror or str(err)


def _spec(spec, source):
    """``{"path": ..., "format": ...}`` (or a bare path) -> (path, format)."""
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping):
        raise InputError("expected a mapping with keys path and format, got %s" % type(spec).__name__, source=source)
    unknown = sorted(str(key) for key in spec if key not in SPEC_KEYS)
    if unknown:
        raise InputError("unknown key %r (expected path and format)" % unknown[0], source=source)
    path = spec.get("path")
    if path is None:
        raise InputError("is missing", source=source, field="path")
    if not isinstance(path, str):
        raise InputError("must be a string, not %s" % type(path).__name__, source=source, field="path")
    if not path.strip():
        raise InputError("must not be empty", source=source, field="path")
    return str(path), format_name(spec.get("format"), source)


def read_flow_logs(spec, base_dir, identity_labels=None, source_field="microseg_flow_logs[0]", stats=None):
    """One ``microseg_flow_logs`` item -> merged, sorted observed ``Flow`` objects.

    ``spec`` is ``{"path": "logs/flows.jsonl.gz", "format": "hubble"|"calico"|"goldmane"|"auto"}``
    (format defaults to ``auto``); a relative path is relative to ``base_dir``. Spec problems
    name ``source_field``; file problems name the path, the line and the field. If ``stats``
    is a dict it receives ``path``, ``format`` (as detected), ``records``, ``flows`` and
    ``skipped`` (skip reason -> count, see ``SKIP_REASONS``).
    """
    path, fmt = _spec(spec, source_field)
    identity = checked_identity_labels(identity_labels, source_field)
    reader = _Reader(path, fmt, identity)
    full = os.path.join(base_dir or "", os.path.expanduser(path))
    try:
        raw = open(full, "rb")   # closed in the finally below, whether gzip wraps it or not
    except OSError as err:
        raise reader.error("cannot read flow log: %s" % (err.strerror or err)) from None
    try:
        try:
            compressed = raw.peek(2)[:2] == b"\x1f\x8b"
        except OSError as err:
            raise reader.error("cannot read flow log: %s" % (err.strerror or err)) from None
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                reader.read_lines(stream)
        else:
            reader.read_lines(raw)
    finally:
        raw.close()
    flows = reader.flows()
    if isinstance(stats, dict):
        stats.update({"path": path, "format": reader.fmt, "records": reader.records,
                      "flows": len(flows), "skipped": dict(sorted(reader.skipped.items()))})
    return flows
