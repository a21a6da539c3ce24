"""Kubernetes renderer: security domains -> networking.k8s.io/v1 NetworkPolicies (+ one AdminNetworkPolicy).

Upstream NetworkPolicy only allows, and a pod selected by any policy is isolated; allowed
traffic is the union of all rules. So:

* every in-scope workload with declared flows gets a NetworkPolicy with exactly those flows;
* ``microseg-cluster-dns`` (platform) lets every in-scope pod reach the cluster resolver;
* ``microseg-trusted-domains`` (security) widens trusted domains to any address outside the
  cluster CIDRs (and outside the threat nets) on 443/TCP;
* ``microseg-catch-all`` (default) allows everything while deploying and, once enforced,
  selects every pod of the namespace with no rule: default-deny;
* threat nets are denied cluster-wide by an AdminNetworkPolicy (``policy.networking.k8s.io``).

What the dialect cannot express (tiers, Pass, explicit Deny, order; tenant and PCI
guardrails beyond default-deny; domain names) is reported.
"""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils import selector as sel
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss, LocalFlows, add_loss, base_labels, workload_policy_name

NP_API = "networking.k8s.io/v1"
ANP_API = "policy.networking.k8s.io/v1alpha1"
NS_LABEL = "kubernetes.io/metadata.name"
EVERYWHERE = "0.0.0.0/0"
THREAT_PRIORITY = 10


def match_labels(text, field_name="microseg_dns.selector"):
    """A Calico selector made only of ``k == 'v'`` terms joined by ``&&`` -> matchLabels."""
    root = sel.parse(text).root
    terms = root.operands if isinstance(root, sel.AndNode) else (root,)
    labels = {}
    for term in terms:
        if isinstance(term, sel.AllNode):
            continue
        if not isinstance(term, sel.EqNode):
            raise InputError("%r cannot be written as Kubernetes matchLabels: use only k == 'v' terms joined by &&" % text,
                             source="inventory", field=field_name)
        labels[term.key] = term.value
    return labels


