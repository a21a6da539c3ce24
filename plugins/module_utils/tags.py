"""The methodology's phase and tier tags (CONTRACT §1), and which of them a run's ``--tags`` / ``--skip-tags`` select.

Kept free of heavy imports: the controller's action plugins read it on every task.
"""
from __future__ import annotations

PHASES = ("identify", "analyze", "deploy", "enforce", "remediate")
TIER_TAG = "tier_"


def selected_phases(run_tags, skip_tags):
    """``(phases, tiers)`` that ``--tags`` / ``--skip-tags`` select, exactly as the roles' tags do.

    A phase runs when everything runs, when its tag is given, or (deploy) when only tier tags
    (``tier_platform``) are; skip tags win. Tier tags narrow deploy and enforce to those tiers.
    """
    run_tags, skip_tags = set(run_tags or ["all"]), set(skip_tags or [])
    tiers = sorted(tag[len(TIER_TAG):] for tag in run_tags if tag.startswith(TIER_TAG))
    everything = "all" in run_tags
    phases = [phase for phase in PHASES if (everything or phase in run_tags) and phase not in skip_tags]
    if not everything and tiers and not run_tags & set(PHASES) and "deploy" not in skip_tags:
        phases = ["deploy"]
    return phases, tiers
