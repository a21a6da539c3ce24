"""Offline policy evaluator: does a policy set allow a connection, and which tier, policy and rule decided.

Follows ``CALICO_SEMANTICS.md`` (sections A-G, the reference algorithm in G): a connection is
allowed when the source's egress verdict and the destination's ingress verdict are Allow,
evaluating only the in-cluster side(s) (rule 2). Per endpoint and direction, tiers run in
(order or +inf, name) order; a tier in which no policy selects the endpoint for that
direction is skipped (rule 8); inside a tier policies run by (order or +inf, name), rules top
to bottom, Allow/Deny are final, Pass leaves the tier, Log continues; a tier without a
verdict ends in its ``defaultAction``; after the last tier the profile ``kns.<namespace>``
allows (rule 11). Policies are compiled by ``evaluate_rules.py`` (Calico kinds) and
``evaluate_k8s.py`` (Kubernetes NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy,
ClusterNetworkPolicy).

Modelling choices where the specification leaves room (all documented in the tests):

* A :class:`Workload` without ``ip`` is an address somewhere inside ``cluster_cidrs``: a net
  contains it only when the net contains a whole cluster CIDR (or is ``0.0.0.0/0`` / ``::/0``).
  An :class:`External` with only a domain has an unknown address outside the cluster: only
  ``0.0.0.0/0`` / ``::/0`` contain it, so ``notNets`` with specific CIDRs matches it; so do nets
  that together with the cluster CIDRs cover a whole address family (the CIDRs of "everything
  outside the cluster", which an AdminNetworkPolicy without ``except`` must list).
* The source port is unknown unless ``verdict(..., source_port=N)`` gives it; an unknown
  source port is in no ``source.ports`` list and matches every ``source.notPorts``.
* ``services`` rules are resolved from Service objects passed in ``objects`` (selector and
  target ports, rule 3); an unknown Service matches nothing. HTTP and ICMP type/code matches
  and host-endpoint-only policies (``doNotTrack``, ``preDNAT``) are out of scope: they are
  ignored and reported in :attr:`PolicySet.warnings`.
* End of tier: :attr:`Decision.policy` names the last policy of the tier that selected the
  endpoint (as Calico flow logs do); ``rule`` is None.
* ``staged=True`` previews Staged* policies as if enforced: a staged policy replaces the
  enforced policy of the same kind, namespace and name (``stagedAction: Delete`` removes it);
  its name is reported as ``staged:<name>``.

Speed: policies are indexed per tier and namespace; per workload identity (namespace, labels,
service account) the applicable policies, and per (direction, protocol, port) the rules that
can match, are computed once; each selector is parsed once and each source/destination matcher
is evaluated once per peer (memoised). Plain Python, no Ansible import.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate_k8s import compile_admin, compile_cluster, compile_kubernetes
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate_rules import (
    ANP_TIER, BANP_TIER, CNP_ADMIN_TIER, CNP_BASELINE_TIER, DENY, EGRESS, INGRESS, LOG, PASS, Context, NetSet, compile_calico, protocol_number)
from ansible_collections.zerotrust.microseg.plugins.module_utils.workloads import pod_labels

__all__ = ["Decision", "External", "PolicySet", "Verdict", "Workload", "namespaces_from_objects", "workloads_from_objects"]

DEFAULT_TIER = "default"
DEFAULT_TIER_ORDER = 1000000.0
BUILTIN_TIERS = {DEFAULT_TIER: (DEFAULT_TIER_ORDER, DENY), ANP_TIER: (1000.0, PASS), BANP_TIER: (10000000.0, PASS),
                 CNP_ADMIN_TIER: (1000.0, PASS), CNP_BASELINE_TIER: (10000000.0, PASS)}
_CALICO_KINDS = ("GlobalNetworkPolicy", "NetworkPolicy", "StagedGlobalNetworkPolicy", "StagedNetworkPolicy")
_WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
_MAX_ID_CACHE = 1 << 20
_PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132, "ICMP": 1, "tcp": 6, "udp": 17, "sctp": 132, "icmp": 1}


@dataclass(frozen=True)
class Workload:
    """A pod (or the pods of one controller): identity and, optionally, address and named ports."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    service_account: str = "default"
    service_account_labels: Mapping = None
    ip: str = ""
    ports: Mapping = None

    def __post_init__(self):
        if not isinstance(self.namespace, str) or not self.namespace:
            raise ValueError("a Workload needs a namespace")
        for name in ("labels", "service_account_labels", "ports"):
            object.__setattr__(self, name, dict(getattr(self, name) or {}))
        frozen = (self.namespace, self.name, frozenset(self.labels.items()), self.service_account,
                  frozenset(self.service_account_labels.items()), self.ip, frozenset((k, tuple(v)) for k, v in self.ports.items()))
        object.__setattr__(self, "_hash", hash(frozen))

    def __hash__(self):
        return self._hash