class KubernetesRenderer:
    """Renders one intent for clusters without Calico."""

    def __init__(self, intent, flows, posture):
        self.intent = intent
        self.flows = flows
        self.local = LocalFlows(flows)
        self.posture = posture
        self.enforced = posture == "enforced"
        self.identity = intent.identity_labels
        self.losses = []

    def _labels(self, tier, posture=False):
        return base_labels(tier, self.posture if posture else None)

    def _np(self, namespace, name, tier, pod_selector, ingress=None, egress=None, posture=False):
        """A NetworkPolicy; an empty rule list isolates that direction (written without the key, as the API stores it)."""
        spec = {"podSelector": pod_selector, "policyTypes": []}
        for kind, rules in (("Ingress", ingress), ("Egress", egress)):
            if rules is not None:
                spec["policyTypes"].append(kind)
                if rules:
                    spec[kind.lower()] = rules
        return {"apiVersion": NP_API, "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": namespace, "labels": self._labels(tier, posture)}, "spec": spec}

    def _outside(self):
        """ipBlock for 'any address outside the cluster' (and never a threat net)."""
        excluded = [c for c in list(self.intent.cluster_cidrs) + list(self.intent.threat_nets) if ":" not in c]
        block = {"cidr": EVERYWHERE}
        if excluded:
            block["except"] = sorted(set(excluded))
        return {"ipBlock": block}

    def peer(self, endpoint, local_ns, flow):
        if endpoint.kind == "workload":
            peer = {"podSelector": {"matchLabels": {endpoint.key: endpoint.value}}}
            if endpoint.namespace != local_ns:
                peer["namespaceSelector"] = {"matchLabels": {NS_LABEL: endpoint.namespace}}
            return peer
        if endpoint.kind == "namespace":
            if endpoint.namespace == local_ns:
                return {"podSelector": {}}
            return {"namespaceSelector": {"matchLabels": {NS_LABEL: endpoint.namespace}}}
        if endpoint.kind == "net":
            return {"ipBlock": {"cidr": endpoint.net}}
        source, destination, port = flow.source.notation(self.identity), flow.destination.notation(self.identity), flow.port_notation()
        note = ("%s -> %s on %s: Kubernetes NetworkPolicy cannot match domain names; allowed to any address outside %s on that port"
                % (source, destination, port, ", ".join(self.intent.cluster_cidrs)))
        add_loss(self.losses, Loss("widened", self.intent.namespace_tiers.get(local_ns, ""), "%s -> %s %s" % (source, destination, port),
                                   note, source, "*", port))
        return self._outside()

    @staticmethod
    def port(flow):
        port = {"protocol": flow.protocol, "port": flow.port_min}
        if flow.port_max != flow.port_min:
            port["endPort"] = flow.port_max
        return port

    def _workload_name(self, endpoint):
        return workload_policy_name(endpoint, self.identity)

    def workloads(self, namespace, tier):
        by_workload = self.local.by_workload(namespace)
        objects = []
        for endpoint in sorted(by_workload):
            inbound, outbound = by_workload[endpoint]
            pods = {} if endpoint.kind == "namespace" else {"matchLabels": {endpoint.key: endpoint.value}}
            ingress = [{"from": [self.peer(f.source, namespace, f)], "ports": [self.port(f)]} for f in inbound] if inbound else None
            egress = [{"to": [self.peer(f.destination, namespace, f)], "ports": [self.port(f)]} for f in outbound] if outbound else None
            objects.append(self._np(namespace, self._workload_name(endpoint), tier, pods, ingress, egress))
        return objects

    def render(self):
        intent, objects = self.intent, []
        if intent.threat_nets:
            objects.append({"apiVersion": ANP_API, "kind": "AdminNetworkPolicy",
                            "metadata": {"name": "microseg-threat-nets-deny", "labels": self._labels("security")},
                            "spec": {"priority": THREAT_PRIORITY, "subject": {"namespaces": {}},
                                     "egress": [{"name": "deny-threat-nets", "action": "Deny",
                                                 "to": [{"networks": list(intent.threat_nets)}]}]}})
        dns = intent.dns
        dns_peer = {"namespaceSelector": {"matchLabels": {NS_LABEL: dns.namespace}}, "podSelector": {"matchLabels": match_labels(dns.selector)}}
        for namespace, tier in sorted(intent.namespace_tiers.items()):
            if intent.trusted_domains:
                objects.append(self._np(namespace, "microseg-trusted-domains", "security", {},
                                        egress=[{"to": [self._outside()], "ports": [{"protocol": "TCP", "port": 443}]}]))
            objects.append(self._np(namespace, "microseg-cluster-dns", "platform", {},
                                    egress=[{"to": [dns_peer], "ports": [{"protocol": p, "port": dns.port} for p in ("UDP", "TCP")]}]))
            objects.extend(self.workloads(namespace, tier))
            if self.enforced:
                objects.append(self._np(namespace, "microseg-catch-all", "default", {}, ingress=[], egress=[], posture=True))
            else:
                objects.append(self._np(namespace, "microseg-catch-all", "default", {}, ingress=[{}], egress=[{}], posture=True))
        if intent.trusted_domains:
            add_loss(self.losses, Loss("widened", "security", "trusted-domains", "trusted domains %s: Kubernetes NetworkPolicy cannot match "
                                       "domain names; allowed to any address outside %s on 443/TCP"
                                       % (", ".join(intent.trusted_domains), ", ".join(intent.cluster_cidrs)), "*", "*", "443/TCP"))
        for tenant in intent.tenants:
            add_loss(self.losses, Loss("merged", "security", "tenant-%s%s" % (tenant.name, "-pci" if tenant.pci else ""),
                                       "kubernetes dialect: tenant isolation and PCI restriction are enforced only by default-deny; "
                                       "it has no tiers, Pass, explicit Deny or order to keep them as separate guardrails"))
        return objects, self.losses


def render(intent, flows, posture):
    """Kubernetes objects for ``posture`` (failsafe or enforced) and what the dialect could not express (``Loss``)."""
    return KubernetesRenderer(intent, flows, posture).render()
