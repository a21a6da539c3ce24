"""Kubernetes policy kinds for the offline evaluator, compiled onto ``evaluate_rules`` classes.

* :func:`compile_kubernetes` -- ``networking.k8s.io/v1`` NetworkPolicy and Calico's
  StagedKubernetesNetworkPolicy, as Calico enforces them: ``<ns>/knp.default.<name>`` in tier
  ``default`` at order 1000 with Allow rules; selected pods are isolated (rule 29). Each
  Kubernetes rule expands into peers x ports Calico rules that report the Kubernetes rule index.
  ``policyTypes`` defaults to Ingress, plus Egress when the policy has egress rules.
* :func:`compile_admin` -- ``policy.networking.k8s.io/v1alpha1`` AdminNetworkPolicy (tier
  ``adminnetworkpolicy``, order = ``priority``, actions Allow/Deny/Pass) and
  BaselineAdminNetworkPolicy (tier ``baselineadminnetworkpolicy``, order 1000, Allow/Deny),
  as Calico 3.29-3.31 runs them (rule 7). Node peers (host endpoints) match nothing.
* :func:`compile_cluster` -- ``policy.networking.k8s.io/v1alpha2`` ClusterNetworkPolicy as Calico 3.32 runs it
  (rule 7): ``tier: Admin`` in tier ``kube-admin`` (order 1,000, before ``default``), ``tier: Baseline`` in
  ``kube-baseline`` (order 10,000,000, after it), both ``defaultAction: Pass``; order = ``priority``; actions
  Accept (= Allow), Deny, Pass; ports as ``protocols`` (``tcp``/``udp``/``sctp`` ``destinationPort`` number or
  range, or ``destinationNamedPort``).

Pod and namespace selectors match workloads only, never network sets or outside addresses
(Calico adds ``projectcalico.org/orchestrator == 'k8s'`` to them); ``ipBlock`` and ``networks``
match any address. Label selectors become Calico selectors through ``selector.py``.
Plain Python, no Ansible import.
"""
from __future__ import annotations

import json

from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate_rules import (
    ALLOW, ANP_TIER, BANP_TIER, CNP_ADMIN_TIER, CNP_BASELINE_TIER, DENY, EGRESS, INGRESS, PASS, STAGED_PREFIX, CompiledRule, EntityMatcher, Policy, PortSpec,
    domain_matcher, fail, object_meta, parse_nets, parse_order, parse_selector, policy_type, protocol_number, rule_action)
from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import validate_label_key
from ansible_collections.zerotrust.microseg.plugins.module_utils.selector import eq, in_set, parse, quote

KNP_PREFIX = "knp.default."
ANP_PREFIX = "kanp.adminnetworkpolicy."
BANP_PREFIX = "kbanp.baselineadminnetworkpolicy."
CNP_PREFIXES = {"Admin": "kcnp.kube-admin.", "Baseline": "kcnp.kube-baseline."}
CNP_TIERS = {"Admin": CNP_ADMIN_TIER, "Baseline": CNP_BASELINE_TIER}
CNP_ACTIONS = {"accept": ALLOW, "deny": DENY, "pass": PASS}


