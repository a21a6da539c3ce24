"""Throughput of the flow log reader (``plugins/module_utils/flow_logs/``).

Writes a gzip JSON Lines file of ``--records`` records (default 1,000,000) in a temporary
directory, then reads it with ``read_flow_logs`` in a fresh process and prints records per
second, with the peak memory the read added.

The records are shaped like the real exports: 50 namespaces x 20 apps talking to each
other, to kube-dns and to a few external names and addresses, about one record in ten a
reply, a denied flow or ICMP, every record with its own timestamp and source port.
``--format`` picks the export: ``calico`` (complete Calico Enterprise flow log documents,
the default), ``calico-minimal`` (the same cut down to the flow key, as a log pipeline or
an Elasticsearch ``_source`` filter leaves them: the "simple record"), ``goldmane``
(Goldmane emitter flows), ``hubble`` (complete Hubble exporter flows, about 1.35 KiB each)
or ``hubble-masked`` (Hubble exporter with a field mask keeping time, verdict, IP, l4,
source, destination, destination_names, is_reply, Type).

``--workers N`` sets the reader's worker processes (default: the product's, one per spare core; 0: one process).

``--compare`` (``make bench-flow-logs``) sets ours beside hubble-audit2policy (PyPI, in the bench-only
``.venv-bench``) on the same plain JSON Lines file of complete Hubble records, at 200,000 and 1,000,000 records
(``--sizes``): records/s for ours (the product's default workers and one core) and for hubble-audit2policy (its
fastest faithful invocation, ``--report-only --no-enrich``, and at the first size also its policy-generating mode),
best of ``--runs``, the ratio, and the peak memory of each.

Usage: ``python bench/flow_logs.py [--records N] [--format F] [--seed S] [--workers N]``
       ``python bench/flow_logs.py --compare [--hubble-audit2policy PATH] [--sizes 200000,1000000] [--runs 2]``
"""
import argparse
import gzip
import importlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
importlib.import_module("conftest")   # links the checkout as ansible_collections.zerotrust.microseg

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


def write_log(path, records, fmt, seed, compress=True):
    """``records`` lines of ``fmt`` at ``path``, gzip (or plain with ``compress=False``); returns the uncompressed size."""
    rng = random.Random(seed)
    generate = GENERATORS[fmt]
    size = 0
    with (gzip.open(path, "wt", encoding="utf-8", compresslevel=1) if compress else open(path, "w", encoding="utf-8")) as out:
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


