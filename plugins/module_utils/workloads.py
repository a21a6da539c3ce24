"""Identify: the namespaces and workloads in scope, and the identities (labels) they carry."""
from __future__ import annotations

WORKLOAD_KINDS = (("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("core", "Pod"),
                  ("batch", "Job"), ("batch", "CronJob"))
NAMESPACE_KIND = ("core", "Namespace")


def pod_labels(obj):
    """Labels the pods of a workload object carry."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return dict((obj.get("metadata") or {}).get("labels") or {})
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def identify(intent, objects, flows=()):
    """Summarise the scope: per in-scope namespace its workloads; per app its identities.

    ``objects`` maps identity tuples (group, kind, namespace, name) to objects, as the targets list them.
    ``flows`` are the declared flows; workload endpoints that match no pod are reported as missing.
    """
    existing = {ident[3] for ident in objects if (ident[0], ident[1]) == NAMESPACE_KIND}
    scope = intent.namespace_tiers
    namespaces = {}
    for ns in sorted(scope):
        tenant = intent.tenant_of(ns)
        namespaces[ns] = {"exists": ns in existing, "tier": scope[ns], "tenant": tenant.name if tenant else None,
                          "pci": bool(tenant and tenant.pci), "workloads": []}
    pods_by_ns = {}
    for ident in sorted(objects):
        group, kind, ns, name = ident
        if (group, kind) not in WORKLOAD_KINDS:
            continue
        labels = pod_labels(objects[ident])
        pods_by_ns.setdefault(ns, []).append(labels)
        if ns in namespaces:
            namespaces[ns]["workloads"].append({"kind": kind, "name": name, "labels": labels})
    apps = []
    for app in intent.apps:
        values = sorted({labels[app.identity_label] for labels in pods_by_ns.get(app.namespace, []) if app.identity_label in labels})
        apps.append({"name": app.name, "namespace": app.namespace, "identity_label": app.identity_label, "tier": app.tier,
                     "identities": values})
    missing = []
    identity = intent.identity_labels
    for flow in flows:
        for endpoint in (flow.source, flow.destination):
            if endpoint.kind != "workload":
                continue
            if not any(labels.get(endpoint.key) == endpoint.value for labels in pods_by_ns.get(endpoint.namespace, [])):
                note = endpoint.notation(identity)
                if note not in missing:
                    missing.append(note)
    warnings = ["namespace %s is in scope but does not exist in the target" % ns for ns, info in namespaces.items() if not info["exists"]]
    warnings += ["no workload matches %s, which a declared flow names" % note for note in missing]
    return {"namespaces": namespaces, "apps": apps, "missing": missing, "warnings": warnings}
