#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identify: the namespaces, workloads and identities in scope."""

DOCUMENTATION = r"""
module: workload_facts
short_description: Identify the namespaces, workloads and identity labels in scope
version_added: 0.1.0
description:
  - Reads the Namespaces and workloads (Deployments, StatefulSets, DaemonSets, Pods, Jobs, CronJobs) of the target and
    reports, per in-scope namespace, its tier, tenant and workloads with their pod labels, and per app the values of its
    identity label.
  - Warns about in-scope namespaces that do not exist and about declared flow endpoints that match no workload.
  - Reads only; never changes the target.
author: zerotrust.microseg developers (@zerotrust)
extends_documentation_fragment:
  - zerotrust.microseg.attributes
  - zerotrust.microseg.intent
  - zerotrust.microseg.target
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: The module changes nothing.
"""

EXAMPLES = r"""
- name: Identify what is in scope
  zerotrust.microseg.workload_facts:
    target: directory
    directory: "{{ inventory_dir }}/cluster"
    apps: "{{ microseg_apps }}"
    tenants: "{{ microseg_tenants }}"
    base_dir: "{{ inventory_dir }}"
  register: scope
"""

RETURN = r"""
namespaces:
  description: Per in-scope namespace whether it exists, its tier, tenant, PCI flag and workloads with their pod labels.
  returned: always
  type: dict
apps:
  description: Per app its namespace, identity label, tier and the identity values found.
  returned: always
  type: list
  elements: dict
missing:
  description: Declared flow endpoints that match no workload.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.zerotrust.microseg.plugins.module_utils.face import INTENT_SPEC, TARGET_SPEC, MicrosegModule, intent_variables, open_target
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.workloads import NAMESPACE_KIND, WORKLOAD_KINDS, identify


def identify_scope(module):
    intent = load_intent(intent_variables(module.params), module.params["base_dir"])
    target = open_target(module)
    objects = target.list(kinds=[NAMESPACE_KIND] + list(WORKLOAD_KINDS))
    facts = identify(intent, objects, declared_flows(intent))
    for warning in facts.pop("warnings"):
        module.warn(warning)
    return dict(changed=False, **facts)


def main():
    spec = dict(INTENT_SPEC, **TARGET_SPEC)
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(identify_scope)


if __name__ == "__main__":
    main()
