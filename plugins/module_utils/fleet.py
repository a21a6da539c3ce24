"""The fleet summary of a rollout (CONTRACT §8): per cluster changed, unchanged, rolled_back or untouched.

``fleet.json`` holds ``{"clusters": [{"host", "status"}, ...]}`` (plus each cluster's line, its
evidence page as a path relative to the fleet page, and the rollout's outcome); ``fleet.html`` is
the same as one self-contained page (no script, style sheet, font or image from elsewhere, so it
opens from a file on an air-gapped laptop) that links each cluster's report.html.
"""
from __future__ import annotations

import html
import os
from urllib.parse import quote

from ansible_collections.zerotrust.microseg.plugins.module_utils.files import json_text, write_if_changed

STATUSES = ("changed", "unchanged", "rolled_back", "untouched")
_COLOURS = {"changed": "#1f6feb", "unchanged": "#57606a", "rolled_back": "#cf222e", "untouched": "#9a6700"}


def cluster_status(run):
    """A cluster's status from what its run recorded: None (never ran) is untouched."""
    if not run:
        return "untouched"
    if run.get("failed"):
        return "rolled_back"
    status = run.get("status")
    return status if status in STATUSES else "untouched"


def report_links(report_dir, clusters):
    """``[(host, status, detail, page)]`` -> the same with ``page`` relative to ``report_dir`` (where fleet.html is).

    ``page``: the report.html a cluster's run wrote or kept; without one (untouched, or check mode), the cluster's page
    from an earlier run at ``<report_dir>/<host>/report.html`` when there is one, else None.
    """
    found = []
    for host, status, detail, page in clusters:
        if not page:
            earlier = os.path.join(report_dir, host, "report.html")
            page = earlier if os.path.isfile(earlier) else None
        found.append((host, status, detail, os.path.relpath(page, report_dir).replace(os.sep, "/") if page else None))
    return found


def summarise(clusters, stopped=""):
    """``clusters``: ``[(host, status, detail, page)]`` in inventory order (``page``: ``report_links``'s) -> the fleet.json document."""
    counts = {status: 0 for status in STATUSES}
    entries = []
    for host, status, detail, page in clusters:
        counts[status] += 1
        entries.append({"host": host, "status": status, "detail": detail or "", "report": page})
    return {"clusters": entries, "counts": counts, "stopped": stopped}


def lines(summary):
    """One line per cluster, then the totals."""
    width = max([len(entry["host"]) for entry in summary["clusters"]] + [4])
    found = ["%-*s  %-11s %s" % (width, entry["host"], entry["status"], _short(entry["detail"])) for entry in summary["clusters"]]
    totals = ", ".join("%d %s" % (count, status) for status, count in summary["counts"].items() if count)
    found.append("fleet: %s%s" % (totals or "no cluster", "; stopped: " + summary["stopped"] if summary["stopped"] else ""))
    return found


def _short(text, limit=100):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def render_html(summary, title="zerotrust.microseg fleet"):
    """fleet.html: a table of the clusters, self-contained."""
    rows = "".join('<tr><td>%s</td><td><span class="s" style="background:%s">%s</span></td><td>%s</td><td>%s</td></tr>\n' % (
        html.escape(entry["host"]), _COLOURS[entry["status"]], html.escape(entry["status"]), html.escape(entry["detail"]), _link(entry))
        for entry in summary["clusters"])
    totals = " &middot; ".join("%d %s" % (count, html.escape(status)) for status, count in summary["counts"].items())
    stopped = "<p class=\"stop\">Rollout stopped: %s</p>" % html.escape(summary["stopped"]) if summary["stopped"] else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;"
            "border-bottom:1px solid #d0d7de;text-align:left}.s{color:#fff;border-radius:.8em;padding:.1em .6em}"
            ".stop{color:#cf222e;font-weight:bold}</style></head>\n<body><h1>%s</h1><p>%s</p>%s\n"
            "<table><thead><tr><th>cluster</th><th>status</th><th>what happened</th><th>evidence</th></tr></thead><tbody>\n%s</tbody></table>"
            "</body></html>\n") % (html.escape(title), html.escape(title), totals, stopped, rows)


def _link(entry):
    """A relative link to the cluster's report.html (it sits beside fleet.html, under the cluster's name)."""
    page = entry.get("report")
    if not page:
        return ""
    return '<a href="%s">report.html</a>' % html.escape(quote(page, safe="/"), quote=True)


def write_summary(report_dir, summary, check_mode=False):
    """Write fleet.json and fleet.html under ``report_dir`` (only what changed; nothing in check mode)."""
    paths = (os.path.join(report_dir, "fleet.json"), os.path.join(report_dir, "fleet.html"))
    texts = (json_text(summary), render_html(summary))
    changed = False
    for path, text in zip(paths, texts):
        changed = write_if_changed(path, text, check_mode)[0] or changed
    return changed, paths
