"""Declared intent: the inventory variables of CONTRACT §3, validated into plain objects.

Every problem is an InputError whose field names the variable path at fault, e.g.
``microseg_apps[1].namespace``.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils import labels as k8s_labels
from ansible_collections.zerotrust.microseg.plugins.module_utils import selector as calico_selector
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS, served_by_default
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.calico import version_problem

TIERS = ("security", "platform", "application", "appsec", "default")
APP_TIERS = ("application", "appsec")
EDITIONS = ("oss", "enterprise")
PCI_LABEL = ("pci", "true")
DEFAULT_DNS = {"namespace": "kube-system", "selector": "k8s-app == 'kube-dns'", "port": 53}
DEFAULT_CLUSTER_CIDRS = ("10.244.0.0/16", "10.96.0.0/12")
# microseg_cluster_serves: the cluster-wide policy kinds a dialect may write (kind -> the apiVersion it is written as); the
# cluster target discovers them instead (phases.adopt_served_kinds), the directory target takes the variable
CLUSTER_KINDS = {"AdminNetworkPolicy": "policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy": "policy.networking.k8s.io/v1alpha1",
                 "ClusterNetworkPolicy": "policy.networking.k8s.io/v1alpha2"}
DEFAULT_CLUSTER_SERVES = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")   # as a cluster serving the v1alpha1 CRDs: both come together
THREAT_NETS_FALLBACKS = ("fail", "except")   # microseg_threat_nets_fallback: what the kubernetes dialect does without AdminNetworkPolicy
SOURCE = "inventory"


@dataclass(frozen=True)
class Tenant:
    name: str
    namespaces: tuple
    pci: bool = False


@dataclass(frozen=True)
class App:
    name: str
    namespace: str
    tenant: str = ""
    identity_label: str = "app"
    tier: str = "appsec"
    flows: object = None  # a path or an inline list, resolved by flows.load_flows


@dataclass(frozen=True)
class Dns:
    namespace: str
    selector: str
    port: int


@dataclass
class Intent:
    dialect: str = "calico"
    calico_version: tuple = (3, 32)
    edition: str = "oss"
    tenants: list = field(default_factory=list)
    apps: list = field(default_factory=list)
    trusted_domains: list = field(default_factory=list)
    threat_nets: list = field(default_factory=list)
    dns: Dns = None
    cluster_cidrs: list = field(default_factory=list)
    observed_flows: list = field(default_factory=list)
    flow_logs: list = field(default_factory=list)
    strict: bool = False          # skipped flow-log lines are errors (microseg_strict)
    remediated_flows: str = ""    # the flow table remediate appends accepted rows to (microseg_remediated_flows)
    cluster_serves: tuple = DEFAULT_CLUSTER_SERVES   # CLUSTER_KINDS the cluster serves (microseg_cluster_serves, or discovery)
    cluster_serves_given: bool = False   # microseg_cluster_serves was set (a claim discovery may contradict), not defaulted
    served_by: str = "the cluster (microseg_cluster_serves)"   # who says so, for messages (phases.adopt_served_kinds names the cluster)
    threat_nets_fallback: str = "fail"               # without AdminNetworkPolicy: fail, or except (microseg_threat_nets_fallback)
    base_dir: str = "."

    @property
    def identity_labels(self):
        """Namespace -> identity label key of the apps living there."""
        return {app.namespace: app.identity_label for app in self.apps}

    @property
    def namespace_tiers(self):
        """In-scope namespace -> the tier that owns its rules (appsec wins over application)."""
        tiers = {}
        for tenant in self.tenants:
            for namespace in tenant.namespaces:
                tiers.setdefault(namespace, "application")
        for app in self.apps:
            if app.tier == "appsec" or tiers.get(app.namespace) != "appsec":
                tiers[app.namespace] = app.tier
        return tiers

    @property
    def in_scope_namespaces(self):
        return sorted(self.namespace_tiers)

    def tenant_of(self, namespace):
        for tenant in self.tenants:
            if namespace in tenant.namespaces:
                return tenant
        return None

    def resolve(self, path):
        """A path relative to the inventory directory."""
        return path if os.path.isabs(path) else os.path.join(self.base_dir, path)


def _fail(field_name, message):
    raise InputError(message, source=SOURCE, field=field_name)


def _mapping(value, field_name):
    if not isinstance(value, dict):
        _fail(field_name, "must be a mapping, got %s" % type(value).__name__)
    return value


def _list(value, field_name):
    if value is None:
        return []
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        _fail(field_name, "must be a list, got %s" % type(value).__name__)
    return list(value)


def _string(value, field_name, check=None):
    if not isinstance(value, str) or not value:
        _fail(field_name, "must be a non-empty string, got %r" % (value,))
    if check:
        try:
            check(value)
        except ValueError as err:
            _fail(field_name, str(err))
    return value


def _unknown_keys(value, allowed, field_name):
    extra = sorted(set(value) - set(allowed))
    if extra:
        _fail(field_name, "unknown key(s) %s; allowed: %s" % (", ".join(map(str, extra)), ", ".join(allowed)))


def _bool(value, field_name):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return value.lower() in ("true", "yes")
    _fail(field_name, "must be a boolean, got %r" % (value,))


def _cidr(value, field_name):
    text = _string(value, field_name)
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as err:
        _fail(field_name, "%r is not a CIDR: %s" % (text, err))


def calico_version_text(value, field_name="microseg_calico_version"):
    """The version as written. An unquoted YAML number is a float: with a two-digit minor (3.31) it is unambiguous; with
    one digit (3.4) it may have been written 3.4 or 3.40 (YAML drops the zero), so it is refused, asking for quotes."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail(field_name, "%r is not a version like \"3.32\"" % (value,))
    if not isinstance(value, float):
        return str(value)
    text = repr(float(value))
    _major, _dot, minor = text.partition(".")
    if minor.isdigit() and len(minor) == 1:
        _fail(field_name, "the unquoted number %s is ambiguous: YAML reads %s0 as %s too; quote the version as written, e.g. "
              "%s: \"%s0\"" % (text, text, text, field_name, text))
    return text


