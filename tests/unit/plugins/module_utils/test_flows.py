"""Flow tables: endpoint and port forms, formats, merging, reference tables and a bad-input matrix."""
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import (
    Endpoint, Flow, load_flows, merge_flows, parse_endpoint, parse_flow_rows, parse_flow_text, parse_port)

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "flows")
LABEL_RULE = "must be 63 characters or less, start and end with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"
NAMESPACE_RULE = ("must be 63 characters or less, start and end with a lower-case alphanumeric character, "
                  "and contain only lower-case alphanumerics or '-'")
PORT_FORMS = "(expected e.g. 7070, 53/UDP or 8000-8080/TCP)"
IDENTITY = {"bookinfo": "app.kubernetes.io/name", "monitoring": "run"}


def workload(namespace, value, key="app"):
    return Endpoint("workload", namespace=namespace, key=key, value=value)


# cell, home namespace, Endpoint, notation (with IDENTITY)
ENDPOINTS = [
    ("frontend", "hipstershop", workload("hipstershop", "frontend"), "hipstershop/frontend"),
    ("  frontend  ", "hipstershop", workload("hipstershop", "frontend"), "hipstershop/frontend"),
    ("productpage", "bookinfo", workload("bookinfo", "productpage", "app.kubernetes.io/name"), "bookinfo/productpage"),
    ("yaobank/customer", "hipstershop", workload("yaobank", "customer"), "yaobank/customer"),
    ("yaobank/customer", None, workload("yaobank", "customer"), "yaobank/customer"),
    ("monitoring/monitoring-pod", None, workload("monitoring", "monitoring-pod", "run"), "monitoring/monitoring-pod"),
    ("monitoring/run=monitoring-pod", None, workload("monitoring", "monitoring-pod", "run"), "monitoring/monitoring-pod"),
    ("yaobank/app=customer", None, workload("yaobank", "customer"), "yaobank/customer"),
    ("yaobank/tier=Web_1.x", None, workload("yaobank", "Web_1.x", "tier"), "yaobank/tier=Web_1.x"),
    ("ingress-nginx/app.kubernetes.io/name=ingress-nginx", None,
     workload("ingress-nginx", "ingress-nginx", "app.kubernetes.io/name"), "ingress-nginx/app.kubernetes.io/name=ingress-nginx"),
    ("bookinfo/app.kubernetes.io/name=ratings", None, workload("bookinfo", "ratings", "app.kubernetes.io/name"), "bookinfo/ratings"),
    ("bookinfo/app=ratings", None, workload("bookinfo", "ratings"), "bookinfo/app=ratings"),
    ("run=loadgen", "hipstershop", workload("hipstershop", "loadgen", "run"), "hipstershop/run=loadgen"),
    ("monitoring/*", None, Endpoint("namespace", namespace="monitoring"), "monitoring/*"),
    ("*", "hipstershop", Endpoint("namespace", namespace="hipstershop"), "hipstershop/*"),
    ("domain:www.github.com", None, Endpoint("domain", domain="www.github.com"), "domain:www.github.com"),
    ("domain:*.Ubuntu.COM", None, Endpoint("domain", domain="*.ubuntu.com"), "domain:*.ubuntu.com"),
    ("Domain: update.*.example.com", None, Endpoint("domain", domain="update.*.example.com"), "domain:update.*.example.com"),
    ("domain:localhost", None, Endpoint("domain", domain="localhost"), "domain:localhost"),
    ("net:10.0.0.0/8", None, Endpoint("net", net="10.0.0.0/8"), "net:10.0.0.0/8"),
    ("net:203.0.113.7", None, Endpoint("net", net="203.0.113.7/32"), "net:203.0.113.7/32"),
    ("net:2001:DB8::/32", None, Endpoint("net", net="2001:db8::/32"), "net:2001:db8::/32"),
    ("net:2001:db8::1", None, Endpoint("net", net="2001:db8::1/128"), "net:2001:db8::1/128"),
    ("NET:0.0.0.0/0", None, Endpoint("net", net="0.0.0.0/0"), "net:0.0.0.0/0"),
]

