"""Flow logs: Hubble, Calico and Goldmane records to flow-table notation, files, aggregation and every input error."""
import copy
import gzip
import json
import os
import shutil

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import flow_logs
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import reader as _reader  # noqa: F401  (flow_logs.reader for monkeypatch)
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import FORMATS, detect_format, flow_from_record, read_flow_logs
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import Endpoint, Flow, merge_flows

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "flow_logs")


def notation(source, destination, port):
    return {"source": source, "destination": destination, "port": port}


def load(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


HUBBLE = load("hubble.jsonl")
CALICO = load("calico.jsonl")
GOLDMANE = load("goldmane.jsonl")


def hubble_flow(source, destination, l4=None, **fields):
    """A bare Hubble flow object between two endpoints (TCP 8080 by default)."""
    flow = {"time": "2025-05-12T09:14:03.114526123Z", "verdict": "FORWARDED",
            "IP": {"source": "10.244.1.17", "destination": "10.244.2.33", "ipVersion": "IPv4"},
            "l4": l4 or {"TCP": {"source_port": 40000, "destination_port": 8080, "flags": {"SYN": True}}},
            "source": source, "destination": destination, "Type": "L3_L4", "traffic_direction": "EGRESS", "is_reply": False}
    flow.update(fields)
    return {"flow": flow, "node_name": "kind-worker", "time": flow["time"]}


def pod(namespace, *labels, workload=None):
    endpoint = {"identity": 30000, "namespace": namespace, "pod_name": "pod-1",
                "labels": ["k8s:" + label for label in labels] + ["k8s:io.kubernetes.pod.namespace=" + namespace,
                                                                  "k8s:io.cilium.k8s.policy.serviceaccount=default"]}
    if workload:
        endpoint["workloads"] = [{"name": workload, "kind": "Deployment"}]
    return endpoint


FRONTEND = pod("hipstershop", "app=frontend", workload="frontend")
CART = pod("hipstershop", "app=cartservice", workload="cartservice")
WORLD = {"identity": 2, "labels": ["reserved:world"]}


def with_ip(record, source=None, destination=None):
    record = copy.deepcopy(record)
    if source:
        record["flow"]["IP"]["source"] = source
    if destination:
        record["flow"]["IP"]["destination"] = destination
    return record


def calico(source=None, dest=None, **fields):
    """A Calico Enterprise flow log document: hipstershop frontend -> cartservice 7070/TCP unless overridden."""
    record = {"start_time": 1747041240, "end_time": 1747041540,
              "source_ip": None, "source_name": "-", "source_name_aggr": "frontend-7d4b6c5f8d-*", "source_namespace": "hipstershop",
              "source_port": None, "source_type": "wep", "source_labels": {"labels": ["app=frontend", "pod-template-hash=7d4b6c5f8d"]},
              "dest_ip": None, "dest_name": "-", "dest_name_aggr": "cartservice-5c8b6d9f7-*", "dest_namespace": "hipstershop",
              "dest_port": 7070, "dest_type": "wep", "dest_labels": {"labels": ["app=cartservice", "pod-template-hash=5c8b6d9f7"]},
              "dest_service_namespace": "-", "dest_service_name": "-", "dest_service_port": "-", "dest_service_port_num": None,
              "dest_domains": None, "proto": "tcp", "action": "allow", "reporter": "src", "bytes_in": 100, "bytes_out": 80}
    for prefix, side in (("source_", source), ("dest_", dest)):
        for key, value in (side or {}).items():
            record[prefix + key] = value
    record.update(fields)
    return record


PUBLIC = {"type": "net", "namespace": "-", "name_aggr": "pub", "labels": None}


def goldmane(key=None, **fields):
    """A Goldmane emitter flow (encoding/json of proto.Flow): frontend -> cartservice 7070/TCP unless overridden."""
    base = {"source_name": "frontend-7d4b6c5f8d-*", "source_namespace": "hipstershop", "source_type": 1,
            "dest_name": "cartservice-5c8b6d9f7-*", "dest_namespace": "hipstershop", "dest_type": 1, "dest_port": 7070,
            "proto": "tcp", "reporter": 1, "action": 1}
    base.update(key or {})
    record = {"Key": {name: value for name, value in base.items() if value is not None}, "start_time": 1747041255, "end_time": 1747041270,
              "source_labels": ["app=frontend"], "dest_labels": ["app=cartservice"], "packets_in": 3}
    record.update(fields)
    return record


WHISKER = {"start_time": "2025-05-12T09:14:15Z", "end_time": "2025-05-12T09:14:30Z", "action": "Allow",
           "source_name": "checkoutservice-6f8d9c7b5-*", "source_namespace": "hipstershop",
           "source_labels": "app=checkoutservice | pod-template-hash=6f8d9c7b5",
           "dest_name": "paymentservice-8d8bd6c4-*", "dest_namespace": "hipstershop", "dest_labels": "app=paymentservice",
           "protocol": "tcp", "dest_port": 50051, "reporter": "Dst", "policies": {"enforced": [], "pending": []}}

FRONT_TO_CART = notation("hipstershop/frontend", "hipstershop/cartservice", "7070/TCP")

# format, record, expected notation (None: skipped), identity labels
RECORDS = [
    # Hubble: the sample file, line by line
    ("hubble", HUBBLE[0], FRONT_TO_CART, None),
    ("hubble", HUBBLE[1], FRONT_TO_CART, None),
    ("hubble", HUBBLE[2], None, None),   # reply
    ("hubble", HUBBLE[3], notation("hipstershop/frontend", "kube-system/k8s-app=kube-dns", "53/UDP"), None),
    ("hubble", HUBBLE[3], notation("hipstershop/frontend", "kube-system/kube-dns", "53/UDP"), {"kube-system": "k8s-app"}),
    ("hubble", HUBBLE[4], notation("hipstershop/checkoutservice", "domain:api.stripe.com", "443/TCP"), None),
    ("hubble", HUBBLE[5], notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"), None),
    ("hubble", HUBBLE[6], None, None),   # ICMPv4
    ("hubble", HUBBLE[7], None, None),   # DROPPED
    ("hubble", HUBBLE[8], None, None),   # reserved:host
    ("hubble", HUBBLE[9], None, None),   # node_status event
    ("hubble", HUBBLE[10], notation("net:203.0.113.9/32", "ingress-nginx/app.kubernetes.io/name=ingress-nginx", "443/TCP"), None),
    ("hubble", HUBBLE[10], notation("net:203.0.113.9/32", "ingress-nginx/ingress-nginx", "443/TCP"), {"ingress-nginx": "app.kubernetes.io/name"}),
    ("hubble", HUBBLE[11], notation("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "hipstershop/frontend", "8080/TCP"), None),
    ("hubble", HUBBLE[12], notation("monitoring/run=netshoot", "net:192.0.2.80/32", "80/TCP"), None),
    ("hubble", HUBBLE[13], notation("monitoring/run=netshoot", "hipstershop/checkoutservice", "5060/SCTP"), None),   # bare, camelCase
    # Hubble: one feature at a time
    ("hubble", hubble_flow(FRONTEND, CART)["flow"], notation("hipstershop/frontend", "hipstershop/cartservice", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, CART, is_reply=True), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, isReply=True), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, reply=True), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, verdict="ERROR"), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, verdict=2), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, verdict="AUDIT"), notation("hipstershop/frontend", "hipstershop/cartservice", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, CART, verdict="REDIRECTED", Type="L7"), notation("hipstershop/frontend", "hipstershop/cartservice", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, CART, Type="SOCK"), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, l4={"ICMPv6": {"type": 128}}), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, l4={"UDP": {"source_port": 5353, "destination_port": 0}}), None, None),
    ("hubble", hubble_flow(FRONTEND, CART, l4={"UDP": {"source_port": 5353, "destination_port": 9000}}),
     notation("hipstershop/frontend", "hipstershop/cartservice", "9000/UDP"), None),
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "app.kubernetes.io/name=cart", "app=cartservice")), FRONT_TO_CART | {"port": "8080/TCP"}, None),
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "app.kubernetes.io/name=cart", "service=cart-v2")),
     notation("hipstershop/app=frontend", "hipstershop/cart-v2", "8080/TCP"), {"hipstershop": "service"}),
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "app.kubernetes.io/name=cart", "app=cartservice")),
     notation("hipstershop/app=frontend", "hipstershop/app=cartservice", "8080/TCP"), {"hipstershop": "service"}),
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "app.kubernetes.io/name=cart")),
     notation("hipstershop/frontend", "hipstershop/app.kubernetes.io/name=cart", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "tier=web", workload="cart")), notation("hipstershop/frontend", "hipstershop/cart", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "tier=web")), None, None),                   # no identity, no workload
    ("hubble", hubble_flow(FRONTEND, pod("hipstershop", "app=Cart Service")), None, None),            # not a label value
    ("hubble", hubble_flow(FRONTEND, pod("Hipstershop", "app=cartservice")), None, None),             # not a namespace
    ("hubble", hubble_flow(FRONTEND, {"namespace": "hipstershop", "labels": ["app=cartservice"]}),   # no k8s: prefix
     notation("hipstershop/frontend", "hipstershop/cartservice", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, WORLD), notation("hipstershop/frontend", "net:10.244.2.33/32", "8080/TCP"), None),
    ("hubble", with_ip(hubble_flow(FRONTEND, {"identity": 10, "labels": ["reserved:world-ipv6"]}), destination="2001:DB8::7"),
     notation("hipstershop/frontend", "net:2001:db8::7/128", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 2}), notation("hipstershop/frontend", "net:10.244.2.33/32", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, WORLD, destination_names=["API.GitHub.com."]),
     notation("hipstershop/frontend", "domain:api.github.com", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, WORLD, destination_names=["bad name!", "objects.githubusercontent.com"]),
     notation("hipstershop/frontend", "domain:objects.githubusercontent.com", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 16777220, "labels": ["cidr:192.0.2.0/24", "reserved:world"]}),
     notation("hipstershop/frontend", "net:10.244.2.33/32", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 7, "labels": ["reserved:kube-apiserver", "reserved:world"]}),
     notation("hipstershop/frontend", "net:10.244.2.33/32", "8080/TCP"), None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 7, "labels": ["reserved:kube-apiserver", "reserved:host"]}), None, None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 6, "labels": ["reserved:remote-node"]}), None, None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 1}), None, None),
    ("hubble", hubble_flow(FRONTEND, {"identity": 3, "labels": ["reserved:unmanaged"]}), None, None),
    ("hubble", hubble_flow(FRONTEND, {}), None, None),
    ("hubble", hubble_flow(FRONTEND, WORLD, destination_service={"name": "cartservice", "namespace": "hipstershop"}), None, None),
    ("hubble", hubble_flow(WORLD, FRONTEND, IP={"source": "fe80::1%eth0", "destination": "10.244.1.17"}), None, None),
    ("hubble", hubble_flow(WORLD, FRONTEND, IP={"destination": "10.244.1.17"}), None, None),
    ("hubble", {"lost_events": {"source": "PERF_EVENT_RING_BUFFER", "num_events_lost": 12}}, None, None),
    # Calico Enterprise: the sample file
    ("calico", CALICO[0], FRONT_TO_CART, None),
    ("calico", CALICO[1], FRONT_TO_CART, None),
    ("calico", CALICO[2], notation("hipstershop/frontend", "kube-system/k8s-app=kube-dns", "53/UDP"), None),
    ("calico", CALICO[3], notation("hipstershop/paymentservice", "domain:api.stripe.com", "443/TCP"), None),
    ("calico", CALICO[4], notation("hipstershop/paymentservice", "net:198.51.100.24/32", "443/TCP"), None),
    ("calico", CALICO[5], None, None),   # aggregated public network: no address
    ("calico", CALICO[6], None, None),   # ICMP
    ("calico", CALICO[7], None, None),   # deny
    ("calico", CALICO[8], None, None),   # host endpoint
    ("calico", CALICO[9], notation("legacy/billing", "yaobank/app.kubernetes.io/name=customer", "8080/TCP"), None),
    ("calico", CALICO[10], notation("hipstershop/frontend", "net:203.0.113.50/32", "80/TCP"), None),
    ("calico", CALICO[11], notation("yaobank/customer", "kube-system/k8s-app=kube-dns", "53/UDP"), {"yaobank": "app.kubernetes.io/name"}),
    # Calico: one feature at a time
    ("calico", calico(proto="udp", dest_port=53), notation("hipstershop/frontend", "hipstershop/cartservice", "53/UDP"), None),
    ("calico", calico(proto="sctp"), notation("hipstershop/frontend", "hipstershop/cartservice", "7070/SCTP"), None),
    ("calico", calico(proto=132), notation("hipstershop/frontend", "hipstershop/cartservice", "7070/SCTP"), None),
    ("calico", calico(proto="TCP"), FRONT_TO_CART, None),
    ("calico", calico(proto="icmp6", dest_port=None), None, None),
    ("calico", calico(proto="ipip"), None, None),
    ("calico", {key: value for key, value in calico().items() if key != "dest_port"}, None, None),
    ("calico", calico(action="deny", reporter="dst"), None, None),
    ("calico", calico(reporter="dst"), FRONT_TO_CART, None),
    ("calico", calico(source={"labels": None, "name_aggr": "frontend-7d4b6c5f8d-*"}), FRONT_TO_CART, None),
    ("calico", calico(source={"labels": None, "name_aggr": "fluentd-*"}), notation("hipstershop/fluentd", "hipstershop/cartservice", "7070/TCP"), None),
    ("calico", calico(source={"labels": None, "name_aggr": "-", "name": "redis-0"}),
     notation("hipstershop/redis-0", "hipstershop/cartservice", "7070/TCP"), None),
    ("calico", calico(source={"labels": None, "name_aggr": "-"}), None, None),
    ("calico", calico(source={"labels": {"labels": ["run=debug"]}}), notation("hipstershop/run=debug", "hipstershop/cartservice", "7070/TCP"), None),
    ("calico", calico(dest=PUBLIC, dest_port=443, dest_domains=["www.tigera.io", "tigera.io"]),
     notation("hipstershop/frontend", "domain:www.tigera.io", "443/TCP"), None),
    ("calico", calico(dest=PUBLIC, dest_port=443, dest_domains="google.ca"), notation("hipstershop/frontend", "domain:google.ca", "443/TCP"), None),
    ("calico", calico(dest=dict(PUBLIC, ip="2001:db8::10"), dest_port=443), notation("hipstershop/frontend", "net:2001:db8::10/128", "443/TCP"), None),
    ("calico", calico(dest=dict(PUBLIC, ip="not-an-ip"), dest_port=443), None, None),
    ("calico", calico(dest=dict(PUBLIC, type="ns", name_aggr="trusted-partners", ip="192.0.2.44"), dest_port=443),
     notation("hipstershop/frontend", "net:192.0.2.44/32", "443/TCP"), None),
    ("calico", calico(source=dict(PUBLIC, ip="198.51.100.7"), source_port=None, dest_domains=["ignored.example.com"]),
     notation("net:198.51.100.7/32", "hipstershop/cartservice", "7070/TCP"), None),
    ("calico", calico(source={"type": "hep", "namespace": "-"}), None, None),
    ("calico", calico(source={"type": "unknown"}), None, None),
    ("calico", {"_index": "tigera_secure_ee_flows.cluster.20250512", "_source": calico()}, FRONT_TO_CART, None),
    # Goldmane: the sample file
    ("goldmane", GOLDMANE[0], FRONT_TO_CART, None),
    ("goldmane", GOLDMANE[1], FRONT_TO_CART, None),
    ("goldmane", GOLDMANE[2], notation("hipstershop/frontend", "kube-system/k8s-app=kube-dns", "53/UDP"), None),
    ("goldmane", GOLDMANE[3], None, None),    # public network
    ("goldmane", GOLDMANE[4], None, None),    # ICMP
    ("goldmane", GOLDMANE[5], None, None),    # Deny
    ("goldmane", GOLDMANE[6], None, None),    # host endpoint
    ("goldmane", GOLDMANE[7], notation("legacy/billing", "yaobank/app.kubernetes.io/name=customer", "8080/TCP"), None),
    ("goldmane", GOLDMANE[8], notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"), None),
    ("goldmane", GOLDMANE[9], notation("hipstershop/checkoutservice", "hipstershop/paymentservice", "50051/TCP"), None),
    ("goldmane", GOLDMANE[10], None, None),   # Whisker PUBLIC NETWORK
    # Goldmane: one feature at a time
    ("goldmane", goldmane(action=3), FRONT_TO_CART, None),
    ("goldmane", goldmane({"action": 3}), FRONT_TO_CART, None),
    ("goldmane", goldmane({"action": "Deny"}), None, None),
    ("goldmane", goldmane({"proto": "UDP", "dest_port": 53}), notation("hipstershop/frontend", "hipstershop/cartservice", "53/UDP"), None),
    ("goldmane", goldmane({"proto": "sctp"}), notation("hipstershop/frontend", "hipstershop/cartservice", "7070/SCTP"), None),
    ("goldmane", goldmane({"dest_port": None, "proto": "icmp"}), None, None),
    ("goldmane", goldmane({"dest_type": 3, "dest_name": "partners", "dest_namespace": None}), None, None),
    ("goldmane", goldmane({"dest_type": "NetworkSet", "dest_name": "partners"}), None, None),
    ("goldmane", goldmane({"source_type": None}), FRONT_TO_CART, None),           # unspecified: a namespace means a pod
    ("goldmane", goldmane({"source_type": None, "source_namespace": None, "source_name": "pvt"}), None, None),
    ("goldmane", goldmane({"source_type": None, "source_namespace": "-", "source_name": "gateway"}), None, None),
    ("goldmane", goldmane(source_labels=None), FRONT_TO_CART, None),             # no labels: aggregated name
    ("goldmane", goldmane(dest_labels=["tier=db"]), FRONT_TO_CART, None),
    ("goldmane", {"id": "7", "flow": goldmane()}, FRONT_TO_CART, None),
    ("goldmane", WHISKER, notation("hipstershop/checkoutservice", "hipstershop/paymentservice", "50051/TCP"), None),
    ("goldmane", dict(WHISKER, action="Deny"), None, None),
    ("goldmane", dict(WHISKER, protocol="icmp", dest_port=0), None, None),
    ("goldmane", dict(WHISKER, dest_namespace="", dest_name="PRIVATE NETWORK", dest_labels=""), None, None),
    ("goldmane", dict(WHISKER, source_namespace="", source_name="kind-control-plane", source_labels=""), None, None),
]


