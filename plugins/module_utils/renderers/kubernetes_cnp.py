"""kubernetes-cnp renderer: the tiered model as ClusterNetworkPolicy (policy.networking.k8s.io v1alpha2, the successor of
AdminNetworkPolicy and BaselineAdminNetworkPolicy) for the security, platform and default tiers, and networking.k8s.io/v1
NetworkPolicy for application and appsec.

Upstream evaluates the ``tier: Admin`` ClusterNetworkPolicies (CNP) by ``priority`` (lower first), then the
NetworkPolicies, then the ``tier: Baseline`` CNPs by priority; Calico 3.32 runs them as its tiers ``kube-admin`` (order
1,000) and ``kube-baseline`` (10,000,000, after ``default``), both ``defaultAction: Pass``. The shape is
``kubernetes_anp.AdminPolicyRenderer``'s, object for object:

* ``security`` and ``platform``: CNPs with ``tier: Admin``, the priorities of the anp dialect (security from 100, platform
  from 900), actions ``Accept`` / ``Deny`` / ``Pass``.
* ``default``: one CNP ``microseg-default`` with ``tier: Baseline`` at priority 1000 (the last of the tier: a Baseline CNP
  the cluster adds goes before it), ``Accept`` (deploy) or ``Deny`` (enforce); v1alpha2 has no single-name rule as BANP's
  ``default``, so the name carries the collection's prefix. The ``microseg-catch-all`` NetworkPolicies stay, for the
  reasons the anp dialect gives (a Baseline ingress rule has no ``networks`` peer either).
* application and appsec: the ``kubernetes`` dialect's NetworkPolicies.

What v1alpha2 changes and what it does not: ports are ``protocols`` (``{tcp: {destinationPort: {number}}}`` or a
``range``, whose start must be below its end); at most 25 rules per direction, 25 peers and 25 protocols per rule, 25
networks per peer. The standard channel still has no ``domainNames`` egress peer and no ``networks`` ingress peer, and a
rule still cannot narrow the subject: the same ``Loss``es as the anp dialect (trusted domains widened to every outside
address on 443/TCP; the Pass of a declared flow across a guardrail covering every pod it selects).
"""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.kubernetes_anp import PREFIX, AdminPolicyRenderer

API_VERSION = "policy.networking.k8s.io/v1alpha2"
KIND = "ClusterNetworkPolicy"
BASELINE_PRIORITY = 1000


class ClusterPolicyRenderer(AdminPolicyRenderer):
    """``AdminPolicyRenderer`` with v1alpha2's one kind, tiers, actions, ports and limits."""

    DIALECT = "kubernetes-cnp"
    API_VERSION = API_VERSION
    ADMIN_KIND = KIND
    BASELINE_KIND = KIND
    BASELINE_NAME = PREFIX + "default"
    REQUIRED_KINDS = (KIND,)
    ACTIONS = {"Allow": "Accept", "Deny": "Deny", "Pass": "Pass"}
    PORTS = "protocols"
    MAX_RULES, MAX_PEERS, MAX_PORTS, MAX_NETWORKS = 25, 25, 25, 25

    def admin_policy(self, name, tier, subject, ingress=None, egress=None, posture=False):
        obj = super().admin_policy(name, tier, subject, ingress, egress, posture)
        obj["spec"] = dict({"tier": "Admin"}, **obj["spec"])
        return obj

    def baseline_policy(self, subject, ingress, egress):
        obj = super().baseline_policy(subject, ingress, egress)
        obj["spec"] = dict({"tier": "Baseline", "priority": BASELINE_PRIORITY}, **obj["spec"])
        return obj

    def port(self, protocol, low, high):
        if low == high:
            return {protocol.lower(): {"destinationPort": {"number": low}}}
        return {protocol.lower(): {"destinationPort": {"range": {"start": low, "end": high}}}}


# what microseg_cluster_serves means when it is not set (the directory target): a cluster serving this dialect's kind
SERVED_BY_DEFAULT = (KIND,)


def check(intent):
    """Refuse, before anything is rendered or written, an intent for a cluster that does not serve ClusterNetworkPolicy."""
    ClusterPolicyRenderer.check(intent)


def render(intent, flows, posture):
    """kubernetes-cnp objects for ``posture`` (failsafe or enforced) and what the dialect could not express (``Loss``)."""
    return ClusterPolicyRenderer(intent, flows, posture).render()