# cell -> (protocol, min, max), port_notation, calico_port
PORTS = [
    ("7070", ("TCP", 7070, 7070), "7070/TCP", 7070),
    (7070, ("TCP", 7070, 7070), "7070/TCP", 7070),
    ("7070/TCP", ("TCP", 7070, 7070), "7070/TCP", 7070),
    ("53/udp", ("UDP", 53, 53), "53/UDP", 53),
    ("53/Udp", ("UDP", 53, 53), "53/UDP", 53),
    ("3868/SCTP", ("SCTP", 3868, 3868), "3868/SCTP", 3868),
    ("8000-8080", ("TCP", 8000, 8080), "8000-8080/TCP", "8000:8080"),
    ("8000-8080/udp", ("UDP", 8000, 8080), "8000-8080/UDP", "8000:8080"),
    ("1-65535", ("TCP", 1, 65535), "1-65535/TCP", "1:65535"),
    ("443-443", ("TCP", 443, 443), "443/TCP", 443),
    (" 80 ", ("TCP", 80, 80), "80/TCP", 80),
]

HIPSTER = [{"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"},
           {"source": "hipstershop/frontend", "destination": "domain:*.example.com", "port": "53/UDP"},
           {"source": "yaobank/customer", "destination": "hipstershop/frontend", "port": "8000-8080/TCP"}]

# text, source name (its extension chooses the format), fmt
FORMATS = [
    ("frontend | cartservice | 7070\nfrontend | domain:*.example.com | 53/udp\nyaobank/customer | frontend | 8000-8080\n", "t.md", None),
    ("Source Service | Destination Service | Destination Port\n--- | --- | ---\n"
     "frontend | cartservice | 7070\nfrontend | domain:*.example.com | 53/udp\nyaobank/customer | frontend | 8000-8080\n", "t.md", None),
    ("# Hipstershop flows\n\n| Source | Destination | Port |\n|:---|:---:|---:|\n| frontend | cartservice | 7070 |\n\n"
     "# DNS\n| frontend | domain:*.example.com | 53/UDP |\n|yaobank/customer|frontend|8000-8080|\n", "flows.txt", None),
    ("frontend|cartservice|7070\r\n  frontend |domain:*.example.com|53/udp  \r\n\tyaobank/customer\t|\tfrontend\t|\t8000-8080\r\n", "t", None),
    ("source,destination,port\nfrontend,cartservice,7070\n# comment\n\nfrontend, domain:*.example.com ,53/udp\n"
     "yaobank/customer,frontend,8000-8080\n", "t.csv", None),
    ('frontend,cartservice,7070\n"frontend","domain:*.example.com","53/udp"\nyaobank/customer,frontend,8000-8080\n', "t.CSV", None),
    ("frontend,cartservice,7070\nfrontend,domain:*.example.com,53/udp\nyaobank/customer,frontend,8000-8080\n", "inline", "csv"),
    ("- source: frontend\n  destination: cartservice\n  port: 7070\n"
     "- {source: frontend, destination: 'domain:*.example.com', port: 53/udp}\n"
     "- {source: yaobank/customer, destination: frontend, port: 8000-8080}\n", "t.yaml", None),
    ("# flows\n- {source: frontend, destination: cartservice, port: 7070}\n"
     "- {source: frontend, destination: 'domain:*.example.com', port: 53/udp}\n"
     "- {source: yaobank/customer, destination: frontend, port: 8000-8080}\n", "t.yml", None),
    ("[{source: frontend, destination: cartservice, port: 7070}, {source: frontend, destination: 'domain:*.example.com', port: 53/udp},"
     " {source: yaobank/customer, destination: frontend, port: 8000-8080}]", "whatever.md", "yaml"),
    ("\ufefffrontend | cartservice | 7070\nfrontend | domain:*.example.com | 53/udp\nyaobank/customer | frontend | 8000-8080\n", "t.md", "MD"),
]