@pytest.mark.parametrize("fmt, record, expected, identity", RECORDS)
def test_flow_from_record(fmt, record, expected, identity):
    flow = flow_from_record(record, fmt, identity)
    assert (flow.notation(identity) if flow else None) == expected
    if flow:
        assert flow_from_record(record, "auto", identity) == flow
        assert flow.origin == "" and flow.port_min == flow.port_max


def test_flow_objects():
    flow = flow_from_record(HUBBLE[0], "hubble")
    assert flow == Flow(Endpoint("workload", namespace="hipstershop", key="app", value="frontend"),
                        Endpoint("workload", namespace="hipstershop", key="app", value="cartservice"), "TCP", 7070, 7070)
    assert flow_from_record(HUBBLE[4], "hubble").destination == Endpoint("domain", domain="api.stripe.com")
    assert flow_from_record(CALICO[4], "calico").destination == Endpoint("net", net="198.51.100.24/32")


# sample file -> (format detected, records, sorted notations, skipped)
FILES = [
    ("hubble.jsonl", "hubble", 13, [
        notation("net:203.0.113.9/32", "ingress-nginx/app.kubernetes.io/name=ingress-nginx", "443/TCP"),
        notation("hipstershop/checkoutservice", "domain:api.stripe.com", "443/TCP"),
        FRONT_TO_CART,
        notation("hipstershop/frontend", "kube-system/k8s-app=kube-dns", "53/UDP"),
        notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"),
        notation("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "hipstershop/frontend", "8080/TCP"),
        notation("monitoring/run=netshoot", "net:192.0.2.80/32", "80/TCP"),
        notation("monitoring/run=netshoot", "hipstershop/checkoutservice", "5060/SCTP"),
    ], {"denied": 1, "host": 1, "no-port": 1, "reply": 1}),
    ("calico.jsonl", "calico", 12, [
        notation("hipstershop/frontend", "net:203.0.113.50/32", "80/TCP"),
        FRONT_TO_CART,
        notation("hipstershop/frontend", "kube-system/k8s-app=kube-dns", "53/UDP"),
        notation("hipstershop/paymentservice", "domain:api.stripe.com", "443/TCP"),
        notation("hipstershop/paymentservice", "net:198.51.100.24/32", "443/TCP"),
        notation("legacy/billing", "yaobank/app.kubernetes.io/name=customer", "8080/TCP"),
        notation("yaobank/app.kubernetes.io/name=customer", "kube-system/k8s-app=kube-dns", "53/UDP"),
    ], {"denied": 1, "external-without-address": 1, "host": 1, "no-port": 1}),
    ("goldmane.jsonl", "goldmane", 11, [
        notation("hipstershop/checkoutservice", "hipstershop/paymentservice", "50051/TCP"),
        FRONT_TO_CART,
        notation("hipstershop/frontend", "kube-system/k8s-app=kube-dns", "53/UDP"),
        notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"),
        notation("legacy/billing", "yaobank/app.kubernetes.io/name=customer", "8080/TCP"),
    ], {"denied": 1, "external-without-address": 2, "host": 1, "no-port": 1}),
    ("whisker-list.json", "goldmane", 2, [
        notation("hipstershop/checkoutservice", "hipstershop/paymentservice", "50051/TCP"),
    ], {"external-without-address": 1}),
]


# lines of the sample files that hold no flow record: (line, reason)
SAMPLE_SKIPPED_LINES = {"hubble.jsonl": [(10, "a Hubble node_status event, not a flow")]}


@pytest.mark.parametrize("name, fmt, records, expected, skipped", FILES)
@pytest.mark.parametrize("given", ["auto", "explicit", "missing"])
def test_sample_files(name, fmt, records, expected, skipped, given):
    spec = {"path": name, "format": fmt if given == "explicit" else "auto"}
    if given == "missing":
        del spec["format"]
    stats = {}
    flows = read_flow_logs(spec, DATA, stats=stats)
    assert [flow.notation() for flow in flows] == expected
    assert flows == merge_flows(flows)
    assert {key: stats[key] for key in ("path", "format", "records", "flows", "skipped")} == {
        "path": name, "format": fmt, "records": records, "flows": len(expected), "skipped": skipped}
    assert set(skipped) <= set(flow_logs.SKIP_REASONS)
    assert len(stats["counts"]) == len(flows) and all(count >= 1 for count in stats["counts"])
    assert sum(stats["counts"]) + sum(skipped.values()) == records
    lines = SAMPLE_SKIPPED_LINES.get(name, [])
    assert stats["malformed"] == [{"path": name, "line": line, "reason": reason} for line, reason in lines]
    assert stats["malformed_total"] == len(lines)


@pytest.mark.parametrize("name", ["hubble.jsonl", "calico.jsonl", "goldmane.jsonl"])
def test_gzip_is_recognised_by_content(tmp_path, name):
    plain = read_flow_logs({"path": name}, DATA)
    with open(os.path.join(DATA, name), "rb") as source, gzip.open(tmp_path / (name + ".gz"), "wb") as target:
        shutil.copyfileobj(source, target)
    shutil.copy(tmp_path / (name + ".gz"), tmp_path / "no-extension")
    for path in (name + ".gz", "no-extension"):
        flows = read_flow_logs({"path": path}, str(tmp_path))
        assert flows == plain
        assert [flow.origin.split(":", 1)[1] for flow in flows] == [flow.origin.split(":", 1)[1] for flow in plain]
        assert flows[0].origin.startswith(path + ":")


def test_multi_member_gzip(tmp_path):
    lines = open(os.path.join(DATA, "calico.jsonl"), "rb").read().splitlines(keepends=True)
    with open(tmp_path / "rotated.jsonl.gz", "wb") as out:
        out.write(gzip.compress(b"".join(lines[:5])) + gzip.compress(b"".join(lines[5:])))
    assert read_flow_logs({"path": "rotated.jsonl.gz"}, str(tmp_path)) == read_flow_logs({"path": "calico.jsonl"}, DATA)


def write_lines(tmp_path, name, records, compress=False):
    text = "".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records).encode()
    (tmp_path / name).write_bytes(gzip.compress(text) if compress else text)
    return name


