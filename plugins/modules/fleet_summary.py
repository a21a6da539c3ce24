#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the fleet summary of a rollout; runs on the controller (action plugin)."""

DOCUMENTATION = r"""
module: fleet_summary
short_description: Write fleet.json and fleet.html for a rollout and show one line per cluster
version_added: 0.2.0
description:
  - "Runs on the controller, once. For every host of O(hosts) it takes the status its run of the phases recorded
    (C(zerotrust_microseg_run), registered by C(playbooks/tasks/phases.yml)): C(changed), C(unchanged), C(rolled_back)
    (a phase failed and the cluster was restored) or C(untouched) (the rollout stopped before it)."
  - Writes C(<report_dir>/fleet.json) (C(clusters), each with C(host), C(status) and C(detail); C(counts) per status; C(stopped),
    why the rollout stopped) and C(fleet.html), one self-contained page, only when they change and never in check mode.
  - Returns one line per cluster, shown at default verbosity.
author: zerotrust.microseg developers (@zerotrust)
extends_documentation_fragment:
  - zerotrust.microseg.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: The summary is shown as its lines.
options:
  hosts:
    description: The clusters of the rollout, in order (normally C(ansible_play_hosts_all) of the rollout's plays).
    type: list
    elements: str
    required: true
  report_dir:
    description: Where fleet.json and fleet.html go (C(microseg_report_dir)); relative to the inventory directory.
    type: path
    required: true
  stopped:
    description: Why the rollout stopped, if it did (empty when it ran through).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Summarise the rollout
  zerotrust.microseg.fleet_summary:
    hosts: "{{ groups['all'] }}"
    report_dir: "{{ microseg_report_dir | default('reports') }}"
  run_once: true
"""

RETURN = r"""
msg:
  description: One line per cluster, then the totals.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(hosts=dict(type="list", elements="str", required=True), report_dir=dict(type="path", required=True),
                                              stopped=dict(type="str", default="")), supports_check_mode=True)
    module.fail_json(msg="fleet_summary runs on the controller through its action plugin; it has no remote part")


if __name__ == "__main__":
    main()
