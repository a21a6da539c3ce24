"""Offline policy evaluator: one or more cases per numbered rule of CALICO_SEMANTICS.md, the workshop manifests, and a
differential check of the caches against a direct transcription of the reference algorithm (section G)."""

import glob
import os
import random

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import (
    Decision, External, PolicySet, Verdict, Workload, namespaces_from_objects, workloads_from_objects)

CLUSTER = ["10.244.0.0/16", "10.96.0.0/12"]
NAMESPACES = {"ns1": {"team": "x"}, "ns2": {"team": "y"}}
A = Workload("ns1", "a", {"app": "a"}, ip="10.244.1.1", service_account="sa-a", service_account_labels={"role": "front"})
B = Workload("ns1", "b", {"app": "b", "tier": "db"}, ip="10.244.1.2", ports={"http": ("TCP", 8080)})
C = Workload("ns2", "c", {"app": "c"}, ip="10.244.2.1", ports={"http": ("TCP", 9090)})
A_NOIP = Workload("ns1", "a2", {"app": "a"})
EXT = External(ip="198.51.100.7")
THREAT = External(ip="203.0.113.9")
CORP = External(ip="192.0.2.5")
UBUNTU = External(domain="www.ubuntu.com")
ALLOW_ALL = {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}], "types": ["Ingress", "Egress"]}
DENY_ALL = {"ingress": [{"action": "Deny"}], "egress": [{"action": "Deny"}], "types": ["Ingress", "Egress"]}
PASS_ALL = {"ingress": [{"action": "Pass"}], "egress": [{"action": "Pass"}], "types": ["Ingress", "Egress"]}
ISOLATE = {"types": ["Ingress", "Egress"]}


def tier(name, order=None, action=None):
    spec = {} if order is None else {"order": order}
    if action:
        spec["defaultAction"] = action
    return {"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": name}, "spec": spec}


def gnp(name, spec, tier_name=None, order=None, selector=None, kind="GlobalNetworkPolicy"):
    spec = dict(spec)
    for key, value in (("tier", tier_name), ("order", order), ("selector", selector)):
        if value is not None:
            spec[key] = value
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": {"name": name}, "spec": spec}


def np(name, namespace, spec, tier_name=None, order=None, selector=None, kind="NetworkPolicy"):
    obj = gnp(name, spec, tier_name, order, selector, kind)
    obj["metadata"]["namespace"] = namespace
    return obj


def knp(name, namespace, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def netset(name, labels, nets=(), domains=(), namespace=None):
    obj = {"apiVersion": "projectcalico.org/v3", "kind": "NetworkSet" if namespace else "GlobalNetworkSet",
           "metadata": {"name": name, "labels": labels}, "spec": {"nets": list(nets)}}
    if domains:
        obj["spec"]["allowedEgressDomains"] = list(domains)
    if namespace:
        obj["metadata"]["namespace"] = namespace
    return obj


def anp(name, priority, subject, ingress=(), egress=(), baseline=False):
    spec = {"subject": subject, "ingress": list(ingress), "egress": list(egress)}
    if not baseline:
        spec["priority"] = priority
    return {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "BaselineAdminNetworkPolicy" if baseline else "AdminNetworkPolicy",
            "metadata": {"name": name}, "spec": spec}


def cnp(name, level, priority, subject, ingress=(), egress=()):
    """A ClusterNetworkPolicy v1alpha2 of tier ``level`` (Admin or Baseline)."""
    spec = {"tier": level, "priority": priority, "subject": subject, "ingress": list(ingress), "egress": list(egress)}
    return {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy", "metadata": {"name": name}, "spec": spec}


def service(name, namespace, selector, port, target):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target, "protocol": "TCP"}]}}


def egress_only(*rules):
    return {"types": ["Egress"], "egress": list(rules)}


def ingress_only(*rules):
    return {"types": ["Ingress"], "ingress": list(rules)}


ALLOWED, DENIED = True, False
PROFILE = ("Allow", "", None, None)

