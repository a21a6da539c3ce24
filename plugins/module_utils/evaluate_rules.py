"""Compiling policy objects into matchers for the offline evaluator (``evaluate.py``).

One function per policy family turns a plain dict into a :class:`Policy` whose rules are
:class:`CompiledRule` objects, following ``CALICO_SEMANTICS.md`` (rule numbers in comments):

* :func:`compile_calico` -- ``projectcalico.org/v3`` GlobalNetworkPolicy / NetworkPolicy and
  their ``Staged*`` variants (rules 5, 12-28);
* ``evaluate_k8s.py`` compiles Kubernetes NetworkPolicy and (Baseline)AdminNetworkPolicy
  onto the same classes.

An :class:`EntityMatcher` is the source or destination part of a rule, minus its ports. Its
positive selector is formed the way Calico's ``GetEntityRuleSelector`` forms it
(libcalico-go ``updateprocessors/rules.go``): in a namespaced policy any selector field,
``notSelector`` included, limits the positive match to the policy's namespace unless a
``namespaceSelector`` is given; inside a ``namespaceSelector`` ``all()`` means "any
namespaced object" and ``global()`` means "any non-namespaced object" (rules 20-22, 26). A
selector matches an address through the objects it selects: the workload's own labels, or
the ``nets`` (and, for egress Allow destinations only, ``allowedEgressDomains``, rule 27) of
the network sets it selects (rule 24). ``notSelector`` is applied as written, cluster-wide.

Matchers are pure functions of a peer view (``evaluate._View``); the evaluator memoises them.
Plain Python, no Ansible import.
"""
from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.selector import (
    AllNode, AndNode, GlobalNode, NotNode, OrNode, SelectorError, parse)

INGRESS, EGRESS = "Ingress", "Egress"
ALLOW, DENY, PASS, LOG = "Allow", "Deny", "Pass", "Log"
ACTIONS = {name.lower(): name for name in (ALLOW, DENY, PASS, LOG)}
PROTOCOLS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "SCTP": 132, "UDPLITE": 136}
ANP_TIER, BANP_TIER = "adminnetworkpolicy", "baselineadminnetworkpolicy"
CNP_ADMIN_TIER, CNP_BASELINE_TIER = "kube-admin", "kube-baseline"   # Calico 3.32: ClusterNetworkPolicy tier Admin / Baseline
STAGED_PREFIX = "staged:"
_ENTITY_KEYS = {"nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports", "notPorts",
                "serviceAccounts", "services", "domains"}
_RULE_KEYS = {"action", "protocol", "notProtocol", "source", "destination", "ipVersion", "icmp", "notICMP", "http", "metadata"}
_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", re.I)


class Context:
    """What compilation needs to know: network sets, services, cluster CIDRs, and a warning sink."""

    def __init__(self, netsets, services, contains, warn):
        self.netsets = netsets        # list of NetSet, index = position
        self.services = services      # (namespace, name) -> (selector dict or None, [(proto, port, target)])
        self.contains = contains      # contains(view, nets) -> bool, see evaluate.PolicySet
        self.warn = warn              # warn(message)
        self._matchers = {}

    def matcher(self, key, build):
        """The one EntityMatcher for ``key`` (identical entity rules share one, so they share memo entries)."""
        found = self._matchers.get(key)
        if found is None:
            found = self._matchers[key] = build(len(self._matchers))
        return found


# --------------------------------------------------------------------------- small parsers

def fail(where, field, message):
    """An InputError naming the object and the field."""
    return InputError(message, source=where, field=field)


