#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evaluate flows against a policy set offline; the enforce gate."""

DOCUMENTATION = r"""
module: policy_verdicts
short_description: Decide offline which flows a policy set allows, and refuse a set that would deny legitimate flows
version_added: 0.1.0
description:
  - Evaluates flows against a policy set with the collection's Calico evaluator (tiers, Pass, end-of-tier deny, profiles,
    Kubernetes NetworkPolicy, AdminNetworkPolicy) and returns one verdict per flow with the deciding tier, policy and rule.
  - The flows are the declared flows of every app and the observed flows (O(declared), O(observed)) plus O(flows).
  - The policy set is O(resources) laid over what the target already holds (O(merge_live)), as it will be once applied.
  - Endpoints stand for the target's workloads carrying their labels, or for one representative pod where it has none.
  - With O(fail_on_denied) the task fails, before anything is written, listing each denied flow and the rule denying it;
    the enforce role uses this as its gate.
  - With O(compare_to) it also returns the flows newly denied and newly allowed relative to another policy set.
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
options:
  resources:
    description:
      - The policy objects to evaluate, usually C(objects) of M(zerotrust.microseg.policy_plan).
      - Empty means the policies the target holds now.
    type: list
    elements: dict
    default: []
  merge_live:
    description:
      - Lay O(resources) over the policies the target holds (pruning managed objects of O(tiers)), as applying them would.
      - Without it only O(resources) are evaluated. Ignored with O(target=none).
    type: bool
    default: true
  tiers:
    description: The tiers O(resources) cover (all when empty), for O(merge_live).
    type: list
    elements: str
    default: []
  compare_to:
    description: Another policy set; C(newly_denied) and C(newly_allowed) compare the two.
    type: list
    elements: dict
  declared:
    description: Evaluate the declared flows of every app.
    type: bool
    default: true
  observed:
    description: Evaluate the observed flows (O(observed_flows)).
    type: bool
    default: true
  flows:
    description: More flows, as mappings with C(source), C(destination), C(port) in namespace-qualified flow-table notation.
    type: list
    elements: dict
    default: []
  workloads:
    description:
      - Workloads to evaluate for, each with C(namespace), C(name) and C(labels) (pod labels).
      - By default the target's workloads are used.
    type: list
    elements: dict
  staged:
    description:
      - C(ignore) evaluates only enforced policies, as the data plane does.
      - C(preview) takes the Staged policies (C(StagedNetworkPolicy), C(StagedGlobalNetworkPolicy),
        C(StagedKubernetesNetworkPolicy)) as enforced, each replacing the enforced policy of the same kind, namespace and
        name, so the effect of staged proposals (M(zerotrust.microseg.policy_remediate)) shows before they are applied.
      - C(true) and C(false) are accepted for C(preview) and C(ignore).
    type: raw
    default: ignore
  fail_on_denied:
    description: Fail, listing each denied flow with the rule that denies it, when any flow is denied.
    type: bool
    default: false
  target:
    description: Where live policies and workloads are read; C(none) reads nothing.
    type: str
    default: cluster
    choices: [cluster, directory, none]
"""

EXAMPLES = r"""
- name: Prove that the enforced set denies no declared or observed flow
  zerotrust.microseg.policy_verdicts:
    resources: "{{ plan.objects }}"
    fail_on_denied: true

- name: What would the staged remediation proposals allow?
  zerotrust.microseg.policy_verdicts:
    staged: preview
    declared: false
  register: preview

- name: Which flows would the monitoring pod lose?
  zerotrust.microseg.policy_verdicts:
    resources: "{{ enforced.objects }}"
    declared: false
    observed: false
    flows:
      - {source: monitoring/run=monitoring-pod, destination: hipstershop/frontend, port: 8080}
  register: verdicts
"""