# (id, objects, source, destination, protocol, port, allowed, egress expectation, ingress expectation, options)
# An expectation is (action, tier, policy, rule); None = that side is not evaluated; "-" = not checked;
# policy None = "__PROFILE__.kns.<namespace>".
CASES = [
    # ---- A. where and when
    ("rule_01_per_connection_per_direction_forward", [gnp("a-out", {"types": ["Ingress", "Egress"], "egress": [
        {"action": "Allow", "destination": {"selector": "app == 'b'"}}]}, selector="app == 'a'")],
     A, B, "TCP", 80, ALLOWED, ("Allow", "default", "a-out", 0), PROFILE, {}),
    ("rule_01_per_connection_per_direction_reply_is_another_connection", [gnp("a-out", {"types": ["Ingress", "Egress"], "egress": [
        {"action": "Allow", "destination": {"selector": "app == 'b'"}}]}, selector="app == 'a'")],
     B, A, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "a-out", None), {}),
    ("rule_02_both_sides_must_allow", [gnp("b-in", ISOLATE, selector="app == 'b'")],
     A, B, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "b-in", None), {}),
    ("rule_02_external_destination_has_egress_only", [gnp("a-out", egress_only({"action": "Deny"}), selector="app == 'a'")],
     A, EXT, "TCP", 443, DENIED, ("Deny", "default", "a-out", 0), None, {}),
    ("rule_02_external_source_has_ingress_only", [], EXT, A, "TCP", 443, ALLOWED, None, PROFILE, {}),
    ("rule_03_pod_port_after_dnat_target_port", [service("web", "ns1", {"app": "b"}, 80, 8080), gnp("b-in", ingress_only(
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [8080]}}), selector="app == 'b'")],
     A, B, "TCP", 8080, ALLOWED, PROFILE, ("Allow", "default", "b-in", 0), {}),
    ("rule_03_service_port_is_not_seen", [service("web", "ns1", {"app": "b"}, 80, 8080), gnp("b-in", ingress_only(
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": [8080]}}), selector="app == 'b'")],
     A, B, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "b-in", None), {}),
    ("rule_03_services_rule_matches_endpoint_and_target_port", [service("web", "ns1", {"app": "b"}, 80, "http"), np("out", "ns1", egress_only(
        {"action": "Allow", "protocol": "TCP", "destination": {"services": {"name": "web"}}}), selector="app == 'a'")],
     A, B, "TCP", 8080, ALLOWED, ("Allow", "default", "ns1/out", 0), PROFILE, {}),
    ("rule_03_services_rule_not_on_service_port", [service("web", "ns1", {"app": "b"}, 80, "http"), np("out", "ns1", egress_only(
        {"action": "Allow", "protocol": "TCP", "destination": {"services": {"name": "web"}}}), selector="app == 'a'")],
     A, B, "TCP", 80, DENIED, ("Deny", "default", "ns1/out", None), PROFILE, {}),
    ("rule_04_host_endpoint_policies_ignored", [gnp("hep", dict(DENY_ALL, doNotTrack=True)), gnp("pre", dict(DENY_ALL, preDNAT=True))],
     A, B, "TCP", 80, ALLOWED, PROFILE, PROFILE, {}),
    # ---- B. tiers
    ("rule_05_policy_without_tier_is_in_default", [gnp("p", DENY_ALL, selector="app == 'a'")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_06_lower_tier_order_first", [tier("t50", 50), tier("t100", 100), gnp("deny", DENY_ALL, "t100"), gnp("allow", ALLOW_ALL, "t50")],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "t50", "allow", 0), None, {}),
    ("rule_06_unordered_tier_after_ordered", [tier("aaa"), tier("zzz", 5000000), gnp("deny", DENY_ALL, "aaa"), gnp("allow", ALLOW_ALL, "zzz")],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "zzz", "allow", 0), None, {}),
    ("rule_06_equal_tier_order_by_name", [tier("beta", 100), tier("alpha", 100), gnp("deny", DENY_ALL, "beta"), gnp("allow", ALLOW_ALL, "alpha")],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "alpha", "allow", 0), None, {}),
    ("rule_07_default_tier_order_is_1000000", [tier("late", 2000000), gnp("deny", DENY_ALL), gnp("allow", ALLOW_ALL, "late")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "deny", 0), None, {}),
    ("rule_07_default_tier_order_is_fixed", [tier("default", 1), tier("early", 999999), gnp("deny", DENY_ALL), gnp("allow", ALLOW_ALL, "early")],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "early", "allow", 0), None, {}),
    ("rule_07_kube_baseline_tier_after_default", [tier("kube-baseline", 10000000, "Pass"), gnp("pass", PASS_ALL),
                                                  gnp("base-deny", DENY_ALL, "kube-baseline")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "kube-baseline", "base-deny", 0), None, {}),
    ("rule_07_kube_admin_tier_pass_default", [tier("kube-admin", 1000, "Pass"), np("admin", "ns1", ISOLATE, "kube-admin")],
     A, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_07_admin_network_policy_deny", [anp("block-ns2", 10, {"namespaces": {"matchLabels": {"team": "x"}}}, ingress=[
        {"action": "Deny", "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "ns2"}}}]}])],
     C, A, "TCP", 80, DENIED, PROFILE, ("Deny", "adminnetworkpolicy", "kanp.adminnetworkpolicy.block-ns2", 0), {}),
    ("rule_07_admin_network_policy_priority_is_order", [
        anp("late-allow", 20, {"namespaces": {}}, egress=[{"action": "Allow", "to": [{"networks": ["198.51.100.0/24"]}]}]),
        anp("early-deny", 5, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}],
                                                          "ports": [{"portNumber": {"protocol": "TCP", "port": 80}}]}])],
     A, EXT, "TCP", 80, DENIED, ("Deny", "adminnetworkpolicy", "kanp.adminnetworkpolicy.early-deny", 0), None, {}),
    ("rule_07_admin_pass_then_default_tier", [anp("p", 1, {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}},
                                                  egress=[{"action": "Pass", "to": [{"networks": ["0.0.0.0/0"]}]}]),
                                              anp("d", 2, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]),
                                              gnp("allow", ALLOW_ALL)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "allow", 0), None, {}),
    ("rule_07_baseline_after_default", [anp("default", 0, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}],
                                            baseline=True)],
     A, EXT, "TCP", 80, DENIED, ("Deny", "baselineadminnetworkpolicy", "kbanp.baselineadminnetworkpolicy.default", 0), None, {}),
    ("rule_07_default_tier_decides_before_baseline", [
        anp("default", 0, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}], baseline=True),
        gnp("allow", ALLOW_ALL)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "allow", 0), None, {}),
    ("rule_07_cluster_network_policy_admin_deny", [cnp("block-ns2", "Admin", 10, {"namespaces": {"matchLabels": {"team": "x"}}}, ingress=[
        {"action": "Deny", "from": [{"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": "ns2"}}}]}]), gnp("allow", ALLOW_ALL)],
     C, A, "TCP", 80, DENIED, ("Allow", "default", "allow", 0), ("Deny", "kube-admin", "kcnp.kube-admin.block-ns2", 0), {}),
    ("rule_07_cluster_network_policy_admin_accept_before_default", [
        cnp("web", "Admin", 10, {"namespaces": {}}, egress=[{"action": "Accept", "to": [{"networks": ["198.51.100.0/24"]}],
                                                             "protocols": [{"tcp": {"destinationPort": {"range": {"start": 79, "end": 81}}}}]}]),
        gnp("deny", DENY_ALL)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "kube-admin", "kcnp.kube-admin.web", 0), None, {}),
    ("rule_07_cluster_network_policy_protocols_match_protocol_and_port", [
        cnp("web", "Admin", 10, {"namespaces": {}}, egress=[{"action": "Accept", "to": [{"networks": ["198.51.100.0/24"]}],
                                                             "protocols": [{"udp": {"destinationPort": {"number": 80}}}]}]),
        gnp("deny", DENY_ALL)],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "deny", 0), None, {}),
    ("rule_07_cluster_network_policy_priority_is_order", [
        cnp("late-accept", "Admin", 20, {"namespaces": {}}, egress=[{"action": "Accept", "to": [{"networks": ["198.51.100.0/24"]}]}]),
        cnp("early-deny", "Admin", 5, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}],
                                                                   "protocols": [{"tcp": {"destinationPort": {"number": 80}}}]}])],
     A, EXT, "TCP", 80, DENIED, ("Deny", "kube-admin", "kcnp.kube-admin.early-deny", 0), None, {}),
    ("rule_07_cluster_network_policy_admin_pass_then_default_tier", [
        cnp("p", "Admin", 1, {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}},
            egress=[{"action": "Pass", "to": [{"networks": ["0.0.0.0/0"]}]}]),
        cnp("d", "Admin", 2, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]), gnp("allow", ALLOW_ALL)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "allow", 0), None, {}),
    ("rule_07_cluster_network_policy_baseline_after_default", [
        cnp("base", "Baseline", 1000, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}])],
     A, EXT, "TCP", 80, DENIED, ("Deny", "kube-baseline", "kcnp.kube-baseline.base", 0), None, {}),
    ("rule_07_cluster_network_policy_default_tier_decides_before_baseline", [
        cnp("base", "Baseline", 1000, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]),
        knp("iso", "ns1", {"podSelector": {}, "policyTypes": ["Egress"]})],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "ns1/knp.default.iso", None), None, {}),
    ("rule_07_cluster_network_policy_baselines_by_priority", [
        cnp("late-deny", "Baseline", 900, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]),
        cnp("early-accept", "Baseline", 100, {"namespaces": {}}, egress=[{"action": "Accept", "to": [{"networks": ["198.51.100.0/24"]}]}])],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "kube-baseline", "kcnp.kube-baseline.early-accept", 0), None, {}),
    ("rule_07_cluster_network_policy_named_port", [
        cnp("named", "Admin", 1, {"namespaces": {}}, ingress=[{"action": "Deny", "from": [{"namespaces": {}}],
                                                               "protocols": [{"destinationNamedPort": "http"}]}])],
     A, C, "TCP", 9090, DENIED, PROFILE, ("Deny", "kube-admin", "kcnp.kube-admin.named", 0), {}),
    ("rule_08_tier_not_applying_is_skipped", [tier("sec", 100), gnp("in-only", ingress_only({"action": "Deny"}), "sec")],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "", None, None), None, {}),
    ("rule_08_tier_applying_in_that_direction", [tier("sec", 100), gnp("in-only", ingress_only(), "sec")],
     C, A, "TCP", 80, DENIED, PROFILE, ("Deny", "sec", "in-only", None), {}),
    ("rule_08_tier_not_selecting_endpoint_is_skipped", [tier("sec", 100), gnp("c-only", ISOLATE, "sec", selector="app == 'c'")],
     A, B, "TCP", 80, ALLOWED, PROFILE, PROFILE, {}),
    ("rule_09_allow_is_final", [gnp("first", ALLOW_ALL, order=1), gnp("second", DENY_ALL, order=2)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "first", 0), None, {}),
    ("rule_09_pass_leaves_the_tier", [tier("sec", 100), gnp("pass", PASS_ALL, "sec", order=1), gnp("deny", DENY_ALL, "sec", order=2),
                                      gnp("allow", ALLOW_ALL)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "allow", 0), None, {}),
    ("rule_10_end_of_tier_deny", [tier("sec", 100), gnp("nothing", egress_only({"action": "Allow", "protocol": "UDP"}), "sec")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "sec", "nothing", None), None, {}),
    ("rule_10_end_of_tier_pass", [tier("sec", 100, "Pass"), gnp("nothing", egress_only({"action": "Allow", "protocol": "UDP"}), "sec"),
                                  gnp("deny", DENY_ALL)],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "deny", 0), None, {}),
    ("rule_11_no_tier_applies_profile_allows", [gnp("c-only", DENY_ALL, selector="app == 'c'")],
     A, B, "TCP", 80, ALLOWED, PROFILE, PROFILE, {}),
    ("rule_11_pass_out_of_last_tier_profile_allows", [gnp("pass", PASS_ALL)],
     A, B, "TCP", 80, ALLOWED, PROFILE, PROFILE, {}),
    # ---- C. policies within a tier
    ("rule_12_negative_order_first", [gnp("pos", ALLOW_ALL, order=112.5), gnp("neg", DENY_ALL, order=-90)],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "neg", 0), None, {}),
    ("rule_12_missing_order_last", [gnp("aaa", DENY_ALL), gnp("zzz", ALLOW_ALL, order=1e9)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "zzz", 0), None, {}),
    ("rule_12_equal_order_by_name", [gnp("p-b", DENY_ALL, order=10), gnp("p-a", ALLOW_ALL, order=10)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "p-a", 0), None, {}),
    ("rule_12_network_and_global_policies_ordered_together", [gnp("global", DENY_ALL, order=10), np("local", "ns1", ALLOW_ALL, order=5)],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "ns1/local", 0), None, {}),
    ("rule_13_network_policy_selects_own_namespace_only", [np("iso", "ns1", DENY_ALL, selector="all()")],
     C, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_13_global_policy_namespace_selector", [gnp("team-x", dict(DENY_ALL, namespaceSelector="team == 'x'"), selector="")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "team-x", 0), None, {}),
    ("rule_13_global_policy_namespace_selector_other_namespace", [gnp("team-x", dict(DENY_ALL, namespaceSelector="team == 'x'"))],
     C, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_13_service_account_selector", [gnp("sa", dict(DENY_ALL, serviceAccountSelector="projectcalico.org/name == 'sa-a'"))],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "sa", 0), None, {}),
    ("rule_13_service_account_selector_by_label", [gnp("sa", dict(DENY_ALL, serviceAccountSelector="role == 'front'"))],
     B, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_13_empty_strings_mean_no_restriction", [gnp("all", dict(DENY_ALL, selector="", namespaceSelector="", serviceAccountSelector=""))],
     C, EXT, "TCP", 80, DENIED, ("Deny", "default", "all", 0), None, {}),
    ("rule_14_types_default_egress_rules_only", [gnp("p", {"egress": [{"action": "Deny"}]})],
     C, A, "TCP", 80, DENIED, ("Deny", "default", "p", 0), PROFILE, {}),
    ("rule_14_types_default_no_rules_is_ingress", [gnp("p", {}, selector="app == 'a'")],
     A, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_14_types_default_no_rules_isolates_ingress", [gnp("p", {}, selector="app == 'a'")],
     C, A, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "p", None), {}),
    ("rule_14_rules_outside_types_ignored", [gnp("p", {"types": ["Ingress"], "egress": [{"action": "Deny"}], "ingress": [{"action": "Allow"}]})],
     A, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_15_log_continues", [gnp("p", egress_only({"action": "Log"}, {"action": "Deny"}))],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "p", 1), None, {}),
    ("rule_15_top_to_bottom", [gnp("p", egress_only({"action": "Allow", "protocol": "TCP", "destination": {"ports": [80]}}, {"action": "Deny"}))],
     A, EXT, "TCP", 81, DENIED, ("Deny", "default", "p", 1), None, {}),
    ("rule_16_names_with_or_without_tier_prefix", [tier("security", 200), gnp("security.old-style", egress_only(
        {"action": "Pass", "protocol": "UDP"}), "security", 1), gnp("new-style", egress_only({"action": "Deny"}), "security", 2)],
     A, EXT, "TCP", 80, DENIED, ("Deny", "security", "new-style", 0), None, {}),
    # ---- D. matching a rule
    ("rule_17_all_criteria_must_match", [gnp("p", egress_only({"action": "Allow", "protocol": "TCP", "destination": {
        "selector": "app == 'b'", "ports": [80, 443]}}), selector="app == 'a'")],
     A, B, "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), PROFILE, {}),
    ("rule_17_one_criterion_fails", [gnp("p", egress_only({"action": "Allow", "protocol": "TCP", "destination": {
        "selector": "app == 'b'", "ports": [80, 443]}}), selector="app == 'a'")],
     A, C, "TCP", 443, DENIED, ("Deny", "default", "p", None), PROFILE, {}),
    ("rule_18_protocol_number", [gnp("p", egress_only({"action": "Deny", "protocol": 17}))],
     A, EXT, "UDP", 53, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_18_protocol_name_vs_number", [gnp("p", egress_only({"action": "Deny", "protocol": "SCTP"}))],
     A, EXT, 132, 5000, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_18_not_protocol", [gnp("p", egress_only({"action": "Deny", "notProtocol": "UDP"}, {"action": "Allow"}))],
     A, EXT, "UDP", 53, ALLOWED, ("Allow", "default", "p", 1), None, {}),
    ("rule_19_numeric_string_port", [gnp("p", egress_only({"action": "Deny", "protocol": "TCP", "destination": {"ports": ["8080"]}}))],
     A, EXT, "TCP", 8080, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_19_range_inclusive", [gnp("p", egress_only({"action": "Deny", "protocol": "TCP", "destination": {"ports": ["8000:8080"]}}))],
     A, EXT, "TCP", 8080, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_19_range_outside", [gnp("p", egress_only({"action": "Deny", "protocol": "TCP", "destination": {"ports": ["8000:8080"]}}))],
     A, EXT, "TCP", 8081, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_19_named_port_per_destination", [gnp("p", ingress_only({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]}}))],
     A, B, "TCP", 8080, ALLOWED, PROFILE, ("Allow", "default", "p", 0), {}),
    ("rule_19_named_port_other_workload", [gnp("p", ingress_only({"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]}}))],
     A, C, "TCP", 8080, DENIED, PROFILE, ("Deny", "default", "p", None), {}),
    ("rule_19_not_ports", [gnp("p", egress_only({"action": "Deny", "protocol": "TCP", "destination": {"notPorts": [443]}}))],
     A, EXT, "TCP", 443, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_19_source_port_known", [gnp("p", egress_only({"action": "Allow", "protocol": "UDP", "source": {"ports": [53]}}))],
     A, EXT, "UDP", 53, ALLOWED, ("Allow", "default", "p", 0), None, {"source_port": 53}),
    ("rule_19_source_port_unknown_is_in_no_list", [gnp("p", egress_only({"action": "Allow", "protocol": "UDP", "source": {"ports": [53]}}))],
     A, EXT, "UDP", 53, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_20_selector_matches_known_objects_only", [gnp("p", egress_only({"action": "Allow", "destination": {"selector": "all()"}}))],
     A, EXT, "TCP", 443, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_20_selector_all_matches_workloads", [gnp("p", egress_only({"action": "Allow", "destination": {"selector": "all()"}}))],
     A, C, "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), PROFILE, {}),
    ("rule_20_empty_entity_rule_matches_everything", [gnp("p", egress_only({"action": "Allow", "source": {}, "destination": {}}))],
     A, EXT, "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_21_network_policy_rule_scope_own_namespace", [np("p", "ns1", egress_only({"action": "Allow", "destination": {"selector": "app == 'c'"}}))],
     A, C, "TCP", 80, DENIED, ("Deny", "default", "ns1/p", None), PROFILE, {}),
    ("rule_21_namespace_selector_widens_scope", [np("p", "ns1", egress_only({"action": "Allow", "destination": {
        "selector": "app == 'c'", "namespaceSelector": "projectcalico.org/name == 'ns2'"}}))],
     A, C, "TCP", 80, ALLOWED, ("Allow", "default", "ns1/p", 0), PROFILE, {}),
    ("rule_21_namespace_selector_alone_matches_namespace", [np("p", "ns1", egress_only({"action": "Allow", "destination": {
        "namespaceSelector": "team == 'y'"}}))],
     A, C, "TCP", 80, ALLOWED, ("Allow", "default", "ns1/p", 0), PROFILE, {}),
    ("rule_21_global_policy_rule_scope_everything", [gnp("p", egress_only({"action": "Allow", "destination": {"selector": "app == 'c'"}}))],
     A, C, "TCP", 80, ALLOWED, ("Allow", "default", "p", 0), PROFILE, {}),
    ("rule_21_network_policy_needs_global_for_global_set", [netset("corp", {"kind": "corp"}, ["192.0.2.0/24"]),
                                                            np("p", "ns1", egress_only({"action": "Allow", "destination": {"selector": "kind == 'corp'"}}))],
     A, CORP, "TCP", 80, DENIED, ("Deny", "default", "ns1/p", None), None, {}),
    ("rule_21_global_scope_reaches_global_set", [netset("corp", {"kind": "corp"}, ["192.0.2.0/24"]), np("p", "ns1", egress_only(
        {"action": "Allow", "destination": {"selector": "kind == 'corp'", "namespaceSelector": "global()"}}))],
     A, CORP, "TCP", 80, ALLOWED, ("Allow", "default", "ns1/p", 0), None, {}),
    ("rule_21_global_scope_excludes_workloads", [np("p", "ns1", egress_only({"action": "Allow", "destination": {"namespaceSelector": "global()"}}))],
     A, B, "TCP", 80, DENIED, ("Deny", "default", "ns1/p", None), PROFILE, {}),
    ("rule_22_not_selector_matches_outside_cluster", [gnp("p", egress_only({"action": "Allow", "destination": {"notSelector": "app == 'b'"}}))],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_22_not_selector_excludes_match", [gnp("p", egress_only({"action": "Allow", "destination": {"notSelector": "app == 'b'"}}))],
     A, B, "TCP", 80, DENIED, ("Deny", "default", "p", None), PROFILE, {}),
    ("rule_22_negated_selector_known_objects_only", [gnp("p", egress_only({"action": "Allow", "destination": {"selector": "!app == 'b'"}}))],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_22_negated_selector_other_workload", [gnp("p", egress_only({"action": "Allow", "destination": {"selector": "!app == 'b'"}}))],
     A, C, "TCP", 80, ALLOWED, ("Allow", "default", "p", 0), PROFILE, {}),
    ("rule_22_not_selector_in_network_policy_is_namespaced", [np("p", "ns1", egress_only({"action": "Allow", "destination": {"notSelector": "app == 'b'"}}))],
     A, C, "TCP", 80, DENIED, ("Deny", "default", "ns1/p", None), PROFILE, {}),
    ("rule_22_not_nets_external", [gnp("p", egress_only({"action": "Allow", "destination": {"notNets": CLUSTER}}))],
     A, EXT, "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_22_not_nets_workload", [gnp("p", egress_only({"action": "Allow", "destination": {"notNets": CLUSTER}}))],
     A, B, "TCP", 443, DENIED, ("Deny", "default", "p", None), PROFILE, {}),
    ("rule_22_not_nets_workload_without_ip_is_in_cluster", [gnp("p", egress_only({"action": "Allow", "destination": {"notNets": CLUSTER}}))],
     A, A_NOIP, "TCP", 443, DENIED, ("Deny", "default", "p", None), PROFILE, {}),
    ("rule_22_not_nets_domain_without_ip_is_outside", [gnp("p", egress_only({"action": "Allow", "destination": {"notNets": CLUSTER}}))],
     A, UBUNTU, "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_23_selector_language", [gnp("p", DENY_ALL, selector="app in {'a', 'b'} && !has(tier) && team not in {'z'}")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_23_selector_language_no_match", [gnp("p", DENY_ALL, selector="app in {'a', 'b'} && !has(tier)")],
     B, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_24_nets", [gnp("p", egress_only({"action": "Deny", "destination": {"nets": ["198.51.100.0/24"]}}))],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_24_nets_domain_without_ip_unknown", [gnp("p", egress_only(
        {"action": "Deny", "destination": {"nets": ["198.51.100.0/24"]}}, {"action": "Allow"}))],
     A, UBUNTU, "TCP", 80, ALLOWED, ("Allow", "default", "p", 1), None, {}),
    ("rule_24_nets_everything_contains_unknown_address", [gnp("p", egress_only({"action": "Deny", "destination": {"nets": ["0.0.0.0/0"]}}))],
     A, UBUNTU, "TCP", 80, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_24_nets_workload_without_ip", [gnp("p", egress_only(
        {"action": "Deny", "destination": {"nets": ["10.244.5.0/24"]}}, {"action": "Allow"}))],
     A, A_NOIP, "TCP", 80, ALLOWED, ("Allow", "default", "p", 1), PROFILE, {}),
    ("rule_24_nets_supernet_of_cluster_contains_workload_without_ip", [gnp("p", egress_only({"action": "Deny", "destination": {"nets": ["10.0.0.0/8"]}}))],
     A, A_NOIP, "TCP", 80, DENIED, ("Deny", "default", "p", 0), PROFILE, {}),
    ("rule_24_network_set_nets_via_selector", [netset("threat", {"feed": "threat"}, ["203.0.113.0/24"]), gnp("p", egress_only(
        {"action": "Deny", "destination": {"selector": "feed == 'threat'"}}))],
     A, THREAT, "TCP", 80, DENIED, ("Deny", "default", "p", 0), None, {}),
    ("rule_24_network_set_other_address", [netset("threat", {"feed": "threat"}, ["203.0.113.0/24"]), gnp("p", egress_only(
        {"action": "Deny", "destination": {"selector": "feed == 'threat'"}}, {"action": "Allow"}))],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "p", 1), None, {}),
    ("rule_24_network_set_covers_workload_ip", [netset("pods", {"kind": "pods"}, ["10.244.2.0/24"]), gnp("p", egress_only(
        {"action": "Deny", "destination": {"selector": "kind == 'pods'"}}))],
     A, C, "TCP", 80, DENIED, ("Deny", "default", "p", 0), PROFILE, {}),
    ("rule_25_service_account_names", [gnp("p", ingress_only({"action": "Allow", "source": {"serviceAccounts": {"names": ["sa-a"]}}}),
                                           selector="app == 'b'")],
     A, B, "TCP", 80, ALLOWED, PROFILE, ("Allow", "default", "p", 0), {}),
    ("rule_25_service_account_selector", [gnp("p", ingress_only({"action": "Allow", "source": {"serviceAccounts": {"selector": "role == 'back'"}}}),
                                              selector="app == 'b'")],
     A, B, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "p", None), {}),
    ("rule_25_service_accounts_limited_by_namespace_selector", [gnp("p", ingress_only({"action": "Allow", "source": {
        "serviceAccounts": {"names": ["sa-a"]}, "namespaceSelector": "team == 'y'"}}), selector="app == 'b'")],
     A, B, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "p", None), {}),
    # ---- E. network sets and domains
    ("rule_26_network_set_visible_in_its_namespace", [netset("corp", {"kind": "corp"}, ["192.0.2.0/24"], namespace="ns1"),
                                                      np("p", "ns1", egress_only({"action": "Allow", "destination": {"selector": "kind == 'corp'"}}))],
     A, CORP, "TCP", 80, ALLOWED, ("Allow", "default", "ns1/p", 0), None, {}),
    ("rule_26_network_set_invisible_to_other_namespace", [netset("corp", {"kind": "corp"}, ["192.0.2.0/24"], namespace="ns2"),
                                                          np("p", "ns1", egress_only({"action": "Allow", "destination": {"selector": "kind == 'corp'"}}))],
     A, CORP, "TCP", 80, DENIED, ("Deny", "default", "ns1/p", None), None, {}),
    ("rule_26_global_policy_sees_namespaced_network_set", [netset("corp", {"kind": "corp"}, ["192.0.2.0/24"], namespace="ns2"),
                                                           gnp("p", egress_only({"action": "Allow", "destination": {"selector": "kind == 'corp'"}}))],
     A, CORP, "TCP", 80, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_27_domain_set_in_egress_allow", [netset("ubuntu", {"ubuntu": "true"}, domains=["*.ubuntu.com"]), gnp("p", egress_only(
        {"action": "Allow", "destination": {"selector": "ubuntu == 'true'"}}))],
     A, UBUNTU, "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_27_domain_set_never_denies", [netset("ubuntu", {"ubuntu": "true"}, domains=["*.ubuntu.com"]), gnp("p", egress_only(
        {"action": "Deny", "destination": {"selector": "ubuntu == 'true'"}}, {"action": "Allow"}))],
     A, UBUNTU, "TCP", 443, ALLOWED, ("Allow", "default", "p", 1), None, {}),
    ("rule_27_domain_set_not_in_pass", [netset("ubuntu", {"ubuntu": "true"}, domains=["*.ubuntu.com"]), gnp("p", egress_only(
        {"action": "Pass", "destination": {"selector": "ubuntu == 'true'"}}, {"action": "Deny"}))],
     A, UBUNTU, "TCP", 443, DENIED, ("Deny", "default", "p", 1), None, {}),
    ("rule_27_domains_field_egress_allow", [gnp("p", egress_only({"action": "Allow", "destination": {"domains": ["www.github.com"]}}))],
     A, External(domain="www.github.com"), "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_27_domains_field_in_deny_matches_nothing", [gnp("p", egress_only({"action": "Deny", "destination": {"domains": ["www.github.com"]}}))],
     A, External(domain="www.github.com"), "TCP", 443, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_28_wildcard_several_labels", [gnp("p", egress_only({"action": "Allow", "destination": {"domains": ["*.google.com"]}}))],
     A, External(domain="a.b.google.com"), "TCP", 443, ALLOWED, ("Allow", "default", "p", 0), None, {}),
    ("rule_28_wildcard_needs_a_label", [gnp("p", egress_only({"action": "Allow", "destination": {"domains": ["*.google.com"]}}))],
     A, External(domain="google.com"), "TCP", 443, DENIED, ("Deny", "default", "p", None), None, {}),
    ("rule_28_exact_name", [gnp("p", egress_only({"action": "Allow", "destination": {"domains": ["google.com"]}}))],
     A, External(domain="www.google.com"), "TCP", 443, DENIED, ("Deny", "default", "p", None), None, {}),
    # ---- F. Kubernetes, staged
    ("rule_29_kubernetes_policy_allow", [knp("web", "ns1", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 8080}]}]})],
     A, B, "TCP", 8080, ALLOWED, PROFILE, ("Allow", "default", "ns1/knp.default.web", 0), {}),
    ("rule_29_kubernetes_policy_selected_is_isolated", [knp("web", "ns1", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 8080}]}]})],
     C, B, "TCP", 8080, DENIED, PROFILE, ("Deny", "default", "ns1/knp.default.web", None), {}),
    ("rule_29_kubernetes_policy_order_1000", [knp("web", "ns1", {"podSelector": {}, "ingress": [{}]}),
                                              np("deny", "ns1", ingress_only({"action": "Deny"}), order=500)],
     A, B, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "ns1/deny", 0), {}),
    ("rule_29_kubernetes_policy_before_later_calico", [knp("web", "ns1", {"podSelector": {}, "ingress": [{}]}),
                                                       np("deny", "ns1", ingress_only({"action": "Deny"}), order=1500)],
     A, B, "TCP", 80, ALLOWED, PROFILE, ("Allow", "default", "ns1/knp.default.web", 0), {}),
    ("rule_29_kubernetes_ip_block_except", [knp("out", "ns1", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "198.51.100.0/24", "except": ["198.51.100.0/29"]}}]}]})],
     A, External(ip="198.51.100.3"), "TCP", 80, DENIED, ("Deny", "default", "ns1/knp.default.out", None), None, {}),
    ("rule_29_kubernetes_end_port_and_namespaces", [knp("in", "ns1", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["y"]}]}}],
         "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}]})],
     C, B, "TCP", 8100, ALLOWED, PROFILE, ("Allow", "default", "ns1/knp.default.in", 0), {}),
    ("rule_29_kubernetes_peer_selector_never_matches_external", [knp("in", "ns1", {"podSelector": {}, "ingress": [
        {"from": [{"namespaceSelector": {}}]}]})],
     EXT, B, "TCP", 80, DENIED, None, ("Deny", "default", "ns1/knp.default.in", None), {}),
    ("rule_30_staged_policy_ignored", [gnp("deny", DENY_ALL, kind="StagedGlobalNetworkPolicy")],
     A, EXT, "TCP", 80, ALLOWED, PROFILE, None, {}),
    ("rule_30_staged_policy_as_enforced", [gnp("deny", DENY_ALL, kind="StagedGlobalNetworkPolicy")],
     A, EXT, "TCP", 80, DENIED, ("Deny", "default", "staged:deny", 0), None, {"staged": True}),
    ("rule_30_staged_replaces_enforced_namesake", [gnp("p", DENY_ALL), np("p", "ns1", ALLOW_ALL, kind="StagedNetworkPolicy"),
                                                   gnp("p", ALLOW_ALL, kind="StagedGlobalNetworkPolicy")],
     A, EXT, "TCP", 80, ALLOWED, ("Allow", "default", "ns1/staged:p", 0), None, {"staged": True}),
    ("rule_30_staged_delete", [gnp("p", DENY_ALL), gnp("p", dict(DENY_ALL, stagedAction="Delete"), kind="StagedGlobalNetworkPolicy")],
     A, EXT, "TCP", 80, ALLOWED, PROFILE, None, {"staged": True}),
    ("rule_30_staged_kubernetes_policy", [{"apiVersion": "projectcalico.org/v3", "kind": "StagedKubernetesNetworkPolicy",
                                           "metadata": {"name": "iso", "namespace": "ns1"}, "spec": {"podSelector": {}}}],
     C, B, "TCP", 80, DENIED, PROFILE, ("Deny", "default", "ns1/staged:knp.default.iso", None), {"staged": True}),
]


