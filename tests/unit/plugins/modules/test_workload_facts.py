"""workload_facts module: identify against a directory target, read-only, warnings, failures."""
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.modules import workload_facts

APPS = [{"name": "hipstershop", "tenant": "shop",
         "flows": [{"source": "frontend", "destination": "cartservice", "port": 7070},
                   {"source": "frontend", "destination": "ghost", "port": 1}]},
        {"name": "bookinfo", "tier": "application", "identity_label": "app.kubernetes.io/name"}]
TENANTS = [{"name": "shop", "namespaces": ["hipstershop", "payments"], "pci": True}]


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def workload(kind, ns, name, labels):
    group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    return {"apiVersion": group, "kind": kind, "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}}


def tree(root):
    found = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(base, name), "rb") as handle:
                found[os.path.relpath(os.path.join(base, name), root)] = handle.read()
    return found


@pytest.fixture
def cluster(tmp_path):
    root = str(tmp_path / "cluster")
    target = DirectoryTarget(root)
    for obj in (namespace("hipstershop"), namespace("bookinfo"), namespace("kube-system"),
                workload("Deployment", "hipstershop", "frontend", {"app": "frontend", "pci": "true"}),
                workload("Deployment", "hipstershop", "cartservice", {"app": "cartservice"}),
                workload("StatefulSet", "hipstershop", "redis", {"app": "redis-cart"}),
                workload("Deployment", "bookinfo", "productpage-v1", {"app.kubernetes.io/name": "productpage"}),
                workload("Deployment", "kube-system", "coredns", {"k8s-app": "kube-dns"}),
                {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "frontend", "namespace": "hipstershop"}, "spec": {}}):
        target.put(obj)
    return root


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(workload_facts, **args)


def warnings(result):
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


@pytest.mark.parametrize("check_mode", [False, True])
def test_identify_scope(run, cluster, check_mode):
    before = tree(cluster)
    result = run(target="directory", directory=cluster, apps=APPS, tenants=TENANTS, _ansible_check_mode=check_mode, _ansible_diff=True)
    assert result["changed"] is False and "diff" not in result
    assert sorted(result["namespaces"]) == ["bookinfo", "hipstershop", "payments"]
    assert result["namespaces"]["hipstershop"] == {
        "exists": True, "tier": "appsec", "tenant": "shop", "pci": True,
        "workloads": [{"kind": "Deployment", "name": "cartservice", "labels": {"app": "cartservice"}},
                      {"kind": "Deployment", "name": "frontend", "labels": {"app": "frontend", "pci": "true"}},
                      {"kind": "StatefulSet", "name": "redis", "labels": {"app": "redis-cart"}}]}
    assert result["namespaces"]["payments"] == {"exists": False, "tier": "application", "tenant": "shop", "pci": True, "workloads": []}
    assert result["namespaces"]["bookinfo"]["workloads"] == [
        {"kind": "Deployment", "name": "productpage-v1", "labels": {"app.kubernetes.io/name": "productpage"}}]
    assert result["apps"] == [
        {"name": "hipstershop", "namespace": "hipstershop", "identity_label": "app", "tier": "appsec",
         "identities": ["cartservice", "frontend", "redis-cart"]},
        {"name": "bookinfo", "namespace": "bookinfo", "identity_label": "app.kubernetes.io/name", "tier": "application",
         "identities": ["productpage"]}]
    assert result["missing"] == ["hipstershop/ghost"]
    assert warnings(result) == ["namespace payments is in scope but does not exist in the target",
                                "no workload matches hipstershop/ghost, which a declared flow names"]
    assert tree(cluster) == before  # read-only: no lock file, no bookkeeping


def test_an_absent_directory_is_an_empty_cluster(run, tmp_path):
    result = run(target="directory", directory=str(tmp_path / "none"), apps=APPS, tenants=TENANTS)
    assert [info["exists"] for info in result["namespaces"].values()] == [False, False, False]
    assert result["missing"] == ["hipstershop/frontend", "hipstershop/cartservice", "hipstershop/ghost"]  # flow by flow, source first
    assert not os.path.exists(str(tmp_path / "none"))


def test_misplaced_object_file_fails_naming_it(run, cluster):
    path = os.path.join(cluster, "apps", "Deployment", "hipstershop", "wrong.yaml")
    with open(os.path.join(cluster, "apps", "Deployment", "hipstershop", "frontend.yaml"), encoding="utf-8") as handle:
        text = handle.read()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    result = run(target="directory", directory=cluster, apps=APPS, tenants=TENANTS)
    assert result["failed"] is True
    assert result["msg"] == "%s: holds apps/Deployment/hipstershop/frontend, which belongs at apps/Deployment/hipstershop/frontend.yaml" % path


@pytest.mark.parametrize("args, message", [
    ({"target": "directory", "apps": [{"name": "a", "tier": "x"}]}, "inventory: microseg_apps[0].tier: must be one of application, appsec, got 'x'"),
    ({"target": "directory", "tenants": [{"name": "t", "namespaces": []}]}, "inventory: microseg_tenants[0].namespaces: a tenant needs at least one namespace"),
    ({"target": "directory", "apps": [{"name": "a", "flows": [{"source": "a", "destination": "b", "port": 0}]}]},
     "microseg_apps[a].flows:1: port: '0' is out of range: ports are 1 to 65535"),
    ({"apps": APPS, "tenants": TENANTS, "kubeconfig": "/nonexistent/kubeconfig"},
     "cannot load the Kubernetes client configuration from kubeconfig /nonexistent/kubeconfig: Invalid kube-config file. No configuration found."),
])
def test_invalid_input_fails_naming_the_field(run, cluster, args, message):
    result = run(**dict({"directory": cluster}, **args))
    assert (result["failed"], result["msg"]) == (True, message)


def test_directory_target_needs_a_directory(run):
    result = run(target="directory", apps=APPS, tenants=TENANTS)
    assert (result["failed"], result["msg"]) == (True, "directory: target 'directory' needs the directory option (microseg_directory)")