# reference file, home namespace, number of flows, one expected row
REFERENCE = [
    ("hipstershop.md", "hipstershop", 17, {"source": "hipstershop/frontend", "destination": "hipstershop/checkoutservice", "port": "5050/TCP"}),
    ("yaobank.md", "yaobank", 4, {"source": "ingress-nginx/app.kubernetes.io/name=ingress-nginx",
                                  "destination": "yaobank/customer", "port": "80/TCP"}),
    ("bookinfo.md", "bookinfo", 5, {"source": "bookinfo/ratings", "destination": "domain:*.ubuntu.com", "port": "443/TCP"}),
    ("new-flows-assess-remediate.md", None, 5, {"source": "monitoring/run=monitoring-pod", "destination": "yaobank/customer", "port": "80/TCP"}),
]

# text, source name, home namespace, exact message
BAD_TEXT = [
    ("a | b\n", "t.md", "ns", "t.md:1: expected 3 cells (source | destination | port), found 2"),
    ("a | b | 1 | x\n", "t.md", "ns", "t.md:1: expected 3 cells (source | destination | port), found 4"),
    ("| a | b | 80 | |\n", "t.md", "ns", "t.md:1: expected 3 cells (source | destination | port), found 4"),
    ("Source | Destination | Port\n---|---|---\n\na | b | 1\n|  | b | 1 |\n", "t.md", "ns", "t.md:5: source: must not be empty"),
    ("a |  | 1\n", "t.md", "ns", "t.md:1: destination: must not be empty"),
    ("a | b | \n", "t.md", "ns", "t.md:1: expected 3 cells (source | destination | port), found 2"),
    ("| a | b | |\n", "t.md", "ns", "t.md:1: port: must not be empty"),
    ("a | b | 70x0\n", "t.md", "ns", "t.md:1: port: '70x0' is not a port or range " + PORT_FORMS),
    ("a | b | http\n", "t.md", "ns", "t.md:1: port: 'http' is not a port or range " + PORT_FORMS),
    ("a | b | 80/\n", "t.md", "ns", "t.md:1: port: '80/' is not a port or range " + PORT_FORMS),
    ("a | b | 80 / TCP\n", "t.md", "ns", "t.md:1: port: '80 / TCP' is not a port or range " + PORT_FORMS),
    ("a | b | -1\n", "t.md", "ns", "t.md:1: port: '-1' is not a port or range " + PORT_FORMS),
    ("a | b | 0\n", "t.md", "ns", "t.md:1: port: '0' is out of range: ports are 1 to 65535"),
    ("a | b | 65536\n", "t.md", "ns", "t.md:1: port: '65536' is out of range: ports are 1 to 65535"),
    ("a | b | 10-70000\n", "t.md", "ns", "t.md:1: port: '10-70000' is out of range: ports are 1 to 65535"),
    ("a | b | 99999999999\n", "t.md", "ns", "t.md:1: port: '99999999999' is not a port or range " + PORT_FORMS),
    ("a | b | 8080-8000\n", "t.md", "ns", "t.md:1: port: '8080-8000' is not a valid range: 8080 is greater than 8000"),
    ("a | b | 8/ICMP\n", "t.md", "ns", "t.md:1: port: '8/ICMP' has unsupported protocol 'ICMP': only TCP, UDP or SCTP flows have ports"),
    ("a | b | 80/http\n", "t.md", "ns", "t.md:1: port: '80/http' has unsupported protocol 'http': only TCP, UDP or SCTP flows have ports"),
    ("domain:example.com | b | 80\n", "t.md", "ns",
     "t.md:1: source: 'domain:example.com' cannot be a source: domain names are destination only"),
    ("a | b | 80\n", "obs.md", None, "obs.md:1: source: 'a' has no namespace and this table has no home namespace: write 'namespace/a'"),
    ("ns/a | b | 80\n", "obs.md", None,
     "obs.md:1: destination: 'b' has no namespace and this table has no home namespace: write 'namespace/b'"),
    ("Frontend! | b | 80\n", "t.md", "ns", "t.md:1: source: 'Frontend!' is not a valid label value: " + LABEL_RULE),
    ("Hip/a | b | 80\n", "t.md", "ns", "t.md:1: source: 'Hip' is not a valid namespace: " + NAMESPACE_RULE),
    ("ns/ | b | 80\n", "t.md", "ns", "t.md:1: source: 'ns/' has an empty name after '/'"),
    ("/a | b | 80\n", "t.md", "ns", "t.md:1: source: '' is not a valid namespace: must not be empty"),
    ("a | ns/run= | 80\n", "t.md", "ns", "t.md:1: destination: 'ns/run=' has an empty label value after '='"),
    ("a | ns/=x | 80\n", "t.md", "ns", "t.md:1: destination: '' is not a valid label key: must not be empty"),
    ("a | ns/a b=x | 80\n", "t.md", "ns", "t.md:1: destination: 'a b' is not a valid label key: " + LABEL_RULE),
    ("a | ns/x/y/z=1 | 80\n", "t.md", "ns", "t.md:1: destination: 'x/y/z' is not a valid label key: may contain at most one '/'"),
    ("a | ns/svc/x | 80\n", "t.md", "ns", "t.md:1: destination: 'svc/x' is not a valid label value: " + LABEL_RULE),
    ("a | ns/app==x | 80\n", "t.md", "ns", "t.md:1: destination: '=x' is not a valid label value: " + LABEL_RULE),
    ("a | ns/app=x,y | 80\n", "t.md", "ns", "t.md:1: destination: 'x,y' is not a valid label value: " + LABEL_RULE),
    ("a | ns/app=\"x\" | 80\n", "t.md", "ns", "t.md:1: destination: '\"x\"' is not a valid label value: " + LABEL_RULE),
    ("a | ns/x' || has(y | 80\n", "t.md", "ns", "t.md:1: expected 3 cells (source | destination | port), found 5"),
    ("a | ns/has(y) | 80\n", "t.md", "ns", "t.md:1: destination: 'has(y)' is not a valid label value: " + LABEL_RULE),
    ("a | ns/!x=y | 80\n", "t.md", "ns", "t.md:1: destination: '!x' is not a valid label key: " + LABEL_RULE),
    ("a | ns/x&&y | 80\n", "t.md", "ns", "t.md:1: destination: 'x&&y' is not a valid label value: " + LABEL_RULE),
    ("a | all() | 80\n", "t.md", "ns", "t.md:1: destination: 'all()' is not a valid label value: " + LABEL_RULE),
    ("a | {x} | 80\n", "t.md", "ns", "t.md:1: destination: '{x}' is not a valid label value: " + LABEL_RULE),
    ("a | b c | 80\n", "t.md", "ns", "t.md:1: destination: 'b c' is not a valid label value: " + LABEL_RULE),
    ("a | svc:x | 80\n", "t.md", "ns", "t.md:1: destination: 'svc:x' is not a valid label value: " + LABEL_RULE),
    ("a | domain: | 80\n", "t.md", "ns", "t.md:1: destination: 'domain:' is not a valid domain name: must not be empty"),
    ("a | domain:*.*.x.com | 80\n", "t.md", "ns", "t.md:1: destination: 'domain:*.*.x.com' is not a valid domain name: may contain only one '*'"),
    ("a | domain:*x.com | 80\n", "t.md", "ns",
     "t.md:1: destination: 'domain:*x.com' is not a valid domain name: '*' must be a whole label, as in '*.example.com'"),
    ("a | domain:example.* | 80\n", "t.md", "ns", "t.md:1: destination: 'domain:example.*' is not a valid domain name: '*' cannot be the last label"),
    ("a | domain:* | 80\n", "t.md", "ns", "t.md:1: destination: 'domain:*' is not a valid domain name: '*' cannot be the last label"),
    *[("a | domain:%s | 80\n" % name, "t.md", "ns",
       "t.md:1: destination: %r is not a valid domain name: each label must be 63 characters or less, "
       "start and end with a letter or digit, and contain only letters, digits or '-'" % ("domain:" + name))
      for name in ["exa mple.com", "-a.com", "a-.com", "a..com", ".a.com", "a.com.", "a_b.com", "a" * 64 + ".com", "bücher.de", "a.com'"]],
    ("a | domain:%s | 80\n" % ("a." * 127), "t.md", "ns",
     "t.md:1: destination: 'domain:%s' is not a valid domain name: must be 253 characters or less" % ("a." * 127)),
    ("a | net:10.0.0.1/8 | 80\n", "t.md", "ns", "t.md:1: destination: 'net:10.0.0.1/8' has host bits set: the network is 10.0.0.0/8"),
    ("net:2001:db8::1/32 | a | 80\n", "t.md", "ns", "t.md:1: source: 'net:2001:db8::1/32' has host bits set: the network is 2001:db8::/32"),
    ("a | net:10.0.0.0/33 | 80\n", "t.md", "ns", "t.md:1: destination: 'net:10.0.0.0/33' is not a valid CIDR or IP address"),
    ("a | net:example.com | 80\n", "t.md", "ns", "t.md:1: destination: 'net:example.com' is not a valid CIDR or IP address"),
    ("a | net:010.0.0.0/8 | 80\n", "t.md", "ns", "t.md:1: destination: 'net:010.0.0.0/8' is not a valid CIDR or IP address"),
    ("a | net: | 80\n", "t.md", "ns", "t.md:1: destination: 'net:' is not a valid CIDR or IP address"),
    ("source,destination,port\na,b\n", "t.csv", "ns", "t.csv:2: expected 3 cells (source | destination | port), found 2"),
    ("a,b,c\n", "t.csv", "ns", "t.csv:1: port: 'c' is not a port or range " + PORT_FORMS),
    ('a,"b\nc",80\n', "t.csv", "ns", "t.csv:2: destination: 'b\\nc' is not a valid label value: " + LABEL_RULE),
    ("- {source: a, destination: b}\n", "t.yml", "ns", "t.yml:1: port: is missing"),
    ("\n\n- {source: a, destination: b, port: 80, protocol: UDP}\n", "t.yml", "ns",
     "t.yml:3: unknown key 'protocol' (expected source, destination and port)"),
    ("- {source: a, destination: b, port: 80}\n- source: a\n  destination:\n  port: 80\n", "t.yml", "ns", "t.yml:2: destination: must not be empty"),
    ("- {source: a, destination: [b], port: 80}\n", "t.yml", "ns", "t.yml:1: destination: must be a single value, not a list or mapping"),
    ("- {source: a, source: a, destination: b, port: 80}\n", "t.yml", "ns", "t.yml:1: duplicate key 'source'"),
    ("- a | b | 80\n", "t.yml", "ns", "t.yml:1: expected a mapping with keys source, destination and port"),
    ("source: a\n", "t.yml", "ns", "t.yml:1: expected a list of {source, destination, port} mappings"),
    ("- {source: a, destination: b, port: 80.0}\n", "t.yml", "ns", "t.yml:1: port: '80.0' is not a port or range " + PORT_FORMS),
    ("- {source: a\n- b\n", "t.yml", "ns", "t.yml:3: invalid YAML: while parsing a flow mapping, expected ',' or '}', but got '<stream end>'"),
    ("- a\n---\n- b\n", "t.yml", "ns", "t.yml:2: invalid YAML: expected a single document in the stream, but found another document"),
    ("a | b | 80\n", "t.md", "Bad_NS", "t.md: namespace: 'Bad_NS' is not a valid namespace: " + NAMESPACE_RULE),
]


