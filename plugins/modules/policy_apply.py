#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a target hold exactly the given policy objects."""

DOCUMENTATION = r"""
module: policy_apply
short_description: Apply rendered policy objects to a target, with prune, diff and rollback
version_added: 0.1.0
description:
  - Creates, updates and prunes the objects this collection manages (label C(app.kubernetes.io/managed-by=zerotrust.microseg))
    so that the target holds exactly O(resources) within the pruning scope. Objects that do not differ are not written.
  - Objects not managed by this collection are never changed or deleted; one standing where a resource must go is a conflict.
  - If any write fails, every object already written by this call is restored and the task fails.
  - With O(state=snapshot) it records the managed objects and returns an id; O(state=restore) puts the target back
    exactly as it was at that snapshot (used by the roles' rescue blocks); O(state=discard) forgets a snapshot.
  - On the C(cluster) target (the default) live state is read with one LIST per kind and objects are written by server-side
    apply as field manager C(zerotrust.microseg); an unchanged object is not sent at all, so a rerun makes no API write.
    Fields the server fills in that a resource does not set (Calico's C(spec.tier), C(spec.types) and label
    C(projectcalico.org/tier); a NetworkPolicy's C(spec.policyTypes) and port protocols) do not count as differences.
  - On the C(cluster) target a field another field manager owns fails the task naming the object and that manager, unless
    O(force) is set. Throttling (429, after its Retry-After), server errors and optimistic-concurrency conflicts are retried
    with exponential backoff; every request has a timeout and the whole task a deadline.
  - In check mode the C(cluster) target sends every write with C(dryRun=All), so admission and schema errors show while
    nothing is stored; the C(directory) target writes nothing.
  - Snapshots of the C(cluster) target are JSON files of the full live objects under O(state_dir); restoring one puts
    updated objects back, deletes the ones created since and recreates the pruned ones.
  - The service account or user needs the permissions in C(rbac/clusterrole.yaml) of the collection.
author: zerotrust.microseg developers (@zerotrust)
extends_documentation_fragment:
  - zerotrust.microseg.attributes
  - zerotrust.microseg.target
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  state:
    description: What to do.
    type: str
    default: present
    choices: [present, snapshot, restore, discard]
  resources:
    description: The desired objects, usually C(objects) of M(zerotrust.microseg.policy_plan).
    type: list
    elements: dict
    default: []
  tiers:
    description:
      - The tiers these resources belong to. Managed objects of these tiers that are not in O(resources) are pruned.
      - Empty means every tier.
    type: list
    elements: str
    default: []
  prune:
    description: Delete managed objects in scope that are not in O(resources).
    type: bool
    default: true
  keep_enforced:
    description:
      - Keep a live catch-all that enforce already made restrictive instead of turning it back to its fail-safe form.
      - The deploy role sets it so that re-running deploy after enforce never loosens enforcement.
    type: bool
    default: false
  snapshot:
    description: The snapshot id for O(state=restore) and O(state=discard).
    type: str
"""

EXAMPLES = r"""
- name: Snapshot the managed objects before the phase writes
  zerotrust.microseg.policy_apply:
    state: snapshot
    target: directory
    directory: /srv/gitops/cluster-a
  register: before

- name: Apply the platform tier
  zerotrust.microseg.policy_apply:
    target: directory
    directory: /srv/gitops/cluster-a
    resources: "{{ plan.objects }}"
    tiers: [platform]

- name: Apply to the cluster of a kubeconfig context, taking over fields kubectl owned
  zerotrust.microseg.policy_apply:
    kubeconfig: ~/.kube/config
    context: prod-eu-1
    resources: "{{ plan.objects }}"
    tiers: [platform]
    force: true

- name: Put everything back
  zerotrust.microseg.policy_apply:
    state: restore
    target: directory
    directory: /srv/gitops/cluster-a
    snapshot: "{{ before.snapshot }}"
"""

RETURN = r"""
created:
  description:
    - The objects created, as C(<group>/<Kind>/<namespace or _cluster>/<name>.yaml) (their file path on the directory target).
  returned: state=present
  type: list
  elements: str
updated:
  description: Paths of the objects updated.
  returned: state=present
  type: list
  elements: str
deleted:
  description: Paths of the objects pruned.
  returned: state=present
  type: list
  elements: str
kept:
  description: Paths of enforced catch-alls kept because of O(keep_enforced).
  returned: state=present
  type: list
  elements: str
unchanged:
  description: How many desired objects already matched the target.
  returned: state=present
  type: int
restored:
  description: Paths put back as they were at the snapshot.
  returned: state=restore
  type: list
  elements: str
snapshot:
  description: The id of the snapshot taken (null in check mode, which writes nothing).
  returned: state=snapshot
  type: str
diff:
  description: One before/after entry per object changed, in write order.
  returned: with --diff and state=present
  type: list
  elements: dict
"""

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.face import TARGET_SPEC, MicrosegModule, open_target
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import TIER_LABEL, selected_tiers


def apply_policies(module):
    params = module.params
    target = open_target(module)
    state = params["state"]
    if state in ("restore", "discard") and (not params.get("snapshot") or module.check_mode):
        return dict(changed=False)
    with target.lock():
        if state == "snapshot":
            return dict(changed=False, snapshot=target.snapshot(None))
        if state in ("restore", "discard"):
            restored = target.restore(params["snapshot"]) if state == "restore" else []
            target.discard(params["snapshot"])
            return dict(changed=bool(restored), restored=restored)
        scope = [{TIER_LABEL: tier} for tier in selected_tiers(params["tiers"])]
        result = apply_objects(target, params["resources"], scope=scope, prune=params["prune"],
                               keep_enforced=params["keep_enforced"], force=params["force"], with_diff=module._diff)
    output = dict(changed=result.changed, created=result.created, updated=result.updated, deleted=result.deleted,
                  kept=result.kept, unchanged=result.unchanged)
    if module._diff:
        output["diff"] = result.diff
    return output


def main():
    spec = dict(TARGET_SPEC,
                state=dict(type="str", default="present", choices=["present", "snapshot", "restore", "discard"]),
                resources=dict(type="list", elements="dict", default=[]),
                tiers=dict(type="list", elements="str", default=[]),
                prune=dict(type="bool", default=True),
                keep_enforced=dict(type="bool", default=False),
                snapshot=dict(type="str"))
    MicrosegModule(argument_spec=spec, supports_check_mode=True).run(apply_policies)


if __name__ == "__main__":
    main()
