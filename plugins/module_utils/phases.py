"""The methodology's phases on one cluster, in one process: identify, analyze, deploy, enforce, remediate.

A fleet run costs what its module processes cost, so one call runs every selected phase of a
cluster: the intent, the flow tables and the flow logs are read once, and each phase keeps
its own guarantees. deploy and enforce plan, prove (enforce's gate), snapshot, apply and, if
anything fails, restore the target exactly as it was before that phase; remediate stages or
accepts its proposals the same way (``remediation.py``). A failed phase stops the ones after it.
Before a phase reads or writes the policies, it recovers from a run that died mid-phase
(``apply.recover``: restore to before the interrupted phase, warn "interrupted run of <phase>
found ..."); identify and analyze read no policy, so they need not.

Each phase's result is a dict with ``changed``, ``msg`` (the one line a run shows),
``warnings`` and, where the phase writes, ``diff``; a failed phase has ``failed`` and ``msg``.
"""
from __future__ import annotations

import os

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_with_rollback, recover
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import GateRefused, MicrosegError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import merge_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils import fidelity
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import CLUSTER_KINDS
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import check_dialect, declared_flows, make_plan, observed_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.tags import PHASES
from ansible_collections.zerotrust.microseg.plugins.module_utils.reconcile import coverage, reconcile, skipped_warnings, with_skipped, write_report
from ansible_collections.zerotrust.microseg.plugins.module_utils.verdicts import evaluate_flows, future_state, gate as refuse_denied
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import namespaces_from_objects, workloads_from_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.workloads import NAMESPACE_KIND, WORKLOAD_KINDS, identify

APPLY_PHASES = ("deploy", "enforce")


def apply_summary(phase, plan, result, proven=None):
    """``deploy (security, ...): 33 objects, 33 created, 0 updated, 0 deleted, 0 unchanged[...]``."""
    line = "%s (%s): %d objects, %d created, %d updated, %d deleted, %d unchanged" % (
        phase, ", ".join(plan.tiers), len(plan.objects), len(result.created), len(result.updated), len(result.deleted), result.unchanged)
    if result.kept:
        line += ", %d enforced catch-all(s) kept" % len(result.kept)
    if proven is not None:
        line += "; gate: %d declared and observed flows proven allowed" % proven
    return line


def adopt_served_kinds(intent, target, host):
    """Tell the renderers (which never read a target) what the cluster serves: ``intent.cluster_serves`` and ``served_by``.

    The directory target has no API server: ``microseg_cluster_serves`` says. On the cluster target discovery says, and wins
    over the variable; a value set that discovery contradicts is warned about (an unset one claims nothing).
    The Calico dialect writes none of these kinds: no discovery. Returns the warnings.
    """
    discover = getattr(target, "served_kinds", None)
    if discover is None or not fidelity.reported(intent.dialect):
        intent.served_by = "cluster %s (microseg_cluster_serves: [%s])" % (host, ", ".join(intent.cluster_serves))
        return []
    served = tuple(sorted(discover(CLUSTER_KINDS)))
    declared = tuple(sorted(intent.cluster_serves))
    warnings = []
    if intent.cluster_serves_given and declared != served:
        warnings.append("microseg_cluster_serves [%s] is not used on the cluster target: discovery at %s finds [%s]"
                        % (", ".join(declared), target.api.host, ", ".join(served)))
    intent.cluster_serves = served
    intent.served_by = "cluster %s (the Kubernetes API at %s)" % (host, target.api.host)
    return warnings


def scope_summary(namespaces):
    """``3 namespace(s) in scope: bookinfo (application, 6 workloads); ...``."""
    parts = []
    for name, info in namespaces.items():
        detail = info["tier"] + (", tenant " + info["tenant"] if info["tenant"] else "") + (", PCI" if info["pci"] else "")
        parts.append("%s (%s, %d workloads)" % (name, detail, len(info["workloads"])))
    return "%d namespace(s) in scope: %s" % (len(namespaces), "; ".join(parts))