def calico_version(value, dialect="calico", edition="oss"):
    """``microseg_calico_version`` -> ``(major, minor)``; with the calico dialect only the versions it renders for."""
    text = calico_version_text(value)
    try:
        parts = tuple(int(p) for p in text.split(".")[:2])
    except ValueError:
        _fail("microseg_calico_version", "%r is not a version like \"3.32\"" % text)
    if len(parts) < 2:
        parts = parts + (0,)
    problem = version_problem(parts, edition) if dialect == "calico" else ""
    if problem:
        _fail("microseg_calico_version", problem)
    return parts


def _domain(value, field_name):
    from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_endpoint
    try:
        return parse_endpoint("domain:" + _string(value, field_name)).domain
    except ValueError as err:
        _fail(field_name, str(err))


def _tenants(raw):
    tenants, seen_ns = [], {}
    for i, item in enumerate(_list(raw, "microseg_tenants")):
        where = "microseg_tenants[%d]" % i
        item = _mapping(item, where)
        _unknown_keys(item, ("name", "namespaces", "pci"), where)
        name = _string(item.get("name"), where + ".name", k8s_labels.validate_namespace)
        namespaces = []
        for j, ns in enumerate(_list(item.get("namespaces"), where + ".namespaces")):
            ns = _string(ns, "%s.namespaces[%d]" % (where, j), k8s_labels.validate_namespace)
            if ns in seen_ns:
                _fail("%s.namespaces[%d]" % (where, j), "namespace %r already belongs to tenant %r" % (ns, seen_ns[ns]))
            seen_ns[ns] = name
            namespaces.append(ns)
        if not namespaces:
            _fail(where + ".namespaces", "a tenant needs at least one namespace")
        if any(t.name == name for t in tenants):
            _fail(where + ".name", "tenant %r is declared twice" % name)
        tenants.append(Tenant(name=name, namespaces=tuple(sorted(namespaces)), pci=_bool(item.get("pci", False), where + ".pci")))
    return tenants


def _apps(raw, tenants):
    apps, identity = [], {}
    tenant_names = {t.name for t in tenants}
    for i, item in enumerate(_list(raw, "microseg_apps")):
        where = "microseg_apps[%d]" % i
        item = _mapping(item, where)
        _unknown_keys(item, ("name", "namespace", "tenant", "identity_label", "tier", "flows"), where)
        name = _string(item.get("name"), where + ".name", k8s_labels.validate_namespace)
        namespace = _string(item.get("namespace", name), where + ".namespace", k8s_labels.validate_namespace)
        tenant = item.get("tenant") or ""
        if tenant:
            _string(tenant, where + ".tenant")
            if tenant not in tenant_names:
                _fail(where + ".tenant", "tenant %r is not declared in microseg_tenants" % tenant)
            owner = next(t for t in tenants if t.name == tenant)
            if namespace not in owner.namespaces:
                _fail(where + ".namespace", "namespace %r is not one of tenant %r's namespaces %s" % (namespace, tenant, list(owner.namespaces)))
        label = _string(item.get("identity_label", "app"), where + ".identity_label", k8s_labels.validate_label_key)
        if identity.get(namespace, label) != label:
            _fail(where + ".identity_label", "namespace %r already uses identity label %r" % (namespace, identity[namespace]))
        identity[namespace] = label
        tier = item.get("tier", "appsec")
        if tier not in APP_TIERS:
            _fail(where + ".tier", "must be one of %s, got %r" % (", ".join(APP_TIERS), tier))
        flows = item.get("flows")
        if flows is not None and not isinstance(flows, (str, list)):
            _fail(where + ".flows", "must be a path or a list of {source, destination, port}")
        if any(a.name == name for a in apps):
            _fail(where + ".name", "app %r is declared twice" % name)
        apps.append(App(name=name, namespace=namespace, tenant=tenant, identity_label=label, tier=tier, flows=flows))
    return apps