RETURN = r"""
verdicts:
  description: One entry per flow, with C(verdict) (allow or deny) and, for a deny, C(denied_by) (side, tier, policy, rule, reason).
  returned: always
  type: list
  elements: dict
  sample: [{"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP", "verdict": "allow"}]
summary:
  description: "One line per flow, C(source -> destination port: verdict), with the side and policy that deny it."
  returned: always
  type: list
  elements: str
  sample:
    - "monitoring/run=monitoring-pod -> yaobank/customer 80/TCP: deny (ingress by default/namespace-yaobank-catch-all)"
denied:
  description: The denied entries of C(verdicts).
  returned: always
  type: list
  elements: dict
newly_denied:
  description: Flows allowed by O(compare_to) and denied by the evaluated set.
  returned: with compare_to
  type: list
  elements: dict
newly_allowed:
  description: Flows denied by O(compare_to) and allowed by the evaluated set.
  returned: with compare_to
  type: list
  elements: dict
"""

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import Workload, namespaces_from_objects, workloads_from_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.face import INTENT_SPEC, TARGET_SPEC, MicrosegModule, intent_variables, open_target
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import merge_flows, parse_flow_rows
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, observed_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.verdicts import compare, evaluate_flows, future_state, gate, summary


def _workloads(params, live):
    if params.get("workloads") is None:
        return workloads_from_objects(live.values())
    pods = []
    for index, item in enumerate(params["workloads"]):
        try:
            pods.append(Workload(namespace=item["namespace"], name=item.get("name", ""), labels=item.get("labels") or {}))
        except (KeyError, ValueError, TypeError) as err:
            raise InputError("needs namespace, name and labels: %s" % err, field="workloads[%d]" % index) from err
    return pods


STAGED_CHOICES = {"ignore": False, "preview": True, "false": False, "true": True, "no": False, "yes": True}


def staged_mode(value):
    """``staged``: ignore | preview (booleans accepted) -> whether staged policies are taken as enforced."""
    key = str(value).strip().lower()
    if key not in STAGED_CHOICES:
        raise InputError("must be ignore or preview, not %r" % (value,), field="staged")
    return STAGED_CHOICES[key]


def decide_flows(module):
    params = module.params
    staged = staged_mode(params["staged"])
    intent = load_intent(intent_variables(params), params["base_dir"])
    identity = intent.identity_labels
    flows = declared_flows(intent) if params["declared"] else []
    if params["observed"]:
        flows += observed_flows(intent)
    flows += parse_flow_rows(params["flows"], "flows", None, identity)
    flows = merge_flows(flows)
    live = {}
    if params["target"] != "none":
        live = open_target(module).list()
    if not params["resources"]:
        objects = future_state(live, prune=False)
    elif params["merge_live"]:
        objects = future_state(live, params["resources"], params["tiers"])
    else:
        objects = params["resources"]
    namespaces = namespaces_from_objects(live.values())
    workloads = _workloads(params, live)
    common = dict(workloads=workloads, namespaces=namespaces, cluster_cidrs=intent.cluster_cidrs, identity_labels=identity,
                  staged=staged)
    verdicts = evaluate_flows(objects, flows, **common)
    result = dict(changed=False, verdicts=verdicts, denied=[v for v in verdicts if v["verdict"] == "deny"],
                  summary=[summary(v) for v in verdicts])
    if params.get("compare_to") is not None:
        before = evaluate_flows(params["compare_to"], flows, **common)
        result["newly_denied"], result["newly_allowed"] = compare(before, verdicts)
    if params["fail_on_denied"]:
        gate(verdicts)
    return result


def main():
    target = dict(TARGET_SPEC)
    target["target"] = dict(type="str", default="cluster", choices=["cluster", "directory", "none"])
    spec = dict(INTENT_SPEC, **target)
    spec.update(resources=dict(type="list", elements="dict", default=[]), merge_live=dict(type="bool", default=True),
                tiers=dict(type="list", elements="str", default=[]), compare_to=dict(type="list", elements="dict"),
                declared=dict(type="bool", default=True), observed=dict(type="bool", default=True),
                flows=dict(type="list", elements="dict", default=[]), workloads=dict(type="list", elements="dict"),
                staged=dict(type="raw", default="ignore"), fail_on_denied=dict(type="bool", default=False))
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(decide_flows)


if __name__ == "__main__":
    main()