def label_selector(spec, where, field):
    """A Kubernetes LabelSelector (matchLabels / matchExpressions) -> Selector, or None for "everything"."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise fail(where, field, "a label selector must be a mapping")
    parts = []
    try:
        for key, value in sorted((spec.get("matchLabels") or {}).items()):
            parts.append(eq(str(key), str(value)))
        for number, expr in enumerate(spec.get("matchExpressions") or []):
            key, operator, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
            if operator == "In":
                parts.append(in_set(key, values))
            elif operator == "NotIn":
                in_set(key, values)
                parts.append("%s not in {%s}" % (key, ", ".join(quote(v) for v in sorted(set(values)))))
            elif operator == "Exists":
                validate_label_key(key)
                parts.append("has(%s)" % key)
            elif operator == "DoesNotExist":
                validate_label_key(key)
                parts.append("!has(%s)" % key)
            else:
                raise ValueError("matchExpressions[%d]: unknown operator %r (In, NotIn, Exists, DoesNotExist)" % (number, operator))
    except (ValueError, TypeError, AttributeError) as err:
        raise fail(where, field, str(err)) from err
    return parse_selector(" && ".join(parts), where, field)


def compile_kubernetes(obj, kind, ctx):
    """A networking.k8s.io/v1 NetworkPolicy (or StagedKubernetesNetworkPolicy) -> Policy (rule 29)."""
    staged = kind == "StagedKubernetesNetworkPolicy"
    name, namespace, where, spec = object_meta(obj, kind, True)
    ingress, egress = spec.get("ingress") or [], spec.get("egress") or []
    types = spec.get("policyTypes")
    if types is None:
        types = [INGRESS, EGRESS] if egress else [INGRESS]
    types = [policy_type(t, where) for t in types]
    rules = {INGRESS: [], EGRESS: []}
    for direction, items, peer_key in ((INGRESS, ingress, "from"), (EGRESS, egress, "to")):
        for index, rule in enumerate(items):
            field = "spec.%s[%d]" % (direction.lower(), index)
            peers = [_k8s_peer(p, namespace, ctx, where, "%s.%s[%d]" % (field, peer_key, n)) for n, p in enumerate(rule.get(peer_key) or [])]
            ports = [_k8s_port(p, where, "%s.ports[%d]" % (field, n)) for n, p in enumerate(rule.get("ports") or [])]
            rules[direction].extend(_expand(index, ALLOW, direction, peers or [None], ports or [(None, None)]))
    display = "%s/%s%s" % (namespace, STAGED_PREFIX if staged else "", KNP_PREFIX + name)
    return Policy(name=display, kind=kind, tier="default", order=1000.0, namespace=namespace,
                  sel=label_selector(spec.get("podSelector"), where, "spec.podSelector"), types=types, rules=rules,
                  key=("KubernetesNetworkPolicy", namespace, name), sort_name="%s/%s" % (namespace, KNP_PREFIX + name),
                  staged=staged, staged_delete=staged and spec.get("stagedAction") == "Delete")


def _expand(index, action, direction, peers, ports):
    """Peers x ports -> CompiledRules sharing the reported rule index (Calico expands Kubernetes rules the same way)."""
    rules = []
    for peer in peers:
        for proto, spec in ports:
            side = {"src": peer} if direction == INGRESS else {"dst": peer}
            rules.append(CompiledRule(index, action, proto=proto, dports=spec, **side))
    return rules


def _k8s_peer(peer, namespace, ctx, where, field):
    if not isinstance(peer, dict):
        raise fail(where, field, "must be a mapping")
    if peer.get("ipBlock") is not None:
        block = peer["ipBlock"]
        nets = parse_nets([block.get("cidr")], where, field + ".ipBlock.cidr")
        not_nets = parse_nets(block.get("except") or [], where, field + ".ipBlock.except") or None
        key = ("k8s-ip", str(nets), str(not_nets))
        return ctx.matcher(key, lambda uid: EntityMatcher(uid, ctx, sets_in_scope=False, nets=nets, not_nets=not_nets))
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    sel = label_selector(pods, where, field + ".podSelector") if pods is not None else None
    if namespaces is None:
        fields = {"ns_eq": namespace, "sel": sel}
    else:
        fields = {"ns_sel": label_selector(namespaces, where, field + ".namespaceSelector") or parse("all()"), "sel": sel}
    key = ("k8s", namespace if namespaces is None else None, str(fields.get("ns_sel")), str(sel))
    return ctx.matcher(key, lambda uid: EntityMatcher(uid, ctx, sets_in_scope=False, **fields))


def _k8s_port(port, where, field):
    proto = frozenset([protocol_number(port.get("protocol") or "TCP", where, field + ".protocol")])
    if port.get("port") is None:
        return proto, None
    value = port["port"]
    if port.get("endPort") is not None:
        value = "%s:%s" % (value, port["endPort"])
    return proto, PortSpec.parse([value], where, field)


# --------------------------------------------------------------------------- admin network policies

def compile_admin(obj, kind, ctx):
    """An AdminNetworkPolicy / BaselineAdminNetworkPolicy -> Policy in its Pass tier (rule 7, Calico 3.29-3.31)."""
    name, _namespace, where, spec = object_meta(obj, kind, False)
    baseline = kind == "BaselineAdminNetworkPolicy"
    ns_sel, sel = _subject(spec, where)
    allowed = {a.lower(): a for a in ((ALLOW, DENY) if baseline else (ALLOW, DENY, PASS))}
    rules = _admin_rules(spec, ctx, where, allowed, "ports", _admin_port)
    types = [d for d in (INGRESS, EGRESS) if rules[d]] or [INGRESS]
    if baseline:
        order, display, tier = 1000.0, BANP_PREFIX + name, BANP_TIER
    else:
        order, display, tier = parse_order(spec.get("priority"), where, "spec.priority"), ANP_PREFIX + name, ANP_TIER
    return Policy(name=display, kind=kind, tier=tier, order=order, ns_sel=ns_sel, sel=sel, types=types, rules=rules,
                  key=(kind, None, name))


def compile_cluster(obj, kind, ctx):
    """A ClusterNetworkPolicy (v1alpha2) -> Policy in tier kube-admin or kube-baseline (rule 7, Calico 3.32)."""
    name, _namespace, where, spec = object_meta(obj, kind, False)
    level = spec.get("tier")
    if level not in CNP_TIERS:
        raise fail(where, "spec.tier", "tier %r is not Admin or Baseline" % (level,))
    ns_sel, sel = _subject(spec, where)
    rules = _admin_rules(spec, ctx, where, CNP_ACTIONS, "protocols", _cluster_protocol)
    types = [d for d in (INGRESS, EGRESS) if rules[d]] or [INGRESS]
    return Policy(name=CNP_PREFIXES[level] + name, kind=kind, tier=CNP_TIERS[level], order=parse_order(spec.get("priority"), where, "spec.priority"),
                  ns_sel=ns_sel, sel=sel, types=types, rules=rules, key=(kind, None, name))


def _subject(spec, where):
    """An admin policy's subject -> (namespace selector, pod selector or None)."""
    subject = spec.get("subject") or {}
    if "namespaces" in subject:
        return label_selector(subject["namespaces"], where, "spec.subject.namespaces") or parse("all()"), None
    if "pods" in subject:
        pods = subject["pods"] or {}
        return (label_selector(pods.get("namespaceSelector"), where, "spec.subject.pods.namespaceSelector") or parse("all()"),
                label_selector(pods.get("podSelector"), where, "spec.subject.pods.podSelector"))
    raise fail(where, "spec.subject", "needs namespaces or pods")


