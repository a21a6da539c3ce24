"""One API server per test for the cluster target's integration tests: the fake, or a real cluster.

By default every test gets its own ``FakeKube``. With ``MICROSEG_TEST_KUBECONFIG`` set, the tests
run against that cluster instead: every object they write carries a per-test run label, lives in
two fresh namespaces (or is cluster-scoped and named after the run), prune scopes include the run
label, and everything is deleted afterwards. Tests that need fault injection or the fake's request
log are skipped there (``needs_fake``).
"""
import glob
import json
import os
import secrets

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import MANAGED_KINDS, ClusterTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, SERVER_METADATA, TIER_LABEL, identity
from ansible_collections.zerotrust.microseg.tests.fake_kube.server import FakeKube

REAL_KUBECONFIG = os.environ.get("MICROSEG_TEST_KUBECONFIG")
RUN_LABEL = "zerotrust.microseg/test-run"
needs_fake = pytest.mark.skipif(bool(REAL_KUBECONFIG), reason="needs the fake API server (fault injection, request log)")


class Cluster:
    """An API server for one test, with the objects of its phases and ways to look at what it holds."""

    def __init__(self, tmp_path, **fake_options):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.run = secrets.token_hex(3)
        self.state_dir = str(tmp_path / "state")
        self.recorded = []
        if REAL_KUBECONFIG:
            self.fake, self.kubeconfig = None, REAL_KUBECONFIG
        else:
            self.fake = FakeKube(**fake_options).start()
            self.kubeconfig = self.fake.write_kubeconfig(tmp_path / "kubeconfig")
        self.namespaces = ["zt-it-%s-a" % self.run, "zt-it-%s-b" % self.run]
        if REAL_KUBECONFIG:
            admin = self.target()
            for namespace in self.namespaces:
                admin.api.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            self.recorded.clear()

    def close(self):
        """Stop the fake, or delete everything this test wrote on the real cluster."""
        if self.fake is not None:
            self.fake.stop()
            return
        admin = self.target()
        for ident, obj in admin.list(kinds=admin.managed_kinds, labels={RUN_LABEL: self.run}).items():
            if not ident[2]:
                resource = admin.api.resource(ident[0], ident[1])
                admin.api.request("DELETE", resource.path("", obj["metadata"]["name"]))
        for namespace in self.namespaces:
            admin.api.request("DELETE", "/api/v1/namespaces/" + namespace)

    def target(self, **kwargs):
        """A fresh ClusterTarget on this server (as each module run opens one), recording its writes client-side."""
        target = ClusterTarget(kubeconfig=self.kubeconfig, state_dir=self.state_dir, **kwargs)
        send = target.api.request

        def request(method, path, query=None, body=None, content_type="application/json", reread=None):
            if method != "GET":
                self.recorded.append((method, path, dict(query or ())))
            return send(method, path, query, body, content_type, reread)

        target.api.request = request
        return target

    def writes(self):
        """``[(method, path, query)]`` of every non-GET request so far (the fake's log, else the client's)."""
        if self.fake is not None:
            return [(request.method, request.path, request.query) for request in self.fake.mutations()]
        return list(self.recorded)

    def snapshot(self, phase):
        """A phase's snapshot: of every managed object on the fake, as the roles take it; on a shared real cluster only of
        this run's objects and those the phase writes (a restore must not touch what other runs manage)."""
        target = self.target()
        if self.fake is not None:
            return target.snapshot()
        idents = set(target.list(kinds=target.managed_kinds, labels={RUN_LABEL: self.run})) | {identity(obj) for obj in phase}
        return target.snapshot(sorted(idents))

    def scope(self, tiers):
        """Prune scope of a phase over ``tiers``, narrowed to this test's run."""
        return [{TIER_LABEL: tier, RUN_LABEL: self.run} for tier in tiers]

    def labels(self, tier, managed=True):
        """Labels of a test object."""
        labels = {TIER_LABEL: tier, RUN_LABEL: self.run}
        if managed:
            labels[MANAGED_BY[0]] = MANAGED_BY[1]
        return labels

    def objects(self, first=0, count=50, variant=0, tiers=("platform", "application"), managed=True):
        """``count`` policy objects: 2 GlobalNetworkSets, then Kubernetes and Calico NetworkPolicies over two namespaces.

        ``variant`` changes their content (an update), ``first`` shifts their names.
        """
        found = []
        for index in range(first, first + count):
            tier = tiers[index % len(tiers)]
            namespace = self.namespaces[index % 2]
            port = 8000 + index + 100 * variant
            if index < 2:
                found.append({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet",
                              "metadata": {"name": "zt-%s-nets-%02d" % (self.run, index), "labels": self.labels(tier, managed)},
                              "spec": {"nets": ["203.0.%d.0/24" % (113 + variant)]}})
            elif index % 2:
                found.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                              "metadata": {"name": "np-%02d" % index, "namespace": namespace, "labels": self.labels(tier, managed)},
                              "spec": {"podSelector": {"matchLabels": {"app": "svc-%d" % index}}, "policyTypes": ["Ingress"],
                                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                                    "ports": [{"protocol": "TCP", "port": port}]}]}})
            else:
                found.append({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
                              "metadata": {"name": "cnp-%02d" % index, "namespace": namespace, "labels": self.labels(tier, managed)},
                              "spec": {"order": 100 + index, "selector": "app == 'svc-%d'" % index,
                                       "ingress": [{"action": "Allow", "protocol": "TCP", "destination": {"ports": [port]}}]}})
        return found

    def content(self):
        """Canonical JSON bytes of this test's objects as stored, without what the server owns (uid, resourceVersion, ...)."""
        target = ClusterTarget(kubeconfig=self.kubeconfig, state_dir=self.state_dir)
        found = target.list(kinds=[kind for kind in MANAGED_KINDS if target.api.serves(*kind)], labels={RUN_LABEL: self.run})
        objects = []
        for ident in sorted(found):
            obj = dict(found[ident])
            obj["metadata"] = {key: value for key, value in obj["metadata"].items() if key not in SERVER_METADATA}
            obj.pop("status", None)
            objects.append(obj)
        return json.dumps(objects, sort_keys=True).encode("utf-8")

    def seed(self, obj, manager):
        """Store an object as another field manager would have written it."""
        if self.fake is not None:
            return self.fake.seed(obj, manager=manager)
        target = self.target()
        resource = target.api.resource(obj["apiVersion"].split("/")[0], obj["kind"])
        path = resource.path(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        return target.api.request("PATCH", path, [("fieldManager", manager), ("force", "true")], obj, "application/apply-patch+yaml")

    def live(self, obj):
        """The stored object at ``obj``'s place, or None."""
        meta = obj["metadata"]
        target = ClusterTarget(kubeconfig=self.kubeconfig, state_dir=self.state_dir)
        group = obj["apiVersion"].split("/")[0]
        return target.get((group, obj["kind"], meta.get("namespace", ""), meta["name"]))


def on_cluster(lab, kube):
    """Seed the lab's workloads into the fake and point the lab's inventory at it (the cluster target)."""
    for path in sorted(glob.glob(os.path.join(lab, "cluster", "**", "*.yaml"), recursive=True)):
        with open(path, encoding="utf-8") as handle:
            kube.fake.seed(yaml.safe_load(handle))
    variables = os.path.join(lab, "group_vars", "lab.yml")
    with open(variables, encoding="utf-8") as handle:
        text = handle.read().replace("microseg_target: directory", "microseg_target: cluster\nmicroseg_kubeconfig: %s" % kube.kubeconfig)
    with open(variables, "w", encoding="utf-8") as handle:
        handle.write(text)
