"""The flow_table filter: text or inline rows in, flow dicts out, AnsibleFilterError on bad input."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerotrust.microseg.plugins.filter.flow_table import FilterModule, flow_table

ROW = {"source": "yaobank/customer", "destination": "yaobank/summary", "port": "80/TCP", "protocol": "TCP", "port_min": 80, "port_max": 80}

# input, keyword arguments, expected output
CASES = [
    ("customer | summary | 80", {"namespace": "yaobank"}, [ROW]),
    ("Source | Destination | Port\n--- | --- | ---\ncustomer | summary | 80\n", {"namespace": "yaobank"}, [ROW]),
    ("yaobank/customer | yaobank/summary | 80", {}, [ROW]),
    ("customer,summary,80", {"namespace": "yaobank", "source": "t.csv"}, [ROW]),
    ("customer,summary,80", {"namespace": "yaobank", "format": "csv"}, [ROW]),
    ("- {source: customer, destination: summary, port: 80}", {"namespace": "yaobank", "format": "yaml"}, [ROW]),
    ([{"source": "customer", "destination": "summary", "port": 80}], {"namespace": "yaobank"}, [ROW]),
    (({"source": "customer", "destination": "summary", "port": "80"},), {"namespace": "yaobank"}, [ROW]),
    ([], {}, []),
    ("", {}, []),
    ("customer | summary | 80\ncustomer | summary | 80", {"namespace": "yaobank"}, [ROW, ROW]),
    ("ratings | domain:*.ubuntu.com | 8000-8080/udp", {"namespace": "bookinfo"},
     [{"source": "bookinfo/ratings", "destination": "domain:*.ubuntu.com", "port": "8000-8080/UDP",
       "protocol": "UDP", "port_min": 8000, "port_max": 8080}]),
    ("ratings | monitoring/run=probe | 9090", {"namespace": "bookinfo", "identity_labels": {"bookinfo": "name", "monitoring": "run"}},
     [{"source": "bookinfo/ratings", "destination": "monitoring/probe", "port": "9090/TCP",
       "protocol": "TCP", "port_min": 9090, "port_max": 9090}]),
    ("ratings | monitoring/run=probe | 9090", {"namespace": "bookinfo"},
     [{"source": "bookinfo/ratings", "destination": "monitoring/run=probe", "port": "9090/TCP",
       "protocol": "TCP", "port_min": 9090, "port_max": 9090}]),
]

# input, keyword arguments, exact message
BAD = [
    ("a | b | 70x0", {"namespace": "ns"}, "flow_table:1: port: '70x0' is not a port or range (expected e.g. 7070, 53/UDP or 8000-8080/TCP)"),
    ("ok | ok | 1\na | b", {"namespace": "ns", "source": "flows/x.md"}, "flows/x.md:2: expected 3 cells (source | destination | port), found 2"),
    ("a | b | 80", {}, "flow_table:1: source: 'a' has no namespace and this table has no home namespace: write 'namespace/a'"),
    ([{"source": "a", "destination": "b"}], {"namespace": "ns"}, "flow_table:1: port: is missing"),
    ("a | b | 80", {"namespace": "ns", "format": "json"}, "flow_table: unknown flow table format 'json' (expected table, csv or yaml)"),
    (42, {}, "flow_table: expected flow-table text or a list of {source, destination, port} mappings, got int"),
    ({"source": "a"}, {}, "flow_table: expected flow-table text or a list of {source, destination, port} mappings, got dict"),
    ("a | b | 80", {"namespace": "ns", "identity_labels": ["app"]}, "flow_table: identity_labels: must be a mapping of namespace to label key, not list"),
]


@pytest.mark.parametrize("data, kwargs, expected", CASES)
def test_flow_table(data, kwargs, expected):
    assert flow_table(data, **kwargs) == expected


@pytest.mark.parametrize("data, kwargs, message", BAD)
def test_flow_table_refuses_bad_input(data, kwargs, message):
    with pytest.raises(AnsibleFilterError) as err:
        flow_table(data, **kwargs)
    assert str(err.value) == message


def test_filter_is_registered():
    assert FilterModule().filters() == {"flow_table": flow_table}
