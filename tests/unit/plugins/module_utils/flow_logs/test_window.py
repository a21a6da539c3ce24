"""Flow logs: the ``since`` / ``until`` window of a ``microseg_flow_logs`` entry.

parse_bound (RFC 3339, YAML datetimes and dates, durations before now, every bad value named),
window_from_spec, Window.seconds for the time shapes records carry, and read_flow_logs keeping
only the records whose time (or interval) overlaps the window, for every format.
"""
import datetime
import gzip
import json
import time

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import SKIP_REASONS, read_flow_logs
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.window import Window, parse_bound, window_from_spec

from ansible_collections.zerotrust.microseg.tests.unit.plugins.module_utils.flow_logs.test_read_flow_logs import (
    CART, DATA, FRONTEND, HUBBLE, WHISKER, calico, goldmane, hubble_flow, notation)

UTC = datetime.timezone.utc
NINE = 1747040400.0          # 2025-05-12T09:00:00Z
T = 1747041240               # 2025-05-12T09:14:00Z, the start_time of calico()
SOURCE = "microseg_flow_logs[0]"
BOUND_MESSAGE = "must be an RFC 3339 time (2025-05-12T09:00:00Z) or a duration before now (24h, 30m, 7d, 1h30m), not %r"


def front_to_cart(port, protocol="TCP"):
    return notation("hipstershop/frontend", "hipstershop/cartservice", "%d/%s" % (port, protocol))


def read(tmp_path, records, compress=False, name=None, **spec):
    """Write ``records`` as JSON Lines and read them with ``spec``: ([(notation, origin)], stats)."""
    name = name or ("f.jsonl.gz" if compress else "f.jsonl")
    text = "".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records).encode()
    (tmp_path / name).write_bytes(gzip.compress(text) if compress else text)
    stats = {}
    flows = read_flow_logs(dict(spec, path=name), str(tmp_path), stats=stats, workers=0)
    return [(flow.notation(), flow.origin) for flow in flows], stats


def consistent(stats):
    """Records outside the window are still records: every record is a flow's count or a skip."""
    assert sum(stats["counts"]) + sum(stats["skipped"].values()) == stats["records"]
    assert set(stats["skipped"]) <= set(SKIP_REASONS)


# ---------------------------------------------------------------------------------------------------------------- parse_bound

BOUNDS = [
    ("2025-05-12T09:00:00Z", NINE),
    ("2025-05-12T09:00:00z", NINE),
    ("2025-05-12t09:00:00Z", NINE),
    ("2025-05-12 09:00:00Z", NINE),
    ("  2025-05-12T09:00:00Z\n", NINE),
    ("2025-05-12T11:00:00+02:00", NINE),
    ("2025-05-12T11:00:00+0200", NINE),
    ("2025-05-12T04:30:00-04:30", NINE),
    ("2025-05-12T09:00:00+00:00", NINE),
    ("2025-05-12T09:00:00.25Z", NINE + 0.25),
    ("2025-05-12T11:00:00.5+02:00", NINE + 0.5),
    ("2025-05-12T09:00:00.123456789Z", NINE + 0.123456789),
    ("2025-05-12T09:00:00", NINE),                      # no zone: UTC
    ("2025-05-12T09:00:00.75", NINE + 0.75),
    ("2024-02-29T00:00:00Z", 1709164800.0),             # a leap day
    (datetime.datetime(2025, 5, 12, 9, 0, 0), NINE),    # YAML: unquoted timestamp without zone (UTC)
    (datetime.datetime(2025, 5, 12, 11, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), NINE),
    (datetime.datetime(2025, 5, 12, 9, 0, 0, 500000, tzinfo=UTC), NINE + 0.5),
    (datetime.date(2025, 5, 12), NINE - 9 * 3600),      # YAML: unquoted date, midnight UTC
]


@pytest.mark.parametrize("value, expected", BOUNDS)
def test_parse_bound_times(value, expected):
    assert parse_bound(value, "since", SOURCE) == pytest.approx(expected, abs=1e-6)
    assert parse_bound(value, "until", SOURCE, now=0) == pytest.approx(expected, abs=1e-6)   # a time does not depend on now


DURATIONS = [
    ("24h", 86400), ("30m", 1800), ("7d", 7 * 86400), ("1w", 7 * 86400), ("90s", 90), ("1h30m", 5400),
    ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5), ("2d12h", 2 * 86400 + 12 * 3600), (" 15m ", 900), ("0s", 0),
]