def test_aggregation_keeps_first_origin_and_counts(tmp_path):
    records = [HUBBLE[2], HUBBLE[0]] + [HUBBLE[1]] * 500 + [HUBBLE[5], HUBBLE[0], HUBBLE[2]]
    stats = {}
    flows = read_flow_logs({"path": write_lines(tmp_path, "dup.jsonl.gz", records, True), "format": "hubble"}, str(tmp_path), stats=stats)
    assert [(flow.notation(), flow.origin) for flow in flows] == [
        (FRONT_TO_CART, "dup.jsonl.gz:2"),
        (notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP"), "dup.jsonl.gz:503"),
    ]
    assert stats["records"] == 505 and stats["flows"] == 2 and stats["skipped"] == {"reply": 2}


def test_same_flow_from_several_formats_merges(tmp_path):
    merged = merge_flows(flow for name in ("hubble.jsonl", "calico.jsonl", "goldmane.jsonl") for flow in read_flow_logs({"path": name}, DATA))
    assert merged.count(flow_from_record(HUBBLE[0], "hubble")) == 1


def test_lines_blank_crlf_bom_arrays_and_list_responses(tmp_path):
    es = {"took": 3, "hits": {"total": {"value": 2}, "hits": [{"_id": "a", "_source": calico()}, {"_id": "b", "_source": calico(dest_port=7071)}]}}
    text = ("\ufeff" + json.dumps(calico()) + "\r\n\r\n   \n" + json.dumps([calico(dest_port=7072), calico(dest_port=7073)]) + "\n"
            + json.dumps(es) + "\n" + json.dumps(calico(dest_port=7074)))   # no final newline
    (tmp_path / "mixed.jsonl").write_text(text, encoding="utf-8")
    stats = {}
    flows = read_flow_logs({"path": "mixed.jsonl"}, str(tmp_path), stats=stats)
    assert [flow.port_min for flow in flows] == [7070, 7071, 7072, 7073, 7074]
    assert [flow.origin for flow in flows] == ["mixed.jsonl:1", "mixed.jsonl:5", "mixed.jsonl:4", "mixed.jsonl:4", "mixed.jsonl:6"]
    assert stats["records"] == 6


@pytest.mark.parametrize("indent", [None, 2])
def test_one_json_document(tmp_path, indent):
    (tmp_path / "flows.json").write_text(json.dumps([HUBBLE[0], HUBBLE[2], HUBBLE[5]], indent=indent) + "\n", encoding="utf-8")
    flows = read_flow_logs({"path": "flows.json", "format": "hubble"}, str(tmp_path))
    assert [flow.notation() for flow in flows] == [FRONT_TO_CART, notation("hipstershop/loadgenerator", "hipstershop/frontend", "8080/TCP")]
    assert flows[0].origin == ("flows.json" if indent else "flows.json:1")
    (tmp_path / "one.json").write_text(json.dumps(goldmane(), indent=4), encoding="utf-8")
    assert [flow.notation() for flow in read_flow_logs({"path": "one.json"}, str(tmp_path))] == [FRONT_TO_CART]


def test_empty_files(tmp_path):
    stats = {}
    assert read_flow_logs({"path": write_lines(tmp_path, "empty.jsonl", [])}, str(tmp_path), stats=stats) == []
    assert stats == {"path": "empty.jsonl", "format": "auto", "records": 0, "flows": 0, "skipped": {}, "counts": [], "malformed": [],
                     "malformed_total": 0, "malformed_by_reason": {}}
    assert read_flow_logs({"path": write_lines(tmp_path, "empty.jsonl.gz", [], True), "format": "calico"}, str(tmp_path)) == []
    assert read_flow_logs({"path": write_lines(tmp_path, "blank.jsonl", ["", "  "])}, str(tmp_path)) == []


def test_bare_path_spec_and_absolute_path(tmp_path):
    assert read_flow_logs("calico.jsonl", DATA) == read_flow_logs({"path": os.path.abspath(os.path.join(DATA, "calico.jsonl"))}, str(tmp_path))


def test_identity_labels_pick_the_notation():
    flows = read_flow_logs({"path": "hubble.jsonl"}, DATA, identity_labels={"kube-system": "k8s-app", "ingress-nginx": "app.kubernetes.io/name"})
    rendered = [flow.notation({"kube-system": "k8s-app", "ingress-nginx": "app.kubernetes.io/name"}) for flow in flows]
    assert notation("hipstershop/frontend", "kube-system/kube-dns", "53/UDP") in rendered
    assert notation("ingress-nginx/ingress-nginx", "hipstershop/frontend", "8080/TCP") in rendered


# record -> detected format
DETECT = [
    (HUBBLE[0], "hubble"), (HUBBLE[9], "hubble"), (HUBBLE[13], "hubble"),
    (CALICO[0], "calico"), (CALICO[11], "calico"),
    (GOLDMANE[0], "goldmane"), (GOLDMANE[8], "goldmane"), (WHISKER, "goldmane"),
    ({"source_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}, None), ({}, None), ([HUBBLE[0]], None), ("flow", None),
]


@pytest.mark.parametrize("record, fmt", DETECT)
def test_detect_format(record, fmt):
    assert detect_format(record) == fmt


def test_formats():
    assert FORMATS == ("hubble", "calico", "goldmane", "auto")


def test_reader_streams_large_files_line_by_line(tmp_path, monkeypatch):
    monkeypatch.setattr(flow_logs.reader, "BLOCK", 64)   # lines straddle many blocks
    records = [calico(dest_port=port) for port in range(1000, 1300)]
    flows = read_flow_logs({"path": write_lines(tmp_path, "big.jsonl.gz", records, True)}, str(tmp_path))
    assert [flow.port_min for flow in flows] == list(range(1000, 1300))
    assert flows[-1].origin == "big.jsonl.gz:300"


SPEC_ERRORS = [
    (["logs/a.jsonl"], "microseg_flow_logs[0]: expected a mapping with keys path and format, got list"),
    ({"format": "hubble"}, "microseg_flow_logs[0]: path: is missing"),
    ({"path": 7}, "microseg_flow_logs[0]: path: must be a string, not int"),
    ({"path": "  "}, "microseg_flow_logs[0]: path: must not be empty"),
    ({"path": "logs/a.jsonl", "fmt": "hubble"}, "microseg_flow_logs[0]: unknown key 'fmt' (expected path, format, since and until)"),
    ({"path": "logs/a.jsonl", "format": "netflow"},
     'microseg_flow_logs[0]: format: unknown flow log format "netflow" (expected hubble, calico, goldmane or auto)'),
    ({"path": "logs/a.jsonl", "format": 3}, "microseg_flow_logs[0]: format: unknown flow log format 3 (expected hubble, calico, goldmane or auto)"),
]


@pytest.mark.parametrize("spec, message", SPEC_ERRORS)
def test_spec_errors(spec, message):
    with pytest.raises(InputError) as caught:
        read_flow_logs(spec, DATA)
    assert str(caught.value) == message


def test_identity_label_errors():
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "calico.jsonl"}, DATA, identity_labels={"hipstershop": "bad key!"}, source_field="microseg_flow_logs[2]")
    assert str(caught.value).startswith("microseg_flow_logs[2]: identity_labels: 'bad key!' is not a valid label key")
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "calico.jsonl"}, DATA, identity_labels=["app"])
    assert str(caught.value) == "microseg_flow_logs[0]: identity_labels: must be a mapping of namespace to label key, not list"