@pytest.mark.parametrize("cell, home, endpoint, notation", ENDPOINTS)
def test_endpoint_forms(cell, home, endpoint, notation):
    parsed = parse_endpoint(cell, home, IDENTITY)
    assert parsed == endpoint
    assert parsed.notation(IDENTITY) == notation
    assert parse_endpoint(notation, None, IDENTITY) == endpoint, "the notation reads back as the same endpoint"
    assert parsed.is_external == (endpoint.kind in ("domain", "net"))


@pytest.mark.parametrize("cell, parts, notation, calico", PORTS)
def test_port_forms(cell, parts, notation, calico):
    assert parse_port(cell) == parts
    flow = Flow(workload("a", "b"), workload("a", "c"), *parts)
    assert flow.port_notation() == notation
    assert flow.calico_port() == calico


def test_identity_label_form_is_the_same_endpoint():
    flows = parse_flow_text("frontend | cart | 7070\nhip/app=frontend | hip/cart | 7070\n", "t.md", "hip")
    assert flows[0] == flows[1]
    assert [flow.origin for flow in flows] == ["t.md:1", "t.md:2"]
    assert merge_flows(flows) == [flows[0]]
    assert merge_flows(flows)[0].origin == "t.md:1"


def test_notation_without_identity_labels_defaults_to_app():
    endpoint = workload("bookinfo", "ratings", "app.kubernetes.io/name")
    assert endpoint.notation() == "bookinfo/app.kubernetes.io/name=ratings"
    assert endpoint.notation(IDENTITY) == "bookinfo/ratings"
    assert workload("x", "y").notation() == "x/y"


