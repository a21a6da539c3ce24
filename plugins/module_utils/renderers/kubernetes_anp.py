"""kubernetes-anp renderer: the tiered model as AdminNetworkPolicy / BaselineAdminNetworkPolicy (policy.networking.k8s.io
v1alpha1) for the security, platform and default tiers, and networking.k8s.io/v1 NetworkPolicy for application and appsec.

Upstream evaluates every AdminNetworkPolicy (ANP) by ``priority`` (lower first), then the NetworkPolicies, then the one
BaselineAdminNetworkPolicy (BANP); ANP ``Pass`` skips the remaining ANPs and hands the connection to the NetworkPolicies
(and, for a pod no NetworkPolicy isolates in that direction, to the BANP). So:

* ``security`` and ``platform`` are ANPs. Their priorities follow the tier and policy order of the Calico model
  (``calico.TIER_ORDERS`` / ``calico.ORDERS``, then the Calico name): security from 100 on, in that order, platform from
  900 on (0-99 stay free for the cluster's own emergency ANPs). The same intent always gets the same, unique priorities;
  adding a tenant renumbers the security ANPs after its place.
* ``microseg-threat-nets-deny`` denies egress to the threat nets for every pod. ``microseg-trusted-domains`` allows the
  in-scope pods 443/TCP to every address outside the cluster CIDRs (v1alpha1 has no ``domainNames`` peer and a
  ``networks`` peer has no ``except``: the CIDRs are the complement of the cluster CIDRs): a ``Loss``.
* Per PCI scope (pods labelled ``pci=true`` of a PCI tenant) and per tenant, two guardrails as in the Calico model: an
  ANP that Passes what may cross (same tenant, declared flows) and a *boundary* ANP that Passes (deploy) or Denies
  (enforce) every other pod peer. Cluster DNS is *allowed* there, not passed: a Pass leaves every ANP, the platform's
  DNS allowance included, and lands in NetworkPolicies that do not carry DNS; since the Calico model's platform tier
  allows what the guardrail passes to it, the verdict is the same. An ANP rule cannot narrow the policy's subject, so a
  declared flow's Pass covers every pod of the guardrail, not only the flow's own end: the NetworkPolicies below still
  allow only the declared flow (no verdict of the rendered set changes), but a NetworkPolicy written by hand into the
  tenant's namespaces could open more of that peer and port.
* ``microseg-cluster-dns`` (platform) allows every in-scope pod to reach the cluster resolver.
* application and appsec: the NetworkPolicies the ``kubernetes`` dialect writes (``KubernetesRenderer.workloads``, its
  domain widenings included).
* default: the BANP ``default`` (the only name the API accepts) over every in-scope namespace, Allow (deploy) or Deny
  (enforce) to and from every pod and, in egress, every address; one set of rules, as a BANP has one subject. Two things
  it cannot do alone, done by ``microseg-catch-all``, a NetworkPolicy per in-scope namespace: while deploying, a pod a
  declared flow's NetworkPolicy isolates would lose its undeclared traffic before the BANP is asked, so the catch-all
  allows everything (fail-safe); once enforced, a BANP ingress rule cannot match addresses outside the cluster, so the
  catch-all isolates every pod's ingress (default-deny from outside as well).

The posture objects (label ``zerotrust.microseg/posture``) are the boundary ANPs, the BANP and the catch-all
NetworkPolicies; they exist in both postures under the same names, so enforce changes only them and a deploy after
enforce keeps them enforced. ``AdminPolicyRenderer`` holds the shape; ``ClusterNetworkPolicy`` (v1alpha2: one kind with
``tier: Admin|Baseline``, ``Accept`` for Allow, ``protocols`` for ports, 25 rules) subclasses it and overrides the object
shells, the actions, the ports and the limits.
"""
from __future__ import annotations

import ipaddress
import json

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.calico import ORDERS, PCI
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.kubernetes import NS_LABEL, KubernetesRenderer, match_labels
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss, Renderer, add_loss

