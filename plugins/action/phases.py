"""Action plugin for zerotrust.microseg.phases: one module process per cluster and run, one reporting task per phase.

``phases: selected, report: false`` (the first task of playbooks/tasks/phases.yml) runs every phase the
run's tags select in one module call and keeps the results for this ansible-playbook run in its local
temporary directory (removed when the run ends). A reporting task (each role's) then returns its phase's
result as its own (changed, the run line, diffs, warnings, failure) and removes it; where no such result
waits (a role used on its own), it runs the module for its phases itself.
"""
from __future__ import annotations

import json
import os
import re
import tempfile

from ansible import constants as C
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.zerotrust.microseg.plugins.module_utils.tags import PHASES, selected_phases
from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_intent import (
    INTENT_OPTIONS, TARGET_OPTIONS, InventoryIntentAction)
from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_variables import PREFIX, check as check_variables, variable_spec

RESULTS_DIR = "zerotrust.microseg-phases"


def _results_path(task_vars):
    """Where this run keeps a host's waiting phase results (the run's own local tmp directory)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", str(task_vars.get("inventory_hostname", "localhost")))
    return os.path.join(C.DEFAULT_LOCAL_TMP, RESULTS_DIR, host + ".json")


def _load(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _store(path, results):
    """Replace the waiting results in one step (an empty mapping removes the file)."""
    if not results:
        if os.path.exists(path):
            os.unlink(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(results, out)
    os.replace(tmp, path)


def run_status(results):
    """``(status, detail)`` of a cluster's run for the fleet summary: rolled_back (a phase failed and was restored),
    changed or unchanged, and what happened in a few words."""
    failed = [result for result in results.values() if result.get("failed")]
    if failed:
        return "rolled_back", failed[0].get("msg", "")
    parts = []
    for phase, result in results.items():
        if not result.get("changed"):
            continue
        counts = ["%d %s" % (len(result[key]), key) for key in ("created", "updated", "deleted") if result.get(key)]
        parts.append("%s: %s" % (phase, ", ".join(counts) if counts else "report written"))
    return ("changed" if parts else "unchanged"), "; ".join(parts)


def evidence_page(results):
    """The path of the cluster's report.html that the run wrote or kept (None in check mode, or when no phase ran)."""
    for result in results.values():
        pages = [path for path in result.get("evidence") or () if path.endswith(".html")]
        if pages:
            return pages[0]
    return None


class ActionModule(InventoryIntentAction):
    OPTIONS = INTENT_OPTIONS + TARGET_OPTIONS + ("report_dir",)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        args = dict(self._task.args)
        report = boolean(args.pop("report", True), strict=False)
        phases, tiers = args.get("phases"), args.get("tiers")
        if phases == "selected":
            phases, tag_tiers = selected_phases(task_vars.get("ansible_run_tags"), task_vars.get("ansible_skip_tags"))
            tiers = tiers or tag_tiers
        phases = [phases] if isinstance(phases, str) else list(phases or [])
        path = _results_path(task_vars)
        waiting = _load(path) if report else {}
        if report and phases and all(phase in waiting for phase in phases):
            results = {phase: waiting.pop(phase) for phase in phases}
            _store(path, waiting)
            return self._report(phases, results)
        if not phases:
            return dict(changed=False, skipped=True, msg="no phase selected")
        self._task.args = dict(args, phases=[phase for phase in PHASES if phase in phases], tiers=list(tiers or []))
        outcome = super().run(tmp, task_vars)
        if outcome.get("failed") or "phase_results" not in outcome:
            return outcome
        if not report:
            _store(path, outcome["phase_results"])
            status, detail = run_status(outcome["phase_results"])
            result = dict(changed=False, msg="ran %s; each phase's role reports it" % ", ".join(outcome["phase_results"]), status=status, detail=detail,
                          report=evidence_page(outcome["phase_results"]))
        else:
            result = self._report(phases, outcome["phase_results"])
        if outcome.get("warnings"):   # this task's own (the variables' check), before the phases'
            result["warnings"] = list(outcome["warnings"]) + list(result.get("warnings") or ())
        return result

    def _check_variables(self, inventory, task_vars):
        """Once per host before the phases: every ``microseg_*`` variable the roles declare (types, choices), and
        names no role or playbook reads (warned with the closest known name; errors with microseg_strict)."""
        names = [name for name in task_vars if name.startswith(PREFIX)]
        spec = variable_spec()
        values = dict(inventory)
        values.update((name, self._templar.template(task_vars[name])) for name in names if name in spec and name not in values)
        return check_variables(values, names)

    @staticmethod
    def _report(phases, results):
        """The task result of ``phases``: changed, the run line(s), diffs, warnings, the first failure."""
        shown = [results[phase] for phase in phases if phase in results]
        result = dict(changed=any(item.get("changed") for item in shown), _ansible_verbose_always=True)
        lines = [item["msg"] for item in shown if item.get("msg")]
        result["msg"] = lines[0] if len(lines) == 1 else lines
        diff = [entry for item in shown for entry in item.get("diff") or ()]
        if diff:
            result["diff"] = diff
        warnings = [warning for item in shown for warning in item.get("warnings") or ()]
        if warnings:
            result["warnings"] = warnings
        failed = [item for item in shown if item.get("failed")]
        if failed:
            result.update(failed=True, msg=failed[0]["msg"])
            if failed[0].get("denied"):
                result["denied"] = failed[0]["denied"]
        return result