def _expect(decision, expected, namespace):
    if expected == "-":
        return
    if expected is None:
        assert decision is None
        return
    action, tier_name, policy, rule = expected
    assert decision.action == action
    assert decision.tier == tier_name
    assert decision.policy == (policy if policy is not None else "__PROFILE__.kns." + namespace)
    assert decision.rule == rule


@pytest.mark.parametrize("objects,src,dst,proto,port,allowed,egress,ingress,options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(objects, src, dst, proto, port, allowed, egress, ingress, options):
    options = dict(options)
    source_port = options.pop("source_port", None)
    policy_set = PolicySet(objects, namespaces=NAMESPACES, cluster_cidrs=CLUSTER, **options)
    verdict = policy_set.verdict(src, dst, proto, port, source_port=source_port)
    assert verdict.allowed is allowed
    _expect(verdict.egress, egress, getattr(src, "namespace", ""))
    _expect(verdict.ingress, ingress, getattr(dst, "namespace", ""))
    assert policy_set.verdict(src, dst, proto, port, source_port=source_port) is verdict      # cached path agrees


def test_every_numbered_rule_has_a_case():
    covered = {int(case[0].split("_")[1]) for case in CASES}
    assert covered | {31} == set(range(1, 32))


def test_rule_04_host_endpoint_policies_are_reported():
    policy_set = PolicySet([gnp("hep", dict(DENY_ALL, doNotTrack=True))])
    assert any("rule 4" in warning for warning in policy_set.warnings)


def test_rule_10_reason_and_rule_index():
    verdict = PolicySet([gnp("iso", ISOLATE)]).verdict(A, B, "TCP", 80)
    assert verdict.ingress == Decision("Deny", "default", "iso", None, "end of tier (defaultAction Deny)")
    assert verdict.egress.reason == "end of tier (defaultAction Deny)"


def test_rule_11_profile_decision():
    verdict = PolicySet([]).verdict(A, C, "TCP", 80)
    assert verdict == Verdict(True, Decision("Allow", "", "__PROFILE__.kns.ns1", None, "profile allows"),
                              Decision("Allow", "", "__PROFILE__.kns.ns2", None, "profile allows"))


def test_rule_19_source_not_ports_and_named_source_port():
    objects = [gnp("p", egress_only({"action": "Deny", "protocol": "TCP", "source": {"notPorts": ["1024:65535"]}}, {"action": "Allow"}))]
    policy_set = PolicySet(objects)
    assert policy_set.verdict(A, EXT, "TCP", 80).allowed is False                       # unknown source port: in no list
    assert policy_set.verdict(A, EXT, "TCP", 80, source_port=40000).allowed is True


def test_rule_25_unknown_service_matches_nothing_and_warns():
    policy_set = PolicySet([np("out", "ns1", egress_only({"action": "Allow", "destination": {"services": {"name": "nope"}}}))])
    assert policy_set.verdict(A, B, "TCP", 80).egress.rule is None
    assert any("nope" in warning for warning in policy_set.warnings)


def test_rule_28_invalid_wildcards_rejected():
    for pattern in ("*.*.com", "w*.google.com", "www.google.*"):
        with pytest.raises(InputError, match="not a valid domain"):
            PolicySet([gnp("p", egress_only({"action": "Allow", "destination": {"domains": [pattern]}}))])


def test_rule_31_trace_in_flow_log_format():
    objects = [tier("security", 200), gnp("pass", PASS_ALL, "security"), gnp("iso", ISOLATE, selector="app == 'b'")]
    trace = PolicySet(objects, namespaces=NAMESPACES).trace(A, B, "TCP", 80)
    assert trace == {"egress": ["0|security|pass|pass|0", "1|__PROFILE__|__PROFILE__.kns.ns1|allow|0"],
                     "ingress": ["0|security|pass|pass|0", "1|default|iso|deny|-1"]}
    assert PolicySet([]).trace(A, EXT, "TCP", 80)["ingress"] is None


# --------------------------------------------------------------------------- API and errors

def test_bad_selector_names_policy_and_field():
    with pytest.raises(InputError) as err:
        PolicySet([np("p", "ns1", egress_only({"action": "Allow", "destination": {"selector": "app = 'b'"}}))])
    assert "NetworkPolicy ns1/p" in str(err.value) and "spec.egress[0].destination.selector" in str(err.value)


@pytest.mark.parametrize("objects,message", [
    ([gnp("p", egress_only({"action": "Drop"}))], "action"),
    ([gnp("p", egress_only({"action": "Allow", "protocol": "TCPX"}))], "protocol"),
    ([gnp("p", egress_only({"action": "Allow", "destination": {"ports": ["90:80"]}}))], "range"),
    ([gnp("p", egress_only({"action": "Allow", "destination": {"nets": ["10.0.0.300/8"]}}))], "CIDR"),
    ([gnp("p", dict(ALLOW_ALL, order="first"))], "order"),
    ([tier("t", 1, "Allow")], "defaultAction"),
    ([gnp("p", {"types": ["Sideways"]})], "Ingress or Egress"),
    ([knp("p", "ns1", {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}})], "operator"),
    ([cnp("p", "Middle", 1, {"namespaces": {}})], "tier 'Middle' is not Admin or Baseline"),
    ([cnp("p", "Admin", 1, {"namespaces": {}}, egress=[{"action": "Allow", "to": [{"namespaces": {}}]}])], "action 'Allow' is not one of"),
    ([cnp("p", "Admin", 1, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"namespaces": {}}], "protocols": [{"icmp": {}}]}])],
     "unknown protocol 'icmp'"),
    ([cnp("p", "Admin", 1, {"namespaces": {}}, ingress=[{"action": "Deny", "from": [{"networks": ["0.0.0.0/0"]}]}])], "unknown ingress peer"),
])
def test_invalid_objects(objects, message):
    with pytest.raises(InputError, match=message):
        PolicySet(objects)


