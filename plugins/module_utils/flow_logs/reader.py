"""Reading one flow log file: gzip or plain, JSON Lines streamed in chunks or one JSON document, aggregated as it goes.

Memory follows the number of distinct flows, not the number of records: the file is read in
blocks, cut into chunks of whole lines and aggregated chunk by chunk. A large file is shared
with worker processes (``parallel.py``). Lines that hold no flow record are skipped and named
(CONTRACT §5) unless ``strict``; a file that cannot be read, a format that cannot be told, or
a line longer than ``MAX_DOCUMENT_BYTES`` is an error naming the file.
"""
from __future__ import annotations

import gc
import gzip
import json
import os
import sys
import time
import zlib
from collections.abc import Mapping

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import CUT
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.formats import checked_identity_labels, format_name
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.parallel import Workers, chunks_from, line_ranges, worker_count
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.tally import Tally
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.window import window_from_spec

SPEC_KEYS = ("path", "format", "since", "until")
# The largest single JSON document (not JSON Lines) read whole, and the longest line, in bytes after decompression.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
BLOCK = 1 << 20
PARALLEL_AFTER_BYTES = 16 << 20   # a file shares its work with worker processes once this much of it was read
PROGRESS_AFTER = 3.0              # seconds before the first progress line on stderr, then one every PROGRESS_EVERY
PROGRESS_EVERY = 5.0
STRICT_SHOWN = 5
READER_SHARE = 1.15   # the reader's byte range against a worker's: a worker also forks, warms up and sends its tally back
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _size(count):
    return "%d MiB" % (count // 2 ** 20) if count >= 2 ** 20 else "%d bytes" % count


def _os_problem(err):
    if isinstance(err, EOFError):
        return "the gzip data is truncated (%s)" % err
    if isinstance(err, zlib.error):
        return "the gzip data is corrupt (%s)" % err
    return err.strerror or str(err)


def _stderr_progress(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class _Range:
    """The bytes of an open file up to ``end``: one worker's (or the reader's) part of a plain file."""

    def __init__(self, handle, end):
        self.handle = handle
        self.left = end - handle.tell()

    def read(self, size=-1):
        if self.left <= 0:
            return b""
        data = self.handle.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


class _File:
    """One open flow log: blocks -> numbered chunks of whole lines -> the tally (and its workers)."""

    def __init__(self, path, stream, tally, progress=None, number=0, start_of_file=True):
        self.path = path
        self.start_of_file = start_of_file   # a range of a file starts with no byte order mark to look for
        self.stream = stream
        self.read = getattr(stream, "read1", stream.read)   # read1: a truncated gzip fails at the line it cuts, not a block early
        self.tally = tally
        self.progress = progress
        self.number = number    # lines handed on so far
        self.bytes = 0
        self.started = self.shown = time.monotonic()
        self.pool = None
        self.start_pool = None  # called once the format is known and the file is large: returns Workers or None
        self.document_read = False

    def error(self, message, line=None):
        return InputError(message, source=self.path, line=line)

    def lines(self):
        """Read to the end of the stream, block by block; each block's whole lines are one chunk (no copy but of a line
        that straddles two blocks)."""
        pieces, pending = [], 0   # the line still being read, and its length so far
        block = self.read(BLOCK)
        if self.start_of_file and block.startswith(_WIDE_BOMS):
            raise self.error("is UTF-16 or UTF-32 text: flow logs must be UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)")
        while block:
            self.bytes += len(block)
            lines = block.split(b"\n")
            if len(lines) == 1:
                pieces.append(block)
                pending += len(block)
                if pending > MAX_DOCUMENT_BYTES:
                    raise self.error("has a line longer than %s" % _size(MAX_DOCUMENT_BYTES), self.number + 1)
            else:
                if pieces:
                    pieces.append(lines[0])
                    lines[0] = b"".join(pieces)
                rest = lines.pop()
                pieces, pending = ([rest], len(rest)) if rest else ([], 0)
                found = self.chunk(lines)
                if found is not None:   # the first line with content begins a JSON document
                    self.document(lines, found, b"".join(pieces))
                    return
            block = self.read(BLOCK)
        if pieces:
            lines = [b"".join(pieces)]
            found = self.chunk(lines)
            if found is not None:
                self.document(lines, found, b"")

    def chunk(self, lines):
        """Hand one chunk of whole lines on: to a worker with room, else to this process's tally. Returns None, or the
        index of the line where a JSON document may begin (``Tally.feed``)."""
        tally = self.tally
        if self.start_pool is not None and tally.started and tally.converter is not None:
            self.pool = self.start_pool()
            if self.pool is not None:
                self.start_pool = None
        if self.pool is not None and self.pool.offer(self.number, lines):
            self.number += len(lines)
        else:
            found = tally.feed(lines, self.number)
            if found.__class__ is tuple:
                index = found[1]
                if not _json_lines_follow(lines, index):
                    return index
                tally.documents = False   # JSON Lines whose first line is cut: that line is skipped like any other
                found = index + tally.feed(lines[index:], self.number + index)
            self.number += found
        if self.progress is not None:
            now = time.monotonic()
            if now - self.started > PROGRESS_AFTER and now - self.shown > PROGRESS_EVERY:
                self.shown = now
                self.progress("flow log %s: %d lines (%.0f MiB) read in %.0f s" % (self.path, self.number, self.bytes / 2 ** 20, now - self.started))
        return None

    def document(self, lines, index, pending):
        """The first line with content only begins a JSON value: read the rest as one document, else as lines after all."""
        head = b"\n".join(lines[index:]) + b"\n" + pending
        stream = getattr(self.stream, "handle", self.stream)   # the whole file, not only the reader's range
        whole = head + stream.read(max(0, MAX_DOCUMENT_BYTES + 1 - len(head)))
        self.document_read = True
        if len(whole) > MAX_DOCUMENT_BYTES:
            raise self.error("is one JSON document larger than %s: write it as JSON Lines, one record per line (e.g. jq -c '.[]')"
                             % _size(MAX_DOCUMENT_BYTES))
        try:
            document = json.loads(whole)
        except ValueError:   # not one document: JSON Lines whose first line is cut, or a broken document; every line then says why
            self.tally.documents = False
            self.tally.feed(whole.rstrip(b"\n"), self.number + index)
            return
        self.tally.started = True
        self.tally.add(document, None)


def _json_lines_follow(lines, index):
    """Whether one of the few lines after ``index`` is a JSON object on its own: then the file is JSON Lines, not a document."""
    for line in lines[index + 1:index + 6]:
        line = line.strip()
        if line.startswith(b"{") and line.endswith(b"}"):
            try:
                if isinstance(json.loads(line), dict):
                    return True
            except ValueError:
                continue
    return False


def _worker_tally(tally):
    """A fresh tally for a worker process, reading as the reader's tally does."""
    worker = Tally(tally.fmt, tally.endpoints.identity, tally.denied, tally.window)
    worker.started = True
    return worker


def _read(path, full, raw, compressed, tally, workers, progress):
    """The whole file into ``tally``; a large one shared with ``workers`` processes (``parallel.py``)."""
    size = os.fstat(raw.fileno()).st_size
    ranges = []
    if workers and not compressed and size > PARALLEL_AFTER_BYTES:
        ranges = line_ranges(raw, size, workers + 1, READER_SHARE)
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else (_Range(raw, ranges[0][1]) if ranges else raw)
    main = _File(path, stream, tally, progress)
    if len(ranges) > 1:
        def job(index, _tasks, _acks):
            worker = _worker_tally(tally)
            try:
                with open(full, "rb") as handle:
                    handle.seek(ranges[index + 1][0])
                    part = _File(path, _Range(handle, ranges[index + 1][1]), worker, start_of_file=False)
                    part.lines()
            except InputError as err:   # its line counts from the range's start: the reader names it in the file
                return "input", err.message, err.line
            return "done", worker.export(), part.number
        main.start_pool = lambda: Workers(len(ranges) - 1, job)
    elif workers and compressed and size * 4 > PARALLEL_AFTER_BYTES:
        def chunk_job(_index, tasks, acks):
            worker = _worker_tally(tally)
            for number, data in chunks_from(tasks, acks):
                worker.feed(data, number)
            return "done", worker.export(), 0
        main.start_pool = lambda: Workers(workers, chunk_job, chunks=True) if main.bytes > PARALLEL_AFTER_BYTES else None
    try:
        try:
            main.lines()
        except EOFError as err:
            tally.bad_line(main.number + 1, CUT, _os_problem(err))
        except (OSError, zlib.error) as err:
            raise main.error("cannot read flow log: %s" % _os_problem(err), main.number + 1) from None
        if main.document_read:
            return
        if main.pool is not None:
            offset = main.number if ranges else 0
            for kind, state, lines in main.pool.finish():
                if kind == "input":
                    raise InputError(state, source=path, line=None if lines is None else lines + offset)
                tally.merge(state, offset)
                offset += lines
        else:   # the format was never told in the first range (or no worker was wanted): the other ranges here, in order
            for start, end in ranges[1:]:
                raw.seek(start)
                main = _File(path, _Range(raw, end), tally, progress, main.number, start_of_file=False)
                main.lines()
    except RuntimeError as err:   # a worker process failed
        raise InputError("cannot read flow log: %s" % err, source=path) from None
    finally:
        if main.pool is not None:
            main.pool.close()


def _spec(spec, source, now=None):
    """``{"path", "format", "since", "until"}`` (or a bare path) -> (path, format, window or None)."""
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping):
        raise InputError("expected a mapping with keys path and format, got %s" % type(spec).__name__, source=source)
    unknown = sorted(str(key) for key in spec if key not in SPEC_KEYS)
    if unknown:
        raise InputError("unknown key %r (expected path, format, since and until)" % unknown[0], source=source)
    path = spec.get("path")
    if path is None:
        raise InputError("is missing", source=source, field="path")
    if not isinstance(path, str):
        raise InputError("must be a string, not %s" % type(path).__name__, source=source, field="path")
    if not path.strip():
        raise InputError("must not be empty", source=source, field="path")
    return str(path), format_name(spec.get("format"), source), window_from_spec(spec, source, now)


def read_flow_logs(spec, base_dir, identity_labels=None, source_field="microseg_flow_logs[0]", stats=None, strict=False, denied=False,
                   workers=None, progress=_stderr_progress):
    """One ``microseg_flow_logs`` item -> merged, sorted observed ``Flow`` objects.

    ``spec`` is ``{"path": "logs/flows.jsonl.gz", "format": "hubble"|"calico"|"goldmane"|"auto", "since": ..., "until": ...}``
    (format defaults to ``auto``; since and until are RFC 3339 times or durations before now such as ``24h``); a relative
    path is relative to ``base_dir``. Spec problems name ``source_field``; file problems name the path, the line and the
    field. Lines that hold no flow record are skipped and named in ``stats``; with ``strict`` they are an error. ``denied``
    also takes denied and dropped flows (attempts) as observed. ``workers``: worker processes for a large file (None: one per
    spare core, 0: none). ``progress``: called with a line every few seconds on a long read (None: quiet).

    If ``stats`` is a dict it receives ``path``, ``format`` (as detected), ``records``, ``flows``, ``skipped`` (skip reason
    -> records, see ``SKIP_REASONS``), ``counts`` (records per returned flow), ``malformed`` (the first ``{"path", "line",
    "reason"}`` of the lines that hold no flow record), ``malformed_total`` and ``malformed_by_reason``.
    """
    path, fmt, window = _spec(spec, source_field)
    tally = Tally(fmt, checked_identity_labels(identity_labels, source_field), denied, window)
    full = os.path.join(base_dir or "", os.path.expanduser(path))
    try:
        raw = open(full, "rb")   # closed in the finally below, whether gzip wraps it or not
    except OSError as err:
        raise InputError("cannot read flow log: %s" % (err.strerror or err), source=path) from None
    # A read makes millions of short-lived containers and keeps few, none in a cycle: the cyclic collector only costs time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            compressed = raw.peek(2)[:2] == b"\x1f\x8b"
        except OSError as err:
            raise InputError("cannot read flow log: %s" % (err.strerror or err), source=path) from None
        _read(path, full, raw, compressed, tally, worker_count() if workers is None else workers, progress)
    finally:
        raw.close()
        if collecting:
            gc.enable()
    if tally.converter is None and tally.undetected is not None:
        raise InputError(tally.undetected[1], source=path, line=tally.undetected[0])
    if strict and tally.malformed_total:
        shown = "; ".join("%s%s" % ("" if line is None else "line %d: " % line, reason) for line, reason in tally.malformed[:STRICT_SHOWN])
        more = " and %d more" % (tally.malformed_total - STRICT_SHOWN) if tally.malformed_total > STRICT_SHOWN else ""
        raise InputError("%d line(s) hold no flow record (microseg_strict is true): %s%s" % (tally.malformed_total, shown, more), source=path)
    flows, counts = tally.flows(path)
    if isinstance(stats, dict):
        stats.update({"path": path, "format": tally.fmt, "records": tally.records, "flows": len(flows),
                      "skipped": dict(sorted(tally.skipped.items())), "counts": counts,
                      "malformed": [{"path": path, "line": line, "reason": reason} for line, reason in tally.malformed],
                      "malformed_total": tally.malformed_total, "malformed_by_reason": dict(sorted(tally.malformed_by_reason.items()))})
    return flows