def parse_selector(text, where, field):
    """A selector string -> Selector, or None when it selects everything (absent, ``''``, ``all()``)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise fail(where, field, "a selector must be a string, not %s" % type(text).__name__)
    try:
        selector = parse(text)
    except SelectorError as err:
        raise fail(where, field, str(err)) from err
    return None if isinstance(selector.root, AllNode) else selector


def global_scope_value(selector):
    """What a ``namespaceSelector`` says about a non-namespaced object: ``global()`` true, ``all()`` false.

    Calico rewrites ``all()`` to ``has(projectcalico.org/namespace)`` and ``global()`` to its
    negation; a non-namespaced object carries no namespace labels, so every label term sees ``{}``.
    """
    def value(node):
        if isinstance(node, GlobalNode):
            return True
        if isinstance(node, AllNode):
            return False
        if isinstance(node, NotNode):
            return not value(node.operand)
        if isinstance(node, AndNode):
            return all(value(op) for op in node.operands)
        if isinstance(node, OrNode):
            return any(value(op) for op in node.operands)
        return node.compile()({})
    return value(selector.root)


def protocol_number(value, where, field):
    """``TCP`` / ``udp`` / ``6`` / ``"17"`` -> IANA protocol number (rule 18)."""
    if isinstance(value, bool):
        raise fail(where, field, "protocol %r is not a name or number" % value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    elif isinstance(value, str) and value.strip().upper() in PROTOCOLS:
        return PROTOCOLS[value.strip().upper()]
    else:
        raise fail(where, field, "protocol %r is not TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255" % (value,))
    if not 1 <= number <= 255:
        raise fail(where, field, "protocol number %d is out of range 1-255" % number)
    return number


def parse_nets(values, where, field):
    """CIDR strings (a bare IP is a /32 or /128, host bits are masked as Calico does) -> tuple of networks."""
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise fail(where, field, "must be a list of CIDRs")
    nets = []
    for value in values:
        try:
            nets.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as err:
            raise fail(where, field, "%r is not a CIDR or IP address" % (value,)) from err
    return tuple(nets)


class PortSpec:
    """A ``ports`` / ``notPorts`` list: single ports, inclusive ranges and named ports (rule 19)."""

    __slots__ = ("singles", "ranges", "names")

    def __init__(self, singles=(), ranges=(), names=()):
        self.singles = frozenset(singles)
        self.ranges = tuple(ranges)
        self.names = tuple(names)

    @classmethod
    def parse(cls, values, where, field):
        """``[80, "8080", "9000:9100", "http"]`` -> PortSpec; None when absent or empty (no constraint)."""
        if values is None or (isinstance(values, (list, tuple)) and not values):
            return None
        if isinstance(values, (str, int)) or not isinstance(values, (list, tuple)):
            raise fail(where, field, "must be a list of ports")
        singles, ranges, names = [], [], []
        for value in values:
            text = str(value).strip()
            if isinstance(value, bool):
                raise fail(where, field, "%r is not a port" % (value,))
            if text.isdigit():
                singles.append(cls._number(text, where, field))
            elif re.fullmatch(r"[0-9]+:[0-9]+", text):
                low, high = (cls._number(part, where, field) for part in text.split(":"))
                if low > high:
                    raise fail(where, field, "port range %r starts after it ends" % text)
                ranges.append((low, high))
            elif isinstance(value, str) and _PORT_NAME.fullmatch(text):
                names.append(text)
            else:
                raise fail(where, field, "%r is not a port, a 'start:end' range or a port name" % (value,))
        return cls(singles, ranges, names)

    @staticmethod
    def _number(text, where, field):
        number = int(text)
        if number > 65535:
            raise fail(where, field, "port %d is out of range 0-65535" % number)
        return number

    def numeric(self, port):
        """True when ``port`` is one of the numbers or inside one of the ranges."""
        if port in self.singles:
            return True
        for low, high in self.ranges:
            if low <= port <= high:
                return True
        return False

    def named(self, view, proto, port):
        """True when a named port resolves, on ``view``'s workload, to exactly this protocol and port."""
        ports = view.ports
        for name in self.names:
            if ports.get(name) == (proto, port):
                return True
        return False


