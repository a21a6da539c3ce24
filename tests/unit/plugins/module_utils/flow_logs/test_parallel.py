"""Flow logs: worker processes for large files give exactly the sequential result.

The thresholds are lowered (``PARALLEL_AFTER_BYTES``, ``BLOCK``) so that files of a few thousand
lines are shared with forked workers: byte ranges of a plain file, chunks of a gzip stream.
The flows with their origins (first-seen line numbers) and the whole stats dict must equal
those of ``workers=0``; a failing worker is an InputError naming the file, and no process is
left behind. Also: line_ranges, worker_count, Workers, and the progress lines of a long read.
"""
import datetime
import gzip
import json
import multiprocessing
import os
import re
import time

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import parallel, reader, read_flow_logs
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.tally import KEPT, Tally

from ansible_collections.zerotrust.microseg.tests.unit.plugins.module_utils.flow_logs.test_read_flow_logs import (
    CART, FRONTEND, HUBBLE, WHISKER, WORLD, calico, goldmane, hubble_flow, pod, with_ip)

T = 1747041240   # 2025-05-12T09:14:00Z


def stamp(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(fmt, i):
    """Line ``i`` of a ``fmt`` log: mostly usable flows between a few endpoints on a few ports, some replies, denied and
    portless flows, external peers; its time is T + i."""
    port = 1000 + (i * 7) % 61 if i % 11 != 6 else 20000 + i // 50   # some flows are first seen late in the file
    app = "svc%d" % (i % 5)
    kind = i % 11
    if fmt == "hubble":
        source = pod("shop", "app=" + app, "tier=t%d" % (i % 3), workload=app)
        if kind == 1:
            return hubble_flow(source, CART, time=stamp(T + i), is_reply=True)
        if kind == 2:
            return hubble_flow(source, CART, time=stamp(T + i), verdict="DROPPED")
        if kind == 3:
            return with_ip(hubble_flow(FRONTEND, WORLD, l4={"UDP": {"destination_port": 53}}, time=stamp(T + i)),
                           destination="192.0.2.%d" % (i % 40))
        if kind == 4:
            return hubble_flow(source, CART, l4={"ICMPv4": {"type": 8}}, time=stamp(T + i))
        if kind == 5:
            return {"node_status": {"state_change": "NODE_CONNECTED"}, "time": stamp(T + i)}
        return hubble_flow(source, CART, l4={"TCP": {"source_port": 40000 + i, "destination_port": port}}, time=stamp(T + i))
    if fmt == "calico":
        times = {"start_time": T + i, "end_time": T + i + 5}
        source = {"name_aggr": app + "-7d4b6c5f8d-*", "labels": {"labels": ["app=" + app, "tier=t%d" % (i % 3)]}}
        if kind == 1:
            return calico(source, action="deny", **times)
        if kind == 2:
            return calico(source, proto="icmp", dest_port=None, **times)
        if kind == 3:
            return calico(source, {"type": "net", "namespace": "-", "name_aggr": "pub", "ip": "198.51.100.%d" % (i % 40), "labels": None},
                          dest_port=443, **times)
        if kind == 4:
            return {"_index": "flows", "_source": calico(source, dest_port=port, **times)}
        return calico(source, dest_port=port, **times)
    times = {"start_time": T + i, "end_time": T + i + 5}
    key = {"source_name": app + "-7d4b6c5f8d-*", "dest_port": port}
    if kind == 1:
        return goldmane(dict(key, action=2), **times)
    if kind == 2:
        return goldmane(dict(key, dest_type=4, dest_name="pub", dest_namespace=None), **times)
    if kind == 3:
        return dict(WHISKER, dest_port=port, start_time=stamp(T + i), end_time=stamp(T + i + 5))
    if kind == 4:
        return {"id": str(i), "flow": goldmane(key, source_labels=["app=" + app], **times)}
    return goldmane(key, source_labels=["app=" + app], **times)


FOREIGN = {"hubble": calico(), "calico": HUBBLE[0], "goldmane": calico()}   # a record of another format: not a record of this one


def log_lines(fmt, count=3000):
    """``count`` lines of a ``fmt`` flow log with blank, invalid, cut, foreign and array lines mixed in; the last line is cut
    (no newline)."""
    lines = []
    for i in range(count - 1):
        if i and i % 29 == 0:
            lines.append("not json %d" % i)
        elif i % 131 == 70:
            lines.append(json.dumps(FOREIGN[fmt]))
        elif i % 173 == 10:
            lines.append("")
        elif i % 157 == 3:
            lines.append('{"source_type": "wep", ')
        elif i % 211 == 100:
            lines.append(json.dumps([record(fmt, i), record(fmt, i + 1)]))
        else:
            lines.append(json.dumps(record(fmt, i)))
    return "\n".join(lines) + "\n" + json.dumps(record(fmt, count))[:40]


def write(tmp_path, name, text, compress):
    data = text.encode() if isinstance(text, str) else text
    (tmp_path / name).write_bytes(gzip.compress(data) if compress else data)
    return name


def everything(tmp_path, name, workers, spec=None, **options):
    stats = {}
    flows = read_flow_logs(dict(spec or {}, path=name), str(tmp_path), stats=stats, workers=workers, progress=None, **options)
    return [(flow, flow.origin) for flow in flows], stats


@pytest.fixture
def small_thresholds(monkeypatch):
    """Workers for files of a few KiB, read in blocks of 1 KiB; the Workers made are recorded (so a test knows they ran)."""
    monkeypatch.setattr(reader, "PARALLEL_AFTER_BYTES", 4096)
    monkeypatch.setattr(reader, "BLOCK", 1024)
    made = []

    class Recorded(parallel.Workers):
        def __init__(self, count, job, chunks=False):
            super().__init__(count, job, chunks)
            self.count, self.chunks, self.taken = count, chunks, 0
            made.append(self)

        def offer(self, *args):
            taken = super().offer(*args)
            self.taken += bool(taken)
            return taken

    monkeypatch.setattr(reader, "Workers", Recorded)
    yield made
    assert multiprocessing.active_children() == []


def shared(made, workers, compress):
    """The read was shared: one pool of ``workers``, and (gzip) chunks were handed to them."""
    assert len(made) == 1 and made[0].count == workers and made[0].chunks == compress
    if compress:
        assert made[0].taken > 0


# ------------------------------------------------------------------------------------------------ the same result as sequential

@pytest.mark.parametrize("fmt", ["hubble", "calico", "goldmane"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_sequential_result(tmp_path, small_thresholds, fmt, compress, workers):
    name = write(tmp_path, "f.jsonl.gz" if compress else "f.jsonl", log_lines(fmt), compress)
    sequential = everything(tmp_path, name, 0)
    assert small_thresholds == []
    flows, stats = sequential
    # not a vacuous comparison: many flows, records, skip reasons and lines without a record, past KEPT
    assert len(flows) > 20 and stats["records"] > 2000 and len(stats["skipped"]) >= 2 and stats["format"] == fmt
    assert stats["malformed_total"] > KEPT and len(stats["malformed"]) == KEPT
    assert set(stats["malformed_by_reason"]) >= {"invalid-json", "cut-line", "not-a-record"}
    lines = [int(origin.rsplit(":", 1)[1]) for _flow, origin in flows]
    assert min(lines) < 100 and max(lines) > 2500   # first seen all over the file: the ranges' and chunks' line numbers count
    assert everything(tmp_path, name, workers) == sequential
    shared(small_thresholds, workers, compress)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("fmt, spec, options", [
    ("calico", {"since": stamp(T + 500), "until": stamp(T + 2500)}, {}),
    ("goldmane", {"since": stamp(T + 500), "until": stamp(T + 2500)}, {}),
    ("hubble", {"since": stamp(T + 500), "until": stamp(T + 2500)}, {}),
    ("calico", {"format": "calico"}, {"denied": True, "identity_labels": {"hipstershop": "tier"}}),
    ("hubble", {"format": "hubble"}, {"denied": True, "identity_labels": {"shop": "tier"}}),
    ("goldmane", {"format": "goldmane"}, {"denied": True}),
], ids=["calico-window", "goldmane-window", "hubble-window", "calico-denied", "hubble-denied", "goldmane-denied"])
def test_workers_read_as_the_reader_does(tmp_path, small_thresholds, fmt, spec, options, compress):
    """The window, denied and identity labels reach the workers."""
    name = write(tmp_path, "f.jsonl.gz" if compress else "f.jsonl", log_lines(fmt), compress)
    sequential = everything(tmp_path, name, 0, spec, **options)
    flows, stats = sequential
    assert flows
    if "since" in spec:
        assert stats["skipped"]["outside-window"] > 500
    else:
        assert "denied" not in stats["skipped"]
    assert everything(tmp_path, name, 2, spec, **options) == sequential
    shared(small_thresholds, 2, compress)


def test_format_told_after_the_first_range(tmp_path, small_thresholds):
    """The reader's range holds nothing it can tell the format from: it reads the other ranges itself, in order."""
    text = "\n".join(["not json %d %s" % (i, "x" * 1000) for i in range(1500)] + [json.dumps(record("calico", i)) for i in range(1500)]) + "\n"
    name = write(tmp_path, "f.jsonl", text, False)
    sequential = everything(tmp_path, name, 0)
    assert sequential[1]["format"] == "calico" and sequential[1]["malformed_total"] == 1500
    assert min(int(origin.rsplit(":", 1)[1]) for _flow, origin in sequential[0]) == 1501
    assert everything(tmp_path, name, 2) == sequential
    assert small_thresholds == []   # no worker was started


def test_a_truncated_gzip_shared_with_workers(tmp_path, small_thresholds):
    data = gzip.compress(log_lines("calico").encode())
    (tmp_path / "f.jsonl.gz").write_bytes(data[:len(data) // 2])
    sequential = everything(tmp_path, "f.jsonl.gz", 0)
    assert sequential[1]["malformed_by_reason"]["cut-line"] >= 1 and len(sequential[0]) > 20
    assert sequential[1]["malformed"][-1]["reason"].startswith("the gzip data is truncated")
    assert everything(tmp_path, "f.jsonl.gz", 2) == sequential
    shared(small_thresholds, 2, True)


def test_small_files_are_not_shared(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(reader, "Workers", lambda *args, **kwargs: made.append(args))
    for compress in (False, True):
        name = write(tmp_path, "f.jsonl", "\n".join(json.dumps(record("calico", i)) for i in range(200)), compress)
        flows, stats = everything(tmp_path, name, 3)
        assert flows and stats["records"] == 200
    assert made == []


# ------------------------------------------------------------------------------------------ equal-length lines, known ranges

WIDTH = 1200


def padded(line):
    data = line if isinstance(line, bytes) else line.encode()
    assert len(data) < WIDTH
    return data + b" " * (WIDTH - 1 - len(data)) + b"\n"


def equal_lines(count=300):
    return [padded(json.dumps(record("calico", i * 11))) for i in range(count)]   # all usable flows (kind 0)


def range_starts(tmp_path, monkeypatch, lines, workers):
    """The line indexes where the workers' ranges begin, as the reader cuts this file."""
    found = []

    def recording(*args, **kwargs):
        ranges = parallel.line_ranges(*args, **kwargs)
        found.extend(ranges)
        return ranges

    (tmp_path / "f.jsonl").write_bytes(b"".join(lines))
    monkeypatch.setattr(reader, "line_ranges", recording)
    everything(tmp_path, "f.jsonl", workers)
    monkeypatch.setattr(reader, "line_ranges", parallel.line_ranges)
    assert len(found) == workers + 1 and all(start % WIDTH == 0 for start, _end in found)
    return [start // WIDTH for start, _end in found[1:]]


def test_a_line_at_a_range_start_that_looks_like_a_bom(tmp_path, small_thresholds, monkeypatch):
    """A line of binary garbage is a line without a record wherever it is, also where a worker's range begins."""
    lines = equal_lines()
    starts = range_starts(tmp_path, monkeypatch, lines, 2)
    for index in starts:
        lines[index] = padded(b"\xff\xfe\x00garbage")
    (tmp_path / "f.jsonl").write_bytes(b"".join(lines))
    sequential = everything(tmp_path, "f.jsonl", 0)
    assert [entry["line"] for entry in sequential[1]["malformed"]] == [index + 1 for index in starts]
    assert everything(tmp_path, "f.jsonl", 2) == sequential


@pytest.mark.parametrize("where", [0.2, 0.9], ids=["reader-range", "worker-range"])
def test_a_line_too_long_names_the_same_line_with_workers(tmp_path, small_thresholds, monkeypatch, where):
    monkeypatch.setattr(reader, "MAX_DOCUMENT_BYTES", 4000)
    lines = equal_lines()
    index = int(len(lines) * where)
    lines[index] = b"x" * 5000 + b"\n"
    (tmp_path / "f.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(InputError) as caught:
        everything(tmp_path, "f.jsonl", 0)
    assert str(caught.value) == "f.jsonl:%d: has a line longer than 4000 bytes" % (index + 1)
    with pytest.raises(InputError) as caught:
        everything(tmp_path, "f.jsonl", 2)
    assert str(caught.value) == "f.jsonl:%d: has a line longer than 4000 bytes" % (index + 1)
    assert small_thresholds and multiprocessing.active_children() == []   # the workers had started, and were ended


def test_a_large_json_lines_file_whose_first_line_is_cut(tmp_path, monkeypatch):
    """A cut first line only looks like the beginning of a JSON document: a JSON Lines file larger than
    MAX_DOCUMENT_BYTES is still read line by line, line 1 named as cut (as a small one is)."""
    monkeypatch.setattr(reader, "MAX_DOCUMENT_BYTES", 8192)
    body = "".join(json.dumps(record("calico", i * 11)) + "\n" for i in range(5))
    for text in ('{"source_type": "wep", \n' + body, '{"source_type": "wep", \n' + body * 4):   # smaller, larger than the limit
        (tmp_path / "f.jsonl").write_text(text, encoding="utf-8")
        flows, stats = everything(tmp_path, "f.jsonl", 0)
        assert [origin for _flow, origin in flows] == ["f.jsonl:%d" % line for line in range(2, 7)]
        assert [(entry["line"], entry["reason"].split(":")[0]) for entry in stats["malformed"]] == [(1, "invalid JSON")]
        assert stats["malformed_by_reason"] == {"cut-line": 1}


# ------------------------------------------------------------------------------------------------------------ worker failures

def failing_in_workers(monkeypatch, fail):
    """Tally.feed fails, but only in a worker process (forked after this)."""
    parent = os.getpid()
    feed = Tally.feed

    def feed_or_fail(self, *args, **kwargs):
        if os.getpid() != parent:
            fail()
        return feed(self, *args, **kwargs)

    monkeypatch.setattr(Tally, "feed", feed_or_fail)


def boom():
    raise ValueError("boom in a worker")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_worker_exception_is_an_input_error_naming_the_file(tmp_path, small_thresholds, monkeypatch, capfd, compress):
    name = write(tmp_path, "f.jsonl.gz" if compress else "f.jsonl", log_lines("calico"), compress)
    failing_in_workers(monkeypatch, boom)
    with pytest.raises(InputError) as caught:
        everything(tmp_path, name, 2)
    assert str(caught.value).startswith(name + ": cannot read flow log: ")
    assert "ValueError: boom in a worker" in str(caught.value)
    assert caught.value.source == name and caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(small_thresholds) == 1 and multiprocessing.active_children() == []
    assert "Traceback" not in capfd.readouterr().err
    assert everything(tmp_path, name, 0)[0]   # the reader itself is unaffected


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_worker_that_dies_is_an_input_error_naming_the_file(tmp_path, small_thresholds, monkeypatch, capfd, compress):
    name = write(tmp_path, "f.jsonl.gz" if compress else "f.jsonl", log_lines("calico"), compress)
    failing_in_workers(monkeypatch, lambda: os._exit(7))
    with pytest.raises(InputError) as caught:
        everything(tmp_path, name, 2)
    assert str(caught.value).startswith(name + ": cannot read flow log: a flow log worker ")
    assert "exit code 7" in str(caught.value) and "truncated" not in str(caught.value)
    assert caught.value.source == name
    assert multiprocessing.active_children() == []
    assert "Traceback" not in capfd.readouterr().err


def test_a_dead_worker_reports_its_exit_code():
    """A worker's pipe closes before the process is reaped (when it dies, the pipe closes a moment before the process
    can be waited for): the message must wait for the exit code, not say ``exit code None``."""
    def dies(_index, _tasks, connection):
        connection.close()
        time.sleep(0.1)
        os._exit(7)

    workers = parallel.Workers(1, dies)
    with pytest.raises(RuntimeError) as caught:
        workers.finish()
    workers.close()
    assert str(caught.value) == "a flow log worker ended without its result (exit code 7)"
    assert multiprocessing.active_children() == []


def test_workers_results_in_worker_order_and_failures():
    parent = os.getpid()

    def job(index, tasks, _connection):
        assert tasks is None
        if index == 0:
            sum(range(200000))   # the first worker finishes last
        return index, os.getpid() != parent

    assert parallel.Workers(3, job).finish() == [(0, True), (1, True), (2, True)]

    def failing(index, _tasks, _connection):
        if index == 1:
            raise KeyError("part 1")
        return index

    workers = parallel.Workers(2, failing)
    with pytest.raises(RuntimeError) as caught:
        workers.finish()
    workers.close()
    assert str(caught.value) == "a flow log worker failed: KeyError: 'part 1'"
    assert multiprocessing.active_children() == []


# ----------------------------------------------------------------------------------------------------------------- line_ranges

def ranges_of(tmp_path, data, parts):
    (tmp_path / "r").write_bytes(data)
    with open(tmp_path / "r", "rb") as handle:
        handle.seek(17 % max(len(data), 1))
        found = parallel.line_ranges(handle, len(data), parts)
        assert handle.tell() == 0
    return found


def covers(data, ranges):
    """The ranges start at line beginnings and cover the file exactly, in order."""
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (start, end), (after, _next_end) in zip(ranges, ranges[1:]):
        assert end == after
    for start, end in ranges:
        assert start < end or len(data) == 0
        assert start == 0 or data[start - 1:start] == b"\n"


@pytest.mark.parametrize("parts", [1, 2, 3, 4, 7])
def test_line_ranges_start_at_lines_and_cover_the_file(tmp_path, parts):
    data = b"".join(b"%d %s\n" % (i, b"y" * ((i * 37) % 301)) for i in range(400))
    ranges = ranges_of(tmp_path, data, parts)
    covers(data, ranges)
    assert len(ranges) == parts
    sizes = [end - start for start, end in ranges]
    assert max(sizes) - min(sizes) < 2 * 310   # about equal: within a line or two


def test_line_ranges_of_equal_lines(tmp_path):
    data = b"".join(padded("line %d" % i) for i in range(30))
    assert ranges_of(tmp_path, data, 3) == [(0, 10 * WIDTH), (10 * WIDTH, 20 * WIDTH), (20 * WIDTH, 30 * WIDTH)]


def test_line_ranges_with_lines_longer_than_a_part(tmp_path):
    data = b"a" * 999 + b"\n" + b"b" * 999 + b"\n" + b"c" * 999 + b"\n"
    assert ranges_of(tmp_path, data, 10) == [(0, 1000), (1000, 2000), (2000, 3000)]
    data = b"a" * 5000 + b"\n" + b"b" * 10 + b"\n"
    assert ranges_of(tmp_path, data, 4) == [(0, 5001), (5001, 5012)]
    data = b"one line without an end" * 100
    assert ranges_of(tmp_path, data, 3) == [(0, len(data))]
    data = b"x" * 100 + b"\n"   # the only line ends the file
    assert ranges_of(tmp_path, data, 5) == [(0, 101)]


def test_line_ranges_without_a_final_newline(tmp_path):
    data = b"".join(b"%05d\n" % i for i in range(99)) + b"last"
    ranges = ranges_of(tmp_path, data, 4)
    covers(data, ranges)
    assert len(ranges) == 4


# ---------------------------------------------------------------------------------------------------------------- worker_count

@pytest.mark.parametrize("cores, count", [(1, 0), (2, 1), (3, 2), (4, 3), (64, 3)])
def test_worker_count_one_per_spare_core_at_most_three(monkeypatch, cores, count):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert parallel.worker_count() == count


def test_worker_count_without_affinity(monkeypatch):
    monkeypatch.delattr(parallel.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    assert parallel.worker_count() == 1
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: None)
    assert parallel.worker_count() == 0


# -------------------------------------------------------------------------------------------------------------------- progress

PROGRESS = re.compile(r"^flow log (\S+): (\d+) lines \((\d+) MiB\) read in (\d+) s$")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_progress_lines(tmp_path, monkeypatch, compress):
    monkeypatch.setattr(reader, "PROGRESS_AFTER", -1.0)   # at once, and after every chunk
    monkeypatch.setattr(reader, "PROGRESS_EVERY", -1.0)
    monkeypatch.setattr(reader, "BLOCK", 1 << 16)
    text = "\n".join(json.dumps(record("calico", i)) for i in range(3000)) + "\n"
    name = write(tmp_path, "f.jsonl.gz" if compress else "f.jsonl", text, compress)
    shown = []
    flows = read_flow_logs({"path": name}, str(tmp_path), workers=0, progress=shown.append)
    assert flows and len(shown) > 3
    found = [PROGRESS.match(line) for line in shown]
    assert all(found), shown
    assert {match.group(1) for match in found} == {name}
    counts = [int(match.group(2)) for match in found]
    assert counts == sorted(counts) and counts[0] > 0 and counts[-1] == 3000
    assert found[-1].group(3) == "%.0f" % (len(text.encode()) / 2 ** 20)


def test_progress_goes_to_stderr_by_default_and_none_is_quiet(tmp_path, monkeypatch, capsys):
    text = "\n".join(json.dumps(record("calico", i)) for i in range(300)) + "\n"
    write(tmp_path, "f.jsonl", text, False)
    read_flow_logs({"path": "f.jsonl"}, str(tmp_path), workers=0)   # a short read says nothing
    assert capsys.readouterr() == ("", "")
    monkeypatch.setattr(reader, "PROGRESS_AFTER", -1.0)
    monkeypatch.setattr(reader, "PROGRESS_EVERY", -1.0)
    monkeypatch.setattr(reader, "BLOCK", 4096)
    read_flow_logs({"path": "f.jsonl"}, str(tmp_path), workers=0, progress=None)
    assert capsys.readouterr() == ("", "")
    read_flow_logs({"path": "f.jsonl"}, str(tmp_path), workers=0)
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("\n")
    lines = err.splitlines()
    assert lines and all(PROGRESS.match(line) for line in lines) and PROGRESS.match(lines[-1]).group(2) == "300"


@pytest.mark.parametrize("share", [1.0, 1.15, 2.0])
def test_the_readers_range_is_its_share_of_the_file(tmp_path, share):
    data = b"".join(b"%05d\n" % i for i in range(3000))   # 6-byte lines: the cuts land within a line of the target
    (tmp_path / "r").write_bytes(data)
    with open(tmp_path / "r", "rb") as handle:
        ranges = parallel.line_ranges(handle, len(data), 3, share)
    covers(data, ranges)
    first, second, third = (end - start for start, end in ranges)
    assert abs(first / second - share) < 0.01 and abs(second - third) <= 12