def test_file_errors(tmp_path):
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "logs/missing.jsonl.gz"}, str(tmp_path))
    assert str(caught.value) == "logs/missing.jsonl.gz: cannot read flow log: No such file or directory"
    assert (caught.value.source, caught.value.line) == ("logs/missing.jsonl.gz", None)
    (tmp_path / "logs").mkdir()
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "logs"}, str(tmp_path))
    assert str(caught.value) == "logs: cannot read flow log: Is a directory"


GOOD = json.dumps(calico())
# file content (bytes), format, the first line that holds no flow record (None: inside a one-document file), its reason
SKIPPED_LINES = [
    ((GOOD + "\n" + GOOD + "\n" + '{"source_type": "wep" "dest_type": "wep"}\n').encode(), "auto", 3, "invalid JSON: Expecting ',' delimiter (column 23)"),
    ((GOOD + "\n" + GOOD[:-1] + "\n").encode(), "calico", 2, "invalid JSON: Expecting ',' delimiter (column %d)" % len(GOOD)),
    ((GOOD + "\nnot json\n").encode(), "calico", 2, "invalid JSON: Expecting value (column 1)"),
    ((GOOD + "\n" + GOOD + " trailing\n").encode(), "calico", 2, "invalid JSON: Extra data (column %d)" % (len(GOOD) + 2)),
    (b"\x80garbage\n" + GOOD.encode(), "calico", 1, "not UTF-8 text: invalid start byte"),
    ((GOOD + "\n42\n").encode(), "calico", 2, "expected a JSON object (one flow record), got a number"),
    ((GOOD + '\n["x"]\n').encode(), "calico", 2, "[0]: expected a JSON object (one flow record), got a string"),
    ((GOOD + "\n" + json.dumps({k: v for k, v in calico().items() if k != "source_type"}) + "\n").encode(), "calico", 2,
     "source_type: is missing (every calico flow record has it)"),
    (json.dumps({k: v for k, v in calico().items() if k != "action"}).encode(), "calico", 1, "action: is missing (every calico flow record has it)"),
    (json.dumps({k: v for k, v in calico().items() if k != "dest_namespace"}).encode(), "calico", 1,
     "dest_namespace: is missing (every calico flow record has it)"),
    (json.dumps(calico(dest_port=70000)).encode(), "calico", 1, "dest_port: must be a port number from 1 to 65535, not 70000"),
    (json.dumps(calico(dest_port="http")).encode(), "calico", 1, 'dest_port: must be a port number from 1 to 65535, not "http"'),
    (json.dumps(calico(proto=["tcp"])).encode(), "calico", 1, "a field has an unexpected JSON type (unhashable type: 'list')"),
    (json.dumps({"time": "2025-05-12T09:14:03Z", "node_name": "kind-worker"}).encode(), "hubble", 1, "flow: is missing (every hubble flow record has it)"),
    (json.dumps({"flow": "FORWARDED"}).encode(), "hubble", 1, "flow: must be a JSON object, not a string"),
    (json.dumps({"flow": {k: v for k, v in HUBBLE[0]["flow"].items() if k != "source"}}).encode(), "hubble", 1,
     "flow.source: is missing (every hubble flow record has it)"),
    (json.dumps({k: v for k, v in HUBBLE[13].items() if k != "destination"}).encode(), "hubble", 1,
     "destination: is missing (every hubble flow record has it)"),
    (json.dumps(hubble_flow(FRONTEND, ["k8s:app=cartservice"])).encode(), "hubble", 1, "flow.destination: must be a JSON object, not an array"),
    (json.dumps(hubble_flow(FRONTEND, CART, l4={"TCP": 8080})).encode(), "hubble", 1, "flow.l4.TCP: must be a JSON object, not a number"),
    (json.dumps(hubble_flow(FRONTEND, CART, l4={"TCP": {"destination_port": -1}})).encode(), "hubble", 1,
     "flow.l4.TCP.destination_port: must be a port number from 1 to 65535, not -1"),
    (json.dumps(hubble_flow(FRONTEND, CART, IP="10.0.0.1")).encode(), "hubble", 1, "flow.IP: must be a JSON object, not a string"),
    (json.dumps({"node_status": {"state_change": "NODE_CONNECTED"}, "time": "2025-05-12T09:14:06Z"}).encode(), "hubble", 1,
     "a Hubble node_status event, not a flow"),
    (json.dumps({"flow": {"source_labels": []}}).encode(), "goldmane", 1, "flow.Key: is missing (every goldmane flow record has it)"),
    (json.dumps({"Key": [1]}).encode(), "goldmane", 1, "Key: must be a JSON object, not an array"),
    (json.dumps(goldmane({"proto": None})).encode(), "goldmane", 1, "Key.proto: is missing (every goldmane flow record has it)"),
    (json.dumps(goldmane({"dest_port": 0.5})).encode(), "goldmane", 1, "Key.dest_port: must be a port number from 1 to 65535, not 0.5"),
    (json.dumps({k: v for k, v in WHISKER.items() if k != "protocol"}).encode(), "goldmane", 1, "protocol: is missing (every goldmane flow record has it)"),
    (json.dumps({"meta": {}, "items": [WHISKER, {k: v for k, v in WHISKER.items() if k != "protocol"}]}, indent=2).encode(), "auto", None,
     "items[1].protocol: is missing (every goldmane flow record has it)"),
    (json.dumps({"items": [WHISKER, {k: v for k, v in WHISKER.items() if k != "protocol"}]}).encode(), "auto", 1,
     "items[1].protocol: is missing (every goldmane flow record has it)"),
    (json.dumps([{"flows": [goldmane(), goldmane({"proto": None})]}]).encode(), "auto", 1,
     "[0].flows[1].Key.proto: is missing (every goldmane flow record has it)"),
    (json.dumps({"took": 2, "hits": {"hits": [{"_source": calico()}, {"_source": calico(dest_port=-3)}]}}).encode(), "auto", 1,
     "hits.hits[1].dest_port: must be a port number from 1 to 65535, not -3"),
    # a pretty-printed document that is broken is read as lines after all: each says why
    (b'[\n  {"a": 1},\n  {"b": 2,}\n]\n', "calico", 1, "invalid JSON: Expecting value (column 2)"),
    (b'[\n  {"a": 1},\n', "calico", 1, "invalid JSON: Expecting value (column 2)"),
    (b'[\n  7\n]\n', "calico", None, "[0]: expected a JSON object (one flow record), got a number"),
]