@pytest.mark.parametrize("text, source, fmt", FORMATS)
def test_formats(text, source, fmt):
    flows = parse_flow_text(text, source, "hipstershop", fmt=fmt)
    assert [flow.notation() for flow in flows] == HIPSTER


def test_origins_name_file_and_line():
    text = "# flows\n\nSource | Destination | Port\n--- | --- | ---\na | b | 1\n\nc | d | 2\n"
    assert [flow.origin for flow in parse_flow_text(text, "x/t.md", "ns")] == ["x/t.md:5", "x/t.md:7"]
    yaml_text = "# flows\n- {source: a, destination: b, port: 1}\n\n- source: c\n  destination: d\n  port: 2\n"
    assert [flow.origin for flow in parse_flow_text(yaml_text, "t.yaml", "ns")] == ["t.yaml:2", "t.yaml:4"]


@pytest.mark.parametrize("text", [
    "source-a | destination-b | 80\n",
    "Source | Destination | 80\n",
])
def test_a_row_with_a_port_is_never_a_header(text):
    assert len(parse_flow_text(text, "t.md", "ns")) == 1


@pytest.mark.parametrize("text, source", [
    ("", "t.md"), ("\n\n", "t.md"), ("# nothing\n", "t.md"), ("Source | Destination | Port\n--- | --- | ---\n", "t.md"),
    ("", "t.csv"), ("\n \n", "t.csv"), ("# nothing\n", "t.csv"), ("source,destination,port\n", "t.csv"),
])
def test_empty_tables(text, source):
    assert parse_flow_text(text, source, "ns") == []


