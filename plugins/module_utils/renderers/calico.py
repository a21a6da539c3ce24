"""Calico renderer: security domains -> projectcalico.org/v3 Tiers, policies and network sets.

Shape of the set (tier order in brackets; a lower order runs first):

* ``security`` [200] guardrails: threat nets denied for every pod; trusted domains allowed;
  per PCI scope and per tenant a policy that Passes what stays inside (same tenant, DNS,
  declared flows) and a *boundary* policy that Passes (deploy) or Denies (enforce) every
  other in-cluster peer; ``security-default-pass`` hands the rest down.
* ``platform`` [300]: cluster DNS for every in-scope pod; ``platform-default-pass``.
* ``application`` [400]: one namespaced policy per namespace with its declared flows.
* ``appsec`` [500]: one namespaced policy per workload identity with its declared flows.
* ``default``: per security domain (tenant, or namespace without tenant) a catch-all that
  Allows (deploy, fail-safe) or Denies (enforce).

Every application tier ends in a pass-all, so deploy never cuts a flow; enforce only flips
the boundary and default catch-alls.

What a Calico version and edition serve is decided in one place, ``features(version, edition)``, and ``unserved``
holds every rendering to it (CALICO_SEMANTICS.md rules 7, 10, 16, 27, 30):

* ``SUPPORTED``: Calico 3.29 (tiers in open source) to 3.32; ``microseg_calico_version`` outside is refused.
* below 3.32 policies are named ``<tier>.<name>``; from 3.32 plain names.
* staged policies (remediate's proposals): open source 3.30+, Enterprise every supported version; else report only.
* Tier ``spec.defaultAction`` (3.30+) is *not* written: the ``<tier>-default-pass`` policies Pass at every version, so one
  set serves every version (no migration on a Calico upgrade, the pass shows by name in flow-log traces, and the
  platform, application and appsec passes cover only the in-scope namespaces, where a tier's defaultAction would cover
  every pod another team's policy in that tier selects).
* the upstream admin kinds (AdminNetworkPolicy / BaselineAdminNetworkPolicy 3.29-3.31, ClusterNetworkPolicy 3.32) are
  what the cluster enforces beside Calico's own kinds; this dialect writes only ``projectcalico.org/v3`` kinds.
* ``oss`` never carries an Enterprise-only field (``allowedEgressDomains``, rule ``domains``): domains widen, with a Loss.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ansible_collections.zerotrust.microseg.plugins.module_utils import selector as sel
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss, Renderer, add_loss, workload_policy_name

API_VERSION = "projectcalico.org/v3"
# the oldest and newest Calico (open-source version numbers) this dialect renders for, both included
SUPPORTED = ((3, 29), (3, 32))
POLICY_KINDS = ("Tier", "GlobalNetworkPolicy", "NetworkPolicy", "GlobalNetworkSet", "NetworkSet")
STAGED_KINDS = ("StagedGlobalNetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy")
ANP_API, CNP_API = "policy.networking.k8s.io/v1alpha1", "policy.networking.k8s.io/v1alpha2"
# fields only Calico Enterprise / Cloud serves: network sets' allowedEgressDomains, a rule entity's domains
ENTERPRISE_FIELDS = ("allowedEgressDomains", "domains")
NS_LABEL = "projectcalico.org/name"
SET_LABEL = "zerotrust.microseg/network-set"
TIER_ORDERS = {"security": 200, "platform": 300, "application": 400, "appsec": 500}
PASS_ALL_ORDER = 10000
ORDERS = {
    "threat-nets": 0,
    "trusted-domains": 100,
    "pci": 200,
    "pci-boundary": 250,
    "tenant": 300,
    "tenant-boundary": 350,
    "dns": 100,
    "workload": 100,
    "catch-all": 100,
}


def version_text(version):
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class Features:
    """What one Calico version and edition serve, as far as this collection writes or relies on it (see ``features``)."""
    version: tuple
    edition: str
    tier_prefix: bool          # policies are named <tier>.<name> (below 3.32)
    staged: bool               # StagedNetworkPolicy / StagedGlobalNetworkPolicy (open source 3.30+; Enterprise)
    tier_default_action: bool  # Tier spec.defaultAction (3.30+); served, not written
    domains: bool              # domain names: allowedEgressDomains (Enterprise / Cloud only)
    admin_kinds: tuple         # upstream kinds Calico enforces in its admin / baseline tiers, (apiVersion, kind)

    @property
    def kinds(self):
        """Every (apiVersion, kind) of a policy or network set this Calico serves."""
        kinds = {(API_VERSION, kind) for kind in POLICY_KINDS}
        if self.staged:
            kinds.update((API_VERSION, kind) for kind in STAGED_KINDS)
        return kinds | set(self.admin_kinds)


def features(version, edition="oss"):
    """The one table of version and edition features (CALICO_SEMANTICS.md rules 7, 10, 16, 27, 30)."""
    version = tuple(version)[:2]
    enterprise = edition == "enterprise"
    if version < (3, 32):   # tiers adminnetworkpolicy / baselineadminnetworkpolicy
        admin = ((ANP_API, "AdminNetworkPolicy"), (ANP_API, "BaselineAdminNetworkPolicy"))
    else:                   # tiers kube-admin / kube-baseline
        admin = ((CNP_API, "ClusterNetworkPolicy"),)
    return Features(version=version, edition=edition, tier_prefix=version < (3, 32), staged=enterprise or version >= (3, 30),
                    tier_default_action=version >= (3, 30), domains=enterprise, admin_kinds=admin)


def version_problem(version, edition="oss"):
    """Why the calico dialect cannot render for ``version`` ("" when it can)."""
    version = tuple(version)[:2]
    low, high = SUPPORTED
    if low <= version <= high:
        return ""
    problem = "Calico %s is not supported: the calico dialect renders for Calico %s to %s" % (
        version_text(version), version_text(low), version_text(high))
    if version < low:
        problem += " (policy tiers came to Calico open source in %s)" % version_text(low)
        if edition == "enterprise":
            problem += ("; with microseg_calico_edition enterprise give the Calico open-source version your Calico Enterprise "
                        "release is paired with (e.g. Calico Enterprise 3.23 with Calico 3.32)")
    else:
        problem += " (a newer Calico is not known to this release of zerotrust.microseg)"
    return problem


def _enterprise_fields(spec):
    """The paths of the Enterprise-only fields in a spec: a network set's ``allowedEgressDomains``, a rule entity's
    ``domains`` (where Calico Enterprise defines them)."""
    found = ["spec.%s" % key for key in ENTERPRISE_FIELDS if key in spec]
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(spec.get(direction) or ()):
            for side in ("source", "destination"):
                entity = rule.get(side) or {}
                found += ["spec.%s[%d].%s.%s" % (direction, i, side, key) for key in ENTERPRISE_FIELDS if key in entity]
    return found


def unserved(objects, found):
    """``(variable, message)`` for every kind or field of ``objects`` that the Calico of ``found`` (``Features``) does not
    serve; the renderer and remediate's staged copies are held to it."""
    problems = []
    for obj in objects:
        name = "%s %s" % (obj.get("kind"), (obj.get("metadata") or {}).get("name"))
        if (obj.get("apiVersion"), obj.get("kind")) not in found.kinds:
            problems.append(("microseg_calico_version", "%s: Calico %s (%s) does not serve %s %s" % (
                name, version_text(found.version), found.edition, obj.get("apiVersion"), obj.get("kind"))))
        spec = obj.get("spec") or {}
        if not found.domains:
            problems += [("microseg_calico_edition", "%s: %s is Calico Enterprise only" % (name, path)) for path in _enterprise_fields(spec)]
        if obj.get("kind") == "Tier" and "defaultAction" in spec and not found.tier_default_action:
            problems.append(("microseg_calico_version", "%s: spec.defaultAction needs Calico 3.30 or later" % name))
    return problems


