"""Time of the evidence report's service graph (``plugins/module_utils/service_graph.py``) on a large cluster.

Generates a report document with ``--workloads`` workloads (default 500) in ``--namespaces`` namespaces (default 50)
of ``--tenants`` tenants (default 10, every third one PCI, a third of its workloads labelled pci=true) and about
``--flows`` flows (default 3000): mostly within a tenant, ``--cross`` of them (default 0.08) to any namespace, some to
the DNS service, from selectors (``ns/key=value``, ``ns/*``) and to external names and networks, in every category
(allowed, widened, undeclared, enforce-denied, denied). ``--cross 0.3`` makes the summary of namespaces a near-complete
graph (about 1,000 namespace pairs of 2,550), a stress test of the layout rather than a cluster anyone runs.
Then renders the graph section ``--runs`` times (default 3) and prints the seconds of each run, the size of the HTML
and how many graphs it holds. ``--html PATH`` also writes the whole report page there.

Needs Graphviz (Debian package ``graphviz``, PyPI ``graphviz`` in ``.venv``).

Usage: ``.venv/bin/python bench/service_graph.py [--workloads 500] [--namespaces 50] [--tenants 10] [--flows 3000] [--cross 0.08]
[--html PATH]``
"""
import argparse
import importlib
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
importlib.import_module("conftest")   # links the checkout as ansible_collections.zerotrust.microseg

from ansible_collections.zerotrust.microseg.plugins.module_utils import evidence, service_graph  # noqa: E402

EXTERNAL = ["domain:api.stripe.com", "domain:www.googleapis.com", "net:192.0.2.0/24", "net:203.0.113.9/32"]
PORTS = ["80/TCP", "443/TCP", "5432/TCP", "6379/TCP", "8080/TCP", "9090/TCP"]
# (declared, now, at_enforce) per category, and how often it occurs
SHAPES = [((True, "allow", "allow"), 60), ((False, "allow", "allow"), 10), ((False, "allow", "deny"), 12),
          ((True, "allow", "deny"), 8), ((True, "deny", "deny"), 5), ((False, "deny", "deny"), 5)]


def document(workloads, namespaces, tenants, flows, seed, cross=0.08):
    """A report document as ``evidence.build`` makes it (only the keys the page reads)."""
    rng = random.Random(seed)
    per_namespace = max(1, workloads // namespaces)
    names = ["ns%02d" % index for index in range(namespaces)]
    tenant_list = [{"name": "tenant%02d" % t, "namespaces": [n for i, n in enumerate(names) if i % tenants == t], "pci": t % 3 == 0}
                   for t in range(tenants)]
    tenant_of = {n: t for t in tenant_list for n in t["namespaces"]}
    scope, pci, apps = {}, [], []
    for namespace in names:
        tenant = tenant_of[namespace]
        entries = []
        for index in range(per_namespace):
            labels = {"app": "svc%02d" % index, "role": "batch" if index % 7 == 6 else "web"}
            if tenant["pci"] and index % 3 == 0:
                labels["pci"] = "true"
                pci.append("%s/svc%02d" % (namespace, index))
            entries.append({"kind": "Deployment", "name": "svc%02d" % index, "labels": labels})
        scope[namespace] = {"exists": True, "tier": "application", "tenant": tenant["name"], "pci": tenant["pci"], "workloads": entries}
        apps.append({"name": namespace, "namespace": namespace, "identity_label": "app", "tier": "application", "identities": []})
    flow_map = {}
    categories = [shape for shape, weight in SHAPES for _copy in range(weight)]
    while len(flow_map) < flows:
        source_ns = rng.choice(names)
        roll = rng.random()
        if roll < 0.05:
            destination = rng.choice(EXTERNAL)
        elif roll < 0.08:
            destination = "kube-system/kube-dns"
        elif roll < 1 - cross:
            destination = "%s/svc%02d" % (rng.choice(tenant_of[source_ns]["namespaces"]), rng.randrange(per_namespace))
        else:
            destination = "%s/svc%02d" % (rng.choice(names), rng.randrange(per_namespace))
        source = "%s/svc%02d" % (source_ns, rng.randrange(per_namespace))
        if rng.random() < 0.02:
            source = source_ns + ("/*" if rng.random() < 0.5 else "/role=batch")
        port = "53/UDP" if destination == "kube-system/kube-dns" else rng.choice(PORTS)
        declared, now, at_enforce = rng.choice(categories)
        flow_map[(source, destination, port)] = {"source": source, "destination": destination, "port": port, "declared": declared,
                                                 "observed": not declared or rng.random() < 0.7, "now": now, "at_enforce": at_enforce}
    return {"phase": "enforce", "failed": None, "apps": apps, "tenants": tenant_list, "namespaces": scope, "gate": None,
            "reconciliation": {"confirmed": [], "unobserved": [], "undeclared": []}, "flows": [flow_map[key] for key in sorted(flow_map)],
            "pci": {"workloads": sorted(pci)}, "policies": []}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workloads", type=int, default=500)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--flows", type=int, default=3000)
    parser.add_argument("--cross", type=float, default=0.08, help="share of the flows to any namespace (the rest stay in the tenant)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--html", help="write the whole report page here")
    args = parser.parse_args()
    doc = document(args.workloads, args.namespaces, args.tenants, args.flows, args.seed, args.cross)
    nodes = service_graph.services(doc)
    pairs = {tuple(service_graph.namespace_of(f[side]) for side in ("source", "destination")) for f in doc["flows"]}
    print("document: %d workloads in %d namespaces, %d tenants, %d flows, %d graph nodes (threshold %d), %d namespace pairs" % (
        sum(len(info["workloads"]) for info in doc["namespaces"].values()), len(doc["namespaces"]), len(doc["tenants"]),
        len(doc["flows"]), len(nodes), service_graph.THRESHOLD, len(pairs)))
    sections = []
    for run in range(args.runs):
        started = time.perf_counter()
        sections.append(service_graph.graph_section(doc))
        print("run %d: graph section in %.2f s" % (run + 1, time.perf_counter() - started))
    section = sections[0]
    print("graph section: %d bytes of HTML (%.1f MiB), %d SVG graph(s), identical across runs: %s" % (
        len(section.encode("utf-8")), len(section.encode("utf-8")) / 2 ** 20, section.count("<svg"), all(s == section for s in sections)))
    if args.html:
        with open(args.html, "w", encoding="utf-8") as handle:
            handle.write(evidence.render_html(doc, "bench"))
        print("page written to %s" % args.html)


if __name__ == "__main__":
    main()