@pytest.mark.parametrize("content, fmt, line, reason", SKIPPED_LINES)
@pytest.mark.parametrize("compress", [False, True])
def test_a_line_without_a_flow_record_is_skipped_and_named_or_fatal_when_strict(tmp_path, content, fmt, line, reason, compress):
    (tmp_path / "f.jsonl").write_bytes(gzip.compress(content) if compress else content)
    stats = {}
    flows = read_flow_logs({"path": "f.jsonl", "format": fmt}, str(tmp_path), stats=stats)
    assert stats["malformed"][0] == {"path": "f.jsonl", "line": line, "reason": reason}
    assert stats["malformed_total"] == len(stats["malformed"]) == sum(stats["malformed_by_reason"].values())
    assert set(stats["malformed_by_reason"]) <= set(flow_logs.aggregate.MALFORMED_REASONS)
    if content.startswith(GOOD.encode()):
        assert [flow.port_min for flow in flows] == [7070]   # the records around a bad line are still read
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "f.jsonl", "format": fmt}, str(tmp_path), strict=True)
    message = str(caught.value)
    assert message.startswith("f.jsonl: %d line(s) hold no flow record (microseg_strict is true): " % stats["malformed_total"])
    assert (reason if line is None else "line %d: %s" % (line, reason)) in message