@pytest.mark.parametrize("value, seconds", DURATIONS)
def test_parse_bound_durations_count_back_from_now(value, seconds):
    assert parse_bound(value, "since", SOURCE, now=NINE) == NINE - seconds
    assert parse_bound(value, "since", SOURCE, now=1000000.0) == 1000000.0 - seconds


def test_parse_bound_duration_without_now_uses_the_clock():
    before = time.time()
    found = parse_bound("1h", "since", SOURCE)
    after = time.time()
    assert before - 3600 <= found <= after - 3600


BAD_BOUNDS = ["yesterday", "", "   ", 5, 5.5, True, ["24h"], {"hours": 1}, "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z",
              "2025-05-12T25:00:00Z", "2025-05-12T09:60:00Z", "1x", "24", "h", "-1h", "1.5h", "1h 30m", "30m1h",
              "2025-05-12T09:00Z", "2025-05-12T09:00:00ZZ", "2025-05-12T09:00:00 UTC", "12/05/2025 09:00",
              "2025-05-12T09:00:00+25:00", "2025-05-12T09:00:00+02:99"]


@pytest.mark.parametrize("value", BAD_BOUNDS)
@pytest.mark.parametrize("field", ["since", "until"])
def test_parse_bound_errors_name_source_and_field(value, field):
    with pytest.raises(InputError) as caught:
        parse_bound(value, field, "microseg_flow_logs[3]", now=NINE)
    assert str(caught.value) == "microseg_flow_logs[3]: %s: " % field + BOUND_MESSAGE % (value,)
    assert (caught.value.source, caught.value.field, caught.value.line) == ("microseg_flow_logs[3]", field, None)


def test_parse_bound_error_message_exactly():
    with pytest.raises(InputError) as caught:
        parse_bound("yesterday", "since", SOURCE)
    assert str(caught.value) == ("microseg_flow_logs[0]: since: must be an RFC 3339 time (2025-05-12T09:00:00Z) "
                                 "or a duration before now (24h, 30m, 7d, 1h30m), not 'yesterday'")


# ----------------------------------------------------------------------------------------------------------- window_from_spec

def test_window_from_spec():
    assert window_from_spec({"path": "f.jsonl"}, SOURCE) is None
    assert window_from_spec({"path": "f.jsonl", "since": None, "until": None}, SOURCE) is None
    window = window_from_spec({"since": "2025-05-12T09:00:00Z", "until": "1h"}, SOURCE, now=NINE + 7200)
    assert (window.since, window.until) == (NINE, NINE + 3600)
    window = window_from_spec({"since": "2h"}, SOURCE, now=NINE)
    assert (window.since, window.until) == (NINE - 7200, None)
    window = window_from_spec({"until": datetime.date(2025, 5, 12)}, SOURCE)
    assert (window.since, window.until) == (None, NINE - 9 * 3600)
    window = window_from_spec({"since": "2025-05-12T09:00:00Z", "until": "2025-05-12T11:00:00+02:00"}, SOURCE)   # the same instant
    assert (window.since, window.until) == (NINE, NINE)


SPEC_ERRORS = [
    ({"since": "2025-05-13T00:00:00Z", "until": "2025-05-12T00:00:00Z"},
     "microseg_flow_logs[1]: since (2025-05-13T00:00:00Z) is after until (2025-05-12T00:00:00Z)"),
    ({"since": "1h", "until": "2h"}, "microseg_flow_logs[1]: since (1h) is after until (2h)"),   # until lies further back
    ({"since": "2025-05-12T09:00:00.001Z", "until": "2025-05-12T11:00:00+02:00"},
     "microseg_flow_logs[1]: since (2025-05-12T09:00:00.001Z) is after until (2025-05-12T11:00:00+02:00)"),
    ({"since": "yesterday"}, "microseg_flow_logs[1]: since: " + BOUND_MESSAGE % "yesterday"),
    ({"since": "24h", "until": 5}, "microseg_flow_logs[1]: until: " + BOUND_MESSAGE % 5),
    ({"until": ""}, "microseg_flow_logs[1]: until: " + BOUND_MESSAGE % ""),
]