def domain_matcher(patterns, where, field):
    """Domain patterns (rule 28) -> function ``name -> bool``; None for no patterns."""
    exact, wild = set(), []
    for pattern in patterns:
        text = str(pattern).strip().lower().rstrip(".")
        labels = text.split(".")
        if not text or text.count("*") > 1 or any("*" in label and label != "*" for label in labels) or labels[-1] == "*":
            raise fail(where, field, "%r is not a valid domain: use one whole-label '*', not the last label" % (pattern,))
        if "*" in labels:
            parts = [r"[^.]+(?:\.[^.]+)*" if label == "*" else re.escape(label) for label in labels]
            wild.append(re.compile(r"\.".join(parts)))
        else:
            exact.add(text)
    if not exact and not wild:
        return None

    def matches(name):
        name = name.lower().rstrip(".")
        return name in exact or any(regex.fullmatch(name) for regex in wild)
    return matches


# --------------------------------------------------------------------------- network sets

class NetSet:
    """A GlobalNetworkSet (``namespace`` None) or NetworkSet: labels, nets and allowed egress domains."""

    __slots__ = ("index", "kind", "name", "namespace", "labels", "ns_labels", "nets", "domains")

    def __init__(self, index, obj, kind, ns_labels_of):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        self.index, self.kind, self.name = index, kind, meta.get("name", "")
        where = "%s %s" % (kind, self.name)
        self.namespace = (meta.get("namespace") or "default") if kind == "NetworkSet" else None
        self.labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        if self.namespace is not None:
            self.labels["projectcalico.org/namespace"] = self.namespace
        self.ns_labels = ns_labels_of(self.namespace) if self.namespace is not None else {}
        self.nets = parse_nets(spec.get("nets") or [], where, "spec.nets")
        self.domains = domain_matcher(spec.get("allowedEgressDomains") or [], where, "spec.allowedEgressDomains")


# --------------------------------------------------------------------------- entity matcher

class EntityMatcher:
    """The address part of a rule's ``source`` or ``destination`` (everything but ports)."""

    __slots__ = ("uid", "ns_eq", "ns_sel", "sel", "sa_sel", "sa_names", "positive", "not_sel", "nets", "not_nets",
                 "services", "domains", "allow_domains", "set_hits", "not_set_hits", "set_domains", "contains", "per_identity",
                 "per_class")

    def __init__(self, uid, ctx, allow_domains=False, sets_in_scope=True, **fields):
        self.uid = uid
        self.contains = ctx.contains
        self.allow_domains = allow_domains
        for name in ("ns_eq", "ns_sel", "sel", "sa_sel", "sa_names", "not_sel", "nets", "not_nets", "services", "domains"):
            setattr(self, name, fields.get(name))
        self.positive = any(getattr(self, name) is not None for name in ("ns_eq", "ns_sel", "sel", "sa_sel", "sa_names"))
        sets = ctx.netsets if sets_in_scope else ()
        self.set_hits = frozenset(s.index for s in sets if self.positive and self._selects_set(s))
        self.not_set_hits = frozenset(s.index for s in ctx.netsets if self.not_sel is not None and self.not_sel.matches(s.labels))
        doms = [s.domains for s in sets if s.index in self.set_hits and s.domains is not None]
        self.set_domains = doms if allow_domains and doms else None
        # A workload's result depends on its identity only (not its IP) when no address criterion is involved.
        self.per_identity = not (self.set_hits or self.not_set_hits or self.nets is not None or self.not_nets is not None)
        # ... and on its identity plus network-set membership (its "class") when no raw CIDR is involved.
        self.per_class = self.nets is None and self.not_nets is None

    def _selects_set(self, netset):
        """The positive selector applied to a network set's own labels and namespace."""
        if self.ns_eq is not None and netset.namespace != self.ns_eq:
            return False
        if self.ns_sel is not None:
            if netset.namespace is None:
                if not global_scope_value(self.ns_sel):
                    return False
            elif not self.ns_sel.matches(netset.ns_labels):
                return False
        if self.sel is not None and not self.sel.matches(netset.labels):
            return False
        if self.sa_sel is not None and not self.sa_sel.matches({}):
            return False
        return self.sa_names is None

    def _selects_workload(self, view):
        if self.ns_eq is not None and view.ns != self.ns_eq:
            return False
        if self.ns_sel is not None and not self.ns_sel.matches(view.ns_labels):
            return False
        if self.sel is not None and not self.sel.matches(view.labels):
            return False
        if self.sa_sel is not None and not self.sa_sel.matches(view.sa_labels):
            return False
        return self.sa_names is None or view.sa in self.sa_names

    def _domain_hit(self, view):
        return bool(view.domain) and any(match(view.domain) for match in self.set_domains)

    def match(self, view):
        """True when the peer ``view`` is matched by every field of this entity rule."""
        if self.positive:
            if not ((view.is_workload and self._selects_workload(view)) or (view.netsets & self.set_hits)
                    or (self.set_domains is not None and self._domain_hit(view))):
                return False
        if self.not_sel is not None:
            if (view.is_workload and self.not_sel.matches(view.labels)) or (view.netsets & self.not_set_hits):
                return False
        if self.nets is not None and not self.contains(view, self.nets):
            return False
        if self.not_nets is not None and self.contains(view, self.not_nets):
            return False
        if self.services is not None and not self._service_hit(view):
            return False
        if self.domains is not None:
            if not (self.allow_domains and view.domain and self.domains(view.domain)):
                return False
        return True

    def _service_hit(self, view):
        if not view.is_workload:
            return False
        for namespace, selector, _ports in self.services:
            if view.ns == namespace and selector and all(view.pod_labels.get(k) == v for k, v in selector.items()):
                return True
        return False