def check_served(objects, found):
    """Raise InputError naming the variable when the Calico of ``found`` cannot hold ``objects``: never written silently."""
    problems = unserved(objects, found)
    if problems:
        raise InputError("; ".join(message for _variable, message in problems), source="inventory", field=problems[0][0])


def _namespaces(namespaces):
    namespaces = sorted(set(namespaces))
    if len(namespaces) == 1:
        return sel.eq(NS_LABEL, namespaces[0])
    return sel.in_set(NS_LABEL, namespaces)


def set_slug(domain, hashed=False):
    """A stable, valid object name and label value for the set holding ``domain`` (``hashed``: always with a digest)."""
    slug = domain.replace("*", "wildcard").lower()
    slug = re.sub(r"[^a-z0-9.-]", "-", slug).strip("-.")
    if hashed or len(slug) > 50:
        slug = slug[:40].rstrip("-.") + "-" + hashlib.sha256(domain.encode()).hexdigest()[:8]
    return "domain-" + slug


class CalicoRenderer(Renderer):
    """Renders one intent; keeps the per-run facts (naming, edition, widenings) in one place."""

    def __init__(self, intent, flows, posture):
        super().__init__(intent, flows, posture)
        self.features = features(intent.calico_version, intent.edition)
        self.prefix_names = self.features.tier_prefix
        self.enterprise = self.features.domains
        self.domain_sets = {}  # slug -> (domain, tier)
        self.namespace_tiers = intent.namespace_tiers

    # -- object shells ---------------------------------------------------------------

    def _policy(self, kind, tier, name, order, spec, namespace=None, posture=False):
        labels = self._labels(tier, posture)
        labels["projectcalico.org/tier"] = tier
        metadata = {"name": "%s.%s" % (tier, name) if self.prefix_names else name, "labels": labels}
        if namespace:
            metadata["namespace"] = namespace
        body = {"tier": tier, "order": order}
        body.update(spec)
        for key in ("ingress", "egress"):
            if key in body and not body[key]:
                del body[key]  # the API server drops empty rule lists; so do we, or every rerun would rewrite
        body["types"] = [t for t, key in (("Ingress", "ingress"), ("Egress", "egress")) if key in body] or ["Ingress", "Egress"]
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": body}

    def _gnp(self, tier, name, order, spec, posture=False):
        return self._policy("GlobalNetworkPolicy", tier, name, order, spec, posture=posture)

    def _pass_all(self, tier, namespaces=None):
        spec = {"selector": "all()"}
        if namespaces is not None:
            spec["namespaceSelector"] = _namespaces(namespaces)
        spec["ingress"] = [{"action": "Pass"}]
        spec["egress"] = [{"action": "Pass"}]
        return self._gnp(tier, "%s-default-pass" % tier, PASS_ALL_ORDER, spec)

    # -- peers and rules -------------------------------------------------------------
    def peer(self, endpoint, local_ns=None, tier=None, flow=None):
        """EntityRule for ``endpoint`` seen from a policy in ``local_ns`` (None: a global policy)."""
        if endpoint.kind == "workload":
            entity = {"selector": sel.eq(endpoint.key, endpoint.value)}
            if endpoint.namespace != local_ns:
                entity["namespaceSelector"] = sel.eq(NS_LABEL, endpoint.namespace)
            return entity
        if endpoint.kind == "namespace":
            if endpoint.namespace == local_ns:
                return {"selector": "all()"}
            return {"namespaceSelector": sel.eq(NS_LABEL, endpoint.namespace)}
        if endpoint.kind == "net":
            return {"nets": [endpoint.net]}
        if self.enterprise:
            slug = set_slug(endpoint.domain)
            if self.domain_sets.get(slug, (endpoint.domain,))[0] != endpoint.domain:
                slug = set_slug(endpoint.domain, hashed=True)  # "*.x.com" and "wildcard.x.com" need two sets
            self.domain_sets.setdefault(slug, (endpoint.domain, tier))
            entity = {"selector": sel.eq(SET_LABEL, slug)}
            if local_ns is not None:
                entity["namespaceSelector"] = "global()"
            return entity
        if flow is not None:
            self._widened(flow, tier)
        return {"notNets": list(self.intent.cluster_cidrs)}

    def _widened(self, flow, tier):
        source, destination, port = flow.source.notation(self.identity), flow.destination.notation(self.identity), flow.port_notation()
        note = ("%s -> %s on %s: the oss edition cannot match domain names; allowed to any address outside %s on that port"
                % (source, destination, port, ", ".join(self.intent.cluster_cidrs)))
        add_loss(self.losses, Loss("widened", tier or "", "%s -> %s %s" % (source, destination, port), note, source, "*", port))

    @staticmethod
    def _ports(entity, flow):
        entity = dict(entity)
        entity["ports"] = [flow.calico_port()]
        return entity

    def ingress_rule(self, action, flow, local_ns, narrow=False, tier=None):
        """Rule at the destination: ``narrow`` adds the destination's own selector (namespace-wide policies)."""
        destination = {}
        if narrow and flow.destination.kind == "workload":
            destination["selector"] = sel.eq(flow.destination.key, flow.destination.value)
        if local_ns is None:
            destination.update(self.peer(flow.destination))
        return {"action": action, "protocol": flow.protocol, "source": self.peer(flow.source, local_ns, tier, flow),
                "destination": self._ports(destination, flow)}

    def egress_rule(self, action, flow, local_ns, narrow=False, tier=None):
        """Rule at the source: ``narrow`` adds the source's own selector (namespace-wide policies)."""
        source = {}
        if narrow and flow.source.kind == "workload":
            source["selector"] = sel.eq(flow.source.key, flow.source.value)
        if local_ns is None:
            source.update(self.peer(flow.source))
        rule = {"action": action, "protocol": flow.protocol}
        if source:
            rule["source"] = source
        rule["destination"] = self._ports(self.peer(flow.destination, local_ns, tier, flow), flow)
        return rule

    def dns_rules(self, action):
        dns = self.intent.dns
        return [{"action": action, "protocol": proto,
                 "destination": {"selector": dns.selector, "namespaceSelector": sel.eq(NS_LABEL, dns.namespace), "ports": [dns.port]}}
                for proto in ("UDP", "TCP")]

    # -- tiers -----------------------------------------------------------------------
    def tiers(self):
        return [{"apiVersion": API_VERSION, "kind": "Tier", "metadata": {"name": tier, "labels": self._labels(tier)},
                 "spec": {"order": order}} for tier, order in TIER_ORDERS.items()]

    def security(self):
        intent, objects = self.intent, []
        if intent.threat_nets:
            objects.append(self._network_set("threat-nets", "security", {"nets": list(intent.threat_nets)}))
            objects.append(self._gnp("security", "threat-nets-deny", ORDERS["threat-nets"], {
                "selector": "all()",
                "egress": [{"action": "Deny", "destination": {"selector": sel.eq(SET_LABEL, "threat-nets")}}]}))
        in_scope = intent.in_scope_namespaces
        if intent.trusted_domains and in_scope:
            if self.enterprise:
                objects.append(self._network_set("trusted-domains", "security", {"allowedEgressDomains": list(intent.trusted_domains)}))
                rule = {"action": "Allow", "destination": {"selector": sel.eq(SET_LABEL, "trusted-domains")}}
            else:
                rule = {"action": "Allow", "protocol": "TCP", "destination": {"notNets": list(intent.cluster_cidrs), "ports": [443]}}
                note = ("trusted domains %s: the oss edition cannot match domain names; allowed to any address outside %s on 443/TCP"
                        % (", ".join(intent.trusted_domains), ", ".join(intent.cluster_cidrs)))
                add_loss(self.losses, Loss("widened", "security", "trusted-domains", note, "*", "*", "443/TCP"))
            objects.append(self._gnp("security", "trusted-domains", ORDERS["trusted-domains"], {
                "selector": "all()", "namespaceSelector": _namespaces(in_scope), "egress": [rule]}))
        for tenant in intent.tenants:
            if tenant.pci:
                objects.extend(self._guardrail("tenant-%s-pci" % tenant.name, tenant.namespaces, "pci", pci=True))
            objects.extend(self._guardrail("tenant-%s" % tenant.name, tenant.namespaces, "tenant", pci=False))
        objects.append(self._pass_all("security"))
        return objects

    def _guardrail(self, name, namespaces, kind, pci):
        """A Pass policy for what may cross the boundary and the boundary itself."""
        inside = set(namespaces)
        ns_selector = _namespaces(namespaces)
        ingress, egress = [], []
        if not pci:
            ingress.append({"action": "Pass", "source": {"namespaceSelector": ns_selector}})
            egress.append({"action": "Pass", "destination": {"namespaceSelector": ns_selector}})
        egress.extend(self.dns_rules("Pass"))
        for flow in self.flows:
            src_in = flow.source.namespace in inside and not flow.source.is_external
            dst_in = flow.destination.namespace in inside and not flow.destination.is_external
            if dst_in and (pci or not src_in) and not flow.source.is_external:
                ingress.append(self.ingress_rule("Pass", flow, None))
            if src_in and (pci or not dst_in) and not flow.destination.is_external:
                egress.append(self.egress_rule("Pass", flow, None))
        selector = sel.eq(*PCI) if pci else "all()"
        spec = {"selector": selector, "namespaceSelector": ns_selector}
        if ingress:
            spec["ingress"] = ingress
        spec["egress"] = egress
        action = "Deny" if self.enforced else "Pass"
        boundary = {"selector": selector, "namespaceSelector": ns_selector,
                    "ingress": [{"action": action, "source": {"namespaceSelector": "all()"}}],
                    "egress": [{"action": action, "destination": {"namespaceSelector": "all()"}}]}
        return [self._gnp("security", name, ORDERS[kind], spec),
                self._gnp("security", name + "-boundary", ORDERS[kind + "-boundary"], boundary, posture=True)]

    def platform(self):
        in_scope = self.intent.in_scope_namespaces
        if not in_scope:
            return []
        dns = self._gnp("platform", "cluster-dns", ORDERS["dns"], {
            "selector": "all()", "namespaceSelector": _namespaces(in_scope), "egress": self.dns_rules("Allow")})
        return [dns, self._pass_all("platform", in_scope)]

    def application(self):
        namespaces = sorted(ns for ns, tier in self.namespace_tiers.items() if tier == "application")
        objects = []
        for namespace in namespaces:
            ingress, egress = self.local.of(namespace)
            spec = {"selector": "all()",
                    "ingress": [self.ingress_rule("Allow", f, namespace, narrow=True, tier="application") for f in ingress],
                    "egress": [self.egress_rule("Allow", f, namespace, narrow=True, tier="application") for f in egress]}
            objects.append(self._policy("NetworkPolicy", "application", namespace, ORDERS["workload"], spec, namespace=namespace))
        if namespaces:
            objects.append(self._pass_all("application", namespaces))
        return objects

    def _workload_name(self, endpoint):
        return workload_policy_name(endpoint, self.identity)

    def appsec(self):
        namespaces = sorted(ns for ns, tier in self.namespace_tiers.items() if tier == "appsec")
        objects = []
        for namespace in namespaces:
            by_workload = self.local.by_workload(namespace)
            for endpoint in sorted(by_workload):
                inbound, outbound = by_workload[endpoint]
                selector = "all()" if endpoint.kind == "namespace" else sel.eq(endpoint.key, endpoint.value)
                spec = {"selector": selector}
                if inbound:
                    spec["ingress"] = [self.ingress_rule("Allow", f, namespace, tier="appsec") for f in inbound]
                if outbound:
                    spec["egress"] = [self.egress_rule("Allow", f, namespace, tier="appsec") for f in outbound]
                objects.append(self._policy("NetworkPolicy", "appsec", self._workload_name(endpoint), ORDERS["workload"], spec,
                                            namespace=namespace))
        if namespaces:
            objects.append(self._pass_all("appsec", namespaces))
        return objects

    def default(self):
        action = "Deny" if self.enforced else "Allow"
        domains = [("tenant-" + t.name, t.namespaces) for t in self.intent.tenants]
        domains += [("namespace-" + ns, (ns,)) for ns in self.intent.in_scope_namespaces if self.intent.tenant_of(ns) is None]
        return [self._gnp("default", "%s-catch-all" % name, ORDERS["catch-all"], {
            "selector": "all()", "namespaceSelector": _namespaces(namespaces),
            "ingress": [{"action": action}], "egress": [{"action": action}]}, posture=True) for name, namespaces in domains]

    def _network_set(self, name, tier, spec):
        labels = self._labels(tier)
        labels[SET_LABEL] = name
        return {"apiVersion": API_VERSION, "kind": "GlobalNetworkSet", "metadata": {"name": name, "labels": labels}, "spec": spec}

    def render(self):
        objects = self.tiers() + self.security() + self.platform() + self.application() + self.appsec() + self.default()
        for slug, (domain, tier) in sorted(self.domain_sets.items()):
            objects.append(self._network_set(slug, tier, {"allowedEgressDomains": [domain]}))
        check_served(objects, self.features)
        return objects, self.losses


PCI = ("pci", "true")


def render(intent, flows, posture):
    """Calico objects for ``posture`` (failsafe or enforced) and the widenings it had to make (``Loss``)."""
    return CalicoRenderer(intent, flows, posture).render()
