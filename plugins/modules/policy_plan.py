#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the tiered policy set of one phase from declared intent."""

DOCUMENTATION = r"""
module: policy_plan
short_description: Render the tiered micro-segmentation policy set of a phase
version_added: 0.1.0
description:
  - Reads the declared intent (tenants, apps and their flow tables, trusted domains, threat nets, DNS)
    and renders the complete policy set of the C(deploy) (fail-safe) or C(enforce) (default-deny) phase.
  - Pure, it never contacts a target; pass its C(objects) to M(zerotrust.microseg.policy_apply).
  - Calico output is C(projectcalico.org/v3) Tiers, GlobalNetworkPolicies, NetworkPolicies and GlobalNetworkSets
    in the tiers C(security), C(platform), C(application), C(appsec) and C(default).
  - Any invalid input (a malformed flow row, a bad port, a name Kubernetes would reject) fails the task with a message
    naming the file, line and field; nothing is rendered then.
author: zerotrust.microseg developers (@zerotrust)
extends_documentation_fragment:
  - zerotrust.microseg.attributes
  - zerotrust.microseg.intent
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: The module changes nothing, so there is nothing to diff.
options:
  phase:
    description: C(deploy) renders fail-safe catch-alls (Allow/Pass); C(enforce) renders default-deny.
    type: str
    default: deploy
    choices: [deploy, enforce]
  tiers:
    description: Render only these tiers (all when empty).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Render the fail-safe set of the platform tier
  zerotrust.microseg.policy_plan:
    phase: deploy
    tiers: [platform]
    apps: "{{ microseg_apps }}"
    base_dir: "{{ inventory_dir }}"
  register: plan

- name: Render the enforced set for Calico Enterprise
  zerotrust.microseg.policy_plan:
    phase: enforce
    calico_edition: enterprise
    tenants: [{name: shop, namespaces: [hipstershop], pci: true}]
    apps:
      - name: hipstershop
        namespace: hipstershop
        tenant: shop
        flows:
          - {source: frontend, destination: cartservice, port: 7070}
    trusted_domains: [tigera.io]
"""

RETURN = r"""
objects:
  description: The rendered objects, in apply order.
  returned: always
  type: list
  elements: dict
limitations:
  description: What the dialect or edition could not express exactly (for example a domain widened to any external address).
  returned: always
  type: list
  elements: str
flows:
  description: The declared flows, merged, in flow-table notation.
  returned: always
  type: list
  elements: dict
  sample: [{"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"}]
tiers:
  description: The tiers rendered.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.zerotrust.microseg.plugins.module_utils.face import INTENT_SPEC, MicrosegModule, intent_variables
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan


def plan_policies(module):
    intent = load_intent(intent_variables(module.params), module.params["base_dir"])
    plan = make_plan(intent, module.params["phase"], module.params["tiers"])
    for warning in plan.warnings:
        module.warn(warning)
    identity = intent.identity_labels
    return dict(changed=False, objects=plan.objects, limitations=plan.warnings, tiers=plan.tiers,
                flows=[flow.notation(identity) for flow in plan.flows])


def main():
    spec = dict(INTENT_SPEC, phase=dict(type="str", default="deploy", choices=["deploy", "enforce"]),
                tiers=dict(type="list", elements="str", default=[]))
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(plan_policies)


if __name__ == "__main__":
    main()
