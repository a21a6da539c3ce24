"""Throughput of the offline policy evaluator (``plugins/module_utils/evaluate.py``).

Builds a synthetic, workshop-shaped policy set of 500 policies -- five tiers, 5 tenants of
10 namespaces, GlobalNetworkPolicies, Calico NetworkPolicies and Kubernetes NetworkPolicies,
GlobalNetworkSets -- and 10,000 workloads (50 namespaces x 20 apps x 10 replicas, each pod
with its own IP), then evaluates random flows (intra-namespace, intra-tenant, cross-tenant,
external) and prints verdicts per second, on one core:

* cold: a fresh PolicySet, every cache empty (includes building views and per-identity programs);
* warm: the same flows again.

Usage: ``python bench/evaluate_throughput.py [--flows N] [--seed S] [--repeat R]``
"""
import argparse
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import conftest  # noqa: E402,F401 # pylint: disable=unused-import

from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import External, PolicySet, Workload  # noqa: E402

TENANTS, NAMESPACES_PER_TENANT, APPS, REPLICAS, GUARDED_APPS = 5, 10, 20, 10, 8
CALICO = "projectcalico.org/v3"


def _ns(tenant, index):
    return "t%d-ns%d" % (tenant, index)


def _port(app):
    return 8000 + app


def _gnp(name, tier, order, spec):
    return {"apiVersion": CALICO, "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": dict(spec, tier=tier, order=order)}


def _np(name, namespace, tier, order, spec):
    return {"apiVersion": CALICO, "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec, tier=tier, order=order)}


def build_objects():
    """The synthetic policy set: (objects, namespaces)."""
    objects = [{"apiVersion": CALICO, "kind": "Tier", "metadata": {"name": n}, "spec": {"order": o}}
               for n, o in (("security", 200), ("platform", 300), ("application", 400), ("appsec", 500))]
    objects.append({"apiVersion": CALICO, "kind": "GlobalNetworkSet", "metadata": {"name": "threats", "labels": {"feed": "threats"}},
                    "spec": {"nets": ["203.0.113.0/24", "198.18.0.0/15"]}})
    for n in range(10):
        objects.append({"apiVersion": CALICO, "kind": "GlobalNetworkSet", "metadata": {"name": "svc%d" % n, "labels": {"external": "svc%d" % n}},
                        "spec": {"nets": ["100.%d.0.0/16" % (64 + n)]}})
    namespaces = {}
    objects.append(_gnp("threat-deny", "security", -90, {"selector": "all()", "types": ["Egress"],
                                                         "egress": [{"action": "Deny", "destination": {"selector": "feed == 'threats'"}}]}))
    for tenant in range(TENANTS):
        names = [_ns(tenant, i) for i in range(NAMESPACES_PER_TENANT)]
        for name in names:
            namespaces[name] = {"tenant": "t%d" % tenant}
        same = "tenant == 't%d'" % tenant
        objects.append(_gnp("tenant-%d-restrict" % tenant, "security", 10 + tenant, {
            "namespaceSelector": same, "types": ["Ingress", "Egress"],
            "ingress": [{"action": "Pass", "source": {"namespaceSelector": same}},
                        {"action": "Pass", "source": {"namespaceSelector": "projectcalico.org/name == 'ingress'"}},
                        {"action": "Deny"}],
            "egress": [{"action": "Pass", "destination": {"namespaceSelector": same}},
                       {"action": "Pass", "protocol": "UDP", "destination": {"ports": [53]}},
                       {"action": "Pass", "protocol": "TCP", "destination": {"ports": [443], "notNets": ["10.0.0.0/8"]}},
                       {"action": "Deny"}]}))
        objects.append(_gnp("tenant-%d-default-deny" % tenant, "default", 100 + tenant, {
            "namespaceSelector": same, "types": ["Ingress", "Egress"], "ingress": [{"action": "Deny"}], "egress": [{"action": "Deny"}]}))
        for index, name in enumerate(names):
            objects.append(_np("app-%s" % name, name, "application", 100, {
                "selector": "", "types": ["Ingress", "Egress"],
                "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "all()"},
                             "destination": {"selector": "role == 'internal'"}}],
                "egress": [{"action": "Allow", "protocol": "TCP", "destination": {"selector": "role == 'internal'"}},
                           {"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'app0'"},
                            "destination": {"selector": "external == 'svc%d'" % (index % 10), "namespaceSelector": "global()", "ports": [443]}},
                           {"action": "Pass", "protocol": "TCP", "destination": {"namespaceSelector": same}}]}))
            for app in range(GUARDED_APPS):
                objects.append(_np("app%d" % app, name, "appsec", 100 + app, {
                    "selector": "app == 'app%d'" % app, "types": ["Ingress", "Egress"],
                    "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'app%d'" % ((app + k) % APPS)},
                                 "destination": {"ports": [_port(app)]}} for k in (1, 2, 3)]
                    + [{"action": "Allow", "protocol": "TCP", "source": {"namespaceSelector": same, "selector": "app == 'app%d'" % app},
                        "destination": {"ports": ["%d:%d" % (_port(app), _port(app) + 1)]}}],
                    "egress": [{"action": "Allow", "protocol": "TCP",
                                "destination": {"selector": "app == 'app%d'" % ((app + k) % APPS), "ports": [_port((app + k) % APPS)]}}
                               for k in (1, 2, 3)]
                    + [{"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'app%d'" % app, "namespaceSelector": same}}]}))
    objects.append(_gnp("dns", "platform", 1, {"types": ["Egress"], "egress": [
        {"action": "Allow", "protocol": "UDP", "destination": {"selector": "k8s-app == 'kube-dns'", "ports": [53]}}]}))
    objects.append(_gnp("platform-pass", "platform", 10000, {"types": ["Ingress", "Egress"], "ingress": [{"action": "Pass"}], "egress": [{"action": "Pass"}]}))
    objects.append(_gnp("security-pass", "security", 10000, {"types": ["Ingress", "Egress"], "ingress": [{"action": "Pass"}], "egress": [{"action": "Pass"}]}))
    kubernetes = 500 - sum(1 for o in objects if o["kind"].endswith("Policy"))
    for n in range(kubernetes):
        tenant, index = divmod(n, NAMESPACES_PER_TENANT)
        objects.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": "allow-monitoring", "namespace": _ns(tenant % TENANTS, index)},
                        "spec": {"podSelector": {"matchLabels": {"monitored": "true"}},
                                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                                              "ports": [{"port": 9090}]}]}})
    return objects, namespaces


