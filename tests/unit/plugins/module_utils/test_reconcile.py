"""Analyze: which declared flows cover which observed ones, the three report lists, and writing the report."""
import json
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import Endpoint, Flow, parse_endpoint, parse_port
from ansible_collections.zerotrust.microseg.plugins.module_utils.reconcile import FlowIndex, covers, reconcile, write_report


def row(source, destination, port="80"):
    """A flow from namespace-qualified cells, as observed tables write them."""
    protocol, low, high = parse_port(port)
    return Flow(parse_endpoint(source, None, {"bookinfo": "app.kubernetes.io/name"}),
                parse_endpoint(destination, None, {"bookinfo": "app.kubernetes.io/name"}, as_source=False), protocol, low, high)


# declared (source, destination, port), observed (source, destination, port), covered?
COVERS = [
    # exact
    (("a/web", "a/db", "5432"), ("a/web", "a/db", "5432"), True),
    (("a/web", "a/db", "5432"), ("a/web", "a/api", "5432"), False),
    (("a/web", "a/db", "5432"), ("b/web", "a/db", "5432"), False),
    (("a/web", "a/db", "5432"), ("a/db", "a/web", "5432"), False),
    (("a/web", "a/app=db", "5432"), ("a/web", "a/db", "5432"), True),  # same label written two ways
    (("a/web", "a/run=db", "5432"), ("a/web", "a/db", "5432"), False),  # another label key is another endpoint
    # wildcard namespace
    (("a/*", "b/db", "80"), ("a/web", "b/db", "80"), True),
    (("a/*", "b/db", "80"), ("a/k=v", "b/db", "80"), True),
    (("a/*", "b/db", "80"), ("a/*", "b/db", "80"), True),
    (("a/*", "b/db", "80"), ("c/web", "b/db", "80"), False),
    (("a/web", "b/*", "80"), ("a/web", "b/anything", "80"), True),
    (("a/web", "b/*", "80"), ("a/web", "net:10.0.0.1/32", "80"), False),
    (("a/web", "b/db", "80"), ("a/web", "b/*", "80"), False),  # a workload does not cover its namespace
    # net subnets
    (("a/web", "net:10.0.0.0/8", "443"), ("a/web", "net:10.1.2.3/32", "443"), True),
    (("a/web", "net:10.0.0.0/8", "443"), ("a/web", "net:10.0.0.0/8", "443"), True),
    (("a/web", "net:10.0.0.0/8", "443"), ("a/web", "net:0.0.0.0/0", "443"), False),
    (("a/web", "net:10.0.0.0/8", "443"), ("a/web", "net:192.168.0.0/16", "443"), False),
    (("net:192.0.2.0/24", "a/web", "443"), ("net:192.0.2.9", "a/web", "443"), True),
    (("a/web", "net:2001:db8::/32", "443"), ("a/web", "net:2001:db8::1", "443"), True),
    (("a/web", "net:2001:db8::/32", "443"), ("a/web", "net:10.0.0.1", "443"), False),  # other IP version
    (("a/web", "net:0.0.0.0/0", "443"), ("a/web", "net:2001:db8::1", "443"), False),
    (("a/web", "net:10.0.0.0/8", "443"), ("a/web", "domain:example.com", "443"), False),
    # domains
    (("a/web", "domain:*.example.com", "443"), ("a/web", "domain:www.example.com", "443"), True),
    (("a/web", "domain:*.example.com", "443"), ("a/web", "domain:a.b.example.com", "443"), True),
    (("a/web", "domain:*.example.com", "443"), ("a/web", "domain:example.com", "443"), False),
    (("a/web", "domain:*.example.com", "443"), ("a/web", "domain:www.example.org", "443"), False),
    (("a/web", "domain:*.example.com", "443"), ("a/web", "domain:www.notexample.com", "443"), False),
    (("a/web", "domain:example.com", "443"), ("a/web", "domain:example.com", "443"), True),
    (("a/web", "domain:example.com", "443"), ("a/web", "domain:www.example.com", "443"), False),
    (("a/web", "domain:Example.COM", "443"), ("a/web", "domain:example.com", "443"), True),
    # ports and protocols
    (("a/web", "a/db", "8000-8080"), ("a/web", "a/db", "8000"), True),
    (("a/web", "a/db", "8000-8080"), ("a/web", "a/db", "8080"), True),
    (("a/web", "a/db", "8000-8080"), ("a/web", "a/db", "8081"), False),
    (("a/web", "a/db", "8000-8080"), ("a/web", "a/db", "7999"), False),
    (("a/web", "a/db", "8000-8080"), ("a/web", "a/db", "8000-8010"), True),
    (("a/web", "a/db", "8000-8080"), ("a/web", "a/db", "7990-8010"), False),
    (("a/web", "a/db", "53/UDP"), ("a/web", "a/db", "53/TCP"), False),
    (("a/web", "a/db", "53/UDP"), ("a/web", "a/db", "53/udp"), True),
]


@pytest.mark.parametrize("declared, observed, expected", COVERS, ids=["%s>%s" % (case[0], case[1]) for case in COVERS])
def test_covers(declared, observed, expected):
    declared_flow, observed_flow = row(*declared), row(*observed)
    assert covers(declared_flow, observed_flow) is expected
    report = reconcile([declared_flow], [observed_flow])
    assert bool(report["confirmed"]) is expected
    assert bool(report["unobserved"]) is (not expected)
    assert bool(report["undeclared"]) is (not expected)


