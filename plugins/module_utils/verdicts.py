"""Flow verdicts and the enforce gate: declared and observed flows against a policy set.

A flow names endpoints by identity (``hipstershop/frontend``), the evaluator decides for
pods. Each endpoint stands for the target's workloads that carry its labels; where the target
holds none, for one representative pod with just those labels. A flow is allowed only if it is
allowed for every pair of pods it stands for.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import GateRefused
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import External, PolicySet, Workload
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import TIER_LABEL, identity, is_managed

POLICY_GROUPS = ("projectcalico.org", "networking.k8s.io", "policy.networking.k8s.io")


def _external(endpoint):
    if endpoint.kind == "net":
        net = ipaddress.ip_network(endpoint.net)
        address = net.network_address if net.num_addresses <= 2 else next(net.hosts())
        return External(ip=str(address))
    name = endpoint.domain
    return External(domain="www" + name[1:] if name.startswith("*.") else name)


def candidates(endpoint, workloads_by_namespace):
    """The pods (or the external address) a flow endpoint stands for."""
    if endpoint.is_external:
        return [_external(endpoint)]
    pods = workloads_by_namespace.get(endpoint.namespace, ())
    if endpoint.kind == "namespace":
        return list(pods) or [Workload(endpoint.namespace, "any-pod", {})]
    found = [pod for pod in pods if pod.labels.get(endpoint.key) == endpoint.value]
    return found or [Workload(endpoint.namespace, endpoint.value, {endpoint.key: endpoint.value})]


def _decision(decision):
    if decision is None:
        return None
    return {"action": decision.action, "tier": decision.tier, "policy": decision.policy, "rule": decision.rule, "reason": decision.reason}


def _candidates(endpoint, workloads_by_namespace, memo):
    if memo is None:
        return candidates(endpoint, workloads_by_namespace)
    found = memo.get(endpoint)
    if found is None:
        found = memo[endpoint] = candidates(endpoint, workloads_by_namespace)
    return found


def _denied_side(verdict):
    for side in ("egress", "ingress"):
        decision = getattr(verdict, side)
        if decision is not None and decision.action != "Allow":
            return side, decision
    return None, None


def flow_verdict(policy_set, flow, workloads_by_namespace, identity_labels=None, memo=None):
    """One flow's verdict in flow-table notation, with what decided it.

    ``memo``: a dict that keeps each endpoint's candidates across calls with the same workloads, so that the evaluator
    sees the same pod objects again (its views are cached by object) instead of a new representative pod per flow.
    """
    entry = flow.notation(identity_labels)
    ports = sorted({flow.port_min, flow.port_max})
    first = None
    sources = _candidates(flow.source, workloads_by_namespace, memo)
    destinations = _candidates(flow.destination, workloads_by_namespace, memo)
    for source in sources:
        for destination in destinations:
            for port in ports:
                verdict = policy_set.verdict(source, destination, flow.protocol, port)
                first = first or verdict
                if not verdict.allowed:
                    side, decision = _denied_side(verdict)
                    entry.update(verdict="deny", denied_by=dict(_decision(decision), side=side),
                                 pods="%s -> %s" % (_name(source), _name(destination)))
                    return entry
    entry.update(verdict="allow", egress=_decision(first.egress), ingress=_decision(first.ingress))
    return entry


def _name(endpoint):
    if isinstance(endpoint, Workload):
        return "%s/%s" % (endpoint.namespace, endpoint.name)
    return endpoint.domain or endpoint.ip


def group_workloads(workloads):
    grouped = {}
    for pod in workloads:
        grouped.setdefault(pod.namespace, []).append(pod)
    return grouped


def evaluate_flows(objects, flows, workloads=(), namespaces=None, cluster_cidrs=(), identity_labels=None, staged=False):
    """Verdicts of ``flows`` under the policy ``objects``."""
    policy_set = PolicySet(objects, namespaces=namespaces, cluster_cidrs=cluster_cidrs, staged=staged)
    grouped, memo = group_workloads(workloads), {}
    return [flow_verdict(policy_set, flow, grouped, identity_labels, memo) for flow in flows]


def compare(before, after):
    """Flows newly denied and newly allowed between two verdict lists of the same flows."""
    newly_denied, newly_allowed = [], []
    for old, new in zip(before, after):
        key = {k: new[k] for k in ("source", "destination", "port")}
        if old["verdict"] == "allow" and new["verdict"] == "deny":
            newly_denied.append(dict(key, denied_by=new["denied_by"]))
        elif old["verdict"] == "deny" and new["verdict"] == "allow":
            newly_allowed.append(key)
    return newly_denied, newly_allowed


def future_state(live, desired=(), tiers=None, prune=True):
    """The policy objects the target will hold once ``desired`` is applied with prune over ``tiers``.

    ``live``: identity -> object as the target lists it. With ``prune``, managed objects of the
    pruned tiers (all when ``tiers`` is empty) go; desired objects replace or join the rest;
    workloads and other kinds are left out. ``future_state(live, prune=False)`` is the live set.
    """
    tiers = set(tiers or ())
    state = {}
    for ident, obj in live.items():
        if ident[0] not in POLICY_GROUPS:
            continue
        if prune and is_managed(obj) and (not tiers or ((obj.get("metadata") or {}).get("labels") or {}).get(TIER_LABEL) in tiers):
            continue
        state[ident] = obj
    for obj in desired:
        state[identity(obj)] = obj
    return [state[key] for key in sorted(state)]


def describe(entry):
    """``hipstershop/a -> hipstershop/b 7070/TCP: egress denied by default/tenant-x-catch-all rule 0 (reason)``."""
    denied = entry["denied_by"]
    where = "/".join(part for part in (denied["tier"], denied["policy"]) if part)
    rule = "" if denied["rule"] is None else " rule %s" % denied["rule"]
    return "%s -> %s %s: %s denied by %s%s (%s; pods %s)" % (entry["source"], entry["destination"], entry["port"], denied["side"],
                                                             where, rule, denied["reason"], entry["pods"])


def summary(entry):
    """One line per verdict: ``src -> dst 7070/TCP: allow`` or ``...: deny (ingress by tier/policy)``."""
    line = "%s -> %s %s: %s" % (entry["source"], entry["destination"], entry["port"], entry["verdict"])
    if entry["verdict"] == "deny":
        denied = entry["denied_by"]
        line += " (%s by %s)" % (denied["side"], "/".join(part for part in (denied["tier"], denied["policy"]) if part))
    return line


def gate(verdicts, what="enforce"):
    """Refuse when any verdict is a deny, naming each denied flow and the rule that denies it."""
    denied = [entry for entry in verdicts if entry["verdict"] == "deny"]
    if denied:
        lines = "\n".join("  - " + describe(entry) for entry in denied)
        raise GateRefused("%s refused: %d declared or observed flow(s) would be denied; the cluster is left as it was:\n%s"
                          % (what, len(denied), lines), denied=denied)