def test_skipped_lines_are_counted_all_and_named_up_to_a_limit(tmp_path):
    lines = [GOOD] + ["not json %d" % number for number in range(150)] + [json.dumps(calico(dest_port=7071)), '{"cut": ']
    stats = {}
    flows = read_flow_logs({"path": write_lines(tmp_path, "many.jsonl", lines)}, str(tmp_path), stats=stats)
    assert [flow.port_min for flow in flows] == [7070, 7071]
    assert stats["malformed_total"] == 151 and len(stats["malformed"]) == flow_logs.tally.KEPT
    assert stats["malformed"][0]["line"] == 2 and stats["malformed"][-1]["line"] == 101
    assert stats["malformed_by_reason"] == {"cut-line": 1, "invalid-json": 150}
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "many.jsonl"}, str(tmp_path), strict=True)
    assert str(caught.value).endswith("line 6: invalid JSON: Expecting value (column 1) and 146 more")


# content that makes the whole file unreadable: exact message, with or without microseg_strict
FILE_ERRORS = [
    ('{"proto": "tcp"}\n'.encode("utf-16"), "calico", "f.jsonl: is UTF-16 or UTF-32 text: flow logs must be UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"),
    (b'{"source_ip": "10.0.0.1", "dest_ip": "10.0.0.2"}\n', "auto",
     "f.jsonl:1: cannot tell the flow log format from this record (keys: dest_ip, source_ip); set format to hubble, calico or goldmane"),
    (b'not json\n{}\n', "auto", "f.jsonl:2: cannot tell the flow log format from this record (keys: none); set format to hubble, calico or goldmane"),
]