# --------------------------------------------------------------------------- rules and policies

class CompiledRule:
    """One rule: static protocol/port criteria, source and destination matchers, and the action."""

    __slots__ = ("index", "action", "proto", "not_proto", "dports", "dnotports", "sports", "snotports",
                 "src", "dst", "dst_services", "ip_version", "always_dynamic", "per_class", "decision")

    def __init__(self, index, action, proto=None, not_proto=None, dports=None, dnotports=None, sports=None,
                 snotports=None, src=None, dst=None, dst_services=None, ip_version=None):
        self.index, self.action = index, action
        self.proto, self.not_proto = proto, not_proto
        self.dports, self.dnotports, self.sports, self.snotports = dports, dnotports, sports, snotports
        self.src, self.dst, self.dst_services, self.ip_version = src, dst, dst_services, ip_version
        self.always_dynamic = sports is not None or snotports is not None or dst_services is not None or ip_version is not None
        # The outcome depends only on the classes of source and destination (identity, network sets, named ports).
        self.per_class = (sports is None and snotports is None and ip_version is None
                          and (src is None or src.per_class) and (dst is None or dst.per_class))
        self.decision = None

    def static(self, proto, port):
        """None if the rule cannot match this protocol and port; else whether :meth:`dynamic` must run."""
        if self.proto is not None and proto not in self.proto:
            return None
        if self.not_proto is not None and proto in self.not_proto:
            return None
        dynamic = self.always_dynamic
        if self.dports is not None:
            if port is None:
                return None
            if not self.dports.numeric(port):
                if not self.dports.names:
                    return None
                dynamic = True
        if self.dnotports is not None:
            if port is None or self.dnotports.numeric(port):
                return None
            dynamic = dynamic or bool(self.dnotports.names)
        return dynamic

    def dynamic(self, src, dst, proto, port, sport):
        """The checks that depend on the endpoints: named ports, source ports, Service ports, IP version."""
        if self.dports is not None and not self.dports.numeric(port) and not self.dports.named(dst, proto, port):
            return False
        if self.dnotports is not None and self.dnotports.named(dst, proto, port):
            return False
        if self.sports is not None and (sport is None or not (self.sports.numeric(sport) or self.sports.named(src, proto, sport))):
            return False
        if self.snotports is not None and sport is not None and (self.snotports.numeric(sport) or self.snotports.named(src, proto, sport)):
            return False
        if self.dst_services is not None and not _service_port(self.dst_services, dst, proto, port):
            return False
        if self.ip_version is not None:
            for view in (src, dst):
                if view.ip is not None and view.ip.version != self.ip_version:
                    return False
        return True


