"""Benchmark: apply 500 policies to a Kubernetes API server through the cluster target.

250 Kubernetes NetworkPolicies and 250 Calico NetworkPolicies over 10 namespaces go to a loopback
FakeKube (default) or, with ``--kubeconfig``, to a real cluster (into 10 fresh namespaces, deleted
afterwards unless ``--keep``). Times and API writes are printed for: the first apply (all
creates), an unchanged rerun (must write nothing), check mode with 50 changed objects (50 dry-run
writes, nothing stored) and applying those 50 updates. Writes must equal changed objects.
``--latency MS`` holds every write on the fake that long, as a remote API server would.
Run: ``.venv/bin/python bench/apply_cluster.py [--kubeconfig PATH [--context NAME]] [--workers N] [--latency MS]``.

``--compare`` (FakeKube only; ``make bench-compare`` builds its venv) then times, on one FakeKube and the same 500
objects, the cluster target against a plain per-object server-side-apply loop with the official client and a loop
of ``kubernetes.core.k8s`` tasks (``apply: true``, ``server_side_apply``) run by ansible-playbook from the bench-only
venv ``.venv-bench``: create, unchanged rerun, check mode with 50 changed objects; API writes from FakeKube's log.
"""
import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "collections"))

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import ClusterTarget  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, TIER_LABEL  # noqa: E402

NAMESPACES = 10
PER_DIALECT = 250
CHANGED = 50
RUN_LABEL = "zerotrust.microseg/bench-run"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_VENV = os.path.join(ROOT, ".venv-bench")
K8S_CORE_PLAYBOOK = """\
- name: Apply the bench objects with kubernetes.core.k8s
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Server-side apply one object per loop item
      kubernetes.core.k8s:
        kubeconfig: "{{ bench_kubeconfig }}"
        state: present
        apply: true
        server_side_apply:
          field_manager: bench
        definition: "{{ item }}"
      loop: "{{ bench_objects }}"
      loop_control:
        label: "{{ item.apiVersion }} {{ item.metadata.namespace }}/{{ item.metadata.name }}"
      register: bench_applied
    - name: Count the changed items
      ansible.builtin.debug:
        msg: "BENCH changed={{ bench_applied.results | selectattr('changed') | list | length }}"
"""


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


class Compare:
    """Times one approach's create, rerun and check on a FakeKube, counting the writes the fake logs."""

    def __init__(self, fake, admin, namespaces):
        self.fake, self.admin, self.namespaces = fake, admin, namespaces
        self.rows = []

    def reset(self):
        """Delete every bench object (deletecollection per namespace and kind) and forget the request log."""
        for namespace in self.namespaces:
            for prefix in ("/apis/networking.k8s.io/v1", "/apis/projectcalico.org/v3"):
                self.admin.api.request("DELETE", "%s/namespaces/%s/networkpolicies" % (prefix, namespace))
        if self.fake.objects():
            raise SystemExit("FakeKube still holds %d objects after the reset" % len(self.fake.objects()))
        self.fake.clear_requests()

    def step(self, action):
        """``(seconds, changed, writes, dry-run writes)`` of one step."""
        self.fake.clear_requests()
        start = time.perf_counter()
        changed = action()
        elapsed = time.perf_counter() - start
        return elapsed, changed, len(self.fake.mutations(dry_run=False)), len(self.fake.mutations(dry_run=True))

    def approach(self, name, create, rerun, check):
        """Run the three steps from an empty store; check mode must store nothing."""
        self.reset()
        steps = [self.step(create), self.step(rerun)]
        before = self.fake.dump()
        steps.append(self.step(check))
        if self.fake.dump() != before:
            raise SystemExit("%s: check mode changed the store" % name)
        for label, (elapsed, changed, writes, dry_runs) in zip(("create", "rerun", "check"), steps):
            print("  %-46s %-7s %8.3f s   changed %3s   writes %3d   dry-run writes %3d" % (name, label, elapsed, changed, writes, dry_runs))
        self.rows.append((name, steps))

    def table(self):
        """approach x (create s, rerun s, check s, writes on rerun, dry-run writes in check)."""
        print()
        header = "%-44s %9s %9s %9s %16s %20s" % ("approach", "create s", "rerun s", "check s", "writes on rerun", "check dry-run writes")
        print(header)
        print("-" * len(header))
        for name, (create, rerun, check) in self.rows:
            print("%-44s %9.2f %9.2f %9.2f %16d %20d" % (name, create[0], rerun[0], check[0], rerun[2], check[3]))