@pytest.mark.parametrize("content, fmt, message", FILE_ERRORS)
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("strict", [False, True])
def test_file_content_errors(tmp_path, content, fmt, message, compress, strict):
    (tmp_path / "f.jsonl").write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "f.jsonl", "format": fmt}, str(tmp_path), strict=strict)
    assert str(caught.value) == message


def test_format_told_by_a_later_record_after_undetectable_ones(tmp_path):
    stats = {}
    flows = read_flow_logs({"path": write_lines(tmp_path, "late.jsonl", [{}, GOOD])}, str(tmp_path), stats=stats)
    assert [flow.port_min for flow in flows] == [7070] and stats["format"] == "calico"
    assert stats["malformed"][0]["line"] == 1 and stats["malformed"][0]["reason"].startswith("cannot tell the flow log format")


def test_document_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(flow_logs.reader, "MAX_DOCUMENT_BYTES", 100)
    (tmp_path / "big.json").write_text(json.dumps([calico()], indent=2), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "big.json"}, str(tmp_path))
    assert str(caught.value) == ("big.json: is one JSON document larger than 100 bytes: write it as JSON Lines, one record per line (e.g. jq -c '.[]')")
    monkeypatch.setattr(flow_logs.reader, "BLOCK", 16)
    (tmp_path / "long.jsonl").write_text("\n" + json.dumps([calico()] * 3) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "long.jsonl"}, str(tmp_path))
    assert str(caught.value) == "long.jsonl:2: has a line longer than 100 bytes"


