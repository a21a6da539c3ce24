"""Action plugin for zerotrust.microseg.policy_remediate: options default to the host's microseg_* variables."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_intent import (
    INTENT_OPTIONS, TARGET_OPTIONS, InventoryIntentAction)


class ActionModule(InventoryIntentAction):
    OPTIONS = INTENT_OPTIONS + TARGET_OPTIONS + ("report_dir",)
