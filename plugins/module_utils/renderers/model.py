"""What every dialect's renderer shares: the declared flows indexed per namespace and workload, the labels and names
of the objects it writes, and the record of what a dialect could not express (``Loss``). Plain Python, no Ansible import."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass

from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_port
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, POSTURE_LABEL, TIER_LABEL


def base_labels(tier, posture=None):
    """The labels every object we write carries; posture objects also say which posture they hold."""
    labels = {MANAGED_BY[0]: MANAGED_BY[1], TIER_LABEL: tier}
    if posture:
        labels[POSTURE_LABEL] = posture
    return labels


class LocalFlows:
    """Declared flows indexed by the namespace whose policies must allow them, in flow order.

    A flow is ingress for its destination's namespace and egress for its source's; external
    endpoints (domains, nets) have no namespace and no policy of their own.
    """

    def __init__(self, flows):
        self.ingress, self.egress = {}, {}
        for flow in flows:
            if not flow.destination.is_external:
                self.ingress.setdefault(flow.destination.namespace, []).append(flow)
            if not flow.source.is_external:
                self.egress.setdefault(flow.source.namespace, []).append(flow)

    def of(self, namespace):
        """(ingress flows, egress flows) of one namespace."""
        return self.ingress.get(namespace, []), self.egress.get(namespace, [])

    def by_workload(self, namespace):
        """Local endpoint -> (its ingress flows, its egress flows), for per-workload policies."""
        grouped = {}
        for flow in self.ingress.get(namespace, ()):
            grouped.setdefault(flow.destination, ([], []))[0].append(flow)
        for flow in self.egress.get(namespace, ()):
            grouped.setdefault(flow.source, ([], []))[1].append(flow)
        return grouped


def workload_policy_name(endpoint, identity_labels):
    """The name of the policy of one workload identity: ``frontend``, ``run-monitoring-pod``, ``all-workloads``."""
    if endpoint.kind == "namespace":
        return "all-workloads"
    if endpoint.key == identity_labels.get(endpoint.namespace, "app"):
        base = endpoint.value
    else:
        base = "%s-%s" % (endpoint.key.rsplit("/", 1)[-1], endpoint.value)
    return re.sub(r"[^a-z0-9.-]", "-", base.lower()).strip("-.") or "workload"


class Renderer:
    """What every dialect's renderer starts from: the intent, its declared flows (also per namespace and workload), the
    posture it renders (``failsafe`` or ``enforced``) and the losses it meets; the labels of the objects it writes."""

    def __init__(self, intent, flows, posture):
        self.intent = intent
        self.flows = flows
        self.local = LocalFlows(flows)
        self.posture = posture
        self.enforced = posture == "enforced"
        self.identity = intent.identity_labels
        self.losses = []

    def _labels(self, tier, posture=False):
        """The labels of an object of ``tier``; a posture object also says which posture it holds."""
        return base_labels(tier, self.posture if posture else None)


CHANGES = ("widened", "merged", "dropped")
ANY = "*"


@dataclass(frozen=True)
class Loss:
    """One rule of the tiered model that a dialect could not express exactly, and the traffic it concerns.

    ``change``: ``widened`` (the rendering allows more), ``merged`` (folded into another rule or guardrail, e.g. tenant
    isolation into default-deny) or ``dropped`` (not rendered at all). ``tier`` and ``rule`` name the rule of the tiered
    (Calico) model; ``why`` is the sentence a run prints. ``source``, ``destination`` and ``port`` say, in flow-table
    notation, which traffic may be judged differently than under the Calico rendering: ``*`` is any, ``ns/*`` any pod of
    a namespace, ``net:`` and ``domain:`` outside addresses, ``443/TCP`` a port (``*`` any port). ``covers`` reads them.
    """
    change: str
    tier: str
    rule: str
    why: str
    source: str = ANY
    destination: str = ANY
    port: str = ANY

    def __post_init__(self):
        if self.change not in CHANGES:
            raise ValueError("a Loss is %s, not %r" % (" or ".join(CHANGES), self.change))

    def as_dict(self):
        return asdict(self)

    def covers(self, source, destination, port):
        """Does this loss concern the traffic from ``source`` to ``destination`` on ``port``?

        ``source`` and ``destination`` are flow-table notations (``hipstershop/frontend``, ``ns/k=v``, ``ns/*``,
        ``net:198.51.100.7``, ``domain:www.google.com``), or several notations of one endpoint (a pod by each of its
        labels). ``port`` is ``443/TCP`` or ``8000-8080/TCP``. The patterns: ``*`` anything; ``ns/*`` every in-cluster
        endpoint of namespace ns; ``net:*`` every address outside the cluster (by net or domain name); ``net:<cidr>``
        the nets and addresses inside it (a domain's unknown address only when the cidr is a whole family, ``/0``);
        ``domain:*`` every domain name, ``domain:*.x.com`` one or more labels before x.com; otherwise the same notation.
        Ports: ``*`` any, ``*/TCP`` any of a protocol, ``443/TCP`` or a range holding the whole of ``port``.
        """
        return (endpoint_covers(self.source, source) and endpoint_covers(self.destination, destination)
                and port_covers(self.port, port))


_EXTERNAL = ("net:", "domain:")


def _notations(endpoint):
    return (endpoint,) if isinstance(endpoint, str) else tuple(endpoint)


def endpoint_covers(pattern, endpoint):
    """Does the endpoint pattern of a ``Loss`` cover ``endpoint`` (a notation, or several of one endpoint)?"""
    return any(_endpoint_covers(pattern, name) for name in _notations(endpoint))


def _endpoint_covers(pattern, name):
    if pattern in (ANY, name):
        return True
    external = name.startswith(_EXTERNAL)
    if pattern.endswith("/*") and not pattern.startswith(_EXTERNAL):
        return not external and name.split("/", 1)[0] == pattern[:-2]
    if pattern == "net:*":
        return external
    if pattern.startswith("net:"):
        return _inside(pattern[4:], name)
    if pattern.startswith("domain:") and name.startswith("domain:"):
        wanted, found = pattern[7:], name[7:]
        if wanted == "*":
            return True
        if wanted.startswith("*."):
            return found.endswith(wanted[1:]) and found != wanted[2:]
    return False


def _inside(cidr, name):
    try:
        outer = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    if name.startswith("domain:"):
        return outer.prefixlen == 0   # an unknown address outside the cluster: only a whole family holds it
    try:
        inner = ipaddress.ip_network(name[4:], strict=False) if name.startswith("net:") else None
    except ValueError:
        return False
    return inner is not None and inner.version == outer.version and inner.subnet_of(outer)


def _port_range(text):
    """``443/TCP`` -> ``("TCP", 443, 443)``, ``8000-8080/TCP`` -> ``("TCP", 8000, 8080)`` (the flow tables' ``parse_port``),
    ``*/TCP`` -> ``("TCP", 1, 65535)``; ValueError when it is none of them."""
    ports, _slash, protocol = text.partition("/")
    if ports == ANY:
        return protocol.upper(), 1, 65535
    return parse_port(text)


def port_covers(pattern, port):
    """Does the port pattern of a ``Loss`` cover the port notation ``port`` (``443/TCP``, ``8000-8080/TCP``)?"""
    if pattern == ANY:
        return True
    try:
        wanted, found = _port_range(pattern), _port_range(port)
    except ValueError:
        return False
    return wanted[0] == found[0] and wanted[1] <= found[1] and found[2] <= wanted[2]


def add_loss(losses, loss):
    """Append ``loss`` unless it is there already (a rule met once per flow is reported once)."""
    if loss not in losses:
        losses.append(loss)