def _service_port(services, view, proto, port):
    """True when (proto, port) is a target port of one of the Services (rule 3: after DNAT)."""
    for _namespace, _selector, ports in services:
        for svc_proto, svc_port, target in ports:
            if svc_proto != proto:
                continue
            target = svc_port if target is None else target
            if (isinstance(target, int) and target == port) or (isinstance(target, str) and view.ports.get(target) == (proto, port)):
                return True
    return False


class Policy:
    """A policy ready to evaluate: where it sits, what it selects, and its rules per direction."""

    __slots__ = ("name", "sort_name", "kind", "key", "tier", "order", "namespace", "sel", "ns_sel", "sa_sel", "types",
                 "rules", "staged", "staged_delete")

    def __init__(self, name, kind, tier, order, namespace=None, sel=None, ns_sel=None, sa_sel=None, types=(), rules=None,
                 key=None, sort_name=None, staged=False, staged_delete=False):
        self.name, self.kind, self.tier, self.order = name, kind, tier, order
        self.namespace, self.sel, self.ns_sel, self.sa_sel = namespace, sel, ns_sel, sa_sel
        self.types = frozenset(types)
        self.rules = rules or {INGRESS: [], EGRESS: []}
        self.key, self.sort_name = key, sort_name or name
        self.staged, self.staged_delete = staged, staged_delete

    def sort_key(self):
        """Rule 12: order (missing = +inf), then name."""
        return (self.order is None, self.order if self.order is not None else 0.0, self.sort_name)

    def may_apply_in(self, namespace, ns_labels):
        """Cheap namespace-level part of :meth:`selects`, used to index policies per namespace."""
        if self.namespace is not None and self.namespace != namespace:
            return False
        return self.ns_sel is None or self.ns_sel.matches(ns_labels)

    def selects(self, view):
        """Rule 13: does this policy select the workload?"""
        if self.namespace is not None and self.namespace != view.ns:
            return False
        if self.ns_sel is not None and not self.ns_sel.matches(view.ns_labels):
            return False
        if self.sel is not None and not self.sel.matches(view.labels):
            return False
        return self.sa_sel is None or self.sa_sel.matches(view.sa_labels)


def parse_order(value, where, field):
    if value is None:
        return None
    if isinstance(value, bool):
        raise fail(where, field, "order must be a number")
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise fail(where, field, "order %r is not a number" % (value,)) from err


def object_meta(obj, kind, namespaced):
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name or not isinstance(name, str):
        raise fail(kind, "metadata.name", "is required")
    namespace = (meta.get("namespace") or "default") if namespaced else None
    where = "%s %s" % (kind, "%s/%s" % (namespace, name) if namespaced else name)
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise fail(where, "spec", "must be a mapping")
    return name, namespace, where, spec


# --------------------------------------------------------------------------- Calico policies