def test_report_lists_in_flow_table_notation():
    identity = {"hipstershop": "app", "bookinfo": "app.kubernetes.io/name"}
    declared = sorted([row("hipstershop/frontend", "hipstershop/cartservice", "7070"),
                       row("hipstershop/cartservice", "hipstershop/redis-cart", "6379"),
                       row("bookinfo/productpage", "bookinfo/details", "9080"),
                       row("bookinfo/ratings", "domain:*.ubuntu.com", "443")])
    observed = sorted([row("hipstershop/frontend", "hipstershop/cartservice", "7070"),
                       row("bookinfo/ratings", "domain:api.ubuntu.com", "443"),
                       row("hipstershop/loadgenerator", "hipstershop/frontend", "8080-8081/TCP"),
                       row("bookinfo/app=x", "net:10.0.0.0/8", "53/UDP")])
    assert reconcile(declared, observed, identity) == {
        "confirmed": [{"source": "bookinfo/ratings", "destination": "domain:*.ubuntu.com", "port": "443/TCP"},
                      {"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"}],
        "unobserved": [{"source": "bookinfo/productpage", "destination": "bookinfo/details", "port": "9080/TCP"},
                       {"source": "hipstershop/cartservice", "destination": "hipstershop/redis-cart", "port": "6379/TCP"}],
        "undeclared": [{"source": "bookinfo/app=x", "destination": "net:10.0.0.0/8", "port": "53/UDP"},
                       {"source": "hipstershop/loadgenerator", "destination": "hipstershop/frontend", "port": "8080-8081/TCP"}],
    }


def test_notation_without_identity_labels_uses_app():
    declared = [Flow(Endpoint("workload", "a", "run", "x"), Endpoint("workload", "a", "app", "y"), "TCP", 1, 1)]
    assert reconcile(declared, []) == {"confirmed": [], "unobserved": [{"source": "a/run=x", "destination": "a/y", "port": "1/TCP"}],
                                       "undeclared": []}


def test_empty_inputs():
    assert reconcile([], []) == {"confirmed": [], "unobserved": [], "undeclared": []}


def test_one_observed_flow_confirms_every_declared_flow_covering_it():
    """An exact declaration must not hide a wider one that covers the same traffic (and vice versa)."""
    exact = row("a/web", "b/db", "5432")
    wide = row("a/*", "b/db", "5432")
    ranged = row("a/web", "b/db", "5000-6000")
    observed = [row("a/web", "b/db", "5432")]
    for declared in ([wide], [exact, wide], [exact, wide, ranged], [wide, ranged]):
        report = reconcile(sorted(declared), observed)
        assert len(report["confirmed"]) == len(declared), declared
        assert report["unobserved"] == [] and report["undeclared"] == []


def test_flow_index_exact_and_wide():
    exact, wide = row("a/web", "b/db"), row("a/web", "net:10.0.0.0/8")
    index = FlowIndex([exact, wide])
    assert index.covering(row("a/web", "b/db")) == [exact]
    assert index.covering(row("a/web", "net:10.1.0.0/16")) == [wide]
    assert index.covering(row("a/web", "b/api")) == []
    assert wide in index.wide and exact not in index.wide


# -- write_report --------------------------------------------------------------------------------------

REPORT = {"unobserved": [{"source": "a/b", "destination": "a/c", "port": "80/TCP"}], "confirmed": [], "undeclared": []}
TEXT = json.dumps(REPORT, indent=2, sort_keys=True) + "\n"


def test_write_report_creates_directories_and_writes_sorted_json(tmp_path):
    path = tmp_path / "reports" / "lab-cluster" / "reconciliation.json"
    assert write_report(str(path), REPORT) == (True, "", TEXT)
    assert path.read_text(encoding="utf-8") == TEXT
    assert list(json.loads(path.read_text(encoding="utf-8"))) == ["confirmed", "undeclared", "unobserved"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(os.listdir(path.parent)) == ["reconciliation.json"]  # no temp file left behind


def test_write_report_writes_only_on_change(tmp_path):
    path = tmp_path / "reconciliation.json"
    write_report(str(path), REPORT)
    before = path.stat()
    assert write_report(str(path), REPORT) == (False, TEXT, TEXT)
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    changed = dict(REPORT, confirmed=[{"source": "a/x", "destination": "a/y", "port": "1/TCP"}])
    new_text = json.dumps(changed, indent=2, sort_keys=True) + "\n"
    assert write_report(str(path), changed) == (True, TEXT, new_text)
    assert path.read_text(encoding="utf-8") == new_text


@pytest.mark.parametrize("existing", [None, "old\n", TEXT])
def test_write_report_never_writes_in_check_mode(tmp_path, existing):
    path = tmp_path / "sub" / "reconciliation.json"
    if existing is not None:
        path.parent.mkdir()
        path.write_text(existing, encoding="utf-8")
    changed, before, after = write_report(str(path), REPORT, check_mode=True)
    assert (changed, before, after) == (existing != TEXT, existing or "", TEXT)
    if existing is None:
        assert not path.parent.exists()
    else:
        assert path.read_text(encoding="utf-8") == existing
        assert sorted(os.listdir(path.parent)) == ["reconciliation.json"]