@dataclass(frozen=True)
class External:
    """An address outside the cluster, by IP and/or domain name."""

    ip: str = ""
    domain: str = ""


@dataclass(frozen=True)
class Decision:
    """The verdict of one side (direction) of a connection and what decided it."""

    action: str
    tier: str
    policy: str
    rule: int | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    """A connection's verdict: allowed when every evaluated side allows."""

    allowed: bool
    egress: Decision | None
    ingress: Decision | None


class _View:
    """A Workload or External as matchers see it; ``memo`` caches matcher results (uid -> bool)."""

    __slots__ = ("is_workload", "ns", "labels", "pod_labels", "ns_labels", "sa", "sa_labels", "ip", "domain", "netsets",
                 "ports", "memo", "imemo", "ident", "klass")

    def __init__(self, is_workload, ns=None, labels=None, pod_labels_=None, ns_labels=None, sa="", sa_labels=None, ip=None,
                 domain="", ports=None):
        self.is_workload, self.ns, self.sa, self.ip, self.domain = is_workload, ns, sa, ip, domain
        self.labels, self.pod_labels, self.ns_labels = labels or {}, pod_labels_ or {}, ns_labels or {}
        self.sa_labels, self.ports = sa_labels or {}, ports or {}
        self.netsets = frozenset()
        self.memo = self.imemo = {}
        self.ident = None
        self.klass = self


class _Identity:
    """Per (namespace, labels, service account): applicable policies, programs, and identity-level matcher results."""

    __slots__ = ("base", "programs", "shared", "memo")

    def __init__(self):
        self.base = {}
        self.programs = {EGRESS: {}, INGRESS: {}}      # (proto, port) key -> _Program
        self.shared = {EGRESS: {}, INGRESS: {}}        # rule-selection signature -> _Program
        self.memo = {}


class _Program:
    """Per identity, direction, protocol and port: per applying tier the candidate rules and the end-of-tier decision.

    When every candidate rule depends only on the classes of the endpoints (``CompiledRule.per_class``),
    decisions are cached per (source class, destination class).
    """

    __slots__ = ("tiers", "cacheable", "self_free", "cache")

    def __init__(self, tiers, cacheable, self_free):
        self.tiers, self.cacheable, self.self_free = tiers, cacheable, self_free
        self.cache = {} if cacheable else None


class _Class:
    """Interned (identity, network-set membership, named ports) of a workload; compared by identity."""

    __slots__ = ()


class _Tier:
    __slots__ = ("name", "order", "default_action", "policies")

    def __init__(self, name, order, default_action):
        self.name, self.order, self.default_action, self.policies = name, order, default_action, []


class _NetIndex:
    """IP -> network sets containing it, by one dict lookup per distinct prefix length."""

    def __init__(self, netsets):
        self.buckets = {}
        for netset in netsets:
            for net in netset.nets:
                bucket = self.buckets.setdefault((net.version, net.prefixlen), {})
                bucket.setdefault(int(net.network_address), set()).add(netset.index)

    def lookup(self, ip):
        """Indexes of the network sets whose nets contain ``ip``."""
        found = set()
        value, bits = int(ip), ip.max_prefixlen
        for (version, prefixlen), bucket in self.buckets.items():
            if version == ip.version:
                hits = bucket.get(value >> (bits - prefixlen) << (bits - prefixlen) if prefixlen else 0)
                if hits:
                    found |= hits
        return frozenset(found)