class ClusterRun:
    """The selected phases of one cluster; what several phases read is read once."""

    def __init__(self, intent, target, host, report_dir, tiers=None, gate=True, keep_enforced=True, remediate_apply=False):
        self.intent = intent
        self.target = target
        self.host = host
        self.report_dir = intent.resolve(report_dir)
        self.tiers = list(tiers or [])
        self.gate = gate
        self.keep_enforced = keep_enforced
        self.remediate_apply = remediate_apply
        self._declared = None
        self._observed = None
        self._recovered = []   # the current phase's recovery warnings, kept when the phase then fails
        self._gate = None      # the enforce gate's outcome, for the evidence report
        self._covered = None   # analyze's reconcile.coverage of the declared and observed flows, for the evidence report
        self._served = []      # adopt_served_kinds's warnings, shown with the first phase
        self._applied = None   # (phase, plan losses) of the last deploy or enforce applied, for the fidelity report

    @property
    def declared(self):
        if self._declared is None:
            self._declared = declared_flows(self.intent)
        return self._declared

    def observed(self):
        """``(observed flows, per-log stats)``, read once."""
        if self._observed is None:
            logs = []
            self._observed = (observed_flows(self.intent, logs), logs)
        return self._observed

    def run(self, phases):
        """Phase -> result, in methodology order; a failed phase ends the run.

        First of all, what the cluster serves is settled (discovery on the cluster target) and the dialect checks that it
        can honour the intent there: if not, the first phase fails before anything is read from the policies or written,
        reports included (every phase plans, if only for the evidence report's verdicts at enforce).
        """
        results = {}
        selected = [phase for phase in PHASES if phase in phases]
        if selected:
            try:
                self._served = adopt_served_kinds(self.intent, self.target, self.host)
                check_dialect(self.intent)
            except MicrosegError as err:
                return {selected[0]: dict(failed=True, changed=False, msg="%s failed on %s before writing anything: %s" % (selected[0], self.host, err),
                                          warnings=list(self._served))}
        for phase in selected:
            self._recovered = []
            try:
                results[phase] = getattr(self, phase)() if phase not in APPLY_PHASES else self.apply(phase)
            except GateRefused as err:
                results[phase] = dict(failed=True, changed=False, msg="%s failed on %s and was rolled back: %s" % (phase, self.host, err),
                                      denied=err.denied, warnings=list(self._recovered))
            except MicrosegError as err:
                results[phase] = dict(failed=True, changed=False, msg="%s failed on %s and was rolled back: %s" % (phase, self.host, err),
                                      warnings=list(self._recovered))
            if self._served:
                results[phase]["warnings"] = list(self._served) + list(results[phase].get("warnings") or ())
                self._served = []
            if results[phase].get("failed"):
                break
        self.fidelity(results)
        self.evidence(results)
        return results

    def evidence(self, results):
        """report.json and report.html of the cluster after the run (CONTRACT §8), in the last phase's result.

        Written once per run, after its phases, where the text changes: a report per phase would be overwritten by the
        next phase of the same run, and every rerun would then change it. It names the run's last phase and describes the
        target as the run leaves it: after a failed phase, as restored, with the failure (and a refused gate's flows) for
        a person to see why. A run that changed nothing and failed nothing keeps a report that differs only in ``phase``
        and ``gate`` (deploy after enforce keeps the enforced catch-alls: the cluster is as the report says). Check mode
        writes nothing and adds nothing to the results.
        """
        if not results or self.target.check_mode:
            return
        from ansible_collections.zerotrust.microseg.plugins.module_utils import evidence
        phase = list(results)[-1]
        result = results[phase]
        failed = result.get("msg") if result.get("failed") else None
        gate = self._gate if phase == "enforce" else None
        if failed and "denied" in result:
            gate = {"refused": [{key: entry[key] for key in ("source", "destination", "port")} for entry in result["denied"]]}
        try:
            # observed as CONTRACT §5 says (what worked, read once per run with analyze and the gate); the attempts that
            # the live policies drop are remediate's to report (remediation.json)
            observed, logs = self.observed()
            document = evidence.build(self.intent, self.target.list(), phase, self.declared, observed, logs=logs, gate=gate,
                                      covered=self._covered, failed=failed)
        except MicrosegError as err:   # the phases are done; a flow log only this report reads does not undo them
            result["warnings"] = list(result.get("warnings") or ()) + ["report.json and report.html not written: %s" % err]
            return
        quiet = not failed and not any(result.get("changed") for result in results.values())
        changed, paths, diff = evidence.write(self.report_dir, self.host, document, keep_phase=quiet)
        result["evidence"] = paths
        if changed and not failed:
            result["changed"] = True
        result["diff"] = list(result.get("diff") or ()) + diff

    def identify(self):
        objects = self.target.list(kinds=[NAMESPACE_KIND] + list(WORKLOAD_KINDS))
        facts = identify(self.intent, objects, self.declared)
        warnings = facts.pop("warnings")
        return dict(changed=False, msg=scope_summary(facts["namespaces"]), warnings=warnings, **facts)

    def analyze(self):
        observed, logs = self.observed()
        self._covered = coverage(self.declared, observed)
        report = with_skipped(reconcile(self.declared, observed, self.intent.identity_labels, self._covered), logs)
        path = os.path.join(self.report_dir, self.host, "reconciliation.json")
        changed, before, after = write_report(path, report, self.target.check_mode)
        msg = "%d confirmed, %d unobserved, %d undeclared flow(s); report %s" % (
            len(report["confirmed"]), len(report["unobserved"]), len(report["undeclared"]), path)
        result = dict(changed=changed, msg=msg, path=path, report=report, warnings=skipped_warnings(logs), diff=[])
        if changed:
            result["diff"] = [dict(before=before, after=after, before_header=path, after_header=path)]
        return result

    def apply(self, phase):
        plan = make_plan(self.intent, phase, self.tiers, flows=self.declared)
        proven = None
        target = self.target
        with target.lock(phase):
            self._recovered = recover(target)   # before the gate reads the live set
            if phase == "enforce" and self.gate:
                observed, _logs = self.observed()
                live = target.list()
                flows = merge_flows(self.declared + observed)
                verdicts = evaluate_flows(future_state(live, plan.objects, plan.tiers), flows, workloads=workloads_from_objects(live.values()),
                                          namespaces=namespaces_from_objects(live.values()), cluster_cidrs=self.intent.cluster_cidrs,
                                          identity_labels=self.intent.identity_labels)
                refuse_denied(verdicts)
                proven = len(verdicts)
                self._gate = {"proven": proven}
            elif phase == "enforce":
                self._gate = {"disabled": True}
            result = apply_with_rollback(target, plan.objects, plan.scope, keep_enforced=phase == "deploy" and self.keep_enforced, label=phase)
        warnings = list(dict.fromkeys(self._recovered + result.warnings + list(plan.warnings)))
        msg = apply_summary(phase, plan, result, proven)
        self._applied = (phase, plan.losses)
        if fidelity.reported(self.intent.dialect):
            msg += "; fidelity to the tiered model: %s (report %s)" % (fidelity.summary(plan.losses), self._fidelity_path())
        return dict(changed=result.changed, msg=msg, warnings=warnings, created=result.created, updated=result.updated, deleted=result.deleted,
                    kept=result.kept, unchanged=result.unchanged, tiers=plan.tiers, objects=len(plan.objects), diff=result.diff)

    def _fidelity_path(self):
        return os.path.join(self.report_dir, self.host, fidelity.FILE)

    def fidelity(self, results):
        """fidelity.json (``fidelity.py``) of the plan the run's last successful deploy or enforce applied, once per run as
        the evidence report, so that a run of both phases writes the enforced set's and its rerun changes nothing; its
        diff and change go to that phase's result. Runs that apply nothing (identify, analyze, a deploy that failed) leave
        it as it is."""
        if self._applied is None:
            return
        phase, losses = self._applied
        written, path, diff = fidelity.write(self.report_dir, self.host, self.intent, phase, losses, self.target.check_mode)
        result = results[phase]
        result["fidelity"] = path
        if written:
            result["changed"] = True
            result["diff"] = list(result.get("diff") or ()) + diff

    def remediate(self):
        from ansible_collections.zerotrust.microseg.plugins.module_utils.remediation import remediate
        path = os.path.join(self.report_dir, self.host, "remediation.json")
        result = remediate(self.intent, self.target, path, self.host, apply=self.remediate_apply, gate=self.gate, recovered=self._recovered)
        result["msg"] = result.pop("summary")
        return result
