"""Benchmark: apply 500 policies to a Kubernetes API server through the cluster target.

250 Kubernetes NetworkPolicies and 250 Calico NetworkPolicies over 10 namespaces go to a loopback
FakeKube (default) or, with ``--kubeconfig``, to a real cluster (into 10 fresh namespaces, deleted
afterwards unless ``--keep``). Times and API writes are printed for: the first apply (all
creates), an unchanged rerun (must write nothing), check mode with 50 changed objects (50 dry-run
writes, nothing stored) and applying those 50 updates. Writes must equal changed objects.
``--latency MS`` holds every write on the fake that long, as a remote API server would.
Run: ``.venv/bin/python bench/apply_cluster.py [--kubeconfig PATH [--context NAME]] [--workers N] [--latency MS]``.
"""
import argparse
import os
import secrets
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "collections"))

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import ClusterTarget  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, TIER_LABEL  # noqa: E402

NAMESPACES = 10
PER_DIALECT = 250
RUN_LABEL = "zerotrust.microseg/bench-run"


def policies(run, namespaces, variant=0, changed=PER_DIALECT * 2):
    """250 Kubernetes + 250 Calico NetworkPolicies; the first ``changed`` of them carry ``variant``."""
    found = []
    for index in range(PER_DIALECT * 2):
        namespace = namespaces[index % len(namespaces)]
        port = 8000 + index % 1000 + (100 * variant if index < changed else 0)
        labels = {MANAGED_BY[0]: MANAGED_BY[1], TIER_LABEL: "appsec", RUN_LABEL: run}
        if index % 2:
            found.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                          "metadata": {"name": "bench-%03d" % index, "namespace": namespace, "labels": labels},
                          "spec": {"podSelector": {"matchLabels": {"app": "svc-%d" % index}}, "policyTypes": ["Ingress"],
                                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client-%d" % index}}}],
                                                "ports": [{"protocol": "TCP", "port": port}]}]}})
        else:
            found.append({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                          "metadata": {"name": "bench-%03d" % index, "namespace": namespace, "labels": labels},
                          "spec": {"order": 500, "selector": "app == 'svc-%d'" % index, "types": ["Ingress"],
                                   "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "app == 'client-%d'" % index},
                                                "destination": {"ports": [port]}}]}})
    return found


class Counted:
    """Opens targets whose non-GET requests are counted (client side, so a real cluster is measured the same way)."""

    def __init__(self, options):
        self.options = options
        self.writes = 0
        self.dry_runs = 0

    def target(self, check_mode=False):
        target = ClusterTarget(check_mode=check_mode, **self.options)
        send = target.api.request

        def request(method, path, query=None, body=None, content_type="application/json", reread=None):
            if method != "GET":
                if ("dryRun", "All") in list(query or ()):
                    self.dry_runs += 1
                else:
                    self.writes += 1
            return send(method, path, query, body, content_type, reread)

        target.api.request = request
        return target


def timed(label, counted, action, expected_writes, expected_dry_runs=0):
    """Run ``action``, print its time and its writes; the writes must be the changed objects."""
    writes, dry_runs = counted.writes, counted.dry_runs
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    changed = len(result.created) + len(result.updated) + len(result.deleted)
    written, validated = counted.writes - writes, counted.dry_runs - dry_runs
    print("%-34s %8.3f s   changed %3d   API writes %3d   dry-run writes %3d" % (label, elapsed, changed, written, validated))
    if (written, validated) != (expected_writes, expected_dry_runs):
        raise SystemExit("unexpected: %d writes and %d dry-run writes, expected %d and %d"
                         % (written, validated, expected_writes, expected_dry_runs))
    return result


def run(options, namespaces, run_id):
    """The four measured steps."""
    counted = Counted(options)
    scope = [{TIER_LABEL: "appsec", RUN_LABEL: run_id}]
    base, changed = policies(run_id, namespaces), policies(run_id, namespaces, variant=1, changed=50)
    timed("apply 500 (create)", counted, lambda: apply_objects(counted.target(), base, scope=scope, with_diff=False), 500)
    timed("apply again (no change)", counted, lambda: apply_objects(counted.target(), base, scope=scope, with_diff=False), 0)
    timed("check mode, 50 changed (--diff)", counted, lambda: apply_objects(counted.target(check_mode=True), changed, scope=scope), 0, 50)
    timed("apply 50 updates", counted, lambda: apply_objects(counted.target(), changed, scope=scope, with_diff=False), 50)
    return counted


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", help="a real cluster's kubeconfig (default: a loopback FakeKube)")
    parser.add_argument("--context")
    parser.add_argument("--workers", type=int, help="concurrent writes per rank (default: the target's)")
    parser.add_argument("--keep", action="store_true", help="keep the bench namespaces on a real cluster")
    parser.add_argument("--latency", type=float, default=0.0, help="FakeKube: hold every write this many milliseconds (a remote server)")
    args = parser.parse_args()
    if args.workers:
        ClusterTarget.write_workers = args.workers
    run_id = secrets.token_hex(3)
    with tempfile.TemporaryDirectory() as state:
        if args.kubeconfig:
            namespaces = ["zt-bench-%s-%02d" % (run_id, index) for index in range(NAMESPACES)]
            options = dict(kubeconfig=args.kubeconfig, context=args.context, state_dir=state)
            admin = ClusterTarget(**options)
            for namespace in namespaces:
                admin.api.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            try:
                print("cluster %s, %d writers" % (admin.api.host, ClusterTarget.write_workers))
                run(options, namespaces, run_id)
            finally:
                if not args.keep:
                    for namespace in namespaces:
                        admin.api.request("DELETE", "/api/v1/namespaces/" + namespace)
            return
        from ansible_collections.zerotrust.microseg.tests.fake_kube.server import FakeKube  # pylint: disable=import-outside-toplevel
        with FakeKube() as fake:
            options = dict(kubeconfig=fake.write_kubeconfig(os.path.join(state, "kubeconfig")), state_dir=state)
            for method in ("PATCH", "DELETE") if args.latency else ():
                fake.fail(method=method, status=None, delay=args.latency / 1000.0, times=None)
            print("FakeKube %s, %d writers, %g ms per write" % (fake.url, ClusterTarget.write_workers, args.latency))
            counted = run(options, ["bench-%02d" % index for index in range(NAMESPACES)], run_id)
            stored = len(fake.mutations(dry_run=False))
            print("server saw %d writes (client counted %d), %d dry-run writes" % (stored, counted.writes, len(fake.mutations(dry_run=True))))


if __name__ == "__main__":
    main()
