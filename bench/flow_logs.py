"""Throughput of the flow log reader (``plugins/module_utils/flow_logs/``).

Writes a gzip JSON Lines file of ``--records`` records (default 1,000,000) in a temporary
directory, then reads it with ``read_flow_logs`` and prints records per second, on one
core, with the peak memory the read added.

The records are shaped like the real exports: 50 namespaces x 20 apps talking to each
other, to kube-dns and to a few external names and addresses, about one record in ten a
reply, a denied flow or ICMP, every record with its own timestamp and source port.
``--format`` picks the export: ``calico`` (complete Calico Enterprise flow log documents,
the default), ``calico-minimal`` (the same cut down to the flow key, as a log pipeline or
an Elasticsearch ``_source`` filter leaves them: the "simple record"), ``goldmane``
(Goldmane emitter flows), ``hubble`` (complete Hubble exporter flows, about 1.2 KiB each)
or ``hubble-masked`` (Hubble exporter with a field mask keeping time, verdict, IP, l4,
source, destination, destination_names, is_reply, Type).

Usage: ``python bench/flow_logs.py [--records N] [--format F] [--seed S]``
"""
import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# conftest links the checkout as ansible_collections.zerotrust.microseg
import conftest  # noqa: E402,F401  pylint: disable=unused-import

from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import read_flow_logs  # noqa: E402

NAMESPACES, APPS = 50, 20
EXTERNAL = [("api.stripe.com", "198.51.100.24"), ("www.googleapis.com", "142.250.72.10"), (None, "192.0.2.80"), (None, "203.0.113.9")]


def _pod(rng, namespace, app):
    return {"namespace": "ns%d" % namespace, "app": "app%d" % app, "hash": "7d4b6c5f8d",
            "ip": "10.%d.%d.%d" % (100 + namespace, app, rng.randint(2, 250))}


def _shape(rng):
    """(kind, source pod, destination pod or external, port, protocol) for one record."""
    source = _pod(rng, rng.randrange(NAMESPACES), rng.randrange(APPS))
    roll = rng.random()
    if roll < 0.05:
        return "reply", source, _pod(rng, rng.randrange(NAMESPACES), rng.randrange(APPS)), 7070, "tcp"
    if roll < 0.08:
        return "denied", source, _pod(rng, rng.randrange(NAMESPACES), rng.randrange(APPS)), 7070, "tcp"
    if roll < 0.10:
        return "icmp", source, _pod(rng, rng.randrange(NAMESPACES), rng.randrange(APPS)), None, "icmp"
    if roll < 0.20:
        return "dns", source, {"namespace": "kube-system", "k8s-app": "kube-dns", "ip": "10.96.0.10"}, 53, "udp"
    if roll < 0.25:
        return "external", source, rng.choice(EXTERNAL), 443, "tcp"
    peer = _pod(rng, int(source["namespace"][2:]), rng.randrange(APPS))
    return "flow", source, peer, 8000 + int(peer["app"][3:]), "tcp"


def _calico_side(prefix, side):
    if isinstance(side, tuple):
        return {prefix + "ip": side[1], prefix + "name": "-", prefix + "name_aggr": "pub", prefix + "namespace": "-",
                prefix + "type": "net", prefix + "labels": None}
    if "k8s-app" in side:
        return {prefix + "ip": None, prefix + "name": "-", prefix + "name_aggr": "coredns-5d78c9869d-*", prefix + "namespace": "kube-system",
                prefix + "type": "wep", prefix + "labels": {"labels": ["k8s-app=kube-dns", "pod-template-hash=5d78c9869d"]}}
    return {prefix + "ip": None, prefix + "name": "-", prefix + "name_aggr": "%s-%s-*" % (side["app"], side["hash"]),
            prefix + "namespace": side["namespace"], prefix + "type": "wep",
            prefix + "labels": {"labels": ["app=" + side["app"], "pod-template-hash=" + side["hash"]]}}


