"""Tier synthesis: declared intent + flows + phase -> the complete set of policy objects.

The plan is pure: it reads flow files named by the intent but never a target. The dialect's
renderer (``renderers/``, one file per dialect) turns the security domains into objects.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ansible_collections.zerotrust.microseg.plugins.module_utils import flows as flow_tables
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import read_flow_logs
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import TIER_LABEL, identity
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import RENDERERS, render
from ansible_collections.zerotrust.microseg.plugins.module_utils import fidelity

PHASES = ("deploy", "enforce")
POSTURES = {"deploy": "failsafe", "enforce": "enforced"}


@dataclass
class Plan:
    """What a phase wants the target to hold, and what the dialect could not express exactly."""
    objects: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    losses: list = field(default_factory=list)   # renderers.model.Loss: what the dialect could not express (the fidelity report)
    flows: list = field(default_factory=list)
    tiers: list = field(default_factory=list)

    @property
    def scope(self):
        """Prune scope: managed objects of the planned tiers."""
        return [{TIER_LABEL: tier} for tier in self.tiers]


def declared_flows(intent):
    """Every declared flow of every app and of the cluster's remediated table, merged and sorted."""
    found = []
    identity = intent.identity_labels
    for app in intent.apps:
        if app.flows is None:
            continue
        spec = app.flows
        if isinstance(spec, list):
            found.extend(flow_tables.parse_flow_rows(spec, "microseg_apps[%s].flows" % app.name, app.namespace, identity))
        else:
            found.extend(flow_tables.load_flows(spec, intent.base_dir, app.namespace, identity))
    found.extend(remediated_flows(intent))
    for flow in found:
        if flow.source.kind == "domain":
            raise InputError("a domain can only be a destination", source=flow.origin, field="source")
    return flow_tables.merge_flows(found)


def remediated_flows(intent):
    """The rows remediate accepted (``microseg_remediated_flows``, namespace-qualified); none while the file does not exist."""
    if not intent.remediated_flows or not os.path.exists(intent.resolve(intent.remediated_flows)):
        return []
    return flow_tables.load_flows(intent.remediated_flows, intent.base_dir, None, intent.identity_labels)


def observed_flows(intent, logs=None, denied=False):
    """Flows of microseg_observed_flows (no home namespace, always namespace-qualified) and of microseg_flow_logs.

    ``logs``, a list, receives per flow log ``{"flows": [...], "stats": {...}}`` as ``read_flow_logs`` reports them
    (record counts per flow, skipped lines). ``denied`` also takes the records of denied and dropped flows as observed:
    remediate judges attempts, analyze and the enforce gate only what worked.
    """
    options = {key: True for key, wanted in (("strict", intent.strict), ("denied", denied)) if wanted}
    # one call, so an inline row's "line" is its position in the list
    found = flow_tables.load_flows(intent.observed_flows, intent.base_dir, None, intent.identity_labels,
                                   source="microseg_observed_flows")
    for index, spec in enumerate(intent.flow_logs):
        stats = {}
        flows = read_flow_logs(spec, intent.base_dir, intent.identity_labels, source_field="microseg_flow_logs[%d]" % index,
                               stats=stats, **options)
        found.extend(flows)
        if logs is not None:
            logs.append({"flows": flows, "stats": stats})
    return flow_tables.merge_flows(found)


def selected_tiers(tiers):
    from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import TIERS
    if not tiers:
        return list(TIERS)
    unknown = sorted(set(tiers) - set(TIERS))
    if unknown:
        raise InputError("unknown tier(s) %s; tiers are %s" % (", ".join(unknown), ", ".join(TIERS)), field="tiers")
    return [t for t in TIERS if t in tiers]


def check_dialect(intent):
    """Refuse an intent the dialect cannot honour on its cluster (``intent.cluster_serves``) before anything is read or
    written: the renderer's own ``check(intent)``, where it has one (the renderers call it too)."""
    check = getattr(RENDERERS[intent.dialect], "check", None)
    if check is not None:
        check(intent)


def make_plan(intent, phase, tiers=None, flows=None):
    """Render the policy set of ``phase`` for the selected tiers (all by default)."""
    if phase not in PHASES:
        raise InputError("phase must be one of %s, got %r" % (", ".join(PHASES), phase), field="phase")
    flows = declared_flows(intent) if flows is None else flows
    chosen = selected_tiers(tiers)
    objects, losses = render(intent, flows, POSTURES[phase])
    objects = [o for o in objects if o["metadata"]["labels"][TIER_LABEL] in chosen]
    seen = set()
    for obj in objects:
        key = identity(obj)
        if key in seen:
            raise InputError("two security domains render the same object %s %s; rename one of them" % (obj["kind"], key[3]), field="microseg_apps")
        seen.add(key)
    # one warning per distinct sentence (a tenant's guardrail merged into default-deny says the same for every tenant); a
    # dialect other than Calico's own prints its fidelity lines instead: change, tier and rule of the tiered model, and why
    if fidelity.reported(intent.dialect):
        warnings = fidelity.lines(intent.dialect, losses)
    else:
        warnings = list(dict.fromkeys(loss.why for loss in losses))
    return Plan(objects=objects, warnings=warnings, losses=losses, flows=flows, tiers=chosen)