@pytest.mark.parametrize("text", ["", "# nothing\n", "[]\n"])
def test_empty_yaml(text):
    assert parse_flow_text(text, "t.yaml", "ns") == []


def test_inline_rows():
    rows = [{"source": "frontend", "destination": "cartservice", "port": 7070},
            {"source": "frontend", "destination": "domain:*.example.com", "port": "53/udp"},
            {"source": "yaobank/customer", "destination": "frontend", "port": "8000-8080"}]
    flows = parse_flow_rows(rows, "microseg_apps[0].flows", "hipstershop")
    assert [flow.notation() for flow in flows] == HIPSTER
    assert flows[2].origin == "microseg_apps[0].flows:3"


# rows, home, exact message
BAD_ROWS = [
    ([{"source": "a", "destination": "b", "port": 80}, "a | b | 80"], "ns", "inline:2: expected a mapping with keys source, destination and port, got str"),
    ([{"source": "a", "destination": "b"}], "ns", "inline:1: port: is missing"),
    ([{"destination": "b", "port": 80}], "ns", "inline:1: source: is missing"),
    ([{"source": "a", "destination": "b", "port": 80, "proto": "UDP"}], "ns", "inline:1: unknown key 'proto' (expected source, destination and port)"),
    ([{"source": "a", "destination": "b", "port": True}], "ns", "inline:1: port: must be a string or a number, not bool"),
    ([{"source": "a", "destination": "b", "port": 80.5}], "ns", "inline:1: port: must be a string or a number, not float"),
    ([{"source": 5, "destination": "b", "port": 80}], "ns", "inline:1: source: must be a string, not int"),
    ([{"source": "a", "destination": None, "port": 80}], "ns", "inline:1: destination: must not be empty"),
    ([{"source": "a", "destination": "b", "port": 0}], "ns", "inline:1: port: '0' is out of range: ports are 1 to 65535"),
    ([{"source": "a", "destination": "b", "port": 80}], None,
     "inline:1: source: 'a' has no namespace and this table has no home namespace: write 'namespace/a'"),
    ({"source": "a", "destination": "b", "port": 80}, "ns", "inline: expected a list of {source, destination, port} mappings, got dict"),
    ("a | b | 80", "ns", "inline: expected a list of {source, destination, port} mappings, got str"),
]


