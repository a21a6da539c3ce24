"""Identify: in-scope namespaces, their workloads and pod labels, app identities, missing endpoints."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.workloads import identify, pod_labels


def namespace(name):
    return ("core", "Namespace", "", name), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(ns, name, labels, kind="Deployment", group="apps"):
    obj = {"apiVersion": "%s/v1" % group, "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": {"owner": "x"}},
           "spec": {"template": {"metadata": {"labels": labels}}}}
    return (group, kind, ns, name), obj


def pod(ns, name, labels):
    return ("core", "Pod", ns, name), {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels}}


def cronjob(ns, name, labels):
    obj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": ns},
           "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": labels}}}}}}
    return ("batch", "CronJob", ns, name), obj


OBJECTS = dict([
    namespace("hipstershop"), namespace("bookinfo"), namespace("kube-system"),
    deployment("hipstershop", "frontend", {"app": "frontend", "pci": "true"}),
    deployment("hipstershop", "cartservice", {"app": "cartservice"}),
    deployment("hipstershop", "redis", {"app": "redis-cart"}, kind="StatefulSet"),
    deployment("hipstershop", "agent", {"component": "agent"}, kind="DaemonSet"),
    cronjob("hipstershop", "report", {"app": "report"}),
    deployment("hipstershop", "migrate", {"app": "migrate"}, kind="Job", group="batch"),
    pod("hipstershop", "debug", {"run": "debug"}),
    deployment("bookinfo", "productpage-v1", {"app.kubernetes.io/name": "productpage", "version": "v1"}),
    deployment("kube-system", "coredns", {"k8s-app": "kube-dns"}),
    (("core", "Service", "hipstershop", "frontend"), {"apiVersion": "v1", "kind": "Service",
                                                      "metadata": {"name": "frontend", "namespace": "hipstershop"}}),
    (("apps", "ReplicaSet", "hipstershop", "frontend-abc"), {"kind": "ReplicaSet", "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}}),
])

VARIABLES = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop", "payments"], "pci": True}],
    "microseg_apps": [
        {"name": "hipstershop", "tenant": "shop", "flows": [
            {"source": "frontend", "destination": "cartservice", "port": 7070},
            {"source": "cartservice", "destination": "redis-cart", "port": 6379},
            {"source": "frontend", "destination": "ghost", "port": 1},
            {"source": "frontend", "destination": "kube-system/k8s-app=kube-dns", "port": "53/UDP"},
            {"source": "frontend", "destination": "payments/*", "port": 443},
            {"source": "frontend", "destination": "domain:tigera.io", "port": 443},
            {"source": "ghost", "destination": "bookinfo/productpage", "port": 9080},
            {"source": "frontend", "destination": "bookinfo/reviews", "port": 9080},
        ]},
        {"name": "bookinfo", "tier": "application", "identity_label": "app.kubernetes.io/name"},
    ],
}


@pytest.mark.parametrize("obj, labels", [
    (deployment("a", "d", {"app": "x"})[1], {"app": "x"}),
    (deployment("a", "d", {"app": "x"}, kind="StatefulSet")[1], {"app": "x"}),
    (pod("a", "p", {"run": "p"})[1], {"run": "p"}),
    (cronjob("a", "c", {"app": "c"})[1], {"app": "c"}),
    ({"kind": "Deployment", "metadata": {"labels": {"app": "ignored"}}}, {}),
    ({"kind": "Deployment", "spec": None}, {}),
    ({"kind": "CronJob", "spec": {}}, {}),
    ({"kind": "Pod"}, {}),
])
def test_pod_labels(obj, labels):
    assert pod_labels(obj) == labels


def test_identify_namespaces():
    intent = load_intent(VARIABLES)
    facts = identify(intent, OBJECTS, declared_flows(intent))
    assert sorted(facts["namespaces"]) == ["bookinfo", "hipstershop", "payments"]
    assert facts["namespaces"]["payments"] == {"exists": False, "tier": "application", "tenant": "shop", "pci": True, "workloads": []}
    assert facts["namespaces"]["bookinfo"] == {
        "exists": True, "tier": "application", "tenant": None, "pci": False,
        "workloads": [{"kind": "Deployment", "name": "productpage-v1", "labels": {"app.kubernetes.io/name": "productpage", "version": "v1"}}]}
    shop = facts["namespaces"]["hipstershop"]
    assert (shop["exists"], shop["tier"], shop["tenant"], shop["pci"]) == (True, "appsec", "shop", True)
    assert shop["workloads"] == [  # sorted by (group, kind, namespace, name); Services and ReplicaSets are not workloads
        {"kind": "DaemonSet", "name": "agent", "labels": {"component": "agent"}},
        {"kind": "Deployment", "name": "cartservice", "labels": {"app": "cartservice"}},
        {"kind": "Deployment", "name": "frontend", "labels": {"app": "frontend", "pci": "true"}},
        {"kind": "StatefulSet", "name": "redis", "labels": {"app": "redis-cart"}},
        {"kind": "CronJob", "name": "report", "labels": {"app": "report"}},
        {"kind": "Job", "name": "migrate", "labels": {"app": "migrate"}},
        {"kind": "Pod", "name": "debug", "labels": {"run": "debug"}},
    ]


def test_identify_apps_identities():
    intent = load_intent(VARIABLES)
    assert identify(intent, OBJECTS)["apps"] == [
        {"name": "hipstershop", "namespace": "hipstershop", "identity_label": "app", "tier": "appsec",
         "identities": ["cartservice", "frontend", "migrate", "redis-cart", "report"]},
        {"name": "bookinfo", "namespace": "bookinfo", "identity_label": "app.kubernetes.io/name", "tier": "application",
         "identities": ["productpage"]},
    ]


def test_identify_missing_endpoints_and_warnings():
    intent = load_intent(VARIABLES)
    facts = identify(intent, OBJECTS, declared_flows(intent))
    # workload endpoints only (not ns/*, domains or nets), each once, in (sorted) flow order
    assert facts["missing"] == ["bookinfo/reviews", "hipstershop/ghost"]
    assert facts["warnings"] == [
        "namespace payments is in scope but does not exist in the target",
        "no workload matches bookinfo/reviews, which a declared flow names",
        "no workload matches hipstershop/ghost, which a declared flow names",
    ]


def test_identify_without_flows_or_objects():
    intent = load_intent(VARIABLES)
    facts = identify(intent, {})
    assert facts["missing"] == []
    assert [info["exists"] for info in facts["namespaces"].values()] == [False, False, False]
    assert [app["identities"] for app in facts["apps"]] == [[], []]
    assert len(facts["warnings"]) == 3


def test_identify_nothing_in_scope():
    assert identify(load_intent({}), OBJECTS) == {"namespaces": {}, "apps": [], "missing": [], "warnings": []}