@pytest.mark.parametrize("spec, message", SPEC_ERRORS)
def test_window_from_spec_errors(spec, message):
    with pytest.raises(InputError) as caught:
        window_from_spec(spec, "microseg_flow_logs[1]", now=NINE)
    assert str(caught.value) == message


@pytest.mark.parametrize("spec, message", SPEC_ERRORS)
def test_read_flow_logs_rejects_a_bad_window_before_reading(spec, message):
    with pytest.raises(InputError) as caught:   # the file does not exist: the spec is checked first
        read_flow_logs(dict(spec, path="missing.jsonl"), DATA, source_field="microseg_flow_logs[1]")
    assert str(caught.value) == message


def test_unknown_key_lists_the_keys_with_since_and_until():
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "calico.jsonl", "since_": "24h"}, DATA)
    assert str(caught.value) == "microseg_flow_logs[0]: unknown key 'since_' (expected path, format, since and until)"
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "calico.jsonl", "Until": "24h"}, DATA, source_field="microseg_flow_logs[4]")
    assert str(caught.value) == "microseg_flow_logs[4]: unknown key 'Until' (expected path, format, since and until)"


# ------------------------------------------------------------------------------------------------------------ Window.keeps

KEEPS = [
    ((10, 20), 10, 20, True), ((10, 20), 0, 9, False), ((10, 20), 0, 10, True), ((10, 20), 5, 15, True), ((10, 20), 15, 25, True),
    ((10, 20), 20, 30, True), ((10, 20), 21, 30, False), ((10, 20), 0, 30, True), ((10, 20), None, 15, True), ((10, 20), 25, None, False),
    ((10, 20), None, None, None), ((None, 20), -5, -1, True), ((None, 20), 21, 22, False), ((10, None), 9, 9, False), ((10, None), 99, 99, True),
]


@pytest.mark.parametrize("bounds, start, end, kept", KEEPS)
def test_window_keeps_an_interval_that_overlaps(bounds, start, end, kept):
    assert Window(*bounds).keeps(start, end) is kept


# ----------------------------------------------------------------------------------------------------------- Window.seconds

STAMP = 1747041243.0   # 2025-05-12T09:14:03Z

SECONDS = [
    ("2025-05-12T09:14:03Z", STAMP),
    ("2025-05-12T09:14:03.114526123Z", STAMP + 0.114526123),
    ("2025-05-12T09:14:03.5z", STAMP + 0.5),
    ("2025-05-12T11:14:03+02:00", STAMP),
    ("2025-05-12T11:14:03.25+02:00", STAMP + 0.25),
    ("2025-05-12T09:14:03-00:00", STAMP),
    ("2025-05-12T09:14:03", STAMP),
    ("2025-05-12 09:14:03.5", STAMP + 0.5),
    (1747041243, STAMP),                               # epoch seconds
    (1747041243.5, STAMP + 0.5),
    (1747041243500, STAMP + 0.5),                      # milliseconds
    (1747041243500000, STAMP + 0.5),                   # microseconds
    (1747041243500000000, STAMP + 0.5),                # nanoseconds
    ("1747041243", STAMP),                             # digits (protojson int64)
    ("1747041243250", STAMP + 0.25),
    ({"seconds": 1747041243, "nanos": 500000000}, STAMP + 0.5),   # protobuf Timestamp
    ({"seconds": "1747041243", "nanos": 250000000}, STAMP + 0.25),
    ({"seconds": 1747041243}, STAMP),
    ({"seconds": "1747041243", "nanos": None}, STAMP),
]


@pytest.mark.parametrize("value, expected", SECONDS)
def test_window_seconds(value, expected):
    window = Window()
    assert window.seconds(value) == pytest.approx(expected, abs=1e-6)
    assert window.seconds(value) == pytest.approx(expected, abs=1e-6)   # again, now from the memo where there is one


GARBAGE = [None, True, False, "", "Z", "yesterday", "2025-13-01T00:00:00Z", "2025-05-12T09:14:03.Z", "2025-05-12T09:14:03.5.5Z",
           "2025-05-12T09:14:03+02:00Z", "12.5", "-", [], [1747041243], {"nanos": 5}, {"seconds": "soon"}, {"seconds": 1.5}, {}]


@pytest.mark.parametrize("value", GARBAGE)
def test_window_seconds_of_garbage_is_none(value):
    window = Window()
    assert window.seconds(value) is None
    window.seconds("2025-05-12T09:14:03Z")   # a memo entry does not make garbage a time either
    assert window.seconds(value) is None


