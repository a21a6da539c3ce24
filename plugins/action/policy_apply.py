"""Action plugin for zerotrust.microseg.policy_apply: options default to the host's microseg_* variables."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_intent import InventoryIntentAction


class ActionModule(InventoryIntentAction):
    OPTIONS = ("target", "directory", "kubeconfig", "context", "force",)
