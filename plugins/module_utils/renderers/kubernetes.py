"""Kubernetes renderer: security domains -> networking.k8s.io/v1 NetworkPolicies (+ one AdminNetworkPolicy).

Upstream NetworkPolicy only allows, and a pod selected by any policy is isolated; allowed
traffic is the union of all rules. So:

* every in-scope workload with declared flows gets a NetworkPolicy with exactly those flows;
* ``microseg-cluster-dns`` (platform) lets every in-scope pod reach the cluster resolver;
* ``microseg-trusted-domains`` (security) widens trusted domains to any address outside the
  cluster CIDRs (and outside the threat nets) on 443/TCP;
* ``microseg-catch-all`` (default) allows everything while deploying and, once enforced,
  selects every pod of the namespace with no rule: default-deny;
* threat nets are denied cluster-wide by an AdminNetworkPolicy (``policy.networking.k8s.io``) where the cluster
  serves it (``intent.cluster_serves``: discovery on the cluster target, ``microseg_cluster_serves`` on the directory);
  where it does not, ``check`` refuses the intent before anything is written, unless ``microseg_threat_nets_fallback:
  except``: then every egress ipBlock of the in-scope namespaces excepts the threat nets (the deploy catch-all allows
  every pod and every address but them; a net rule inside a threat net is left out) and pods of out-of-scope
  namespaces can still reach them.

What the dialect cannot express (tiers, Pass, explicit Deny, order; tenant and PCI
guardrails beyond default-deny; domain names; threat nets out of scope under the fallback) is a ``Loss``.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.zerotrust.microseg.plugins.module_utils import selector as sel
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss, Renderer, add_loss, workload_policy_name

NP_API = "networking.k8s.io/v1"
ANP_API = "policy.networking.k8s.io/v1alpha1"
NS_LABEL = "kubernetes.io/metadata.name"
EVERYWHERE = "0.0.0.0/0"
EVERYWHERE_V6 = "::/0"
THREAT_PRIORITY = 10
ANP_KIND = "AdminNetworkPolicy"
DIALECT = "kubernetes"


def threat_nets_excepted(intent):
    """True when the threat nets go into the egress ipBlocks' ``except`` instead of an AdminNetworkPolicy."""
    return bool(intent.threat_nets) and ANP_KIND not in intent.cluster_serves


def check(intent):
    """Refuse, before anything is rendered or written, an intent this dialect cannot honour on the cluster it is for."""
    if threat_nets_excepted(intent) and intent.threat_nets_fallback != "except":
        raise InputError(
            "dialect %s denies microseg_threat_nets (%s) cluster-wide with an %s (%s), which %s does not serve. "
            "Ways out: a network plugin that serves and enforces %s (the network-policy-api CRDs alone enforce "
            "nothing); microseg_threat_nets_fallback: except, to deny them in the except of every egress ipBlock of the "
            "in-scope namespaces (pods of the other namespaces can then still reach them, as the fidelity report says); or "
            "another microseg_dialect" % (DIALECT, ", ".join(intent.threat_nets), ANP_KIND, ANP_API, intent.served_by, ANP_KIND),
            source="inventory", field="microseg_threat_nets")


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