GZIP_ERRORS = [
    (lambda data: data[:12] + b"\xff" * 64 + data[76:], "the gzip data is corrupt (Error -3 while decompressing data: "),
    (lambda data: data[:2] + b"\x07" + data[3:], "Unknown compression method"),
]


@pytest.mark.parametrize("damage, reason", GZIP_ERRORS)
def test_gzip_errors(tmp_path, damage, reason):
    data = gzip.compress("".join(json.dumps(calico(dest_port=port)) + "\n" for port in range(1, 2000)).encode())
    (tmp_path / "f.jsonl.gz").write_bytes(damage(data))
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "f.jsonl.gz"}, str(tmp_path))
    assert str(caught.value).startswith("f.jsonl.gz:")
    assert str(caught.value).split(": ", 1)[1].startswith("cannot read flow log: ")
    assert reason in str(caught.value)


def test_a_truncated_gzip_keeps_what_it_holds_and_names_where_it_ends(tmp_path):
    data = gzip.compress("".join(json.dumps(calico(dest_port=port)) + "\n" for port in range(1, 2000)).encode())
    (tmp_path / "f.jsonl.gz").write_bytes(data[:len(data) // 2])
    stats = {}
    flows = read_flow_logs({"path": "f.jsonl.gz"}, str(tmp_path), stats=stats)
    assert flows and [flow.port_min for flow in flows] == list(range(1, len(flows) + 1))
    [entry] = stats["malformed"]
    assert entry["line"] == len(flows) + 1 and stats["malformed_by_reason"] == {"cut-line": 1}
    assert entry["reason"].startswith("the gzip data is truncated (Compressed file ended before the end-of-stream marker was reached)")
    with pytest.raises(InputError) as caught:
        read_flow_logs({"path": "f.jsonl.gz"}, str(tmp_path), strict=True)
    assert "line %d: the gzip data is truncated" % entry["line"] in str(caught.value)


# record, format, exact message (flow_from_record has no file or line to name)
RECORD_ERRORS = [
    (calico(), "netflow", 'format: unknown flow log format "netflow" (expected hubble, calico, goldmane or auto)'),
    ("line", "calico", "expected a JSON object (one flow record), got a string"),
    ({"bytes_in": 7}, "auto", "cannot tell the flow log format from this record (keys: bytes_in); set format to hubble, calico or goldmane"),
    ({k: v for k, v in calico().items() if k != "dest_type"}, "calico", "dest_type: is missing (every calico flow record has it)"),
    (calico(dest_port=True), "calico", "dest_port: must be a port number from 1 to 65535, not true"),
    (calico(source={"namespace": ["x"]}), "calico", "a field has an unexpected JSON type (unhashable type: 'list')"),
]


@pytest.mark.parametrize("record, fmt, message", RECORD_ERRORS)
def test_record_errors(record, fmt, message):
    with pytest.raises(InputError) as caught:
        flow_from_record(record, fmt)
    assert str(caught.value) == message


def test_bad_identity_labels_for_a_record():
    with pytest.raises(InputError) as caught:
        flow_from_record(calico(), "calico", {"Hipstershop": "app"})
    assert str(caught.value).startswith("identity_labels: 'Hipstershop' is not a valid namespace")


@pytest.fixture
def standard_library_only(monkeypatch):
    """Every format decoded by the standard library, as on a controller without msgspec."""
    monkeypatch.setattr(flow_logs.decode, "FAST", False)
    monkeypatch.setattr(flow_logs.formats, "_DECODERS", {})


def _everything(path, base, **options):
    stats = {}
    flows = read_flow_logs({"path": path}, base, stats=stats, **options)
    return [(flow, flow.origin) for flow in flows], stats


@pytest.mark.parametrize("name", ["hubble.jsonl", "calico.jsonl", "goldmane.jsonl", "whisker-list.json"])
def test_the_fast_decoder_changes_nothing_but_speed(name, monkeypatch):
    fast = _everything(name, DATA, denied=True)
    assert flow_logs.decode.FAST, "msgspec is in requirements.txt: the fast decoder must be tested"
    assert flow_logs.formats.decoder("hubble") is not flow_logs.decode.standard_decode
    monkeypatch.setattr(flow_logs.decode, "FAST", False)
    monkeypatch.setattr(flow_logs.formats, "_DECODERS", {})
    assert flow_logs.formats.decoder("hubble") is flow_logs.decode.standard_decode
    assert _everything(name, DATA, denied=True) == fast


@pytest.mark.parametrize("content, fmt, line, reason", SKIPPED_LINES)
def test_skipped_lines_are_the_same_without_the_fast_decoder(tmp_path, content, fmt, line, reason, standard_library_only):
    (tmp_path / "f.jsonl").write_bytes(content)
    stats = {}
    read_flow_logs({"path": "f.jsonl", "format": fmt}, str(tmp_path), stats=stats)
    assert stats["malformed"][0] == {"path": "f.jsonl", "line": line, "reason": reason}
