#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Analyze: reconcile declared flows with observed ones and write the report."""

DOCUMENTATION = r"""
module: flow_report
short_description: Reconcile declared flows with observed flows and write reconciliation.json
version_added: 0.1.0
description:
  - Parses every app's flow table and the observed flow tables, and writes
    C(<report_dir>/<host>/reconciliation.json) with the lists C(confirmed) (declared and observed),
    C(unobserved) (declared, never observed) and C(undeclared) (observed, not declared).
  - Each flow is C({source, destination, port}) in flow-table notation, endpoints namespace-qualified, port as C(7070/TCP).
  - Writes only when the report changes; in check mode writes nothing.
author: zerotrust.microseg developers (@zerotrust)
extends_documentation_fragment:
  - zerotrust.microseg.attributes
  - zerotrust.microseg.intent
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
"""

EXAMPLES = r"""
- name: Write the reconciliation report
  zerotrust.microseg.flow_report:
    apps: "{{ microseg_apps }}"
    observed_flows: "{{ microseg_observed_flows }}"
    base_dir: "{{ inventory_dir }}"
    report_dir: "{{ microseg_report_dir }}"
    host: "{{ inventory_hostname }}"
"""

RETURN = r"""
path:
  description: The report file.
  returned: always
  type: str
report:
  description: The report itself.
  returned: always
  type: dict
  sample: {"confirmed": [], "unobserved": [{"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"}],
           "undeclared": [], "skipped": [{"path": "logs/flows.jsonl", "line": 7, "reason": "cut line: the JSON ends early"}],
           "skipped_total": 1}
"""

import os

from ansible_collections.zerotrust.microseg.plugins.module_utils.face import INTENT_SPEC, MicrosegModule, intent_variables
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, observed_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.reconcile import reconcile, skipped_warnings, with_skipped, write_report


def report_flows(module):
    params = module.params
    intent = load_intent(intent_variables(params), params["base_dir"])
    logs = []
    observed = observed_flows(intent, logs)
    for warning in skipped_warnings(logs):
        module.warn(warning)
    report = with_skipped(reconcile(declared_flows(intent), observed, intent.identity_labels), logs)
    path = os.path.join(intent.resolve(params["report_dir"]), params["host"], "reconciliation.json")
    changed, before, after = write_report(path, report, module.check_mode)
    result = dict(changed=changed, path=path, report=report)
    if module._diff and changed:
        result["diff"] = dict(before=before, after=after, before_header=path, after_header=path)
    return result


def main():
    spec = dict(INTENT_SPEC, report_dir=dict(type="path", required=True), host=dict(type="str", required=True))
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(report_flows)


if __name__ == "__main__":
    main()
