"""Analyze: declared flows against observed ones (CONTRACT §5)."""
from __future__ import annotations

import fnmatch
import ipaddress


def _endpoint_covers(declared, observed):
    """Whether the declared endpoint stands for the observed one."""
    if declared == observed:
        return True
    if declared.kind == "namespace":
        return observed.kind in ("workload", "namespace") and observed.namespace == declared.namespace
    if declared.kind == "net" and observed.kind == "net":
        inner, outer = ipaddress.ip_network(observed.net), ipaddress.ip_network(declared.net)
        return inner.version == outer.version and inner.subnet_of(outer)
    if declared.kind == "domain" and observed.kind == "domain" and declared.domain.startswith("*."):
        return fnmatch.fnmatchcase(observed.domain, declared.domain) and observed.domain != declared.domain[2:]
    return False


def covers(declared, observed):
    """Whether a declared flow allows an observed one (same protocol, port inside the range, endpoints covered)."""
    return (declared.protocol == observed.protocol
            and declared.port_min <= observed.port_min and observed.port_max <= declared.port_max
            and _endpoint_covers(declared.source, observed.source)
            and _endpoint_covers(declared.destination, observed.destination))


class FlowIndex:
    """Declared flows indexed by (protocol, source, destination) so exact matches cost one lookup."""

    def __init__(self, flows):
        self.exact = {}
        self.wide = []
        for flow in flows:
            self.exact.setdefault((flow.protocol, flow.source, flow.destination), []).append(flow)
            if flow.source.kind in ("namespace", "net") or flow.destination.kind in ("namespace", "net", "domain"):
                self.wide.append(flow)

    def covering(self, observed):
        """Every declared flow that covers ``observed`` (an exact match does not hide a wider one)."""
        found = [f for f in self.exact.get((observed.protocol, observed.source, observed.destination), ()) if covers(f, observed)]
        return found + [f for f in self.wide if f not in found and covers(f, observed)]


def coverage(declared, observed):
    """``(confirmed, covered)``: the declared flows some observed flow confirms, and the observed flows a declared flow covers."""
    index = FlowIndex(declared)
    confirmed, covered = set(), set()
    for flow in observed:
        matches = index.covering(flow)
        if matches:
            covered.add(flow)
            confirmed.update(matches)
    return confirmed, covered


def reconcile(declared, observed, identity_labels=None, covered=None):
    """``{"confirmed", "unobserved", "undeclared"}`` in flow-table notation, namespace-qualified.

    ``covered``: ``coverage(declared, observed)`` when the caller has it already."""
    seen, matched = covered or coverage(declared, observed)
    notation = [f.notation(identity_labels) for f in declared]
    return {
        "confirmed": [n for f, n in zip(declared, notation) if f in seen],
        "unobserved": [n for f, n in zip(declared, notation) if f not in seen],
        "undeclared": [f.notation(identity_labels) for f in observed if f not in matched],
    }


SKIPPED_LIMIT = 100   # skipped lines a report names one by one (CONTRACT §5); skipped_total counts them all
SKIPPED_SHOWN = 5     # skipped lines a warning names before it only counts


def skipped_lines(logs):
    """``(skipped, skipped_total)`` over the flow logs read: the first SKIPPED_LIMIT ``{path, line, reason}`` and the count."""
    skipped, total = [], 0
    for log in logs:
        stats = log["stats"]
        total += stats.get("malformed_total", 0)
        skipped.extend(stats.get("malformed", ())[:max(0, SKIPPED_LIMIT - len(skipped))])
    return skipped, total


def skipped_warnings(logs):
    """One warning per flow log with skipped lines: the first few by ``path:line`` and reason, then how many more."""
    warnings = []
    for log in logs:
        stats = log["stats"]
        total = stats.get("malformed_total", 0)
        if not total:
            continue
        shown = stats.get("malformed", ())[:SKIPPED_SHOWN]
        reasons = ", ".join("%d %s" % (count, reason) for reason, count in sorted(stats.get("malformed_by_reason", {}).items()))
        lines = "; ".join("%s:%s: %s" % (entry["path"], entry["line"], entry["reason"]) for entry in shown)
        more = " and %d more" % (total - len(shown)) if total > len(shown) else ""
        warnings.append("flow log %s: skipped %d line(s) (%s): %s%s; microseg_strict: true makes them errors"
                        % (stats.get("path", "?"), total, reasons, lines, more))
    return warnings


def with_skipped(report, logs):
    """``report`` plus ``skipped`` and ``skipped_total`` (CONTRACT §5)."""
    report = dict(report)
    report["skipped"], report["skipped_total"] = skipped_lines(logs)
    return report


def write_report(path, report, check_mode=False):
    """Write ``report`` as JSON at ``path`` only if it differs; returns (changed, before_text, after_text)."""
    from ansible_collections.zerotrust.microseg.plugins.module_utils.files import json_text, write_if_changed
    after = json_text(report)
    changed, before = write_if_changed(path, after, check_mode)
    return changed, before, after