def python_ssa_loop(kubeconfig, cache_file, objects, dry_run=False):
    """One server-side apply PATCH per object with the official client's DynamicClient, serially, no compare."""
    from kubernetes import client as k8s_client, config as k8s_config, dynamic  # pylint: disable=import-outside-toplevel
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    with k8s_client.ApiClient(configuration) as api_client:
        dyn = dynamic.DynamicClient(api_client, cache_file=cache_file)
        kinds = {}
        for obj in objects:
            key = (obj["apiVersion"], obj["kind"])
            if key not in kinds:
                kinds[key] = dyn.resources.get(api_version=key[0], kind=key[1])
            options = {"dry_run": "All"} if dry_run else {}
            dyn.server_side_apply(kinds[key], body=obj, name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"],
                                  field_manager="bench-python", **options)
    return "-"


class KubernetesCore:
    """Runs K8S_CORE_PLAYBOOK with ansible-playbook from .venv-bench over a generated vars file."""

    def __init__(self, state, kubeconfig):
        self.state, self.kubeconfig = state, kubeconfig
        self.playbook = os.path.join(state, "k8s_core.yml")
        with open(self.playbook, "w", encoding="utf-8") as handle:
            handle.write(K8S_CORE_PLAYBOOK)
        with open(os.path.join(state, "inventory.ini"), "w", encoding="utf-8") as handle:
            handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % os.path.join(BENCH_VENV, "bin", "python"))
        with open(os.path.join(state, "ansible.cfg"), "w", encoding="utf-8") as handle:
            handle.write("[defaults]\n")  # none of the project's settings
        self.env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(state, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(state, "no-collections"),
                        ANSIBLE_LOCAL_TEMP=os.path.join(state, "ansible-tmp"), ANSIBLE_NOCOLOR="1", TMPDIR=state)
        self.runs = 0

    def version(self):
        """kubernetes.core's version as shipped in .venv-bench's ``ansible`` package."""
        found = subprocess.run([os.path.join(BENCH_VENV, "bin", "ansible-galaxy"), "collection", "list", "kubernetes.core"],
                               env=self.env, capture_output=True, text=True, check=False).stdout
        match = re.search(r"^kubernetes\.core\s+(\S+)", found, re.MULTILINE)
        return match.group(1) if match else "unknown"

    def run(self, objects, check=False):
        """One ansible-playbook run over ``objects``; returns the count of changed loop items."""
        self.runs += 1
        variables = os.path.join(self.state, "objects-%d.json" % self.runs)
        with open(variables, "w", encoding="utf-8") as handle:
            json.dump({"bench_objects": objects, "bench_kubeconfig": self.kubeconfig}, handle)
        command = [os.path.join(BENCH_VENV, "bin", "ansible-playbook"), "-i", os.path.join(self.state, "inventory.ini"),
                   "-e", "@" + variables, self.playbook] + (["--check"] if check else [])
        log = os.path.join(self.state, "k8s_core-%d.log" % self.runs)
        with open(log, "w", encoding="utf-8") as handle:
            done = subprocess.run(command, env=self.env, cwd=self.state, stdout=handle, stderr=subprocess.STDOUT, check=False)
        with open(log, encoding="utf-8") as handle:
            output = handle.read()
        match = re.search(r"BENCH changed=(\d+)", output)
        if done.returncode or not match:
            raise SystemExit("kubernetes.core.k8s failed (exit %d); the end of its output:\n%s" % (done.returncode, output[-4000:]))
        return int(match.group(1))