def build_workloads():
    """10,000 workloads, each with its own IP."""
    workloads = []
    for tenant in range(TENANTS):
        for index in range(NAMESPACES_PER_TENANT):
            namespace = _ns(tenant, index)
            for app in range(APPS):
                labels = {"app": "app%d" % app, "role": "internal" if app >= GUARDED_APPS else "guarded",
                          "monitored": "true" if app % 2 else "false", "pod-template-hash": "h%d" % app}
                for replica in range(REPLICAS):
                    ip = "10.%d.%d.%d" % (tenant * NAMESPACES_PER_TENANT + index, app, replica + 1)
                    workloads.append(Workload(namespace, "app%d-%d" % (app, replica), labels, ip=ip, ports={"http": ("TCP", _port(app))}))
    workloads.append(Workload("kube-system", "coredns", {"k8s-app": "kube-dns"}, ip="10.250.0.10"))
    return workloads


def build_flows(workloads, count, rng):
    """Random flows: 60% same namespace, 20% same tenant, 10% cross tenant, 5% DNS, 5% external."""
    by_ns = {}
    for workload in workloads[:-1]:
        by_ns.setdefault(workload.namespace, []).append(workload)
    names = sorted(by_ns)
    dns = workloads[-1]
    flows = []
    for _flow in range(count):
        src_ns = rng.choice(names)
        src = rng.choice(by_ns[src_ns])
        roll = rng.random()
        if roll < 0.05:
            flows.append((src, dns, "UDP", 53))
            continue
        if roll < 0.10:
            target = External(ip="100.%d.%d.%d" % (64 + rng.randrange(10), rng.randrange(256), rng.randrange(1, 255)))
            flows.append((src, target, "TCP", rng.choice((443, 443, 80))))
            continue
        if roll < 0.70:
            dst_ns = src_ns
        elif roll < 0.90:
            dst_ns = src_ns.split("-")[0] + "-ns%d" % rng.randrange(NAMESPACES_PER_TENANT)
        else:
            dst_ns = rng.choice(names)
        dst = rng.choice(by_ns[dst_ns])
        port = 8000 + int(dst.labels["app"][3:]) if rng.random() < 0.9 else rng.choice((22, 9090, 5432))
        flows.append((src, dst, "TCP", port))
    return flows


def run(policy_set, flows):
    """(wall seconds, CPU seconds, allowed count) for evaluating every flow once."""
    verdict = policy_set.verdict
    allowed = 0
    start, cpu = time.perf_counter(), time.process_time()
    for src, dst, proto, port in flows:
        if verdict(src, dst, proto, port).allowed:
            allowed += 1
    return time.perf_counter() - start, time.process_time() - cpu, allowed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=300000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="best of N (a fresh PolicySet each time for the cold pass)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    objects, namespaces = build_objects()
    workloads = build_workloads()
    flows = build_flows(workloads, args.flows, rng)
    policies = sum(1 for o in objects if o["kind"].endswith("Policy"))
    best = {}
    for _round in range(args.repeat):
        start = time.perf_counter()
        policy_set = PolicySet(objects, namespaces=namespaces, cluster_cidrs=["10.0.0.0/8"])
        compile_time = time.perf_counter() - start
        for name in ("cold", "warm"):
            wall, cpu, allowed = run(policy_set, flows)
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu, allowed)
        best["compile"] = min(best.get("compile", compile_time), compile_time)
    print("policies: %d, workloads: %d, flows: %d, compile: %.2f s (best of %d)" % (policies, len(workloads), len(flows), best["compile"], args.repeat))
    for name in ("cold", "warm"):
        wall, cpu, allowed = best[name]
        print("%s: %.2f s wall, %.2f s CPU, %d verdicts/s (allowed %d of %d)" % (name, wall, cpu, len(flows) / wall, allowed, len(flows)))


if __name__ == "__main__":
    main()
