#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the methodology's phases on one cluster in one process."""

DOCUMENTATION = r"""
module: phases
short_description: Run the micro-segmentation phases (identify, analyze, deploy, enforce, remediate) on one cluster in one process
version_added: 0.2.0
description:
  - Runs the selected phases in methodology order on the cluster of the host, reading the intent, the flow tables and the
    flow logs once. deploy and enforce plan, prove (the enforce gate), snapshot, apply and, if anything fails, restore the
    target exactly as it was before the phase; remediate stages or accepts its proposals (see M(zerotrust.microseg.policy_remediate)).
    A failed phase ends the run.
  - The roles of the collection each report one phase. C(playbooks/tasks/phases.yml) first runs every phase that
    C(--tags) / C(--skip-tags) select in one call (O(phases=selected), O(report=false)), then each role reports its phase from
    that call's results, so a cluster costs one module process per run, not one per step.
  - Check mode writes nothing and, with C(--diff), returns each phase's per-object diffs.
  - Before any phase, what the cluster serves is settled (API discovery on the C(cluster) target, which wins over
    C(microseg_cluster_serves); that variable on the C(directory) target) and a dialect that cannot honour the intent there
    fails the first phase before anything is written (the C(kubernetes) dialect with threat nets and no AdminNetworkPolicy,
    unless C(microseg_threat_nets_fallback=except)).
  - With a dialect other than C(calico), the last deploy or enforce the run applied writes C(<report_dir>/<host>/fidelity.json),
    each rule of the tiered model that dialect widened, merged or dropped, and each phase prints them, one line per rule.
  - Before deploy, enforce or remediate reads or writes the policies, it recovers from a run whose controller died in the
    middle of a phase (its snapshot or its name in the lock left behind) - the lock is taken over, the target restored to
    before the interrupted phase and the leftovers discarded - and warns C(interrupted run of <phase> found ...). In check
    mode it only warns.
author: zerotrust.microseg developers (@zerotrust)
extends_documentation_fragment:
  - zerotrust.microseg.attributes
  - zerotrust.microseg.intent
  - zerotrust.microseg.target
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  phases:
    description:
      - The phases to run, any of C(identify), C(analyze), C(deploy), C(enforce), C(remediate); run in that order.
      - Through the action plugin also C(selected), the phases C(--tags) and C(--skip-tags) select.
    type: list
    elements: str
    required: true
    choices: [identify, analyze, deploy, enforce, remediate]
  report:
    description:
      - Return the results of O(phases) as this task's own (changed, msg, diff, failure), taking them from an earlier
        O(report=false) call of the same host when it ran them. Handled by the action plugin.
    type: bool
    default: true
  tiers:
    description: Tiers deploy and enforce cover (all when empty); through the action plugin the C(tier_*) tags given.
    type: list
    elements: str
    default: []
  report_dir:
    description: Directory of the reports (C(microseg_report_dir)); relative paths are relative to O(base_dir).
    type: path
    required: true
  host:
    description: The cluster the run is about, normally C(inventory_hostname).
    type: str
    required: true
  gate:
    description: enforce (and remediate's accept) refuse when a declared or observed flow would be denied (C(microseg_enforce_gate)).
    type: bool
    default: true
  keep_enforced:
    description: deploy keeps enforced catch-alls instead of loosening them (C(microseg_keep_enforced)).
    type: bool
    default: true
  remediate_apply:
    description: remediate accepts its proposals instead of staging them (C(microseg_remediate_apply)).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Run every phase on the cluster
  zerotrust.microseg.phases:
    phases: [identify, analyze, deploy, enforce, remediate]
    report_dir: reports
    host: "{{ inventory_hostname }}"
"""

RETURN = r"""
phase_results:
  description: Phase -> its result, with C(changed), C(msg) (the line a run shows), C(warnings), C(diff) and, for a failed phase, C(failed).
  returned: always
  type: dict
  sample: {"analyze": {"changed": false, "msg": "8 confirmed, 18 unobserved, 1 undeclared flow(s); report reports/c1/reconciliation.json"}}
"""

from ansible_collections.zerotrust.microseg.plugins.module_utils.face import (
    INTENT_SPEC, TARGET_SPEC, MicrosegModule, intent_variables, open_target)
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.phases import ClusterRun
from ansible_collections.zerotrust.microseg.plugins.module_utils.tags import PHASES


def run(module):
    params = module.params
    intent = load_intent(intent_variables(params), params["base_dir"])
    cluster = ClusterRun(intent, open_target(module), params["host"], params["report_dir"], tiers=params["tiers"], gate=params["gate"],
                         keep_enforced=params["keep_enforced"], remediate_apply=params["remediate_apply"])
    results = cluster.run(params["phases"])
    for result in results.values():
        result.pop("report", None)   # written to its file; the roles show its run line, and a large one costs Ansible seconds to carry
        if not module._diff:
            result.pop("diff", None)
    return dict(changed=any(result.get("changed") for result in results.values()), phase_results=results)


def main():
    spec = dict(INTENT_SPEC, **TARGET_SPEC)
    spec.update(phases=dict(type="list", elements="str", required=True, choices=list(PHASES)), report=dict(type="bool", default=True),
                tiers=dict(type="list", elements="str", default=[]), report_dir=dict(type="path", required=True),
                host=dict(type="str", required=True), gate=dict(type="bool", default=True), keep_enforced=dict(type="bool", default=True),
                remediate_apply=dict(type="bool", default=False))
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
