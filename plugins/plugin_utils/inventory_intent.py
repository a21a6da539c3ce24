"""Action-plugin base: fill module options from the host's ``microseg_*`` inventory variables.

Every module of the collection takes the declared intent as options. Written out in each
task they would repeat the whole contract; this base lets a task name only what it changes
(``phase``, ``tiers``...) and takes the rest from the inventory, as CONTRACT §3 names it.
"""
from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_variables import check as check_variables

# module option -> inventory variable
INVENTORY_OPTIONS = {
    "dialect": "microseg_dialect",
    "calico_version": "microseg_calico_version",
    "calico_edition": "microseg_calico_edition",
    "tenants": "microseg_tenants",
    "apps": "microseg_apps",
    "trusted_domains": "microseg_trusted_domains",
    "threat_nets": "microseg_threat_nets",
    "dns": "microseg_dns",
    "cluster_cidrs": "microseg_cluster_cidrs",
    "observed_flows": "microseg_observed_flows",
    "flow_logs": "microseg_flow_logs",
    "strict": "microseg_strict",
    "remediated_flows": "microseg_remediated_flows",
    "cluster_serves": "microseg_cluster_serves",
    "threat_nets_fallback": "microseg_threat_nets_fallback",
    "target": "microseg_target",
    "directory": "microseg_directory",
    "kubeconfig": "microseg_kubeconfig",
    "context": "microseg_context",
    "force": "microseg_force",
    "report_dir": "microseg_report_dir",
}
# the declared intent (CONTRACT §3) and the target (CONTRACT §2), as the modules name them
INTENT_OPTIONS = ("dialect", "calico_version", "calico_edition", "tenants", "apps", "trusted_domains", "threat_nets", "dns",
                  "cluster_cidrs", "observed_flows", "flow_logs", "strict", "remediated_flows", "cluster_serves", "threat_nets_fallback")
# microseg_remediated_flows defaults to one table per cluster beside the other flow tables
REMEDIATED_FLOWS_DEFAULT = "flows/remediated-%s.md"
TARGET_OPTIONS = ("target", "directory", "kubeconfig", "context", "force")
RELATIVE_PATH_OPTIONS = ("directory", "kubeconfig", "report_dir")


class InventoryIntentAction(ActionBase):
    """Runs the module of the same name with options defaulted from inventory variables."""

    #: which of INVENTORY_OPTIONS the module accepts
    OPTIONS = ()

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        base_dir = args.get("base_dir") or task_vars.get("inventory_dir") or "."
        if "apps" in self.OPTIONS:  # modules that read intent resolve its relative paths themselves
            args.setdefault("base_dir", base_dir)
        inventory = {INVENTORY_OPTIONS[option]: self._templar.template(task_vars[INVENTORY_OPTIONS[option]])
                     for option in self.OPTIONS if option not in args and INVENTORY_OPTIONS[option] in task_vars}
        errors, warnings = self._check_variables(inventory, task_vars)
        if errors:   # before the module runs, naming the variable (not the module option it feeds)
            result.update(failed=True, msg="Validation of the microseg_* variables failed: " + "; ".join(errors), argument_errors=errors)
            return result
        for option in self.OPTIONS:
            if INVENTORY_OPTIONS[option] in inventory:
                args[option] = inventory[INVENTORY_OPTIONS[option]]
        if "remediated_flows" in self.OPTIONS and "remediated_flows" not in args:
            args["remediated_flows"] = REMEDIATED_FLOWS_DEFAULT % task_vars.get("inventory_hostname", "localhost")
        for option in RELATIVE_PATH_OPTIONS:
            value = args.get(option)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                args[option] = os.path.join(base_dir, value)
        if "calico_version" in args and args["calico_version"] is not None:
            args["calico_version"] = str(args["calico_version"])
        result.update(self._execute_module(module_name=self._task.resolved_action, module_args=args, task_vars=task_vars))
        if warnings:
            result["warnings"] = warnings + list(result.get("warnings") or ())
        return result

    def _check_variables(self, inventory, task_vars):
        """``(errors, warnings)`` of the inventory variables this task reads (variable -> templated value), checked
        against the roles' argument specs."""
        return check_variables(inventory)