def read(path, fmt, workers=None, as_json=False):
    """Read ``path`` and print the figures (run in a fresh process so its peak memory is the reader's).

    With ``as_json`` one JSON line for ``--compare``: records, flows, seconds, the reader's peak (VmHWM) and the
    largest worker's peak (the children's ru_maxrss: workers are forked and joined before the read returns), in KiB.
    """
    before = peak_kib()
    stats = {}
    started = time.perf_counter()
    quiet = {"progress": None} if as_json else {}   # the progress lines on stderr, unless a parent reads the figures
    flows = read_flow_logs({"path": path, "format": fmt}, os.path.dirname(path), stats=stats, workers=workers, **quiet)
    elapsed = time.perf_counter() - started
    after = peak_kib()
    if as_json:
        print(json.dumps({"records": stats["records"], "flows": len(flows), "seconds": elapsed, "peak_kib": after,
                          "worker_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "skipped": stats["skipped"]}))
        return
    print("read %d records -> %d distinct flows in %.2fs: %.0f records/s (peak memory %.0f MiB, +%.0f MiB while reading)" % (
        stats["records"], len(flows), elapsed, stats["records"] / elapsed, after / 1024, max(0, after - before) / 1024))
    print("skipped: %s" % ", ".join("%s %d" % item for item in stats["skipped"].items()))


# --compare -------------------------------------------------------------------------------------------------------

H2P_REPORT = ["--report-only", "--no-enrich"]   # read, aggregate, print the plain-text flow report (stderr not a terminal: no TUI)
H2P_POLICIES = ["--no-enrich", "-o"]            # its default mode (write one policy YAML per workload), without kubectl
_H2P_NAMES = {"report": "hubble-audit2policy --report-only", "policies": "hubble-audit2policy policies -o"}
_H2P_TOTAL = re.compile(r"(?:Total: |Processed )(\d+) flows")


def _label(records):
    return "%gM" % (records / 1e6) if records >= 10 ** 6 else "%gk" % (records / 1e3)


def _mib(kib):
    return kib / 1024


def _rate(records, seconds):
    return format(records / seconds, ",.0f")


def _wait(command, out_dir):
    """Run ``command`` with stdout and stderr to files (not a terminal); (wall seconds, exit code, peak RSS KiB, CPU seconds
    of the process and the children it waited for, stdout, stderr)."""
    out_path, err_path = os.path.join(out_dir, "stdout"), os.path.join(out_dir, "stderr")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = code = os.waitstatus_to_exitcode(status)
    with open(out_path, encoding="utf-8", errors="replace") as out, open(err_path, encoding="utf-8", errors="replace") as err:
        return wall, code, usage.ru_maxrss, usage.ru_utime + usage.ru_stime, out.read(), err.read()


def run_ours(path, workers, tmp):
    """One read of ``path`` in a fresh child process: the child's figures, plus its whole wall time (start-up, imports)."""
    command = [sys.executable, os.path.abspath(__file__), "--format", "hubble", "--read", path, "--json"]
    if workers is not None:
        command += ["--workers", str(workers)]
    wall, code, _peak, cpu, out, err = _wait(command, tmp)
    if code != 0:
        raise SystemExit("our reader failed (exit %d): %s\n%s" % (code, " ".join(command), err.strip()))
    result = json.loads(out.strip().splitlines()[-1])
    result["process_seconds"], result["cpu_seconds"] = wall, cpu
    return result


def run_h2p(binary, args, path, records, tmp):
    """One hubble-audit2policy run on ``path``: its figures, or a reason it did not give them."""
    try:
        wall, code, peak, cpu, out, err = _wait([binary, path] + args, tmp)
    except OSError as error:   # e.g. a venv moved after it was built: its script's #! names a python that is gone
        return {"failed": "cannot run %s: %s" % (binary, error)}
    totals = _H2P_TOTAL.findall(err + out)
    result = {"seconds": wall, "cpu_seconds": cpu, "peak_kib": peak, "code": code, "records": int(totals[-1]) if totals else None}
    if code != 0:
        result["failed"] = "exit %d: %s" % (code, (err.strip() or out.strip())[-400:])
    elif result["records"] != records:
        result["failed"] = "it processed %s flows, not %d (no 'Total: N flows' / 'Processed N flows' line?)" % (result["records"], records)
    return result


def _best(runs):
    return min(runs, key=lambda run: run["seconds"]) if runs else None


def _h2p_problem(binary):
    if not os.path.exists(binary):
        return "%s does not exist (make bench-flow-logs builds .venv-bench with hubble-audit2policy==0.18.5)" % binary
    if not os.access(binary, os.X_OK):
        return "%s is not executable" % binary
    return None


def compare(args):
    """Ours beside hubble-audit2policy on the same plain JSON Lines Hubble file per size; a summary table and the ratio."""
    binary = os.path.abspath(args.hubble_audit2policy)
    problem = _h2p_problem(binary)
    sizes = [int(size) for size in args.sizes.split(",")]
    print("flow log ingest: ours (read_flow_logs) beside hubble-audit2policy, complete Hubble exporter records, plain JSON Lines "
          "(hubble-audit2policy cannot read gzip); best of %d runs each; %d cores, load average %.2f at start" % (
              args.runs, os.cpu_count() or 1, os.getloadavg()[0]))
    print("ours: %s bench/flow_logs.py --format hubble --read FILE [--workers 0] in a fresh process; records/s over the read "
          "(read_flow_logs), peak memory = the reader's VmHWM and the largest worker's ru_maxrss" % sys.executable)
    if problem:
        print("hubble-audit2policy: not run: %s; our figures only" % problem)
    else:
        print("hubble-audit2policy (fastest faithful: read, aggregate, print the flow report; --no-enrich is a no-op "
              "there, shown for clarity): %s FILE %s" % (binary, " ".join(H2P_REPORT)))
        print("hubble-audit2policy (its default policy-generating mode without kubectl, at %s only): %s FILE %s DIR" % (
            _label(sizes[0]), binary, " ".join(H2P_POLICIES)))
        print("hubble-audit2policy: wall time around the process (start-up included), stdout and stderr to files "
              "(so no TUI), peak memory = its ru_maxrss")
    rows = []
    for index, records in enumerate(sizes):
        with tempfile.TemporaryDirectory(prefix="flow-logs-compare.") as tmp:
            path = os.path.join(tmp, "hubble-flows.jsonl")
            started = time.perf_counter()
            size = write_log(path, records, "hubble", args.seed, compress=False)
            written = time.perf_counter() - started
            os.sync()   # the file's writeback not competing with the timed runs (it stays in the page cache for both tools)
            print("\n== %s: wrote %d hubble records (%.0f bytes each, %.0f MiB plain) in %.1fs, synced in %.1fs; load average %.2f" % (
                _label(records), records, size / records, size / 2 ** 20, written, time.perf_counter() - started - written,
                os.getloadavg()[0]))
            sys.stdout.flush()
            runs = {"default": [], "one core": [], "report": [], "policies": []}
            for attempt in range(1, args.runs + 1):
                for name, workers in (("default", None), ("one core", 0)):
                    result = run_ours(path, workers, tmp)
                    if result["records"] != records:
                        raise SystemExit("our reader counted %d records, not %d" % (result["records"], records))
                    runs[name].append(result)
                    worker = " + largest worker %.0f MiB" % _mib(result["worker_peak_kib"]) if result["worker_peak_kib"] else ""
                    print("  %-34s run %d: read %6.2fs %9s records/s (process %6.2fs, cpu %6.2fs)  peak %.0f MiB%s -> %s flows" % (
                        "ours, default workers" if workers is None else "ours, one core (workers=0)", attempt, result["seconds"],
                        _rate(records, result["seconds"]), result["process_seconds"], result["cpu_seconds"], _mib(result["peak_kib"]),
                        worker, format(result["flows"], ",")))
                    sys.stdout.flush()
                if problem:
                    continue
                modes = [("report", H2P_REPORT)]
                if index == 0:
                    modes.append(("policies", H2P_POLICIES + [os.path.join(tmp, "policies-%d" % attempt)]))
                for name, h2p_args in modes:
                    result = run_h2p(binary, h2p_args, path, records, tmp)
                    if "failed" in result:
                        print("  %-34s run %d: FAILED (%s)" % (_H2P_NAMES[name], attempt, result["failed"]))
                        continue
                    runs[name].append(result)
                    print("  %-34s run %d: wall %6.2fs %9s records/s (whole process, cpu %6.2fs)  peak %.0f MiB" % (
                        _H2P_NAMES[name], attempt, result["seconds"], _rate(records, result["seconds"]), result["cpu_seconds"],
                        _mib(result["peak_kib"])))
                    sys.stdout.flush()
            os.remove(path)
        best = {name: _best(found) for name, found in runs.items()}
        h2p = [(name, best[name]) for name in ("report", "policies") if best[name]]
        fastest = min(h2p, key=lambda item: item[1]["seconds"]) if h2p else None
        rows.append((records, best, fastest))
    print_summary(rows, problem)


def print_summary(rows, problem):
    """The table, the whole-process ratio, and the ratio line at the first size."""
    print("\nsummary (best of runs; records/s over our read, over hubble-audit2policy's whole process; load average now %.2f):"
          % os.getloadavg()[0])
    header = ("records", "ours rec/s", "ours 1 core", "h2p rec/s", "h2p mode", "ratio", "our peak MiB", "1 core MiB", "h2p MiB", "flows")
    line = "%-8s %11s %11s %11s %-13s %6s %13s %10s %8s %8s"
    print(line % header)
    for records, best, fastest in rows:
        ours, one = best["default"], best["one core"]
        peak = "%.0f" % _mib(ours["peak_kib"]) + (" + %.0f" % _mib(ours["worker_peak_kib"]) if ours["worker_peak_kib"] else "")
        if fastest:
            name, h2p = fastest
            h2p_cells = (_rate(records, h2p["seconds"]), "--report-only" if name == "report" else "policies -o",
                         "%.1f" % (h2p["seconds"] / ours["seconds"]), "%.0f" % _mib(h2p["peak_kib"]))
        else:
            h2p_cells = ("-", "-", "-", "-")
        print(line % (_label(records), _rate(records, ours["seconds"]), _rate(records, one["seconds"]), h2p_cells[0], h2p_cells[1],
                      h2p_cells[2], peak, "%.0f" % _mib(one["peak_kib"]), h2p_cells[3], format(ours["flows"], ",")))
    print("our peak MiB: the reader process + its largest worker (default workers); 1 core MiB: workers=0, one process")
    first_records, first_best, first_fastest = rows[0]
    if first_best["policies"] and first_best["report"]:
        print("hubble-audit2policy at %s: --report-only %.2fs, policies -o %.2fs (the ratio uses the faster)" % (
            _label(first_records), first_best["report"]["seconds"], first_best["policies"]["seconds"]))
    whole = ["%s %.1f" % (_label(records), fastest[1]["seconds"] / best["default"]["process_seconds"])
             for records, best, fastest in rows if fastest]
    if whole:
        print("ratio with our whole child process (interpreter start-up and imports included, as for hubble-audit2policy): %s"
              % ", ".join(whole))
    if first_fastest:
        print("ingest ratio at %s: %.1f (target 5)" % (
            _label(first_records), first_fastest[1]["seconds"] / first_best["default"]["seconds"]))
    else:
        print("ingest ratio at %s: n/a (hubble-audit2policy not run: %s) (target 5)" % (
            _label(first_records), problem or "every run failed, see above"))


def main():
    """Generate, read in a child process, report; or, with --compare, ours beside hubble-audit2policy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=1000000)
    parser.add_argument("--format", choices=sorted(GENERATORS), default="calico")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes for the read (default: the product's, one per spare core; 0: one process)")
    parser.add_argument("--compare", action="store_true", help="ours beside hubble-audit2policy on plain Hubble JSON Lines")
    parser.add_argument("--hubble-audit2policy", default=os.path.join(ROOT, ".venv-bench", "bin", "hubble-audit2policy"),
                        help="the hubble-audit2policy executable for --compare (default: .venv-bench's)")
    parser.add_argument("--sizes", default="200000,1000000", help="records per file for --compare, comma-separated")
    parser.add_argument("--runs", type=int, default=2, help="runs of each reader per size for --compare, the best counts")
    parser.add_argument("--read", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    fmt = args.format.split("-")[0]
    if args.read:
        read(args.read, fmt, args.workers, args.json)
        return
    if args.compare:
        compare(args)
        return
    with tempfile.TemporaryDirectory(prefix="flow-logs-bench.") as tmp:
        path = os.path.join(tmp, "flows.jsonl.gz")
        started = time.perf_counter()
        size = write_log(path, args.records, args.format, args.seed)
        print("wrote %d %s records (%.0f bytes each, %.0f MiB, %.1f MiB gzip) in %.1fs" % (
            args.records, args.format, size / args.records, size / 2 ** 20, os.path.getsize(path) / 2 ** 20, time.perf_counter() - started))
        sys.stdout.flush()
        command = [sys.executable, os.path.abspath(__file__), "--format", args.format, "--read", path]
        if args.workers is not None:
            command += ["--workers", str(args.workers)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