def calico(rng, number):
    """One Calico Enterprise flow log document."""
    kind, source, destination, port, proto = _shape(rng)
    if kind == "reply":
        kind = "flow"
    record = {"start_time": 1747041240 + number // 1000, "end_time": 1747041540 + number // 1000}
    record.update(_calico_side("source_", source))
    record.update(_calico_side("dest_", destination))
    record.update({"source_port": None, "dest_port": port, "dest_domains": [destination[0]] if isinstance(destination, tuple) and destination[0] else None,
                   "proto": proto, "action": "deny" if kind == "denied" else "allow", "reporter": rng.choice(("src", "dst")),
                   "bytes_in": rng.randint(100, 90000), "bytes_out": rng.randint(100, 9000), "packets_in": 12, "packets_out": 9,
                   "num_flows": 1, "num_flows_started": 1, "num_flows_completed": 1, "host": "node-%d" % rng.randrange(20)})
    return record


def _goldmane_side(side):
    if isinstance(side, tuple):
        return "pub", "", 4, []
    if "k8s-app" in side:
        return "coredns-5d78c9869d-*", "kube-system", 1, ["k8s-app=kube-dns", "pod-template-hash=5d78c9869d"]
    return "%s-%s-*" % (side["app"], side["hash"]), side["namespace"], 1, ["app=" + side["app"], "pod-template-hash=" + side["hash"]]


def goldmane(rng, number):
    """One Goldmane emitter flow (encoding/json of proto.Flow)."""
    kind, source, destination, port, proto = _shape(rng)
    source_name, source_namespace, source_type, source_labels = _goldmane_side(source)
    dest_name, dest_namespace, dest_type, dest_labels = _goldmane_side(destination)
    key = {"source_name": source_name, "source_namespace": source_namespace, "source_type": source_type, "dest_name": dest_name,
           "dest_type": dest_type, "proto": proto, "reporter": rng.choice((1, 2)), "action": 2 if kind == "denied" else 1}
    if dest_namespace:
        key["dest_namespace"] = dest_namespace
    if port:
        key["dest_port"] = port
    return {"Key": key, "start_time": 1747041255 + number // 1000, "end_time": 1747041270 + number // 1000,
            "source_labels": source_labels, "dest_labels": dest_labels, "packets_in": 12, "packets_out": 9,
            "bytes_in": rng.randint(100, 90000), "bytes_out": rng.randint(100, 9000), "num_connections_started": 1}


def _hubble_side(side, full):
    if isinstance(side, tuple):
        return {"identity": 2, "labels": ["reserved:world"]}
    if "k8s-app" in side:
        namespace, labels, workload = "kube-system", ["k8s:k8s-app=kube-dns"], "coredns"
    else:
        namespace, labels, workload = side["namespace"], ["k8s:app=" + side["app"]], side["app"]
    labels = labels + ["k8s:io.cilium.k8s.policy.cluster=default", "k8s:io.cilium.k8s.policy.serviceaccount=default",
                       "k8s:io.kubernetes.pod.namespace=" + namespace]
    endpoint = {"identity": 20000 + zlib.crc32(workload.encode()) % 10000, "namespace": namespace, "labels": labels}
    if full:
        endpoint.update({"ID": 1000 + zlib.crc32(workload.encode()) % 3000, "pod_name": "%s-%s-x2k9p" % (workload, "7d4b6c5f8d"),
                         "workloads": [{"name": workload, "kind": "Deployment"}]})
        endpoint["labels"] = labels + ["k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=" + namespace]
    return endpoint


def _hubble(rng, number, full):
    kind, source, destination, port, proto = _shape(rng)
    source_ip = source["ip"]
    destination_ip = destination[1] if isinstance(destination, tuple) else destination["ip"]
    source_endpoint, destination_endpoint = _hubble_side(source, full), _hubble_side(destination, full)
    source_port = rng.randint(32768, 60999)
    if kind == "icmp":
        l4 = {"ICMPv4": {"type": 8}}
    elif kind == "reply":
        source_endpoint, destination_endpoint, source_ip, destination_ip = destination_endpoint, source_endpoint, destination_ip, source_ip
        l4 = {"TCP": {"source_port": port, "destination_port": source_port, "flags": {"SYN": True, "ACK": True}}}
    elif proto == "udp":
        l4 = {"UDP": {"source_port": source_port, "destination_port": port}}
    else:
        l4 = {"TCP": {"source_port": source_port, "destination_port": port, "flags": {"SYN": True}}}
    stamp = "2025-05-12T09:%02d:%02d.%09dZ" % (number // 60000 % 60, number // 1000 % 60, rng.randrange(10 ** 9))
    flow = {"time": stamp, "verdict": "DROPPED" if kind == "denied" else "FORWARDED",
            "IP": {"source": source_ip, "destination": destination_ip, "ipVersion": "IPv4"}, "l4": l4,
            "source": source_endpoint, "destination": destination_endpoint, "Type": "L3_L4", "is_reply": kind == "reply"}
    if isinstance(destination, tuple) and destination[0]:
        flow["destination_names"] = [destination[0]]
    if full:
        flow.update({"uuid": "%08x-1f2e-4d3c-9b8a-%012x" % (number, rng.randrange(16 ** 12)),
                     "ethernet": {"source": "5e:0c:91:6a:22:1b", "destination": "d6:3f:7a:08:c4:90"},
                     "node_name": "node-%d" % rng.randrange(20), "event_type": {"type": 4, "sub_type": 3},
                     "traffic_direction": "EGRESS", "trace_observation_point": "TO_STACK",
                     "interface": {"index": 11, "name": "lxc3b7f9a2d1c4e"}, "Summary": "TCP Flags: SYN"})
        return {"flow": flow, "node_name": flow["node_name"], "time": stamp}
    return {"flow": flow}


_CALICO_KEY_FIELDS = ("source_type", "source_namespace", "source_name_aggr", "source_labels", "source_ip", "dest_type", "dest_namespace",
                      "dest_name_aggr", "dest_labels", "dest_ip", "dest_port", "dest_domains", "proto", "action", "reporter")


def calico_minimal(rng, number):
    """A Calico flow log document cut down to its flow key (an Elasticsearch ``_source`` filter or a log pipeline)."""
    record = calico(rng, number)
    return {field: record[field] for field in _CALICO_KEY_FIELDS if record.get(field) is not None}


GENERATORS = {
    "calico": calico,
    "calico-minimal": calico_minimal,
    "goldmane": goldmane,
    "hubble": lambda rng, number: _hubble(rng, number, True),
    "hubble-masked": lambda rng, number: _hubble(rng, number, False),
}


def write_log(path, records, fmt, seed):
    """``records`` lines of ``fmt`` at ``path``, gzip; returns the uncompressed size."""
    rng = random.Random(seed)
    generate = GENERATORS[fmt]
    size = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        batch = []
        for number in range(records):
            batch.append(json.dumps(generate(rng, number), separators=(",", ":")))
            if len(batch) == 10000:
                text = "\n".join(batch) + "\n"
                size += len(text)
                out.write(text)
                batch = []
        if batch:
            text = "\n".join(batch) + "\n"
            size += len(text)
            out.write(text)
    return size


def peak_kib():
    """This process's peak resident memory in KiB (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def read(path, fmt):
    """Read ``path`` and print the figures (run in a fresh process so its peak memory is the reader's)."""
    before = peak_kib()
    stats = {}
    started = time.perf_counter()
    flows = read_flow_logs({"path": path, "format": fmt}, os.path.dirname(path), stats=stats)
    elapsed = time.perf_counter() - started
    after = peak_kib()
    print("read %d records -> %d distinct flows in %.2fs: %.0f records/s (peak memory %.0f MiB, +%.0f MiB while reading)" % (
        stats["records"], len(flows), elapsed, stats["records"] / elapsed, after / 1024, max(0, after - before) / 1024))
    print("skipped: %s" % ", ".join("%s %d" % item for item in stats["skipped"].items()))


def main():
    """Generate, read in a child process, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=1000000)
    parser.add_argument("--format", choices=sorted(GENERATORS), default="calico")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--read", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    fmt = args.format.split("-")[0]
    if args.read:
        read(args.read, fmt)
        return
    with tempfile.TemporaryDirectory(prefix="flow-logs-bench.") as tmp:
        path = os.path.join(tmp, "flows.jsonl.gz")
        started = time.perf_counter()
        size = write_log(path, args.records, args.format, args.seed)
        print("wrote %d %s records (%.0f bytes each, %.0f MiB, %.1f MiB gzip) in %.1fs" % (
            args.records, args.format, size / args.records, size / 2 ** 20, os.path.getsize(path) / 2 ** 20, time.perf_counter() - started))
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.abspath(__file__), "--format", args.format, "--read", path], check=True)


if __name__ == "__main__":
    main()