class KubernetesRenderer(Renderer):
    """Renders one intent for clusters without Calico."""

    ADMIN_THREAT_NETS = False   # True where the dialect denies the threat nets in its own admin policies (anp, cnp)

    def __init__(self, intent, flows, posture):
        super().__init__(intent, flows, posture)
        if not self.ADMIN_THREAT_NETS:
            check(intent)
        self.excepted = not self.ADMIN_THREAT_NETS and threat_nets_excepted(intent)
        self.threats = [ipaddress.ip_network(net) for net in intent.threat_nets]

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

    def block(self, cidr):
        """An egress ipBlock to ``cidr``: under the threat-nets fallback with the threat nets inside it excepted, None when
        ``cidr`` lies wholly inside a threat net (the rule must then be left out: an ipBlock cannot except all of itself)."""
        if not self.excepted:
            return {"ipBlock": {"cidr": cidr}}
        net = ipaddress.ip_network(cidr)
        same = [threat for threat in self.threats if threat.version == net.version]
        if any(net.subnet_of(threat) for threat in same):
            return None
        inside = sorted(str(threat) for threat in same if threat.subnet_of(net))
        return {"ipBlock": dict({"cidr": cidr}, **({"except": inside} if inside else {}))}

    def peer(self, endpoint, local_ns, flow, egress=False):
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
            if not egress:
                return {"ipBlock": {"cidr": endpoint.net}}
            found = self.block(endpoint.net)
            if found is None:
                self._flow_loss("dropped", flow, local_ns, "its destination lies inside a threat net, which this cluster denies "
                                "only by leaving egress to it out (microseg_threat_nets_fallback: except)", flow.destination.notation(self.identity))
            return found
        self._flow_loss("widened", flow, local_ns, "NetworkPolicy cannot match domain names; allowed to any address outside %s on "
                        "that port" % ", ".join(self.intent.cluster_cidrs), "*")
        return self._outside()

    def _flow_loss(self, change, flow, local_ns, why, destination):
        """The Loss of the rule of one declared flow (in the tier of the namespace whose policy carries it)."""
        source, target, port = flow.source.notation(self.identity), flow.destination.notation(self.identity), flow.port_notation()
        add_loss(self.losses, Loss(change, self.intent.namespace_tiers.get(local_ns, ""), "%s -> %s %s" % (source, target, port),
                                   why, source, destination, port))

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
            egress = None
            if outbound:   # a rule whose only peer is inside a threat net is left out (fallback)
                egress = [{"to": [peer], "ports": [self.port(f)]} for f in outbound
                          for peer in [self.peer(f.destination, namespace, f, egress=True)] if peer is not None]
            objects.append(self._np(namespace, self._workload_name(endpoint), tier, pods, ingress, egress))
        return objects

    def _allow_all_egress(self):
        """The deploy catch-all's egress: everything; under the threat-nets fallback every pod and every address but them."""
        if not self.excepted:
            return [{}]
        blocks = [self.block(cidr) for cidr in (EVERYWHERE, EVERYWHERE_V6)]
        return [{"to": [{"namespaceSelector": {}}] + [block for block in blocks if block is not None]}]

    def _threat_losses(self):
        """Under the fallback the threat nets are denied for the in-scope namespaces only: one Loss per threat net."""
        in_scope = self.intent.in_scope_namespaces
        known = sorted({e.namespace for f in self.flows for e in (f.source, f.destination) if not e.is_external} | {self.intent.dns.namespace})
        others = [ns for ns in known if ns not in in_scope]
        why = ("%s does not serve %s (microseg_threat_nets_fallback: except): the threat nets are denied only in the except of the "
               "egress ipBlocks of the in-scope namespaces (%s); pods of every other namespace (out of scope%s) can still reach them"
               % (self.intent.served_by, ANP_KIND, ", ".join(in_scope) or "none", ", e.g. " + ", ".join(others) if others else ""))
        for net in self.intent.threat_nets:
            add_loss(self.losses, Loss("widened", "security", "threat-nets-deny", why, "*", "net:" + net, "*"))

    def render(self):
        intent, objects = self.intent, []
        if self.excepted:
            self._threat_losses()
        elif intent.threat_nets:
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
                objects.append(self._np(namespace, "microseg-catch-all", "default", {}, ingress=[{}], egress=self._allow_all_egress(),
                                        posture=True))
        if intent.trusted_domains:
            add_loss(self.losses, Loss("widened", "security", "trusted-domains", "NetworkPolicy cannot match domain names (%s); allowed "
                                       "to any address outside %s on 443/TCP" % (", ".join(intent.trusted_domains), ", ".join(intent.cluster_cidrs)),
                                       "*", "*", "443/TCP"))
        for tenant in intent.tenants:
            guardrails = [("tenant-%s-pci" % tenant.name, "the PCI restriction")] if tenant.pci else []
            guardrails.append(("tenant-%s" % tenant.name, "tenant isolation"))
            for rule, what in guardrails:
                why = ("%s is enforced only by the namespaces' default-deny, as NetworkPolicy has no tiers, Pass, explicit Deny or order "
                       "to keep it a guardrail of its own (another NetworkPolicy that allows more is obeyed)" % what)
                for namespace in tenant.namespaces:   # the traffic into and out of the tenant's namespaces
                    add_loss(self.losses, Loss("merged", "security", rule, why, "*", namespace + "/*", "*"))
                    add_loss(self.losses, Loss("merged", "security", rule, why, namespace + "/*", "*", "*"))
        return objects, self.losses


def render(intent, flows, posture):
    """Kubernetes objects for ``posture`` (failsafe or enforced) and what the dialect could not express (``Loss``)."""
    return KubernetesRenderer(intent, flows, posture).render()
