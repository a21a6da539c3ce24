"""Action plugin for zerotrust.microseg.fleet_summary: the whole work happens on the controller, from hostvars."""
from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.zerotrust.microseg.plugins.module_utils.fleet import cluster_status, lines, report_links, summarise, write_summary

RUN_VARIABLE = "zerotrust_microseg_run"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("hosts", "report_dir", "stopped"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self._task.args
        hostvars = task_vars.get("hostvars") or {}
        clusters = []
        for host in args.get("hosts") or []:
            run = (hostvars.get(host) or {}).get(RUN_VARIABLE)
            run = run if isinstance(run, dict) else None
            status = cluster_status(run)
            detail = (run or {}).get("detail") or ("not run: the rollout stopped before it" if status == "untouched" else "")
            clusters.append((host, status, detail, (run or {}).get("report")))
        report_dir = args.get("report_dir") or "reports"
        if not os.path.isabs(os.path.expanduser(report_dir)):
            report_dir = os.path.join(task_vars.get("inventory_dir") or ".", report_dir)
        report_dir = os.path.expanduser(report_dir)
        summary = summarise(report_links(report_dir, clusters), args.get("stopped") or "")
        changed, _paths = write_summary(report_dir, summary, check_mode=bool(self._task.check_mode))
        result.update(changed=changed, msg=lines(summary), _ansible_verbose_always=True)
        return result