def test_window_seconds_memo_is_per_second_and_only_for_utc():
    window = Window()
    assert window.seconds("2025-05-12T09:14:03.114526123Z") == pytest.approx(STAMP + 0.114526123, abs=1e-6)
    # the same second again: memo hits, each with its own fraction
    for fraction in ("", ".0", ".5", ".999", ".000000001", ".114526123"):
        value = "2025-05-12T09:14:03%sZ" % fraction
        assert window.seconds(value) == pytest.approx(STAMP + float(fraction or 0), abs=1e-6), value
    # the same first 19 characters with a zone offset: not the memo's UTC second
    assert window.seconds("2025-05-12T09:14:03+02:00") == STAMP - 7200
    assert window.seconds("2025-05-12T09:14:03.5-01:30") == STAMP + 5400.5
    assert window.seconds("2025-05-12T09:14:03+0200") == STAMP - 7200
    # other seconds are not confused with it
    assert window.seconds("2025-05-12T09:14:04Z") == STAMP + 1
    assert window.seconds("2025-05-13T09:14:03Z") == STAMP + 86400
    assert window.seconds("2025-05-12T09:14:03Z") == STAMP


def test_window_seconds_offset_first_does_not_poison_the_memo():
    window = Window()
    assert window.seconds("2025-05-12T09:14:03+02:00") == STAMP - 7200
    assert window.seconds("2025-05-12T09:14:03.25+02:00") == STAMP - 7200 + 0.25
    assert window.seconds("2025-05-12T09:14:03Z") == STAMP
    assert window.seconds("2025-05-12T09:14:03.75Z") == STAMP + 0.75
    assert window.seconds("2025-05-12T09:14:03-02:00") == STAMP + 7200


def test_window_seconds_zoneless_then_utc():
    window = Window()
    assert window.seconds("2025-05-12T09:14:03") == STAMP
    assert window.seconds("2025-05-12T09:14:03.5Z") == STAMP + 0.5
    assert window.seconds("2025-05-12T09:14:03.5") == STAMP + 0.5


# -------------------------------------------------------------------------------------------------- read_flow_logs: calico

SINCE, UNTIL = "2025-05-12T09:09:00Z", "2025-05-12T09:19:00Z"   # T - 300, T + 300

CALICO_RECORDS = [
    calico(dest_port=1, start_time=T - 600, end_time=T - 301),                  # 1: ends just before since
    calico(dest_port=2, start_time=T - 600, end_time=T - 300),                  # 2: ends at since: kept
    calico(dest_port=3, start_time=T - 400, end_time=T + 100),                  # 3: overlaps since
    calico(dest_port=4, start_time=T, end_time=T + 60),                         # 4: inside
    calico(dest_port=5, start_time=T + 250, end_time=T + 900),                  # 5: overlaps until
    calico(dest_port=6, start_time=T + 300, end_time=T + 900),                  # 6: starts at until: kept
    calico(dest_port=7, start_time=T + 301, end_time=T + 900),                  # 7: starts just after until
    calico(dest_port=8, start_time=None, end_time=None),                        # 8: no time
    calico(dest_port=9, start_time=None, end_time=T),                           # 9: only an end
    {"_index": "flows", "_source": calico(dest_port=10, start_time=T + 1000, end_time=T + 1100)},   # 10: an Elasticsearch hit, outside
    {"_index": "flows", "_source": calico(dest_port=11, start_time=T + 10, end_time=T + 20)},       # 11: an Elasticsearch hit, inside
    calico(dest_port=4, start_time=T + 100, end_time=T + 200),                  # 12: port 4 again
    calico(dest_port=12, action="deny", start_time=T + 7000, end_time=T + 7100),   # 13: denied first, whatever its time
    calico(dest_port=13, start_time=str(T + 5), end_time=str(T + 10)),          # 14: digits
    calico(dest_port=14, start_time=(T + 5) * 1000, end_time=(T + 10) * 1000),  # 15: milliseconds
    {key: value for key, value in calico(dest_port=15).items() if key not in ("start_time", "end_time")},   # 16: no time fields
    calico(dest_port=16, start_time=T - 1000, end_time=T - 900),                # 17: before
    calico(dest_port=None, proto="icmp", start_time=T - 1000, end_time=T - 990),   # 18: ICMP first, whatever its time
]