def _dns(raw):
    raw = {**DEFAULT_DNS, **_mapping(raw or {}, "microseg_dns")}
    _unknown_keys(raw, ("namespace", "selector", "port"), "microseg_dns")
    namespace = _string(raw["namespace"], "microseg_dns.namespace", k8s_labels.validate_namespace)
    text = _string(raw["selector"], "microseg_dns.selector")
    try:
        text = str(calico_selector.parse(text))
    except ValueError as err:
        _fail("microseg_dns.selector", str(err))
    try:
        port = 0 if isinstance(raw["port"], bool) else int(raw["port"])
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        _fail("microseg_dns.port", "%r is not a port (1-65535)" % (raw["port"],))
    return Dns(namespace=namespace, selector=text, port=port)


def _served_kinds(raw, dialect):
    """``microseg_cluster_serves`` -> the sorted kinds (None: a cluster serving what the dialect writes; an empty list is a
    cluster serving none)."""
    if raw is None:
        return tuple(sorted(served_by_default(dialect, DEFAULT_CLUSTER_SERVES)))
    kinds = []
    for i, kind in enumerate(_list(raw, "microseg_cluster_serves")):
        if kind not in CLUSTER_KINDS:
            _fail("microseg_cluster_serves[%d]" % i, "must be one of %s, got %r" % (", ".join(CLUSTER_KINDS), kind))
        kinds.append(kind)
    return tuple(sorted(set(kinds)))


def load_intent(variables, base_dir="."):
    """Validate the ``microseg_*`` variables of one host into an Intent."""
    v = dict(variables or {})
    intent = Intent(base_dir=base_dir or ".")
    intent.dialect = v.get("microseg_dialect") or "calico"
    if intent.dialect not in DIALECTS:
        _fail("microseg_dialect", "must be one of %s, got %r" % (", ".join(DIALECTS), intent.dialect))
    intent.edition = v.get("microseg_calico_edition") or "oss"
    if intent.edition not in EDITIONS:
        _fail("microseg_calico_edition", "must be one of %s, got %r" % (", ".join(EDITIONS), intent.edition))
    version = v.get("microseg_calico_version")
    intent.calico_version = calico_version("3.32" if version in (None, "") else version, intent.dialect, intent.edition)
    intent.tenants = _tenants(v.get("microseg_tenants"))
    intent.apps = _apps(v.get("microseg_apps"), intent.tenants)
    intent.trusted_domains = sorted({_domain(d, "microseg_trusted_domains[%d]" % i)
                                     for i, d in enumerate(_list(v.get("microseg_trusted_domains"), "microseg_trusted_domains"))})
    intent.threat_nets = sorted({_cidr(n, "microseg_threat_nets[%d]" % i)
                                 for i, n in enumerate(_list(v.get("microseg_threat_nets"), "microseg_threat_nets"))})
    intent.dns = _dns(v.get("microseg_dns"))
    cidrs = v.get("microseg_cluster_cidrs")
    cidrs = DEFAULT_CLUSTER_CIDRS if cidrs is None else cidrs
    intent.cluster_cidrs = [_cidr(n, "microseg_cluster_cidrs[%d]" % i) for i, n in enumerate(_list(cidrs, "microseg_cluster_cidrs"))]
    intent.observed_flows = _list(v.get("microseg_observed_flows"), "microseg_observed_flows")
    intent.flow_logs = _list(v.get("microseg_flow_logs"), "microseg_flow_logs")
    intent.strict = _bool(v.get("microseg_strict") or False, "microseg_strict")
    remediated = v.get("microseg_remediated_flows")
    intent.remediated_flows = _string(remediated, "microseg_remediated_flows") if remediated else ""
    intent.cluster_serves = _served_kinds(v.get("microseg_cluster_serves"), intent.dialect)
    intent.cluster_serves_given = v.get("microseg_cluster_serves") is not None
    intent.threat_nets_fallback = v.get("microseg_threat_nets_fallback") or "fail"
    if intent.threat_nets_fallback not in THREAT_NETS_FALLBACKS:
        _fail("microseg_threat_nets_fallback", "must be one of %s, got %r" % (", ".join(THREAT_NETS_FALLBACKS), intent.threat_nets_fallback))
    return intent