def _admin_rules(spec, ctx, where, allowed, ports_key, port_fn):
    """The ingress and egress rules of an admin policy, expanded to peers x ports."""
    rules = {INGRESS: [], EGRESS: []}
    for direction, peer_key in ((INGRESS, "from"), (EGRESS, "to")):
        for index, rule in enumerate(spec.get(direction.lower()) or []):
            field = "spec.%s[%d]" % (direction.lower(), index)
            action = rule_action(rule.get("action"), where, field + ".action", allowed)
            peers = [_admin_peer(p, action, direction, ctx, where, "%s.%s[%d]" % (field, peer_key, n))
                     for n, p in enumerate(rule.get(peer_key) or [])]
            if not peers:
                raise fail(where, "%s.%s" % (field, peer_key), "needs at least one peer")
            ports = [port_fn(p, where, "%s.%s[%d]" % (field, ports_key, n)) for n, p in enumerate(rule.get(ports_key) or [])]
            rules[direction].extend(_expand(index, action, direction, peers, ports or [(None, None)]))
    return rules


def _admin_peer(peer, action, direction, ctx, where, field):
    if not isinstance(peer, dict) or len(peer) != 1:
        raise fail(where, field, "a peer must set exactly one of namespaces, pods, networks, nodes, domainNames")
    (what, value), = peer.items()
    if what == "namespaces":
        fields = {"ns_sel": label_selector(value, where, field + ".namespaces") or parse("all()")}
    elif what == "pods":
        value = value or {}
        fields = {"ns_sel": label_selector(value.get("namespaceSelector"), where, field + ".pods.namespaceSelector") or parse("all()"),
                  "sel": label_selector(value.get("podSelector"), where, field + ".pods.podSelector")}
    elif what == "networks" and direction == EGRESS:
        fields = {"nets": parse_nets(value, where, field + ".networks")}
    elif what == "domainNames" and direction == EGRESS:
        fields = {"domains": domain_matcher(value or [], where, field + ".domainNames") or (lambda name: False)}
    elif what == "nodes" and direction == EGRESS:
        ctx.warn("%s: %s: node peers are host endpoints, out of scope; the peer matches nothing" % (where, field))
        fields = {"nets": ()}
    else:
        raise fail(where, field, "unknown %s peer %r" % (direction.lower(), what))
    allow_domains = what == "domainNames" and action == ALLOW
    key = ("admin", json.dumps(peer, sort_keys=True, default=str), allow_domains)
    return ctx.matcher(key, lambda uid: EntityMatcher(uid, ctx, allow_domains=allow_domains, sets_in_scope=False, **fields))