def test_verdict_argument_errors():
    policy_set = PolicySet([])
    with pytest.raises(InputError):
        policy_set.verdict(EXT, THREAT, "TCP", 80)
    with pytest.raises(InputError):
        policy_set.verdict(A, B, "TCP", "80")
    with pytest.raises(InputError):
        policy_set.verdict(A, B, "TCPX", 80)
    with pytest.raises(TypeError):
        policy_set.verdict(A, "b", "TCP", 80)


def test_unknown_tier_warns_and_sorts_last():
    policy_set = PolicySet([gnp("p", DENY_ALL, "ghost"), gnp("allow", ALLOW_ALL)])
    assert policy_set.verdict(A, EXT, "TCP", 80).egress.policy == "allow"
    assert any("ghost" in warning for warning in policy_set.warnings)


def test_workload_is_hashable_and_equal_values_share_results():
    twin = Workload("ns1", "a", {"app": "a"}, ip="10.244.1.1", service_account="sa-a", service_account_labels={"role": "front"})
    assert twin == A and hash(twin) == hash(A)
    policy_set = PolicySet([gnp("p", DENY_ALL, selector="app == 'a'")])
    assert policy_set.verdict(twin, EXT, "TCP", 80) is policy_set.verdict(A, EXT, "TCP", 80)


