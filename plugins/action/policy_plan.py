"""Action plugin for zerotrust.microseg.policy_plan: options default to the host's microseg_* variables."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_intent import InventoryIntentAction


class ActionModule(InventoryIntentAction):
    OPTIONS = (
        "dialect",
        "calico_version",
        "calico_edition",
        "tenants",
        "apps",
        "trusted_domains",
        "threat_nets",
        "dns",
        "cluster_cidrs",
        "observed_flows",
        "flow_logs",
    )