@pytest.mark.parametrize("compress", [False, True])
def test_calico_interval_overlap(tmp_path, compress):
    flows, stats = read(tmp_path, CALICO_RECORDS, compress, format="calico", since=SINCE, until=UNTIL)
    name = stats["path"]
    assert flows == [(front_to_cart(port), "%s:%d" % (name, line))
                     for port, line in ((2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (9, 9), (11, 11), (13, 14), (14, 15))]
    assert stats["counts"] == [1, 1, 2, 1, 1, 1, 1, 1, 1]
    assert stats["skipped"] == {"denied": 1, "no-port": 1, "no-time": 2, "outside-window": 4}
    assert stats["records"] == 18 and stats["malformed"] == []
    consistent(stats)


def test_calico_without_window_keeps_everything(tmp_path):
    flows, stats = read(tmp_path, CALICO_RECORDS, format="calico")
    assert [flow[0]["port"] for flow in flows] == ["%d/TCP" % port for port in range(1, 17) if port != 12]
    assert stats["skipped"] == {"denied": 1, "no-port": 1}


def test_only_since_or_only_until(tmp_path):
    records = [calico(dest_port=1, start_time=T - 600, end_time=T - 500), calico(dest_port=2, start_time=T, end_time=T + 60),
               calico(dest_port=3, start_time=T + 600, end_time=T + 700)]
    flows, stats = read(tmp_path, records, since="2025-05-12T09:14:30Z")
    assert flows == [(front_to_cart(2), "f.jsonl:2"), (front_to_cart(3), "f.jsonl:3")]
    assert stats["skipped"] == {"outside-window": 1}
    flows, stats = read(tmp_path, records, until="2025-05-12T09:14:30Z")
    assert flows == [(front_to_cart(1), "f.jsonl:1"), (front_to_cart(2), "f.jsonl:2")]
    assert stats["skipped"] == {"outside-window": 1}


def test_durations_before_now(tmp_path):
    now = int(time.time())
    records = [calico(dest_port=1, start_time=now - 3 * 3600, end_time=now - 3 * 3600 + 60),   # before since
               calico(dest_port=2, start_time=now - 3600, end_time=now - 3540),               # inside
               calico(dest_port=3, start_time=now - 60, end_time=now),                        # after until
               calico(dest_port=4, start_time=T, end_time=T + 300)]                           # 2025
    flows, stats = read(tmp_path, records, since="2h", until="30m")
    assert flows == [(front_to_cart(2), "f.jsonl:2")]
    assert stats["skipped"] == {"outside-window": 3}
    flows, stats = read(tmp_path, records, since="1w")
    assert flows == [(front_to_cart(1), "f.jsonl:1"), (front_to_cart(2), "f.jsonl:2"), (front_to_cart(3), "f.jsonl:3")]


def test_yaml_dates_and_datetimes_as_bounds(tmp_path):
    records = [calico(dest_port=1, start_time=T - 86400, end_time=T - 86400 + 60),   # the day before
               calico(dest_port=2, start_time=T, end_time=T + 300),
               calico(dest_port=3, start_time=T + 3600, end_time=T + 3660)]          # after 09:20
    flows, stats = read(tmp_path, records, since=datetime.date(2025, 5, 12), until=datetime.datetime(2025, 5, 12, 9, 20))
    assert flows == [(front_to_cart(2), "f.jsonl:2")]
    assert stats["skipped"] == {"outside-window": 2}


# ------------------------------------------------------------------------------------------------ read_flow_logs: goldmane

LOADGEN_KEY = {"sourceName": "loadgenerator-84d7c9c4f-*", "sourceNamespace": "hipstershop", "sourceType": "WorkloadEndpoint",
               "destName": "frontend-7d4b6c5f8d-*", "destNamespace": "hipstershop", "destType": "WorkloadEndpoint", "destPort": "8080",
               "proto": "tcp", "reporter": "Src", "action": "Allow"}


def flow_result(port, start, end):
    """A Goldmane FlowResult as protojson writes it: camelCase, int64 times as digit strings."""
    return {"id": str(port), "flow": {"Key": dict(LOADGEN_KEY, destPort=str(port)), "startTime": start, "endTime": end,
                                      "sourceLabels": ["app=loadgenerator"], "destLabels": ["app=frontend"]}}


def checkout_to_payment(port):
    return notation("hipstershop/checkoutservice", "hipstershop/paymentservice", "%d/TCP" % port)


def whisker(port, start, end):
    return dict(WHISKER, dest_port=port, start_time=start, end_time=end)


GOLDMANE_RECORDS = [
    goldmane({"dest_port": 1}, start_time=T - 600, end_time=T - 301),                  # 1: before since
    goldmane({"dest_port": 2}, start_time=T - 310, end_time=T - 290),                  # 2: overlaps since
    {"id": "9", "flow": goldmane({"dest_port": 3}, start_time=T + 400, end_time=T + 500)},   # 3: FlowResult, after until
    {"id": "9", "flow": goldmane({"dest_port": 4}, start_time=T, end_time=T + 15)},    # 4: FlowResult, inside
    flow_result(8080, str(T + 15), str(T + 30)),                                       # 5: camelCase, digits, inside
    flow_result(8081, str(T + 660), str(T + 760)),                                     # 6: camelCase, digits, after until
    WHISKER,                                                                           # 7: Whisker 09:14:15-09:14:30
    whisker(50052, "2025-05-12T09:19:01Z", "2025-05-12T09:20:00Z"),                   # 8: Whisker, after until
    whisker(50053, "2025-05-12T11:18:00+02:00", "2025-05-12T11:19:30+02:00"),         # 9: Whisker with an offset, overlaps until
    whisker(50054, "2025-05-12T11:20:00+02:00", "2025-05-12T11:21:00+02:00"),         # 10: Whisker with an offset, after until
    goldmane({"dest_port": 5}, start_time=None, end_time=None),                        # 11: no time
    goldmane({"dest_port": 6, "action": "Deny"}, start_time=T, end_time=T + 15),       # 12: denied
    goldmane({"dest_port": 2}, start_time=T + 100, end_time=T + 115),                  # 13: port 2 again
    whisker(50055, "2025-05-12T09:08:59.999Z", "2025-05-12T09:09:00.000Z"),           # 14: Whisker, ends at since
]


@pytest.mark.parametrize("compress", [False, True])
def test_goldmane_and_whisker_interval_overlap(tmp_path, compress):
    flows, stats = read(tmp_path, GOLDMANE_RECORDS, compress, format="goldmane", since=SINCE, until=UNTIL)
    name = stats["path"]
    assert flows == [
        (checkout_to_payment(50051), name + ":7"),
        (checkout_to_payment(50053), name + ":9"),
        (checkout_to_payment(50055), name + ":14"),
        (front_to_cart(2), name + ":2"),
        (front_to_cart(4), name + ":4"),
        (notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"), name + ":5"),
    ]
    assert stats["counts"] == [1, 1, 1, 2, 1, 1]
    assert stats["skipped"] == {"denied": 1, "no-time": 1, "outside-window": 5}
    assert stats["records"] == 14 and stats["malformed"] == []
    consistent(stats)


def test_whisker_list_document_with_a_window():
    stats = {}
    flows = read_flow_logs({"path": "whisker-list.json", "since": "2025-05-12T09:14:31Z"}, DATA, stats=stats)
    assert flows == [] and stats["skipped"] == {"external-without-address": 1, "outside-window": 1} and stats["records"] == 2
    flows = read_flow_logs({"path": "whisker-list.json", "until": "2025-05-12T09:14:15Z"}, DATA, stats=stats)
    assert [(flow.notation(), flow.origin) for flow in flows] == [
        (notation("hipstershop/checkoutservice", "hipstershop/paymentservice", "50051/TCP"), "whisker-list.json")]
    assert stats["skipped"] == {"external-without-address": 1}


def test_an_array_line_is_windowed_record_by_record(tmp_path):
    line = json.dumps([calico(dest_port=1, start_time=T - 600, end_time=T - 500), calico(dest_port=2), calico(dest_port=3, start_time=None, end_time=None)])
    flows, stats = read(tmp_path, [line], since=SINCE)
    assert flows == [(front_to_cart(2), "f.jsonl:1")]
    assert stats["skipped"] == {"no-time": 1, "outside-window": 1} and stats["records"] == 3


# -------------------------------------------------------------------------------------------------- read_flow_logs: hubble

def timed(port, stamp, **fields):
    """A Hubble exporter line, frontend -> cartservice on ``port``, at ``stamp`` (flow.time and the line's time)."""
    return hubble_flow(FRONTEND, CART, l4={"TCP": {"source_port": 40000, "destination_port": port}}, time=stamp, **fields)


def without_flow_time(record, line_time):
    record = json.loads(json.dumps(record))
    del record["flow"]["time"]
    if line_time is None:
        del record["time"]
    else:
        record["time"] = line_time
    return record


HUBBLE_RECORDS = [
    timed(1, "2025-05-12T09:13:59.999Z"),                                     # 1: just before since
    timed(2, "2025-05-12T09:14:00Z"),                                         # 2: at since: kept
    timed(3, "2025-05-12T09:14:00.000001Z"),                                  # 3: inside
    timed(4, "2025-05-12T09:15:00Z", is_reply=True),                          # 4: reply first
    timed(5, "2025-05-12T09:16:00.5Z"),                                       # 5: at until: kept
    timed(6, "2025-05-12T09:16:00.6Z"),                                       # 6: after until
    without_flow_time(timed(7, "x"), "2025-05-12T09:15:00Z"),                 # 7: the line's time when the flow has none
    dict(timed(8, "2025-05-12T09:30:00Z"), time="2025-05-12T09:15:00Z"),      # 8: flow.time wins over the line's time
    without_flow_time(timed(9, "x"), None),                                   # 9: no time
    timed(10, "2025-05-12T09:15:00.123456789Z")["flow"],                      # 10: a bare flow object with its time
    timed(11, "2025-05-12T11:15:00+02:00"),                                   # 11: an offset
    timed(12, "2025-05-12T09:15:00Z", verdict="DROPPED"),                     # 12: dropped
    {"node_status": {"state_change": "NODE_CONNECTED"}, "time": "2025-05-12T09:15:00Z"},   # 13: not a flow
    timed(3, "2025-05-12T09:15:30Z"),                                         # 14: port 3 again
    timed(13, 1747041300),                                                    # 15: epoch seconds (09:15:00)
    timed(14, {"seconds": 1747041300, "nanos": 5}),                           # 16: protobuf Timestamp
]


@pytest.mark.parametrize("compress", [False, True])
def test_hubble_flow_time(tmp_path, compress):
    flows, stats = read(tmp_path, HUBBLE_RECORDS, compress, format="hubble", since="2025-05-12T09:14:00Z", until="2025-05-12T09:16:00.5Z")
    name = stats["path"]
    assert flows == [(front_to_cart(port), "%s:%d" % (name, line))
                     for port, line in ((2, 2), (3, 3), (5, 5), (7, 7), (10, 10), (11, 11), (13, 15), (14, 16))]
    assert stats["counts"] == [1, 2, 1, 1, 1, 1, 1, 1]
    assert stats["skipped"] == {"denied": 1, "no-time": 1, "outside-window": 3, "reply": 1}
    assert stats["records"] == 15
    assert stats["malformed"] == [{"path": name, "line": 13, "reason": "a Hubble node_status event, not a flow"}]
    consistent(stats)


def test_hubble_sample_file_with_a_window():
    stats = {}
    flows = read_flow_logs({"path": "hubble.jsonl", "since": "2025-05-12T09:14:04Z", "until": "2025-05-12T09:14:07.020Z"}, DATA, stats=stats)
    assert [(flow.notation(), flow.origin) for flow in flows] == [
        (notation("net:203.0.113.9/32", "ingress-nginx/app.kubernetes.io/name=ingress-nginx", "443/TCP"), "hubble.jsonl:11"),
        (notation("hipstershop/checkoutservice", "domain:api.stripe.com", "443/TCP"), "hubble.jsonl:5"),
        (notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"), "hubble.jsonl:6"),
    ]
    assert stats["skipped"] == {"denied": 1, "host": 1, "no-port": 1, "outside-window": 6, "reply": 1}
    assert stats["records"] == 13 and stats["counts"] == [1, 1, 1]
    assert [entry["line"] for entry in stats["malformed"]] == [10]


def test_hubble_auto_detected_with_a_window(tmp_path):
    flows, stats = read(tmp_path, [HUBBLE[0], timed(9000, "2025-05-12T10:00:00Z")], since="2025-05-12T09:30:00Z")
    assert flows == [(front_to_cart(9000), "f.jsonl:2")]
    assert stats["format"] == "hubble" and stats["skipped"] == {"outside-window": 1}