def _admin_port(port, where, field):
    if "portNumber" in port:
        spec = port["portNumber"] or {}
        return (frozenset([protocol_number(spec.get("protocol") or "TCP", where, field + ".protocol")]),
                PortSpec.parse([spec.get("port")], where, field + ".portNumber"))
    if "portRange" in port:
        spec = port["portRange"] or {}
        return (frozenset([protocol_number(spec.get("protocol") or "TCP", where, field + ".protocol")]),
                PortSpec.parse(["%s:%s" % (spec.get("start"), spec.get("end"))], where, field + ".portRange"))
    if "namedPort" in port:
        return None, PortSpec.parse([str(port["namedPort"])], where, field + ".namedPort")
    raise fail(where, field, "needs portNumber, portRange or namedPort")


def _cluster_protocol(item, where, field):
    """A v1alpha2 ``protocols`` item: ``{tcp|udp|sctp: {destinationPort: {number | range}}}`` or ``destinationNamedPort``."""
    if not isinstance(item, dict) or len(item) != 1:
        raise fail(where, field, "needs exactly one of tcp, udp, sctp, destinationNamedPort")
    (what, value), = item.items()
    if what == "destinationNamedPort":
        return None, PortSpec.parse([str(value)], where, field + ".destinationNamedPort")
    if what not in ("tcp", "udp", "sctp"):
        raise fail(where, field, "unknown protocol %r (tcp, udp, sctp, destinationNamedPort)" % (what,))
    proto = frozenset([protocol_number(what.upper(), where, field)])
    port = (value or {}).get("destinationPort")
    if port is None:
        return proto, None
    if "number" in port:
        return proto, PortSpec.parse([port["number"]], where, "%s.%s.destinationPort.number" % (field, what))
    if "range" in port:
        low, high = (port["range"] or {}).get("start"), (port["range"] or {}).get("end")
        return proto, PortSpec.parse(["%s:%s" % (low, high)], where, "%s.%s.destinationPort.range" % (field, what))
    raise fail(where, field + "." + what + ".destinationPort", "needs number or range")