API_VERSION = "policy.networking.k8s.io/v1alpha1"
EVERYWHERE = ("0.0.0.0/0", "::/0")
ALL_PODS = {"namespaces": {}}
CATCH_ALL = "microseg-catch-all"
PREFIX = "microseg-"


def namespace_selector(namespaces):
    """A label selector of the namespaces by name: matchLabels for one, matchExpressions ``In`` for several."""
    namespaces = sorted(set(namespaces))
    if len(namespaces) == 1:
        return {"matchLabels": {NS_LABEL: namespaces[0]}}
    return {"matchExpressions": [{"key": NS_LABEL, "operator": "In", "values": namespaces}]}


def outside_networks(cluster_cidrs):
    """The CIDRs of every address outside ``cluster_cidrs``, for each address family the cluster CIDRs use (a
    ``networks`` peer has no ``except``; a family without cluster CIDRs would make ``/0`` match every pod too)."""
    cidrs = [ipaddress.ip_network(c, strict=False) for c in cluster_cidrs]
    found = []
    for everything in (ipaddress.ip_network(net) for net in EVERYWHERE):
        inside = list(ipaddress.collapse_addresses(c for c in cidrs if c.version == everything.version))
        if not inside and cidrs:
            continue
        rest = [everything]
        for hole in inside:
            rest = [piece for net in rest for piece in (net.address_exclude(hole) if hole.subnet_of(net) else [net])]
        found.extend(ipaddress.collapse_addresses(rest))
    return [str(net) for net in sorted(found, key=lambda n: (n.version, n.network_address, n.prefixlen))]


def _chunks(items, size):
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def _key(value):
    return json.dumps(value, sort_keys=True)


class NamespacePolicies(KubernetesRenderer):
    """The ``kubernetes`` dialect's NetworkPolicies (application and appsec, inherited) and this dialect's catch-all. The
    threat nets are the security tier's (``microseg-threat-nets-deny``), never the kubernetes dialect's fallback."""

    ADMIN_THREAT_NETS = True

    def catch_all(self, namespace):
        """Deploy: allow everything (a declared flow's policy must not cut the rest). Enforce: isolate ingress, from outside
        the cluster too (the BANP denies the rest but matches no outside address in ingress)."""
        if self.enforced:
            return self._np(namespace, CATCH_ALL, "default", {}, ingress=[], posture=True)
        return self._np(namespace, CATCH_ALL, "default", {}, ingress=[{}], egress=[{}], posture=True)