@pytest.mark.parametrize("rows, home, message", BAD_ROWS)
def test_bad_inline_rows(rows, home, message):
    with pytest.raises(InputError) as err:
        parse_flow_rows(rows, "inline", home)
    assert str(err.value) == message


@pytest.mark.parametrize("text, source, home, message", BAD_TEXT)
def test_bad_text(text, source, home, message):
    with pytest.raises(InputError) as err:
        parse_flow_text(text, source, home)
    assert str(err.value) == message


def test_bad_input_error_fields():
    with pytest.raises(InputError) as err:
        parse_flow_text("ok | fine | 80\na | b | 70x0\n", "flows/hipstershop.md", "hipstershop")
    assert (err.value.source, err.value.line, err.value.field) == ("flows/hipstershop.md", 2, "port")


def test_unknown_format():
    with pytest.raises(InputError) as err:
        parse_flow_text("a | b | 80", "t.md", "ns", fmt="json")
    assert str(err.value) == "t.md: unknown flow table format 'json' (expected table, csv or yaml)"


@pytest.mark.parametrize("identity, message", [
    ({"ns": "bad key!"}, "t.md: identity_labels: 'bad key!' is not a valid label key: " + LABEL_RULE),
    ({"Bad": "app"}, "t.md: identity_labels: 'Bad' is not a valid namespace: " + NAMESPACE_RULE),
    (["app"], "t.md: identity_labels: must be a mapping of namespace to label key, not list"),
])
def test_bad_identity_labels(identity, message):
    with pytest.raises(InputError) as err:
        parse_flow_text("a | b | 80", "t.md", "ns", identity)
    assert str(err.value) == message


@pytest.mark.parametrize("name, home, count, row", REFERENCE)
def test_reference_tables(name, home, count, row):
    flows = load_flows(name, DATA, home)
    assert len(flows) == count
    assert len(merge_flows(flows)) == count
    assert row in [flow.notation() for flow in flows]
    assert all(flow.protocol == "TCP" and flow.port_min == flow.port_max for flow in flows)
    assert flows[0].origin == name + ":3"


def test_reference_table_as_observed_flows_needs_namespaces():
    with pytest.raises(InputError) as err:
        load_flows("hipstershop.md", DATA)
    assert str(err.value) == ("hipstershop.md:3: source: 'cartservice' has no namespace and this table has no home namespace: "
                              "write 'namespace/cartservice'")


