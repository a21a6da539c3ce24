"""What every dialect's renderer shares: the declared flows indexed per namespace and workload, the labels and names
of the objects it writes, and the record of what a dialect could not express (``Loss``). Plain Python, no Ansible import."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

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


CHANGES = ("widened", "merged", "dropped")
ANY = "*"


@dataclass(frozen=True)
class Loss:
    """One rule of the tiered model that a dialect could not express exactly, and the traffic it concerns.

    ``change``: ``widened`` (the rendering allows more), ``merged`` (folded into another rule or guardrail, e.g. tenant
    isolation into default-deny) or ``dropped`` (not rendered at all). ``tier`` and ``rule`` name the rule of the tiered
    (Calico) model; ``why`` is the sentence a run prints. ``source``, ``destination`` and ``port`` say, in flow-table
    notation, which traffic may be judged differently than under the Calico rendering: ``*`` is any, ``ns/*`` any pod of
    a namespace, ``net:`` and ``domain:`` outside addresses, ``443/TCP`` a port (``*`` any port).
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


def add_loss(losses, loss):
    """Append ``loss`` unless it is there already (a rule met once per flow is reported once)."""
    if loss not in losses:
        losses.append(loss)