def compile_calico(obj, kind, ctx):
    """A (Staged)GlobalNetworkPolicy / (Staged)NetworkPolicy dict -> Policy, or None for host-endpoint-only policies."""
    staged = kind.startswith("Staged")
    base_kind = kind[len("Staged"):] if staged else kind
    namespaced = base_kind == "NetworkPolicy"
    name, namespace, where, spec = object_meta(obj, kind, namespaced)
    if spec.get("doNotTrack") or spec.get("preDNAT"):
        ctx.warn("%s: doNotTrack/preDNAT policies apply to host endpoints only; ignored (rule 4)" % where)
        return None
    tier = spec.get("tier") or "default"
    ingress, egress = spec.get("ingress") or [], spec.get("egress") or []
    types = spec.get("types")
    if types is None:                                              # rule 14
        types = [EGRESS] if egress and not ingress else [INGRESS, EGRESS] if egress else [INGRESS]
    types = [policy_type(t, where) for t in types]
    display = "%s/%s" % (namespace, name) if namespaced else name
    scope = namespace if namespaced else None
    rules = {INGRESS: [_calico_rule(r, i, INGRESS, scope, ctx, where) for i, r in enumerate(ingress)],
             EGRESS: [_calico_rule(r, i, EGRESS, scope, ctx, where) for i, r in enumerate(egress)]}
    if not namespaced and spec.get("namespaceSelector") is not None:
        ns_sel = parse_selector(spec.get("namespaceSelector"), where, "spec.namespaceSelector")
    else:
        ns_sel = None
    return Policy(
        name=("%s/%s%s" % (namespace, STAGED_PREFIX, name) if namespaced else STAGED_PREFIX + name) if staged else display,
        kind=kind, tier=tier, order=parse_order(spec.get("order"), where, "spec.order"), namespace=scope,
        sel=parse_selector(spec.get("selector"), where, "spec.selector"), ns_sel=ns_sel,
        sa_sel=parse_selector(spec.get("serviceAccountSelector"), where, "spec.serviceAccountSelector"),
        types=types, rules=rules, key=(base_kind, namespace, name), sort_name=display, staged=staged,
        staged_delete=staged and spec.get("stagedAction") == "Delete")


def policy_type(value, where):
    for known in (INGRESS, EGRESS):
        if str(value).lower() == known.lower():
            return known
    raise fail(where, "spec.types", "%r is not Ingress or Egress" % (value,))


def rule_action(value, where, field, allowed=ACTIONS):
    action = allowed.get(str(value).lower()) if value is not None else None
    if action is None:
        raise fail(where, field, "action %r is not one of %s" % (value, ", ".join(sorted(set(allowed.values())))))
    return action


def _calico_rule(rule, index, direction, scope, ctx, where):
    field = "spec.%s[%d]" % (direction.lower(), index)
    if not isinstance(rule, dict):
        raise fail(where, field, "a rule must be a mapping")
    action = rule_action(rule.get("action"), where, field + ".action")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        ctx.warn("%s: %s: unknown rule field(s) %s ignored" % (where, field, ", ".join(unknown)))
    if rule.get("http") is not None or rule.get("icmp") is not None or rule.get("notICMP") is not None:
        ctx.warn("%s: %s: HTTP and ICMP type/code matches are out of scope and ignored" % (where, field))
    proto = rule.get("protocol")
    not_proto = rule.get("notProtocol")
    parts = {}
    for side in ("source", "destination"):
        entity = rule.get(side) or {}
        if not isinstance(entity, dict):
            raise fail(where, "%s.%s" % (field, side), "must be a mapping")
        allow_domains = side == "destination" and direction == EGRESS and action == ALLOW
        parts[side] = _calico_entity(entity, scope, allow_domains, ctx, where, "%s.%s" % (field, side))
    ip_version = rule.get("ipVersion")
    if ip_version not in (None, 4, 6):
        raise fail(where, field + ".ipVersion", "must be 4 or 6")
    src, sports, snotports, _svc = parts["source"]
    dst, dports, dnotports, dst_services = parts["destination"]
    return CompiledRule(
        index, action,
        proto=None if proto is None else frozenset([protocol_number(proto, where, field + ".protocol")]),
        not_proto=None if not_proto is None else frozenset([protocol_number(not_proto, where, field + ".notProtocol")]),
        dports=dports, dnotports=dnotports, sports=sports, snotports=snotports, src=src, dst=dst,
        dst_services=dst_services, ip_version=ip_version)


