"""Assess and remediate (CONTRACT §7): observed flows against the policies the target holds, and the fix.

The method's last step. After enforce, new traffic appears; remediate

1. evaluates every observed flow (tables and logs) against the live policy set with the one
   evaluator (``verdicts.flow_verdict``): the ``denied`` ones, with the deciding tier and policy;
2. counts, per live rule, the log records it allowed (``hits``) and finds the declared flows
   whose rules no observed flow used (``unused``: cleanup candidates);
3. proposes the fix: each denied flow becomes a namespace-qualified row, and the enforced set is
   re-rendered by the same renderer deploy and enforce use (``plan.make_plan``) with those rows
   declared. The proposal names the policy of that set that would carry the flow; the rendered
   objects the rows change are the ``staged`` proposals: ``Staged*`` copies (Calico 3.30+) that
   flow logs and ``policy_verdicts`` (``staged: preview``) judge without enforcing them.

Accepting the proposals (``microseg_remediate_apply``) appends the rows to the cluster's
remediated flow table and applies the re-rendered enforced set; the module does that through the
same gate, snapshot, apply and rollback as enforce. Everything here is pure: it reads no target.
"""
from __future__ import annotations

import datetime

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects, apply_with_rollback, recover
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import (
    PolicySet, namespaces_from_objects, workloads_from_objects)
from ansible_collections.zerotrust.microseg.plugins.module_utils.files import read_text, replace_text
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import merge_flows, parse_flow_text
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, POSTURE_LABEL, TIER_LABEL, identity, relpath, same_content)
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan, observed_flows, remediated_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.reconcile import skipped_warnings, with_skipped, write_report
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.calico import check_served, features, version_text
from ansible_collections.zerotrust.microseg.plugins.module_utils.verdicts import flow_verdict, future_state, gate as refuse_denied, group_workloads

REMEDIATION_LABEL = "zerotrust.microseg/remediation"
PROPOSED = "proposed"
PROPOSAL_SCOPE = {REMEDIATION_LABEL: PROPOSED}
STAGED_KINDS = {"NetworkPolicy": "StagedNetworkPolicy", "GlobalNetworkPolicy": "StagedGlobalNetworkPolicy"}
CALICO_TIER_LABEL = "projectcalico.org/tier"
# Where a flow's allowing rule is looked for first: the tiers that carry declared flows.
_CARRYING_TIERS = ("appsec", "application")
TABLE_HEADER = ("# Flows accepted by zerotrust.microseg remediate (microseg_remediate_apply) for cluster %s, first on %s.\n"
                "# Every phase reads these rows as declared flows of the cluster. Rows are namespace-qualified;\n"
                "# review them like any flow table, and delete a row to withdraw it (the next enforce removes its rules).\n"
                "Source Service | Destination Service | Destination Port\n"
                "--- | --- | ---\n")


def staged_note(intent):
    """Why proposals cannot be staged on this target ("" when they can)."""
    if intent.dialect != "calico":
        return "report only: the %s dialect has no staged policy kind; apply with microseg_remediate_apply=true" % intent.dialect
    if not features(intent.calico_version, intent.edition).staged:   # the one table of what a Calico serves
        return ("report only: Calico %s has no staged policies (open source 3.30+); apply with microseg_remediate_apply=true"
                % version_text(intent.calico_version))
    return ""


def record_counts(logs):
    """Observed flow -> the number of flow-log records aggregated into it, over every log read."""
    counts = {}
    for log in logs:
        for flow, count in zip(log["flows"], log["stats"].get("counts") or ()):
            counts[flow] = counts.get(flow, 0) + count
    return counts


class PolicyView:
    """One policy set with the workloads it is judged for: the verdict of any flow, by identity.

    Verdicts are kept per flow (a flow is asked about by assess, by the report and by the preview), and each endpoint's
    pods once; the entries returned are shared, for reading.
    """

    def __init__(self, intent, policies, workloads, namespaces, staged=False):
        self.policy_set = PolicySet(policies, namespaces=namespaces, cluster_cidrs=intent.cluster_cidrs, staged=staged)
        self.pods = group_workloads(workloads)
        self.identity = intent.identity_labels
        self._endpoints = {}
        self._verdicts = {}

    def verdict(self, flow):
        entry = self._verdicts.get(flow)
        if entry is None:
            entry = self._verdicts[flow] = flow_verdict(self.policy_set, flow, self.pods, self.identity, self._endpoints)
        return entry