def kubectl_apply(kubectl, kubeconfig, objects, workdir, dry_run=False):
    """``kubectl apply --server-side`` of every object in one call (``--dry-run=server`` for check mode)."""
    path = os.path.join(workdir, "kubectl-objects.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objects}, handle)
    command = [kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager", "bench-kubectl", "--validate=false", "-f", path]
    if dry_run:
        command.append("--dry-run=server")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit("kubectl failed: %s" % (done.stderr or done.stdout)[-2000:])
    return "-"


def compare(fake, state, kubeconfig, run_id, with_kubernetes_core=True):
    """The cluster target, kubectl, a plain Python SSA loop and kubernetes.core.k8s, side by side."""
    if with_kubernetes_core and not os.path.exists(os.path.join(BENCH_VENV, "bin", "ansible-playbook")):
        raise SystemExit("--compare needs %s: run `make bench-compare`" % BENCH_VENV)
    namespaces = ["bench-%02d" % index for index in range(NAMESPACES)]
    options = dict(kubeconfig=kubeconfig, state_dir=state)
    admin = ClusterTarget(**options)
    kubectl = shutil.which("kubectl")
    print()
    print("compare on %s: %d objects; create, unchanged rerun, check mode with %d changed" % (fake.url, PER_DIALECT * 2, CHANGED))
    print("kubectl: %s" % (kubectl or "not available on this machine, not benchmarked"))
    bench = Compare(fake, admin, namespaces)
    scope = [{TIER_LABEL: "appsec", RUN_LABEL: run_id}]
    base, changed = policies(run_id, namespaces), policies(run_id, namespaces, variant=1, changed=CHANGED)

    def ours(objects, check_mode=False):
        result = apply_objects(ClusterTarget(check_mode=check_mode, **options), objects, scope=scope, with_diff=check_mode)
        return len(result.created) + len(result.updated) + len(result.deleted)

    bench.approach("zerotrust.microseg cluster target (%d writers)" % ClusterTarget.write_workers,
                   lambda: ours(base), lambda: ours(base), lambda: ours(changed, check_mode=True))
    if kubectl:
        bench.approach("kubectl apply --server-side (one call)", lambda: kubectl_apply(kubectl, kubeconfig, base, state),
                       lambda: kubectl_apply(kubectl, kubeconfig, base, state),
                       lambda: kubectl_apply(kubectl, kubeconfig, changed, state, dry_run=True))
    cache = os.path.join(state, "python-discovery.json")
    bench.approach("Python SSA loop (DynamicClient, 1 PATCH/obj)", lambda: python_ssa_loop(kubeconfig, cache, base),
                   lambda: python_ssa_loop(kubeconfig, cache, base), lambda: python_ssa_loop(kubeconfig, cache, changed, dry_run=True))
    if with_kubernetes_core:
        core = KubernetesCore(state, kubeconfig)
        print("  kubernetes.core %s from %s (ansible-playbook, one task looping over %d items)" % (core.version(), BENCH_VENV, len(base)))
        bench.approach("kubernetes.core.k8s loop (apply, SSA)", lambda: core.run(base), lambda: core.run(base),
                       lambda: core.run(changed, check=True))
    bench.table()
    print("writes: non-GET requests without dryRun in FakeKube's log; check dry-run writes: those with dryRun=All")
    print("Python SSA loop and kubectl: changed is not known ('-'): they send every object and do not compare")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", help="a real cluster's kubeconfig (default: a loopback FakeKube)")
    parser.add_argument("--context")
    parser.add_argument("--workers", type=int, help="concurrent writes per rank (default: the target's)")
    parser.add_argument("--keep", action="store_true", help="keep the bench namespaces on a real cluster")
    parser.add_argument("--latency", type=float, default=0.0, help="FakeKube: hold every write this many milliseconds (a remote server)")
    parser.add_argument("--compare", action="store_true",
                        help="FakeKube: also time kubectl, a Python SSA loop and kubernetes.core.k8s (make bench-compare)")
    parser.add_argument("--no-kubernetes-core", action="store_true", help="with --compare: skip the (slow) kubernetes.core loop")
    args = parser.parse_args()
    if args.compare and args.kubeconfig:
        parser.error("--compare runs on the loopback FakeKube only")
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
            if args.compare:
                fake.token = None  # kubectl sends no bearer token over plain http: the fake then checks none
            for method in ("PATCH", "DELETE") if args.latency else ():
                fake.fail(method=method, status=None, delay=args.latency / 1000.0, times=None)
            print("FakeKube %s, %d writers, %g ms per write" % (fake.url, ClusterTarget.write_workers, args.latency))
            counted = run(options, ["bench-%02d" % index for index in range(NAMESPACES)], run_id)
            stored = len(fake.mutations(dry_run=False))
            print("server saw %d writes (client counted %d), %d dry-run writes" % (stored, counted.writes, len(fake.mutations(dry_run=True))))
            if args.compare:
                compare(fake, state, options["kubeconfig"], run_id, with_kubernetes_core=not args.no_kubernetes_core)


if __name__ == "__main__":
    main()
