"""The fidelity report: what a dialect other than Calico could not express of the tiered (Calico) model.

The Calico dialect renders the tiered model itself; every other dialect (``kubernetes``, ``kubernetes-anp``,
``kubernetes-cnp``) records each rule it widened, merged or dropped as a ``renderers.model.Loss`` (``Plan.losses``).
Those are printed, one line each (``line``), and written by deploy and enforce (``phases.ClusterRun.apply``, the place
that applies the plan) to ``<microseg_report_dir>/<host>/fidelity.json``: ``{"dialect", "phase", "cluster_serves",
"losses": [Loss.as_dict(), ...]}``, sorted, written only when its text changes and never in check mode. identify and
analyze apply no plan and leave the file as the last deploy or enforce wrote it. A Calico run writes none (its oss
domain widenings are the edition's, not the dialect's: they stay warnings) and removes one an earlier run of another
dialect left, which would describe policies the target no longer holds. Plain Python, no Ansible import.
"""
from __future__ import annotations

import os

from ansible_collections.zerotrust.microseg.plugins.module_utils.files import json_text, read_text, write_if_changed
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import CHANGES

REFERENCE_DIALECT = "calico"   # the dialect of the tiered model itself: no fidelity report
FILE = "fidelity.json"
_TIER_ORDER = ("security", "platform", "application", "appsec", "default")


def reported(dialect):
    """True when ``dialect``'s losses are a fidelity report (every dialect but the tiered model's own)."""
    return dialect != REFERENCE_DIALECT


def line(dialect, loss):
    """The line a run prints for one loss: ``kubernetes dialect: security rule trusted-domains widened: <why>``."""
    return "%s dialect: %s rule %s %s: %s" % (dialect, loss.tier or "untiered", loss.rule, loss.change, loss.why)


def lines(dialect, losses):
    """One line per distinct (change, tier, rule, why), in the order the renderer met them."""
    return list(dict.fromkeys(line(dialect, loss) for loss in losses))


def _key(loss):
    rank = _TIER_ORDER.index(loss.tier) if loss.tier in _TIER_ORDER else len(_TIER_ORDER)
    return (rank, loss.tier, loss.rule, loss.change, loss.source, loss.destination, loss.port, loss.why)


def document(intent, phase, losses):
    """The fidelity report of one plan: deterministic (sorted losses, no time, no path)."""
    return {"dialect": intent.dialect, "phase": phase, "cluster_serves": sorted(intent.cluster_serves),
            "losses": [loss.as_dict() for loss in sorted(set(losses), key=_key)]}


def summary(losses):
    """``2 widened, 1 merged`` (rules of the tiered model per change), or ``nothing widened, merged or dropped``."""
    rules = {}
    for loss in losses:
        rules.setdefault(loss.change, set()).add((loss.tier, loss.rule))
    parts = ["%d %s" % (len(rules[change]), change) for change in CHANGES if change in rules]
    return ", ".join(parts) if parts else "nothing widened, merged or dropped"


def write(report_dir, host, intent, phase, losses, check_mode=False):
    """Write (or, for the Calico dialect, remove) ``<report_dir>/<host>/fidelity.json``; returns ``(changed, path, diff)``.

    Check mode writes and removes nothing and returns the diff a real run would make.
    """
    path = os.path.join(report_dir, host, FILE)
    if not reported(intent.dialect):
        before = read_text(path)
        if not before:
            return False, None, []
        if not check_mode:
            os.unlink(path)
        return True, path, [dict(before=before, after="", before_header=path, after_header=path)]
    after = json_text(document(intent, phase, losses))
    changed, before = write_if_changed(path, after, check_mode)
    return changed, path, [dict(before=before, after=after, before_header=path, after_header=path)] if changed else []