def test_applicable_lists_policies_per_tier():
    policy_set = PolicySet([tier("sec", 1), gnp("s", ISOLATE, "sec"), np("n", "ns1", egress_only())])
    assert policy_set.applicable(A, "Egress") == {"sec": ["s"], "default": ["ns1/n"]}
    assert policy_set.applicable(C, "Egress") == {"sec": ["s"]}


# --------------------------------------------------------------------------- the workshop (quickstart-self-service)

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "workshop")
CONTROLLER = Workload("ingress-nginx", "ingress-nginx-controller",
                      {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"})
KUBE_DNS = Workload("kube-system", "coredns", {"k8s-app": "kube-dns"})
MONITOR = Workload("monitoring", "monitoring-pod", {"run": "monitoring-pod"})


def _load(pattern):
    objects = []
    for path in sorted(glob.glob(os.path.join(DATA, pattern), recursive=True)):
        with open(path, encoding="utf-8") as stream:
            objects.extend(obj for obj in yaml.safe_load_all(stream) if obj)
    return objects


@pytest.fixture(scope="module")
def workshop():
    apps = _load("apps/*.yaml")
    base = _load("securitypolicies/tiers.yaml") + _load("networksets/*.yaml") + apps
    step3 = _load("securitypolicies/step-3/**/*.yaml")
    enforced = [o for o in step3 if not o["metadata"]["name"].endswith(("pass-all", "default-allow"))] + _load("securitypolicies/step-5/**/*.yaml")
    workloads = {w.name: w for w in workloads_from_objects(apps)}
    workloads.update(controller=CONTROLLER, dns=KUBE_DNS, monitor=MONITOR)
    return {"step3": PolicySet(base + step3), "step5": PolicySet(base + enforced), "both": PolicySet(base + step3 + _load("securitypolicies/step-5/**/*.yaml")),
            "w": workloads, "apps": apps}


TENANT_1_FLOWS = [("loadgenerator", "frontend", 8080), ("frontend", "adservice", 9555), ("frontend", "cartservice", 7070),
                  ("frontend", "checkoutservice", 5050), ("frontend", "currencyservice", 7000), ("frontend", "productcatalogservice", 3550),
                  ("frontend", "recommendationservice", 8080), ("frontend", "shippingservice", 50051), ("cartservice", "redis-cart", 6379),
                  ("checkoutservice", "paymentservice", 50051), ("checkoutservice", "emailservice", 8080),
                  ("recommendationservice", "productcatalogservice", 3550), ("controller", "frontend", 8080), ("customer", "summary", 80),
                  ("summary", "database", 2379), ("controller", "customer", 80)]


@pytest.mark.parametrize("step", ["step3", "step5"])
def test_workshop_tenant_1_keeps_working(workshop, step):
    policy_set, w = workshop[step], workshop["w"]
    for src, dst, port in TENANT_1_FLOWS:
        assert policy_set.verdict(w[src], w[dst], "TCP", port).allowed, (step, src, dst, port)
    assert policy_set.verdict(w["frontend"], w["dns"], "UDP", 53).egress.policy == "platform.cluster-dns-allow-all"
    assert policy_set.verdict(w["customer"], External(domain="www.bloomberg.com"), "TCP", 443).allowed
    assert policy_set.verdict(w["controller"], w["productpage-v1"], "TCP", 9080).allowed


def test_workshop_namespaces_and_workloads(workshop):
    assert set(namespaces_from_objects(workshop["apps"])) == {"bookinfo", "hipstershop", "yaobank"}
    assert workshop["w"]["frontend"].labels == {"app": "frontend", "zone": "dmz"}
    assert workshop["w"]["customer"].service_account == "customer"


def test_workshop_step3_catch_alls_decide_unmodelled_flows(workshop):
    policy_set, w = workshop["step3"], workshop["w"]
    verdict = policy_set.verdict(w["frontend"], External(domain="www.google.com"), "TCP", 8443)
    assert verdict.egress == Decision("Deny", "appsec", "hipstershop/appsec.frontend", None, "end of tier (defaultAction Deny)")
    trace = policy_set.trace(w["loadgeneratorv2"], w["frontend"], "TCP", 8080)["egress"]
    assert trace[0] == "0|security|security.tenant-01-pass-all|pass|0"
    assert trace[-1] == "2|default|default.tenant-1-default-allow|allow|0"


def test_workshop_step5_loadgeneratorv2_denied_by_default_tier(workshop):
    verdict = workshop["step5"].verdict(workshop["w"]["loadgeneratorv2"], workshop["w"]["frontend"], "TCP", 8080)
    assert not verdict.allowed
    assert verdict.egress == Decision("Deny", "default", "default.tenant-1-default-deny", 0, "rule 0 Deny")
    assert verdict.ingress.tier == "appsec" and verdict.ingress.rule is None


def test_workshop_step5_ratings_to_github_denied_at_end_of_application_tier(workshop):
    policy_set, ratings = workshop["step5"], workshop["w"]["ratings-v1"]
    verdict = policy_set.verdict(ratings, External(domain="www.github.com"), "TCP", 443)
    assert verdict.egress == Decision("Deny", "application", "bookinfo/application.tenant-2-bookinfo-allow", None,
                                      "end of tier (defaultAction Deny)")
    assert verdict.ingress is None
    allowed = policy_set.verdict(ratings, External(domain="api.ubuntu.com"), "TCP", 443)
    assert allowed.egress == Decision("Allow", "application", "bookinfo/application.tenant-2-bookinfo-allow", 1, "rule 1 Allow")


def test_workshop_step5_monitoring_denied_by_tenant_restrict(workshop):
    policy_set, w = workshop["step5"], workshop["w"]
    for dst, port, policy in (("frontend", 8080, "security.tenant-01-restrict"), ("customer", 80, "security.tenant-01-restrict"),
                              ("productpage-v1", 9080, "security.tenant-02-restrict")):
        verdict = policy_set.verdict(w["monitor"], w[dst], "TCP", port)
        assert verdict.ingress == Decision("Deny", "security", policy, 2, "rule 2 Deny")
        assert verdict.egress.policy == "__PROFILE__.kns.monitoring"


def test_workshop_step5_cross_tenant_denied_in_security_tier(workshop):
    verdict = workshop["step5"].verdict(workshop["w"]["frontend"], workshop["w"]["productpage-v1"], "TCP", 9080)
    assert verdict.egress == Decision("Deny", "security", "security.tenant-01-restrict", 3, "rule 3 Deny")
    assert verdict.ingress == Decision("Deny", "security", "security.tenant-02-restrict", 2, "rule 2 Deny")


def test_workshop_both_steps_present_nothing_enforced(workshop):
    """METHODOLOGY section 5: with equal orders, -pass-all runs before -restrict and -default-allow before -default-deny."""
    verdict = workshop["both"].verdict(workshop["w"]["loadgeneratorv2"], External(ip="198.51.100.7"), "TCP", 22)
    assert verdict.egress == Decision("Allow", "default", "default.tenant-1-default-allow", 0, "rule 0 Allow")


# --------------------------------------------------------------------------- caches vs. the reference algorithm

def _reference(policy_set, view, direction, src, dst, proto, port):
    """Section G transcribed literally over the compiled objects, without indexes or caches."""
    for tier_ in policy_set.tiers:
        selecting = [p for p in tier_.policies if direction in p.types and p.selects(view)]
        if not selecting:
            continue
        result = None
        for policy in selecting:
            for rule in policy.rules[direction]:
                if rule.static(proto, port) is None:
                    continue
                if rule.src is not None and not rule.src.match(src):
                    continue
                if rule.dst is not None and not rule.dst.match(dst):
                    continue
                if not rule.dynamic(src, dst, proto, port, None):
                    continue
                if rule.action == "Log":
                    continue
                result = (rule.action, tier_.name, policy.name, rule.index)
                break
            if result:
                break
        if result is None:
            result = (tier_.default_action, tier_.name, selecting[-1].name, None)
        if result[0] != "Pass":
            return result
    return ("Allow", "", "__PROFILE__.kns." + view.ns, None)


def _random_policy_set(rng):
    labels = ["app == '%s'" % a for a in "abcd"] + ["tier == 'db'", "has(tier)", "!has(app)", "all()", "kind == 'corp'", ""]
    ns_selectors = ["", "team == 'x'", "team == 'y'", "global()", "all()"]
    objects = [tier("t1", 10), tier("t2", 20, "Pass"), netset("corp", {"kind": "corp"}, ["192.0.2.0/24", "10.244.3.0/24"]),
               netset("local", {"kind": "corp"}, ["198.51.100.0/24"], namespace="ns1")]

    def entity():
        found = {}
        for key, values in (("selector", labels), ("namespaceSelector", ns_selectors), ("notSelector", labels[:5]),
                            ("nets", [["10.244.1.0/24"], ["198.51.100.0/24"], ["0.0.0.0/0"]]), ("notNets", [CLUSTER]),
                            ("ports", [[80], ["8000:8100"], ["http"], [80, 443]])):
            if rng.random() < 0.25:
                found[key] = rng.choice(values)
        return found

    for n in range(25):
        rules = {d: [dict({"action": rng.choice(["Allow", "Deny", "Pass", "Log"])},
                          **({"protocol": rng.choice(["TCP", "UDP"])} if rng.random() < 0.5 else {}),
                          source=entity(), destination=entity()) for _unused in range(rng.randrange(4))] for d in ("ingress", "egress")}
        spec = dict(rules, types=rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
        tier_name, order, selector = rng.choice(["t1", "t2", None]), rng.choice([None, 1, 2, 2.5]), rng.choice(labels[:8])
        if rng.random() < 0.5:
            objects.append(np("p%d" % n, rng.choice(["ns1", "ns2"]), spec, tier_name, order, selector))
        else:
            objects.append(gnp("p%d" % n, dict(spec, namespaceSelector=rng.choice(ns_selectors[:3])), tier_name, order, selector))
    return objects


def test_cached_verdicts_agree_with_reference_algorithm():
    rng = random.Random(1234)
    peers = [A, B, C, A_NOIP, EXT, THREAT, CORP, UBUNTU, Workload("ns2", "d", {"app": "d", "tier": "db"}, ip="10.244.3.4"),
             Workload("ns1", "x", {}, ip="10.244.1.9", ports={"http": ("TCP", 80)})]
    checked = 0
    for _unused in range(30):
        policy_set = PolicySet(_random_policy_set(rng), namespaces=NAMESPACES, cluster_cidrs=CLUSTER)
        for _unused in range(150):
            src, dst = rng.choice(peers), rng.choice(peers)
            if isinstance(src, External) and isinstance(dst, External):
                continue
            proto, port = rng.choice([("TCP", 80), ("TCP", 443), ("UDP", 53), ("TCP", 8080), ("TCP", 9000)])
            verdict = policy_set.verdict(src, dst, proto, port)
            src_view, dst_view = policy_set._view(src), policy_set._view(dst)   # pylint: disable=protected-access
            number = 6 if proto == "TCP" else 17
            for decision, view, direction in ((verdict.egress, src_view, "Egress"), (verdict.ingress, dst_view, "Ingress")):
                if not view.is_workload:
                    assert decision is None
                    continue
                expected = _reference(policy_set, view, direction, src_view, dst_view, number, port)
                assert (decision.action, decision.tier, decision.policy, decision.rule) == expected
                checked += 1
    assert checked > 5000


@pytest.mark.parametrize("nets, outside, pods", [
    (["0.0.0.0/1", "128.0.0.0/1"], True, True),                                      # the whole IPv4 space, in pieces
    (["0.0.0.0/5", "8.0.0.0/7", "10.0.0.0/10", "10.64.0.0/11", "10.112.0.0/12", "10.128.0.0/10", "10.192.0.0/11", "10.224.0.0/12",
      "10.240.0.0/14", "10.245.0.0/16", "10.246.0.0/15", "10.248.0.0/13", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4", "32.0.0.0/3",
      "64.0.0.0/2", "128.0.0.0/1"], True, False),                                     # everything but 10.244/16 and 10.96/12
    (["0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8"], False, False),                        # only some outside addresses
])
def test_an_unknown_outside_address_is_in_nets_that_cover_everything_outside_the_cluster(nets, outside, pods):
    """A domain without an address is somewhere outside the cluster: nets that, with the cluster CIDRs, make up a whole family
    hold it (an AdminNetworkPolicy, having no except, lists "everything outside the cluster" that way); pods stay outside them."""
    policy = anp("outside", 10, {"namespaces": {}}, egress=[{"action": "Allow", "to": [{"networks": nets}]}])
    deny = anp("rest", 20, {"namespaces": {}}, egress=[{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}])
    policy_set = PolicySet([policy, deny], namespaces=NAMESPACES, cluster_cidrs=CLUSTER)
    assert policy_set.verdict(A, UBUNTU, "TCP", 443).allowed is outside
    assert policy_set.verdict(A, A_NOIP, "TCP", 443).allowed is pods