def allowing_rules(entry):
    """``(tier, policy, direction, rule)`` of the rules that allowed a flow (end of tier and profiles are no rules)."""
    found = []
    for side in ("egress", "ingress"):
        decision = entry.get(side)
        if decision and decision["action"] == "Allow" and decision["rule"] is not None:
            found.append((decision["tier"], decision["policy"], side, decision["rule"]))
    return found


def carrier(entry):
    """``(tier, policy)`` of the rule that carries an allowed flow: a declared-flow tier first, the destination's side first."""
    rules = allowing_rules(entry)
    if not rules:
        return "", ""
    rules.sort(key=lambda rule: (rule[0] not in _CARRYING_TIERS, rule[2] != "ingress"))
    return rules[0][0], rules[0][1]


def assess(view, observed, declared, counts, identity_labels):
    """``{"denied", "hits", "unused"}`` of CONTRACT §7 under ``view``, plus the denied and the allowed observed ``Flow`` objects."""
    denied, denied_flows, allowed_flows, hits = [], [], [], {}
    for flow in observed:
        entry = view.verdict(flow)
        if entry["verdict"] == "deny":
            decided = entry["denied_by"]
            denied.append(dict(flow.notation(identity_labels), tier=decided["tier"], policy=decided["policy"]))
            denied_flows.append(flow)
            continue
        allowed_flows.append(flow)
        records = counts.get(flow, 0)
        for rule in allowing_rules(entry):
            hits[rule] = hits.get(rule, 0) + records
    unused = []
    for flow in declared:
        entry = view.verdict(flow)
        rules = allowing_rules(entry) if entry["verdict"] == "allow" else []
        if rules and not any(rule in hits for rule in rules):
            tier, policy = carrier(entry)
            unused.append(dict(flow.notation(identity_labels), tier=tier, policy=policy))
    hit_list = [{"tier": tier, "policy": policy, "direction": direction, "rule": rule, "hits": count}
                for (tier, policy, direction, rule), count in sorted(hits.items(), key=lambda item: (item[0][0], item[0][1], item[0][2], item[0][3]))]
    return {"denied": denied, "hits": hit_list, "unused": unused}, denied_flows, allowed_flows


def staged_copy(obj):
    """The Staged* twin of a rendered Calico policy: same name, tier and rules, judged but not enforced."""
    labels = {key: value for key, value in obj["metadata"]["labels"].items() if key not in (TIER_LABEL, POSTURE_LABEL)}
    labels.update({MANAGED_BY[0]: MANAGED_BY[1], REMEDIATION_LABEL: PROPOSED})
    metadata = {"name": obj["metadata"]["name"], "labels": labels}
    if obj["metadata"].get("namespace"):
        metadata["namespace"] = obj["metadata"]["namespace"]
    spec = {"stagedAction": "Set"}
    spec.update(obj["spec"])
    return {"apiVersion": obj["apiVersion"], "kind": STAGED_KINDS[obj["kind"]], "metadata": metadata, "spec": spec}


def proposed_network_set(obj):
    """A network set a proposal needs (enterprise domains): written for the preview, marked as proposed, not as a tier's."""
    labels = {key: value for key, value in obj["metadata"]["labels"].items() if key != TIER_LABEL}
    labels[REMEDIATION_LABEL] = PROPOSED
    return dict(obj, metadata=dict(obj["metadata"], labels=labels))


