#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Assess observed flows against the live policies, stage the fix, or apply it (CONTRACT §7)."""

DOCUMENTATION = r"""
module: policy_remediate
short_description: Assess observed flows against the live policies, stage the fix as Staged policies, or apply it
version_added: 0.2.0
description:
  - Evaluates every observed flow (O(observed_flows) and O(flow_logs)) against the policies the target holds now, with the
    collection's evaluator, and writes C(<report_dir>/<host>/remediation.json) (CONTRACT §7) with C(denied) (each with the
    deciding tier and policy), C(proposals) (the row to add and the policy that would carry it), C(hits) (per live rule that
    allowed observed traffic, the number of log records it decided) and C(unused) (declared flows whose rules no observed
    flow used).
  - A proposal is the denied flow declared as a row; the enforced set is re-rendered with it by the same renderer as
    deploy and enforce, and the policies that change are the proposal.
  - Without O(apply), with the C(calico) dialect on Calico 3.30+, the changed policies are written as
    C(StagedNetworkPolicy) / C(StagedGlobalNetworkPolicy) labelled C(zerotrust.microseg/remediation=proposed), so that flow
    logs and M(zerotrust.microseg.policy_verdicts) (O(zerotrust.microseg.policy_verdicts#module:staged=preview)) show their
    effect; no enforced object changes. Staged proposals no longer needed are deleted. Other dialects and older Calico
    versions get the report only, which says so.
  - With O(apply) the proposals are accepted. Their rows are appended to O(remediated_flows), which every phase reads as
    declared flows. The enforced set is proven to deny no declared or observed flow (unless O(gate=false)), snapshotted,
    applied with the staged proposals pruned, and restored exactly if anything fails.
  - Check mode writes nothing at all (no report, no staged policy, no table row); with C(--diff) it shows each of them.
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
  report_dir:
    description: Directory of the reports (C(microseg_report_dir)); relative paths are relative to O(base_dir).
    type: path
    required: true
  host:
    description: The cluster the report is about, normally C(inventory_hostname).
    type: str
    required: true
  apply:
    description: Accept the proposals (C(microseg_remediate_apply)) instead of staging them.
    type: bool
    default: false
  gate:
    description: With O(apply), refuse (writing nothing) when the new enforced set would deny a declared or observed flow.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Stage the fix for what the live policies deny
  zerotrust.microseg.policy_remediate:
    report_dir: "{{ microseg_report_dir }}"
    host: "{{ inventory_hostname }}"

- name: Accept the proposals
  zerotrust.microseg.policy_remediate:
    report_dir: "{{ microseg_report_dir }}"
    host: "{{ inventory_hostname }}"
    apply: true
"""

RETURN = r"""
path:
  description: The report file.
  returned: always
  type: str
report:
  description: The report itself (see CONTRACT §7).
  returned: always
  type: dict
  sample:
    denied: [{"source": "monitoring/run=monitoring-pod", "destination": "yaobank/customer", "port": "80/TCP",
              "tier": "default", "policy": "namespace-yaobank-catch-all"}]
    proposals: [{"source": "monitoring/run=monitoring-pod", "destination": "yaobank/customer", "port": "80/TCP",
                 "tier": "application", "policy": "yaobank/yaobank"}]
    hits: [{"tier": "platform", "policy": "cluster-dns", "direction": "egress", "rule": 0, "hits": 120}]
    unused: []
summary:
  description: One line saying what was found and done.
  returned: always
  type: str
staged:
  description: Paths of the staged proposals the target holds after this run.
  returned: always
  type: list
  elements: str
accepted:
  description: The rows appended to O(remediated_flows) by this run.
  returned: always
  type: list
  elements: dict
created:
  description: Paths of the objects created (staged proposals, or enforced objects with O(apply)).
  returned: always
  type: list
  elements: str
updated:
  description: Paths of the objects updated.
  returned: always
  type: list
  elements: str
deleted:
  description: Paths of the objects deleted (staged proposals no longer needed).
  returned: always
  type: list
  elements: str
"""

import os

from ansible_collections.zerotrust.microseg.plugins.module_utils.face import (
    INTENT_SPEC, TARGET_SPEC, MicrosegModule, intent_variables, open_target)
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.phases import adopt_served_kinds
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import check_dialect
from ansible_collections.zerotrust.microseg.plugins.module_utils.remediation import remediate


def run(module):
    params = module.params
    intent = load_intent(intent_variables(params), params["base_dir"])
    report_path = os.path.join(intent.resolve(params["report_dir"]), params["host"], "remediation.json")
    target = open_target(module)
    for warning in adopt_served_kinds(intent, target, params["host"]):   # what the cluster serves, before anything is planned
        module.warn(warning)
    check_dialect(intent)
    outcome = remediate(intent, target, report_path, params["host"], apply=params["apply"], gate=params["gate"])
    for warning in outcome.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        outcome.pop("diff")
    return outcome


def main():
    spec = dict(INTENT_SPEC, **TARGET_SPEC)
    spec.update(report_dir=dict(type="path", required=True), host=dict(type="str", required=True),
                apply=dict(type="bool", default=False), gate=dict(type="bool", default=True))
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(run)


if __name__ == "__main__":
    main()