class AdminPolicyRenderer(Renderer):
    """Renders one intent as admin policies + NetworkPolicies. Class attributes and the object shells are what
    ``kubernetes-cnp`` changes."""

    DIALECT = "kubernetes-anp"
    API_VERSION = API_VERSION
    ADMIN_KIND = "AdminNetworkPolicy"
    BASELINE_KIND = "BaselineAdminNetworkPolicy"
    BASELINE_NAME = "default"                  # the API admits no other name
    REQUIRED_KINDS = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")
    ACTIONS = {"Allow": "Allow", "Deny": "Deny", "Pass": "Pass"}
    PORTS = "ports"                            # the rule field that holds ``port()``'s items
    MAX_RULES, MAX_PEERS, MAX_PORTS, MAX_NETWORKS = 100, 100, 100, 25    # per direction, rule, rule, peer (the CRD)
    PRIORITIES = {"security": (100, 899), "platform": (900, 999)}

    def __init__(self, intent, flows, posture):
        self.check(intent)
        super().__init__(intent, flows, posture)
        self.namespaces = NamespacePolicies(intent, flows, posture)

    @classmethod
    def check(cls, intent):
        """Refuse an intent for a cluster that does not serve the kinds this dialect writes (``intent.cluster_serves``)."""
        served = getattr(intent, "cluster_serves", None)
        if served is None:
            return
        missing = [kind for kind in cls.REQUIRED_KINDS if kind not in served]
        if missing:
            raise InputError(
                "dialect %s writes %s (%s), which %s does not serve. Ways out: a network plugin that serves and enforces them "
                "(the network-policy-api CRDs alone enforce nothing); on the directory target, microseg_cluster_serves naming "
                "them; or another microseg_dialect" % (cls.DIALECT, ", ".join(missing), cls.API_VERSION,
                                                       getattr(intent, "served_by", "the cluster")),
                source="inventory", field="microseg_dialect")

    # -- object shells (a ClusterNetworkPolicy renderer overrides these) ---------------------------------------------
    def admin_policy(self, name, tier, subject, ingress=None, egress=None, posture=False):
        """An admin policy of ``tier`` (security or platform); its priority is set once every one is known."""
        spec = {"priority": 0, "subject": subject}
        if ingress:
            spec["ingress"] = ingress
        if egress:
            spec["egress"] = egress
        return {"apiVersion": self.API_VERSION, "kind": self.ADMIN_KIND,
                "metadata": {"name": PREFIX + name, "labels": self._labels(tier, posture)}, "spec": spec}

    def baseline_policy(self, subject, ingress, egress):
        """The default tier's posture object."""
        return {"apiVersion": self.API_VERSION, "kind": self.BASELINE_KIND,
                "metadata": {"name": self.BASELINE_NAME, "labels": self._labels("default", True)},
                "spec": {"subject": subject, "ingress": ingress, "egress": egress}}

    def port(self, protocol, low, high):
        if low == high:
            return {"portNumber": {"protocol": protocol, "port": low}}
        return {"portRange": {"protocol": protocol, "start": low, "end": high}}

    def rule(self, name, action, direction, peers, ports=()):
        rule = {"name": name, "action": self.ACTIONS[action], "from" if direction == "ingress" else "to": list(peers)}
        if ports:
            rule[self.PORTS] = [self.port(*port) for port in sorted(ports)]
        return rule

    # -- peers -------------------------------------------------------------------------------------------------------
    @staticmethod
    def peer(endpoint):
        """An in-cluster flow endpoint as a pods or namespaces peer (subjects and peers name namespaces by label)."""
        if endpoint.kind == "namespace":
            return {"namespaces": namespace_selector([endpoint.namespace])}
        return {"pods": {"namespaceSelector": namespace_selector([endpoint.namespace]),
                         "podSelector": {"matchLabels": {endpoint.key: endpoint.value}}}}

    def networks(self, nets):
        return [{"networks": chunk} for chunk in _chunks(nets, self.MAX_NETWORKS)]

    def dns_rule(self):
        dns = self.intent.dns
        peer = {"pods": {"namespaceSelector": namespace_selector([dns.namespace]), "podSelector": {"matchLabels": match_labels(dns.selector)}}}
        return self.rule("cluster-dns", "Allow", "egress", [peer], [("TCP", dns.port, dns.port), ("UDP", dns.port, dns.port)])

    def grouped(self, name, action, direction, wanted, room):
        """Rules for ``wanted`` (peer key -> set of (protocol, low, high)): peers with the same ports share a rule, so the
        rule's peers x ports is exactly what was wanted. Past ``room`` rules the ports are left out (only for Pass rules:
        what they pass, the NetworkPolicies below still decide)."""
        by_ports = {}
        for peer, ports in wanted.items():
            by_ports.setdefault(tuple(sorted(ports)), []).append(peer)
        groups = []
        for ports, peers in sorted(by_ports.items()):
            for some_peers in _chunks(sorted(peers), self.MAX_PEERS):
                groups.extend((some_peers, some_ports) for some_ports in _chunks(ports, self.MAX_PORTS))
        if len(groups) > room and action == "Pass":
            groups = [(peers, []) for peers in _chunks(sorted(wanted), self.MAX_PEERS)]
        return [self.rule("%s-%d" % (name, number), action, direction, [json.loads(p) for p in peers], ports)
                for number, (peers, ports) in enumerate(groups, 1)]

    # -- tiers ---------------------------------------------------------------------------------------------------------
    def security(self):
        """``[(calico order, calico name, object)]`` of the security tier."""
        intent, found = self.intent, []
        if intent.threat_nets:
            found.append((ORDERS["threat-nets"], "threat-nets-deny", self.admin_policy(
                "threat-nets-deny", "security", ALL_PODS, egress=[self.rule("threat-nets", "Deny", "egress", self.networks(intent.threat_nets))])))
        in_scope = intent.in_scope_namespaces
        if intent.trusted_domains and in_scope:
            rule = self.rule("trusted-domains", "Allow", "egress", self.networks(outside_networks(intent.cluster_cidrs)), [("TCP", 443, 443)])
            found.append((ORDERS["trusted-domains"], "trusted-domains", self.admin_policy(
                "trusted-domains", "security", {"namespaces": namespace_selector(in_scope)}, egress=[rule])))
            self._trusted_domain_losses(in_scope)
        for tenant in intent.tenants:
            if tenant.pci:
                found.extend(self.guardrail("tenant-%s-pci" % tenant.name, tenant.namespaces, "pci", pci=True))
            found.extend(self.guardrail("tenant-%s" % tenant.name, tenant.namespaces, "tenant", pci=False))
        return found

    def _trusted_domain_losses(self, in_scope):
        intent = self.intent
        why = ("%s %s has no domainNames peer: the trusted domains (%s) are allowed as any address outside %s on 443/TCP"
               % (self.ADMIN_KIND, self.API_VERSION.rsplit("/", 1)[-1], ", ".join(intent.trusted_domains), ", ".join(intent.cluster_cidrs)))
        for namespace in in_scope:
            add_loss(self.losses, Loss("widened", "security", "trusted-domains", why, namespace + "/*", "net:*", "443/TCP"))
        if intent.edition == "enterprise":   # the tiered model allows them by name on every port
            why = ("the enterprise edition allows the trusted domains (%s) by name on every port; %s cannot name them, so on ports "
                   "other than 443/TCP they are denied" % (", ".join(intent.trusted_domains), self.ADMIN_KIND))
            for namespace in in_scope:
                for domain in intent.trusted_domains:
                    add_loss(self.losses, Loss("dropped", "security", "trusted-domains", why, namespace + "/*", "domain:" + domain, "*"))

    def guardrail(self, name, namespaces, kind, pci):
        """The Pass policy for what may cross and the boundary (posture), as ``calico.CalicoRenderer._guardrail``."""
        inside = set(namespaces)
        selector = namespace_selector(namespaces)
        if pci:
            subject = {"pods": {"namespaceSelector": selector, "podSelector": {"matchLabels": dict([PCI])}}}
        else:
            subject = {"namespaces": selector}
        inbound, outbound, crossing = {}, {}, []
        for flow in self.flows:
            src_in = flow.source.namespace in inside and not flow.source.is_external
            dst_in = flow.destination.namespace in inside and not flow.destination.is_external
            port = (flow.protocol, flow.port_min, flow.port_max)
            if dst_in and (pci or not src_in) and not flow.source.is_external:
                inbound.setdefault(_key(self.peer(flow.source)), set()).add(port)
                crossing.append(("ingress", flow.source.notation(self.identity), flow.port_notation()))
            if src_in and (pci or not dst_in) and not flow.destination.is_external:
                outbound.setdefault(_key(self.peer(flow.destination)), set()).add(port)
                crossing.append(("egress", flow.destination.notation(self.identity), flow.port_notation()))
        ingress, egress = [], [self.dns_rule()]
        if not pci:
            ingress.append(self.rule("same-tenant", "Pass", "ingress", [{"namespaces": selector}]))
            egress.append(self.rule("same-tenant", "Pass", "egress", [{"namespaces": selector}]))
        passed = self.grouped("declared-flows", "Pass", "ingress", inbound, self.MAX_RULES - len(ingress))
        ingress += passed
        exact = all(self.PORTS in rule for rule in passed)
        passed = self.grouped("declared-flows", "Pass", "egress", outbound, self.MAX_RULES - len(egress))
        egress += passed
        exact = exact and all(self.PORTS in rule for rule in passed)
        self._guardrail_losses(name, ["%s/%s=%s" % ((ns,) + PCI) if pci else ns + "/*" for ns in sorted(inside)], crossing, exact)
        for rules in (ingress, egress):
            if len(rules) > self.MAX_RULES:
                raise InputError("%s needs %d rules in one direction; a %s holds at most %d: split the tenant"
                                 % (name, len(rules), self.ADMIN_KIND, self.MAX_RULES), source="inventory", field="microseg_tenants")
        action = "Deny" if self.enforced else "Pass"
        boundary = self.admin_policy(name + "-boundary", "security", subject, posture=True,
                                     ingress=[self.rule("boundary", action, "ingress", [ALL_PODS])],
                                     egress=[self.rule("boundary", action, "egress", [ALL_PODS])])
        return [(ORDERS[kind], name, self.admin_policy(name, "security", subject, ingress, egress)),
                (ORDERS[kind + "-boundary"], name + "-boundary", boundary)]

    def _guardrail_losses(self, name, subjects, crossing, exact):
        """The Pass of a declared flow across a guardrail covers every pod it selects (a rule cannot narrow the subject)."""
        why = ("%s rules cannot narrow the policy's subject: the Pass of each declared flow across the guardrail covers every "
               "pod it selects on that peer and port%s; the NetworkPolicies rendered below still allow only the declared flows, but "
               "a NetworkPolicy written by hand in those namespaces could open the rest" % (
                   self.ADMIN_KIND, "" if exact else " (past the rule limit, on every port)"))
        for direction, peer, port in crossing:
            for subject in subjects:
                source, destination = (peer, subject) if direction == "ingress" else (subject, peer)
                add_loss(self.losses, Loss("widened", "security", name, why, source, destination, port if exact else "*"))

    def platform(self):
        in_scope = self.intent.in_scope_namespaces
        if not in_scope:
            return []
        return [(ORDERS["dns"], "cluster-dns", self.admin_policy(
            "cluster-dns", "platform", {"namespaces": namespace_selector(in_scope)}, egress=[self.dns_rule()]))]

    def prioritised(self, tier, found):
        """The objects of ``tier`` with their priorities: the Calico model's order, then name, numbered from the tier's first."""
        first, last = self.PRIORITIES[tier]
        ranked = sorted(found, key=lambda item: (item[0], item[1]))
        if len(ranked) > last - first + 1:
            raise InputError("the %s tier needs %d %s objects; their priorities %d-%d hold %d"
                             % (tier, len(ranked), self.ADMIN_KIND, first, last, last - first + 1), source="inventory", field="microseg_tenants")
        objects = []
        for offset, (_order, _name, obj) in enumerate(ranked):
            obj["spec"]["priority"] = first + offset
            objects.append(obj)
        return objects

    def workloads(self):
        """application and appsec: the kubernetes dialect's NetworkPolicies, with the losses it records for them."""
        objects = []
        for namespace, tier in sorted(self.intent.namespace_tiers.items()):
            objects.extend(self.namespaces.workloads(namespace, tier))
        for loss in self.namespaces.losses:
            add_loss(self.losses, loss)
        return objects

    def default(self):
        in_scope = self.intent.in_scope_namespaces
        if not in_scope:
            return []
        action = "Deny" if self.enforced else "Allow"
        baseline = self.baseline_policy({"namespaces": namespace_selector(in_scope)},
                                        [self.rule("catch-all", action, "ingress", [ALL_PODS])],
                                        [self.rule("catch-all", action, "egress", [ALL_PODS] + self.networks(list(EVERYWHERE)))])
        return [baseline] + [self.namespaces.catch_all(namespace) for namespace in in_scope]

    def render(self):
        objects = self.prioritised("security", self.security()) + self.prioritised("platform", self.platform())
        objects += self.workloads() + self.default()
        return [json.loads(json.dumps(obj)) for obj in objects], self.losses   # no dict or list shared anywhere (deepcopy keeps sharing)


def check(intent):
    """Refuse, before anything is rendered or written, an intent for a cluster that does not serve ANP and BANP."""
    AdminPolicyRenderer.check(intent)


def render(intent, flows, posture):
    """kubernetes-anp objects for ``posture`` (failsafe or enforced) and what the dialect could not express (``Loss``)."""
    return AdminPolicyRenderer(intent, flows, posture).render()