def _calico_entity(entity, scope, allow_domains, ctx, where, field):
    """An EntityRule dict -> (EntityMatcher or None, ports, notPorts, services)."""
    unknown = sorted(set(entity) - _ENTITY_KEYS)
    if unknown:
        ctx.warn("%s: %s: unknown field(s) %s ignored" % (where, field, ", ".join(unknown)))
    ports = PortSpec.parse(entity.get("ports"), where, field + ".ports")
    not_ports = PortSpec.parse(entity.get("notPorts"), where, field + ".notPorts")
    address = {k: v for k, v in entity.items() if k in _ENTITY_KEYS and k not in ("ports", "notPorts") and v not in (None, "", [], {})}
    if not address:
        return None, ports, not_ports, None                      # rule 20: an empty EntityRule matches everything
    services = _services(address.get("services"), scope, ctx, where, field + ".services")
    key = ("calico", json.dumps(address, sort_keys=True, default=str), scope, allow_domains)
    matcher = ctx.matcher(key, lambda uid: _calico_matcher(uid, address, scope, allow_domains, services, ctx, where, field))
    return matcher, ports, not_ports, services if field.endswith("destination") else None


def _calico_matcher(uid, entity, scope, allow_domains, services, ctx, where, field):
    sel = not_sel = None
    if entity.get("selector") not in (None, ""):                  # an explicit all() still means "known objects only"
        sel = parse_selector(entity["selector"], where, field + ".selector") or parse("all()")
    if entity.get("notSelector") not in (None, ""):
        not_sel = parse_selector(entity["notSelector"], where, field + ".notSelector") or parse("all()")
    ns_sel = None
    if entity.get("namespaceSelector") not in (None, ""):
        ns_sel = parse_selector(entity["namespaceSelector"], where, field + ".namespaceSelector") or parse("all()")
    sa_sel = sa_names = None
    accounts = entity.get("serviceAccounts")
    if accounts is not None:
        if not isinstance(accounts, dict):
            raise fail(where, field + ".serviceAccounts", "must be a mapping with names and/or selector")
        if accounts.get("selector") not in (None, ""):
            sa_sel = parse_selector(accounts["selector"], where, field + ".serviceAccounts.selector") or parse("all()")
        if accounts.get("names"):
            sa_names = frozenset(str(n) for n in accounts["names"])
    ns_eq = None
    if ns_sel is None and scope is not None and (sel is not None or sa_sel is not None or sa_names is not None or not_sel is not None):
        ns_eq = scope                                             # rule 21: a NetworkPolicy's own namespace
    domains = None
    if entity.get("domains") is not None:
        domains = domain_matcher(entity["domains"], where, field + ".domains")
        if not allow_domains:
            ctx.warn("%s: %s.domains only count in egress Allow destinations (rule 27); this rule never matches" % (where, field))
    return EntityMatcher(uid, ctx, allow_domains=allow_domains, ns_eq=ns_eq, ns_sel=ns_sel, sel=sel, sa_sel=sa_sel,
                         sa_names=sa_names, not_sel=not_sel, nets=parse_nets(entity.get("nets"), where, field + ".nets"),
                         not_nets=parse_nets(entity.get("notNets"), where, field + ".notNets"), services=services,
                         domains=domains or ((lambda name: False) if entity.get("domains") is not None else None))


def _services(spec, scope, ctx, where, field):
    """``services: {name, namespace}`` -> ((namespace, selector, ports),) resolved from Service objects (rule 25)."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not spec.get("name"):
        raise fail(where, field, "must be a mapping with a name")
    namespace = spec.get("namespace") or scope
    found = ctx.services.get((namespace, spec["name"]))
    if found is None or not found[0]:
        ctx.warn("%s: %s: Service %s/%s is unknown or has no selector; the rule matches nothing" % (where, field, namespace, spec["name"]))
        return ((namespace, None, ()),)
    return ((namespace, found[0], found[1]),)