def _kind(obj):
    api = str(obj.get("apiVersion") or "")
    return (api.split("/", 1)[0] if "/" in api else "core"), str(obj.get("kind") or "")


class PolicySet:
    """A set of policy objects, compiled once, answering :meth:`verdict` for any connection."""

    def __init__(self, objects, namespaces=None, cluster_cidrs=(), staged=False):
        self.staged = staged
        self.warnings = []
        try:
            self.cluster_cidrs = tuple(ipaddress.ip_network(str(c), strict=False) for c in cluster_cidrs or ())
        except ValueError as err:
            raise InputError(str(err), field="cluster_cidrs") from err
        self._ns_labels = {}
        self._covering = {}   # nets -> do they cover everything outside the cluster (see _outside_covered)
        for name, labels in namespaces_from_objects(objects).items():
            self._ns_labels[name] = dict(labels)
        for name, labels in (namespaces or {}).items():
            self._ns_labels.setdefault(name, {}).update({str(k): str(v) for k, v in (labels or {}).items()})
        tiers, netsets, services, sources = {}, [], {}, []
        for obj in objects:
            if not isinstance(obj, Mapping):
                raise InputError("expected a Kubernetes object (mapping), got %s" % type(obj).__name__)
            group, kind = _kind(obj)
            if kind == "Tier" and group.endswith("projectcalico.org"):
                self._tier_object(obj, tiers)
            elif kind in ("GlobalNetworkSet", "NetworkSet") and group.endswith("projectcalico.org"):
                netsets.append(NetSet(len(netsets), obj, kind, self.namespace_labels))
            elif kind == "Service" and group == "core":
                self._service_object(obj, services)
            elif (kind in _CALICO_KINDS or kind == "StagedKubernetesNetworkPolicy") and group.endswith("projectcalico.org"):
                sources.append((obj, kind, compile_kubernetes if kind == "StagedKubernetesNetworkPolicy" else compile_calico))
            elif kind == "NetworkPolicy" and group == "networking.k8s.io":
                sources.append((obj, kind, compile_kubernetes))
            elif kind in ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy") and group == "policy.networking.k8s.io":
                sources.append((obj, kind, compile_admin))
            elif kind == "ClusterNetworkPolicy" and group == "policy.networking.k8s.io":
                sources.append((obj, kind, compile_cluster))
        self.netsets = netsets
        self._net_index = _NetIndex(netsets)
        self._ctx = Context(netsets, services, self._contains, self.warnings.append)
        policies = [p for p in (compile_fn(obj, kind, self._ctx) for obj, kind, compile_fn in sources) if p is not None]
        self._place(self._resolve_staged(policies), tiers)
        self._cluster_sets = self._sets_for(_View(True))
        self._unknown_sets = self._sets_for(_View(False))
        self._views, self._identities, self._ns_index, self._profiles, self._ends, self._verdicts = {}, {}, {}, {}, {}, {}
        self._classes, self._by_value, self._alive = {}, {}, []

    # ------------------------------------------------------------------ construction

    def _tier_object(self, obj, tiers):
        name = (obj.get("metadata") or {}).get("name")
        spec = obj.get("spec") or {}
        order = spec.get("order")
        action = spec.get("defaultAction") or DENY
        if action not in (DENY, PASS):
            raise InputError("defaultAction %r is not Deny or Pass" % action, source="Tier %s" % name, field="spec.defaultAction")
        try:
            order = None if order is None else float(order)
        except (TypeError, ValueError) as err:
            raise InputError("order %r is not a number" % (order,), source="Tier %s" % name, field="spec.order") from err
        if name == DEFAULT_TIER:
            order = DEFAULT_TIER_ORDER                                # rule 7: fixed
        tiers[name] = _Tier(name, order, action)

    @staticmethod
    def _service_object(obj, services):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        ports = []
        for port in spec.get("ports") or []:
            target = port.get("targetPort")
            if isinstance(target, str) and target.isdigit():
                target = int(target)
            ports.append((protocol_number(port.get("protocol") or "TCP", "Service", "spec.ports"), port.get("port"), target))
        services[(meta.get("namespace") or "default", meta.get("name"))] = (dict(spec.get("selector") or {}), ports)

    def _resolve_staged(self, policies):
        """Rule 30: ignore Staged* policies, or (staged=True) let them replace their enforced namesakes."""
        enforced = [p for p in policies if not p.staged]
        if not self.staged:
            return enforced
        staged = [p for p in policies if p.staged]
        replaced = {p.key for p in staged}
        return [p for p in enforced if p.key not in replaced] + [p for p in staged if not p.staged_delete]

    def _place(self, policies, tiers):
        for name, (order, action) in BUILTIN_TIERS.items():
            if name not in tiers and (name == DEFAULT_TIER or any(p.tier == name for p in policies)):
                tiers[name] = _Tier(name, order, action)
        for policy in policies:
            if policy.tier not in tiers:
                self.warnings.append("tier %r of policy %s has no Tier object; evaluated after all ordered tiers" % (policy.tier, policy.name))
                tiers[policy.tier] = _Tier(policy.tier, None, DENY)
            tiers[policy.tier].policies.append(policy)
        for tier in tiers.values():
            tier.policies.sort(key=lambda p: p.sort_key())
        self.tiers = sorted(tiers.values(), key=lambda t: (t.order is None, t.order or 0.0, t.name))   # rule 6

    # ------------------------------------------------------------------ addresses

    def namespace_labels(self, namespace):
        """Labels of a namespace, including ``projectcalico.org/name`` and ``kubernetes.io/metadata.name``."""
        labels = dict(self._ns_labels.get(namespace) or {})
        labels["projectcalico.org/name"] = namespace
        labels["kubernetes.io/metadata.name"] = namespace
        return labels

    def _contains(self, view, nets):
        """Is the peer's address inside one of ``nets``? (see the module docstring for unknown addresses)."""
        ip = view.ip
        if ip is not None:
            return any(net.version == ip.version and ip in net for net in nets)
        if view.is_workload:
            return any(net.prefixlen == 0 or any(c.version == net.version and c.subnet_of(net) for c in self.cluster_cidrs) for net in nets)
        return any(net.prefixlen == 0 for net in nets) or self._outside_covered(nets)

    def _outside_covered(self, nets):
        """Do ``nets`` hold every address of one family outside the cluster CIDRs (an unknown outside address)?"""
        found = self._covering.get(nets)
        if found is None:
            found = False
            for version in {net.version for net in nets}:
                together = [n for n in nets if n.version == version] + [c for c in self.cluster_cidrs if c.version == version]
                if [n.prefixlen for n in ipaddress.collapse_addresses(together)] == [0]:
                    found = True
            self._covering[nets] = found
        return found

    def _sets_for(self, view):
        if view.ip is not None:
            return self._net_index.lookup(view.ip)
        return frozenset(s.index for s in self.netsets if s.nets and self._contains(view, s.nets))

    def _view(self, obj):
        """The view of a Workload or External: cached by object id (the view keeps the object alive) and by value."""
        view = self._views.get(id(obj))
        if view is not None:
            return view
        if not isinstance(obj, (Workload, External)):
            raise TypeError("source and destination must be Workload or External, not %s" % type(obj).__name__)
        view = self._by_value.get(obj)
        if view is None:
            view = self._by_value[obj] = self._workload_view(obj) if isinstance(obj, Workload) else self._external_view(obj)
        if len(self._alive) >= _MAX_ID_CACHE:                        # forget ids (views stay cached by value)
            self._views.clear()
            self._alive.clear()
        self._views[id(obj)] = view
        self._alive.append(obj)
        return view

    def _ip(self, text, what):
        try:
            return ipaddress.ip_address(text.strip()) if text else None
        except ValueError as err:
            raise InputError("%r is not an IP address" % text, source=what, field="ip") from err

    def _workload_view(self, obj):
        where = "Workload %s/%s" % (obj.namespace, obj.name)
        sa = obj.service_account or "default"
        labels = {str(k): str(v) for k, v in obj.labels.items()}
        labels.update({"projectcalico.org/namespace": obj.namespace, "projectcalico.org/orchestrator": "k8s",
                       "projectcalico.org/serviceaccount": sa})
        sa_labels = {str(k): str(v) for k, v in obj.service_account_labels.items()}
        sa_labels["projectcalico.org/name"] = sa
        ports = {}
        for name, value in obj.ports.items():
            proto, port = value
            ports[name] = (protocol_number(proto, where, "ports"), int(port))
        view = _View(True, obj.namespace, labels, dict(obj.labels), self.namespace_labels(obj.namespace), sa, sa_labels,
                     self._ip(obj.ip, where), ports=ports)
        view.netsets = self._sets_for(view) if view.ip is not None else self._cluster_sets
        key = (obj.namespace, frozenset(obj.labels.items()), sa, frozenset(sa_labels.items()))
        view.ident = self._identities.get(key)
        if view.ident is None:
            view.ident = self._identities[key] = _Identity()
        view.imemo = view.ident.memo
        klass = (view.ident, view.netsets, frozenset(ports.items()))
        view.klass = self._classes.get(klass)
        if view.klass is None:
            view.klass = self._classes[klass] = _Class()
        return view

    def _external_view(self, obj):
        if not obj.ip and not obj.domain:
            raise InputError("an External needs an ip or a domain", source="External")
        view = _View(False, ip=self._ip(obj.ip, "External"), domain=(obj.domain or "").strip().lower().rstrip("."))
        view.netsets = self._sets_for(view) if view.ip is not None else self._unknown_sets
        return view

    # ------------------------------------------------------------------ programs

    def _tiers_in(self, namespace):
        """Per tier, the policies that may apply to some workload of ``namespace`` (cached)."""
        found = self._ns_index.get(namespace)
        if found is None:
            labels = self.namespace_labels(namespace)
            found = self._ns_index[namespace] = [(t, [p for p in t.policies if p.may_apply_in(namespace, labels)]) for t in self.tiers]
        return found

    def _base(self, view, direction):
        """Rule 8: per applying tier its rules for this workload identity and direction.

        The endpoint's own side of each rule (``source`` in egress, ``destination`` in ingress) is decided
        here once when it depends on the identity only; rules whose own side cannot match are dropped.
        """
        base = view.ident.base.get(direction)
        if base is not None:
            return base
        base = []
        for tier, candidates in self._tiers_in(view.ns):
            selecting = [p for p in candidates if direction in p.types and p.selects(view)]
            if not selecting:
                continue
            rules = []
            for policy in selecting:
                for rule in policy.rules[direction]:
                    own, peer = (rule.src, rule.dst) if direction == EGRESS else (rule.dst, rule.src)
                    if own is not None and own.per_identity:
                        if not own.match(view):
                            continue
                        own = None
                    if rule.decision is None:
                        rule.decision = Decision(rule.action, tier.name, policy.name, rule.index, "rule %d %s" % (rule.index, rule.action))
                    head = (peer.uid if peer else -1, peer, bool(peer and peer.per_identity), own.uid if own else -1, own)
                    tail = (rule.action, rule.decision)
                    rules.append((rule, own is None, head + (None,) + tail, head + (rule.dynamic,) + tail))
            base.append((tier, rules, self._end(tier, selecting[-1])))
        view.ident.base[direction] = base
        return base

    def _program(self, view, direction, proto, port):
        """The rules that can match this protocol and port, per applying tier, with the end-of-tier decision.

        Ports for which the same rules pass the static protocol/port filter share one program (and its
        decision cache), unless a rule needs a port-dependent dynamic check.
        """
        base = self._base(view, direction)
        selected = dynamic_bits = 0
        bit = 1
        for _tier, rules, _end in base:
            for rule, _own, _static, _dynamic in rules:
                dynamic = rule.static(proto, port)
                if dynamic is not None:
                    selected |= bit
                    if dynamic:
                        dynamic_bits |= bit
                bit <<= 1
        shared = view.ident.shared[direction]
        signature = (selected, proto, port) if dynamic_bits else selected
        program = shared.get(signature)
        if program is not None:
            return program
        tiers, cacheable, self_free = [], True, True
        bit = 1
        for _tier, rules, end in base:
            entries = []
            for rule, own_resolved, static_entry, dynamic_entry in rules:
                if selected & bit:
                    dynamic = dynamic_bits & bit
                    cacheable = cacheable and rule.per_class
                    self_free = self_free and own_resolved and (direction == EGRESS or not dynamic)
                    entries.append(dynamic_entry if dynamic else static_entry)
                bit <<= 1
            tiers.append((tuple(entries), end))
        program = shared[signature] = _Program(tuple(tiers), cacheable, self_free)
        return program

    def _end(self, tier, last):
        key = (tier.name, last.name)
        found = self._ends.get(key)
        if found is None:
            found = self._ends[key] = Decision(tier.default_action, tier.name, last.name, None, "end of tier (defaultAction %s)" % tier.default_action)
        return found

    def _profile(self, namespace):
        found = self._profiles.get(namespace)
        if found is None:
            found = self._profiles[namespace] = Decision("Allow", "", "__PROFILE__.kns." + namespace, None, "profile allows")
        return found

    def _decide(self, view, direction, src, dst, proto, port, sport, hits=None):
        """Section G for one endpoint and direction; ``hits`` (a list) collects the trace when given."""
        programs = view.ident.programs[direction]
        key = proto << 17 | (port + 1 if port is not None else 0)
        program = programs.get(key)
        if program is None:
            program = programs[key] = self._program(view, direction, proto, port)
        peer = dst if direction == EGRESS else src
        if program.cacheable and hits is None:
            cache_key = peer.klass if program.self_free else (view.klass, peer.klass)
            decision = program.cache.get(cache_key)
            if decision is None:
                decision = program.cache[cache_key] = self._run(program, view, peer, src, dst, proto, port, sport, None)
            return decision
        return self._run(program, view, peer, src, dst, proto, port, sport, hits)

    def _run(self, program, view, peer, src, dst, proto, port, sport, hits):
        """Walk the program's tiers and rules (section G): ``view`` is the endpoint, ``peer`` the other side."""
        for entries, end in program.tiers:
            for peer_uid, peer_match, peer_shared, own_uid, own_match, dynamic, action, decision in entries:
                if peer_match is not None:
                    memo = peer.imemo if peer_shared else peer.memo
                    hit = memo.get(peer_uid)
                    if hit is None:
                        hit = memo[peer_uid] = peer_match.match(peer)
                    if not hit:
                        continue
                if own_match is not None:
                    memo = view.memo
                    hit = memo.get(own_uid)
                    if hit is None:
                        hit = memo[own_uid] = own_match.match(view)
                    if not hit:
                        continue
                if dynamic is not None and not dynamic(src, dst, proto, port, sport):
                    continue
                if action == LOG:                                     # rule 15
                    continue
                if hits is not None:
                    hits.append(decision)
                if action == PASS:                                    # rule 9
                    break
                return decision
            else:
                if hits is not None:
                    hits.append(end)
                if end.action != PASS:                                # rule 10
                    return end
        decision = self._profile(view.ns)                             # rule 11
        if hits is not None:
            hits.append(decision)
        return decision

    # ------------------------------------------------------------------ public

    def verdict(self, source, destination, protocol, port, source_port=None):
        """Verdict for a new connection ``source -> destination`` on ``protocol`` (name or number) and destination ``port``."""
        # exact type checks on purpose: the hot path, and a bool must not pass for a port
        proto = _PROTOCOLS.get(protocol) if type(protocol) is str else None  # pylint: disable=unidiomatic-typecheck
        if proto is None or (port is not None and (type(port) is not int or not 0 <= port <= 65535)):  # pylint: disable=unidiomatic-typecheck
            proto = self._protocol(protocol, port)
        views = self._views
        src = views.get(id(source)) or self._view(source)
        dst = views.get(id(destination)) or self._view(destination)
        egress = self._decide(src, EGRESS, src, dst, proto, port, source_port) if src.is_workload else None
        ingress = self._decide(dst, INGRESS, src, dst, proto, port, source_port) if dst.is_workload else None
        row = self._verdicts.get(id(egress))                          # decisions are interned: one Verdict per pair
        if row is None:
            row = self._verdicts[id(egress)] = {}
        verdict = row.get(id(ingress))
        if verdict is None:
            if egress is None and ingress is None:
                raise InputError("a connection between two External addresses does not touch the cluster", source="verdict")
            allowed = (egress is None or egress.action == "Allow") and (ingress is None or ingress.action == "Allow")
            verdict = row[id(ingress)] = Verdict(allowed, egress, ingress)
        return verdict

    @staticmethod
    def _protocol(protocol, port):
        proto = protocol_number(protocol, "verdict", "protocol")
        if port is not None and (type(port) is not int or not 0 <= port <= 65535):  # pylint: disable=unidiomatic-typecheck
            raise InputError("port %r is not an integer 0-65535" % (port,), source="verdict", field="port")
        return proto

    def trace(self, source, destination, protocol, port, source_port=None):
        """Per side, the policy trace in flow-log form ``index|tier|policy|action|rule`` (rule 31).

        Pass hits appear before the deciding hit; end of tier shows rule ``-1`` (our convention);
        the profile shows as ``__PROFILE__|__PROFILE__.kns.<ns>|allow|0``.
        """
        proto = self._protocol(protocol, port)
        src, dst = self._view(source), self._view(destination)
        result = {}
        for side, view, direction in (("egress", src, EGRESS), ("ingress", dst, INGRESS)):
            if not view.is_workload:
                result[side] = None
                continue
            hits = []
            self._decide(view, direction, src, dst, proto, port, source_port, hits)
            result[side] = ["%d|%s|%s|%s|%s" % (i, d.tier or "__PROFILE__", d.policy, d.action.lower(), -1 if d.rule is None and d.tier else d.rule or 0)
                            for i, d in enumerate(hits)]
        return result

    def applicable(self, workload, direction):
        """Tier name -> names of the policies selecting ``workload`` for ``direction`` (``Ingress`` / ``Egress``)."""
        view = self._view(workload)
        found = {tier.name: [p.name for p in candidates if direction in p.types and p.selects(view)] for tier, candidates in self._tiers_in(view.ns)}
        return {name: policies for name, policies in found.items() if policies}


# ---------------------------------------------------------------------- helpers

def namespaces_from_objects(objects):
    """Namespace name -> labels, from the ``v1 Namespace`` objects among ``objects``."""
    found = {}
    for obj in objects:
        if isinstance(obj, Mapping) and _kind(obj) == ("core", "Namespace"):
            meta = obj.get("metadata") or {}
            found[meta.get("name")] = dict(meta.get("labels") or {})
    return found


def workloads_from_objects(objects):
    """One :class:`Workload` per Pod or pod controller among ``objects`` (labels, service account, named ports)."""
    found = []
    for obj in objects:
        if not isinstance(obj, Mapping) or obj.get("kind") not in _WORKLOAD_KINDS:
            continue
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        if obj.get("kind") == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        pod = spec if obj.get("kind") == "Pod" else ((spec.get("template") or {}).get("spec") or {})
        ports = {}
        for container in pod.get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("name"):
                    ports[port["name"]] = (port.get("protocol") or "TCP", int(port["containerPort"]))
        found.append(Workload(namespace=meta.get("namespace") or "default", name=meta.get("name") or "", labels=pod_labels(obj),
                              service_account=pod.get("serviceAccountName") or pod.get("serviceAccount") or "default", ports=ports))
    return found