def test_load_flows_specs(tmp_path):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "a.csv").write_text("a,b,80\n")
    (tmp_path / "flows" / "b.yaml").write_text("- {source: c, destination: d, port: 53/UDP}\n")
    assert [f.origin for f in load_flows("flows/a.csv", str(tmp_path), "ns")] == ["flows/a.csv:1"]
    assert [f.origin for f in load_flows(str(tmp_path / "flows" / "b.yaml"), "/elsewhere", "ns")] == [str(tmp_path / "flows" / "b.yaml") + ":1"]
    mixed = load_flows(["flows/a.csv", {"source": "e", "destination": "f", "port": 1}, "flows/b.yaml"], str(tmp_path), "ns", source="vars")
    assert [f.origin for f in mixed] == ["flows/a.csv:1", "vars:2", "flows/b.yaml:1"]
    assert [f.notation()["port"] for f in mixed] == ["80/TCP", "1/TCP", "53/UDP"]
    assert load_flows(None, str(tmp_path)) == []
    assert load_flows([], str(tmp_path)) == []


@pytest.mark.parametrize("spec, message", [
    ("flows/missing.md", "flows/missing.md: cannot read flow table: No such file or directory"),
    ("flows", "flows: cannot read flow table: Is a directory"),
    ("flows/latin1.md", "flows/latin1.md: cannot read flow table: not UTF-8 text"),
    ("", "flows: flow table path is empty"),
    (42, "flows: expected a flow table path or a list of {source, destination, port} mappings, got int"),
    ({"source": "a"}, "flows: expected a flow table path or a list of {source, destination, port} mappings, got dict"),
    ([{"source": "a", "destination": "b", "port": 1}, 7], "flows:2: expected a mapping with keys source, destination and port, got int"),
])
def test_load_flows_errors(tmp_path, spec, message):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "latin1.md").write_bytes("a | b | 80\nc | d\xe9 | 80\n".encode("latin-1"))
    with pytest.raises(InputError) as err:
        load_flows(spec, str(tmp_path), "ns")
    assert str(err.value) == message


def test_large_table_streams(tmp_path):
    path = tmp_path / "big.md"
    with open(path, "w") as stream:
        stream.write("Source | Destination | Port\n--- | --- | ---\n")
        for index in range(20000):
            stream.write("svc-%d | db | %d\n" % (index % 100, 1 + index % 500))
    flows = load_flows(str(path), "", "ns")
    assert len(flows) == 20000
    assert len(merge_flows(flows)) == 500
    assert flows[-1].origin == str(path) + ":20002"


def test_merge_flows_dedups_and_sorts():
    text = ("z | a | 80\na | b | 443\nns/app=z | ns/a | 80/tcp\na | b | 80\na | domain:x.com | 443\na | net:10.0.0.0/8 | 443\n"
            "a | ns/* | 443\na | b | 80/UDP\na | b | 8000-8080\nz | a | 80\n")
    merged = merge_flows(parse_flow_text(text, "t.md", "ns"))
    assert [(f.notation()["source"], f.notation()["destination"], f.port_notation(), f.origin) for f in merged] == [
        ("ns/a", "domain:x.com", "443/TCP", "t.md:5"),
        ("ns/a", "ns/*", "443/TCP", "t.md:7"),
        ("ns/a", "net:10.0.0.0/8", "443/TCP", "t.md:6"),
        ("ns/a", "ns/b", "80/TCP", "t.md:4"),
        ("ns/a", "ns/b", "443/TCP", "t.md:2"),
        ("ns/a", "ns/b", "8000-8080/TCP", "t.md:9"),
        ("ns/a", "ns/b", "80/UDP", "t.md:8"),
        ("ns/z", "ns/a", "80/TCP", "t.md:1"),
    ]


def test_flow_identity_ignores_origin():
    one = Flow(workload("a", "b"), workload("a", "c"), "TCP", 80, 80, origin="x:1")
    two = Flow(workload("a", "b"), workload("a", "c"), "TCP", 80, 80, origin="y:9")
    assert one == two and hash(one) == hash(two)
    assert one.notation() == {"source": "a/b", "destination": "a/c", "port": "80/TCP"}