class Remediation:
    """The assessment of one target and the fix for what it denies.

    ``report``: remediation.json as CONTRACT §7 names it; ``rows``: the flows to accept;
    ``plan``: the enforced set with them declared; ``staged``: the objects of the preview.
    """

    def __init__(self, intent, live, declared, observed, counts):
        self.intent = intent
        self.identity = intent.identity_labels
        self.live = live
        self.declared = list(declared)
        self.observed = list(observed)
        self.counts = counts
        self.workloads = workloads_from_objects(live.values())
        self.namespaces = namespaces_from_objects(live.values())
        self.note = staged_note(intent)
        self.warnings = []
        view = self.view(future_state(live, prune=False))
        self.report, denied_flows, self.allowed = assess(view, self.observed, self.declared, counts, self.identity)
        self.rows, self.proposals, self.not_proposed, self.plan, self.staged = self._propose(denied_flows)
        self.report.update(proposals=self.proposals, not_proposed=self.not_proposed, note=self.note)

    def view(self, policies, staged=False):
        return PolicyView(self.intent, policies, self.workloads, self.namespaces, staged=staged)

    def _propose(self, denied_flows):
        """Rows, proposals, unfixable flows, the enforced plan with the rows, and the staged preview objects."""
        known = set(self.declared)
        rows = [flow for flow in denied_flows if flow not in known]
        base = make_plan(self.intent, "enforce", flows=self.declared)
        fixed = make_plan(self.intent, "enforce", flows=merge_flows(self.declared + rows))
        after = self.view(future_state(self.live, fixed.objects, fixed.tiers))
        proposals, not_proposed, accepted = [], [], []
        for flow in denied_flows:
            entry = after.verdict(flow)
            if entry["verdict"] == "allow":
                tier, policy = carrier(entry)
                proposals.append(dict(flow.notation(self.identity), tier=tier, policy=policy))
                if flow not in known:
                    accepted.append(flow)
            else:
                decided = entry["denied_by"]
                not_proposed.append(dict(flow.notation(self.identity), tier=decided["tier"], policy=decided["policy"],
                                         reason="still denied with the row declared (%s)" % decided["reason"]))
        if len(accepted) != len(rows):   # leave out the rows that would fix nothing
            fixed = make_plan(self.intent, "enforce", flows=merge_flows(self.declared + accepted))
        self.warnings = fixed.warnings
        return accepted, proposals, not_proposed, fixed, self._staged(base, fixed)

    def _staged(self, base, fixed):
        """Staged twins of the policies the rows change or add (network sets they add as they are)."""
        if self.note:
            return []
        before = {identity(obj): obj for obj in base.objects}
        staged = []
        for obj in fixed.objects:
            old = before.get(identity(obj))
            if old is not None and same_content(old, obj):
                continue
            if obj["kind"] in STAGED_KINDS:
                staged.append(staged_copy(obj))
            elif obj["kind"] in ("GlobalNetworkSet", "NetworkSet") and old is None:
                staged.append(proposed_network_set(obj))
        check_served(staged, features(self.intent.calico_version, self.intent.edition))
        return staged

    def preview(self):
        """The proposals judged with the staged policies taken as enforced: flow notation -> verdict entry."""
        policies = future_state(self.live, self.staged, prune=False)
        view = self.view(policies, staged=True)
        return [view.verdict(flow) for flow in self.rows]

    def gate_flows(self):
        """What the gate proves allowed before the fix is applied: declared flows, accepted rows, and the observed flows that
        work now (a dropped flow no row can allow, such as one to a threat net, stays denied and is reported, not gated)."""
        return merge_flows(self.declared + self.rows + self.allowed)

    def after_apply(self):
        """The report once the fix is applied: the same assessment under the set the apply leaves."""
        policies = future_state(self.live, self.plan.objects, self.plan.tiers)
        report, _denied, _allowed = assess(self.view(policies), self.observed, merge_flows(self.declared + self.rows), self.counts, self.identity)
        report.update(proposals=[], not_proposed=self.not_proposed, note=self.note)
        return report

    def staged_paths(self):
        return sorted(relpath(identity(obj)) for obj in self.staged)


def append_rows(current, rows, identity_labels, cluster, today=None):
    """The remediated flow table with ``rows`` appended (a header comment with the date when the table is new)."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    text = current or TABLE_HEADER % (cluster, today)
    if not text.endswith("\n"):
        text += "\n"
    if rows:
        text += "# %s: %d row(s) accepted from observed flows\n" % (today, len(rows))
        for flow in rows:
            row = flow.notation(identity_labels)
            text += "%s | %s | %s\n" % (row["source"], row["destination"], row["port"])
    return text


def check_table(text, path, identity_labels, rows):
    """Read the new table back as every phase will; each accepted row must be in it."""
    found = set(parse_flow_text(text, path, None, identity_labels))
    missing = [flow for flow in rows if flow not in found]
    if missing:
        raise ValueError("internal error: %s would not hold %s" % (path, missing[0].notation(identity_labels)))


def _read_table(path):
    try:
        return read_text(path)
    except OSError as err:
        raise InputError("cannot read the remediated flow table: %s" % (err.strerror or err), source=path) from None


def remediate(intent, target, report_path, cluster, apply=False, gate=True, recovered=None):
    """The remediate phase on one target: assess, then stage the proposals or (``apply``) accept them.

    Returns the module result: ``changed``, ``path``, ``report``, ``summary``, ``staged``, ``accepted``, ``created``,
    ``updated``, ``deleted``, ``diff`` and ``warnings``. In check mode nothing is written. First of all, under the
    lock, the target is recovered from a run that died mid-phase (``apply.recover``); its warnings are also appended
    to ``recovered`` (a list) when given, so that a caller can show them even if the phase then fails.
    """
    logs = []
    observed = observed_flows(intent, logs, denied=True)   # after enforce, new traffic shows as dropped: judge the attempts
    declared = declared_flows(intent)
    warnings = skipped_warnings(logs)
    prior = [flow.notation(intent.identity_labels) for flow in remediated_flows(intent)]
    with target.lock("remediate"):
        found = recover(target)   # before the live set is judged
        if recovered is not None:
            recovered.extend(found)
        warnings = found + warnings
        fix = Remediation(intent, target.list(), declared, observed, record_counts(logs))
        warnings += fix.warnings
        if apply:
            applied, table_diff, accepted = _accept(intent, target, fix, cluster, gate)
            warnings += [warning for warning in applied.warnings if warning not in warnings]
            report = fix.after_apply()
            staged = []
        else:
            applied = apply_objects(target, fix.staged, scope=PROPOSAL_SCOPE) if not fix.note else None
            table_diff, accepted = None, []
            report = dict(fix.report)
            staged = fix.staged_paths()
    report.update(staged=staged, accepted=prior + accepted)
    report = with_skipped(report, logs)
    report_changed, before, after = write_report(report_path, report, target.check_mode)
    diff = list(applied.diff) if applied is not None else []
    if table_diff:
        diff.append(table_diff)
    if report_changed:
        diff.append(dict(before=before, after=after, before_header=report_path, after_header=report_path))
    result = dict(changed=bool(report_changed or table_diff or (applied is not None and applied.changed)), path=report_path,
                  report=report, staged=staged, accepted=accepted, diff=diff, warnings=warnings,
                  created=applied.created if applied else [], updated=applied.updated if applied else [],
                  deleted=applied.deleted if applied else [])
    result["summary"] = _summary(fix, result, apply, report_path)
    return result


def _accept(intent, target, fix, cluster, gate):
    """Append the accepted rows and apply the enforced set with them: gate, snapshot, apply, restore on failure."""
    table = intent.resolve(intent.remediated_flows) if intent.remediated_flows else ""
    if fix.rows and not table:
        raise InputError("is not set, so accepted rows have nowhere to go", field="microseg_remediated_flows")
    if gate:
        policies = future_state(fix.live, fix.plan.objects, fix.plan.tiers)
        verdicts = [fix.view(policies).verdict(flow) for flow in fix.gate_flows()]
        refuse_denied(verdicts, what="remediate")
    current = _read_table(table) if table else ""
    new_text = append_rows(current, fix.rows, fix.identity, cluster) if fix.rows else current
    if fix.rows:
        check_table(new_text, table, fix.identity, fix.rows)

    def write_table():
        if fix.rows and not target.check_mode:
            replace_text(table, new_text)
    applied = apply_with_rollback(target, fix.plan.objects, fix.plan.scope + [PROPOSAL_SCOPE], then=write_table, label="remediate")
    table_diff = dict(before=current, after=new_text, before_header=table, after_header=table) if fix.rows else None
    return applied, table_diff, [flow.notation(fix.identity) for flow in fix.rows]


def _summary(fix, result, apply, report_path):
    report = result["report"]
    hits = sum(entry["hits"] for entry in report["hits"])
    seen = "%d rule(s) hit by %d log record(s), %d unused declared flow(s)" % (len(report["hits"]), hits, len(report["unused"]))
    if apply:
        done = ("%d row(s) accepted; enforced set: %d created, %d updated, %d deleted"
                % (len(result["accepted"]), len(result["created"]), len(result["updated"]), len(result["deleted"])))
        return "remediate: %d observed flow(s) were denied, %s; now %s; report %s" % (len(fix.report["denied"]), done, seen, report_path)
    if fix.note:
        staged = fix.note
    else:
        staged = "%d staged proposal(s) (%d created, %d updated, %d deleted)" % (
            len(result["staged"]), len(result["created"]), len(result["updated"]), len(result["deleted"]))
    unfixable = ", %d cannot be allowed by a row" % len(fix.not_proposed) if fix.not_proposed else ""
    return "remediate: %d observed flow(s) denied by the live policies, %d proposed%s; %s; %s; report %s" % (
        len(fix.report["denied"]), len(fix.proposals), unfixable, staged, seen, report_path)
