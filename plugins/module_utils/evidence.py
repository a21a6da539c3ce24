"""Evidence of one cluster after a phase (CONTRACT §8): ``report.json`` and ``report.html``.

The document says what the cluster holds and what that means for its traffic, for a person to read:

- ``phase``, the in-scope ``apps``, ``tenants`` and ``namespaces`` (tier, tenant, PCI, workloads);
- ``policies``: the tiered policy set the target holds, tier -> policy -> rules (direction, index,
  action, a short summary), each rule with the log records it allowed (``hits``, as remediate counts
  them) when flow logs were read;
- ``reconciliation``: confirmed, unobserved and undeclared flows, as analyze computes them;
- ``gate``: after enforce, how many flows its gate proved allowed;
- ``flows``: every declared or observed flow with ``declared``, ``observed``, ``now`` (under the set the
  target holds) and ``at_enforce`` (under the enforced set applied over it), judged by the one evaluator
  (``remediation.PolicyView``);
- ``pci``: ``{"workloads": [namespace/name, ...]}``: the workloads of PCI tenants that carry ``pci=true``.

The content is deterministic (no timestamps, sorted), so a rerun writes nothing. The page is one
self-contained file (inline CSS only, everything escaped) that opens on an air-gapped laptop.
"""
from __future__ import annotations

import html
import json
import os
import re

from ansible_collections.zerotrust.microseg.plugins.module_utils import service_graph
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import namespaces_from_objects, workloads_from_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.files import json_text, read_text, write_if_changed
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import merge_flows
from ansible_collections.zerotrust.microseg.plugins.module_utils.pci_isolation import isolation
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan
from ansible_collections.zerotrust.microseg.plugins.module_utils.reconcile import coverage, reconcile
from ansible_collections.zerotrust.microseg.plugins.module_utils.remediation import PolicyView, assess, record_counts
from ansible_collections.zerotrust.microseg.plugins.module_utils.verdicts import future_state
from ansible_collections.zerotrust.microseg.plugins.module_utils.workloads import identify

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
# What the page is made with; a page whose data (report.json) and maker are unchanged is not drawn again (the graph of a
# large cluster takes seconds). Bump PAGE_FORMAT whenever render_html shows the same document differently.
PAGE_FORMAT = 1
_GENERATOR = re.compile(r'<meta name="generator" content="([^"]*)">')
_DIRECTIONS = (("Ingress", "ingress"), ("Egress", "egress"))
# Evaluator policy kinds -> the object kinds they are read from (evaluate_rules / evaluate_k8s keys).
_OBJECT_KINDS = {"KubernetesNetworkPolicy": ("NetworkPolicy",)}


def build(intent, live, phase, declared, observed, logs=None, gate=None, covered=None, failed=None):
    """The report document of one cluster after ``phase``.

    ``live``: identity -> object as the target lists it after the phase (policies and workloads);
    ``declared``: the cluster's declared flows (``plan.declared_flows``); ``observed``: the observed flows
    (``plan.observed_flows``: tables and flow logs, what worked, CONTRACT §5);
    ``logs``: the flow logs read with ``observed``, for rule hits; ``gate``: the enforce gate's outcome
    (``{"proven": n}``, ``{"refused": [...]}`` or ``{"disabled": true}``), None when the phase has no gate;
    ``covered``: ``reconcile.coverage(declared, observed)`` when the caller has it; ``failed``: the message of a phase that
    failed and was rolled back (``live`` is then the restored target).
    """
    identity = intent.identity_labels
    covered = covered or coverage(declared, observed)
    scope = identify(intent, live, declared)
    workloads = workloads_from_objects(live.values())
    namespaces = namespaces_from_objects(live.values())
    now = PolicyView(intent, future_state(live, prune=False), workloads, namespaces)
    enforced = make_plan(intent, "enforce", flows=declared)
    at_enforce = PolicyView(intent, future_state(live, enforced.objects, enforced.tiers), workloads, namespaces)
    document = {
        "phase": phase,
        "failed": failed,
        "apps": scope["apps"],
        "tenants": [{"name": t.name, "namespaces": list(t.namespaces), "pci": bool(t.pci)} for t in intent.tenants],
        "reconciliation": reconcile(declared, observed, identity, covered),
        "namespaces": scope["namespaces"],
        "gate": gate,
        "flows": flow_entries(declared, observed, now, at_enforce, covered),
        "pci": pci_evidence(intent, at_enforce, workloads, declared, observed),
    }
    hits = None
    if logs:
        hits = assess(now, observed, declared, record_counts(logs), identity)[0]["hits"]
    document["policies"] = policy_tiers(now, live, hits)
    return document


def flow_entries(declared, observed, now, at_enforce, covered):
    """Every declared or observed flow, sorted, with whether it is declared (or covered by a declared flow), observed (or
    confirmed by an observed one), and its verdicts now and at enforce. ``covered``: ``coverage(declared, observed)``."""
    confirmed, matched = covered
    declared_set, observed_set = set(declared), set(observed)
    entries = []
    for flow in merge_flows(list(declared) + list(observed)):
        verdict = now.verdict(flow)
        entries.append({"source": verdict["source"], "destination": verdict["destination"], "port": verdict["port"],
                        "declared": flow in declared_set or flow in matched, "observed": flow in observed_set or flow in confirmed,
                        "now": verdict["verdict"], "at_enforce": at_enforce.verdict(flow)["verdict"]})
    return entries


def pci_evidence(intent, at_enforce, workloads, declared, observed):
    """``{"workloads", "probe_port", "isolation"}``: the PCI workloads (``namespace/name``), and per workload who may reach it
    and whom it may reach under the enforced set, every other workload of the cluster judged (``pci_isolation``)."""
    rows, probe = isolation(intent, at_enforce.policy_set, workloads, declared, observed)
    return {"workloads": [row["workload"] for row in rows], "probe_port": "%d/TCP" % probe if probe else None, "isolation": rows}


def policy_tiers(view, live, hits=None):
    """The policy set as the evaluator holds it: ``[{"tier", "policies": [{"name", "kind", "rules": [...]}]}]`` in
    evaluation order; each rule ``{"direction", "index", "action", "summary"}`` plus ``hits`` when flow logs were read."""
    by_key = {}
    for obj in live.values():
        meta = obj.get("metadata") or {}
        by_key[(obj.get("kind"), meta.get("namespace") or None, meta.get("name"))] = obj
    counts = {(h["tier"], h["policy"], h["direction"], h["rule"]): h["hits"] for h in hits or ()}
    tiers = []
    for tier in view.policy_set.tiers:
        policies = []
        for policy in tier.policies:
            obj = _object_of(policy, by_key)
            spec = (obj or {}).get("spec") or {}
            rules = []
            for direction, side in _DIRECTIONS:
                raw_rules = spec.get(side) or []
                for rule in policy.rules.get(direction, ()):
                    raw = raw_rules[rule.index] if isinstance(rule.index, int) and 0 <= rule.index < len(raw_rules) else None
                    entry = {"direction": side, "index": rule.index, "action": rule.action, "summary": rule_summary(raw)}
                    if hits is not None:
                        entry["hits"] = counts.get((tier.name, policy.name, side, rule.index), 0)
                    rules.append(entry)
            policies.append({"name": policy.name, "kind": policy.kind, "rules": rules})
        if policies:
            tiers.append({"tier": tier.name, "policies": policies})
    return tiers


def _object_of(policy, by_key):
    kind, namespace, name = policy.key if policy.key else (policy.kind, policy.namespace, policy.name)
    for candidate in _OBJECT_KINDS.get(kind, (kind,)):
        obj = by_key.get((candidate, namespace or None, name))
        if obj is not None:
            return obj
    return None


def rule_summary(rule):
    """A short line for one policy rule (Calico or Kubernetes shape): protocol, peers, ports."""
    if not isinstance(rule, dict):
        return ""
    parts = []
    if rule.get("protocol"):
        parts.append(str(rule["protocol"]))
    for side in ("source", "destination"):
        peer = _peer(rule.get(side))
        if peer:
            parts.append("%s %s" % ("from" if side == "source" else "to", peer))
    for side in ("from", "to"):
        peers = rule.get(side)
        if isinstance(peers, list) and peers:
            parts.append("%s %s" % (side, " or ".join(_peer(p) or "anywhere" for p in peers)))
    ports = rule.get("ports")
    if isinstance(ports, list) and ports:
        parts.append("ports " + ", ".join(_port(p) for p in ports))
    known = {"action", "protocol", "source", "destination", "from", "to", "ports", "name"}
    rest = {k: rule[k] for k in sorted(rule) if k not in known}
    if rest:
        parts.append(json.dumps(rest, sort_keys=True, separators=(",", ":")))
    return " ".join(parts) or "everything"


def _peer(peer):
    if not isinstance(peer, dict) or not peer:
        return ""
    parts = []
    for key in sorted(peer):
        value = peer[key]
        if key == "ports" and isinstance(value, list):
            parts.append("ports " + ", ".join(_port(p) for p in value))
        elif isinstance(value, (list, dict)):
            parts.append("%s %s" % (key, json.dumps(value, sort_keys=True, separators=(",", ":"))))
        else:
            parts.append("%s %s" % (key, value))
    return "(" + "; ".join(parts) + ")"


def _port(port):
    if isinstance(port, dict):
        text = str(port.get("port", port.get("portNumber", "any")))
        if port.get("endPort"):
            text += "-%s" % port["endPort"]
        return text + ("/" + str(port["protocol"]) if port.get("protocol") else "")
    return str(port)


# ---------------------------------------------------------------------------------------------- the page

_CSS = ("body{font-family:sans-serif;margin:2em;color:#1f2328}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "td,th{padding:.3em .8em;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}"
        ".v{color:#fff;border-radius:.8em;padding:.1em .6em}.allow{background:#1a7f37}.deny{background:#cf222e}"
        ".yes{font-weight:bold}.no{color:#57606a}.pci{color:#9a6700;font-weight:bold}code{font-size:.9em}"
        "h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em}.failed{color:#cf222e;font-weight:bold}pre{white-space:pre-wrap}")


def _e(value):
    return html.escape("" if value is None else str(value))


def _verdict(value):
    return '<span class="v %s">%s</span>' % ("allow" if value == "allow" else "deny", _e(value))


def _bool(value):
    return '<span class="%s">%s</span>' % ("yes" if value else "no", "yes" if value else "no")


def _table(headers, rows):
    head = "".join("<th>%s</th>" % _e(h) for h in headers)
    body = "".join("<tr>%s</tr>\n" % "".join("<td>%s</td>" % cell for cell in row) for row in rows)
    return "<table><thead><tr>%s</tr></thead><tbody>\n%s</tbody></table>\n" % (head, body)


def graph_section(document):
    """The service graph of the flows, between the summary and the flow table (``service_graph``: inline SVG drawn by
    Graphviz, or a paragraph saying why not)."""
    return service_graph.graph_section(document)


def pci_section(pci):
    """The PCI view: per PCI workload, who may reach it and whom it may reach under the enforced set, and the peers denied."""
    out = ['<h2 id="pci">PCI workloads</h2>\n']
    if not pci["workloads"]:
        return out[0] + "<p>None.</p>\n"
    probe = (" and %s, a port no flow names" % _e(pci["probe_port"])) if pci.get("probe_port") else ""
    out.append("<p>Each PCI workload against every other workload of the cluster, both ways, under the enforced set, on the "
               "ports the flows name%s.</p>\n" % probe)
    for row in pci.get("isolation", ()):
        out.append('<h3 class="pci">%s</h3>\n' % _e(row["workload"]))
        for side, title in (("inbound", "may be reached by"), ("outbound", "may reach")):
            found = row[side]
            out.append("<p>%s %s:</p>\n" % (_e(row["workload"]), title))
            if found["allowed"]:
                out.append(_table(("peer", "port", "declared"), [(_e(a["peer"]), _e(a["port"]), _bool(a["declared"])) for a in found["allowed"]]))
            else:
                out.append("<p>nobody.</p>\n")
            out.append("<p>Denied on every port judged (%d peer(s), %d verdict(s) in all): %s</p>\n" % (
                len(found["denied"]), found["judged"], _e(", ".join(found["denied"])) or "none"))
    return "".join(out)


def render_html(document, host):
    """report.html: the same data as report.json as one self-contained page."""
    title = "zerotrust.microseg evidence: %s after %s%s" % (host, document["phase"], " (failed, rolled back)" if document.get("failed") else "")
    flows = document["flows"]
    denied_now = sum(1 for f in flows if f["now"] != "allow")
    denied_enforce = sum(1 for f in flows if f["at_enforce"] != "allow")
    graph = graph_section(document)
    # a page whose graph is missing names no maker write() would take for its own: the next run draws it again
    maker = page_maker() + ("" if service_graph.fully_drawn(graph) else "; graph not drawn")
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<meta name="generator" content="%s">\n<title>%s</title>\n'
           '<style>%s</style></head>\n<body>' % (_e(maker), _e(title), _CSS), "<h1>%s</h1>\n" % _e(title)]
    out.append("<p>%d flow(s): %d declared, %d observed; %d denied now, %d denied at enforce.</p>\n" % (
        len(flows), sum(1 for f in flows if f["declared"]), sum(1 for f in flows if f["observed"]), denied_now, denied_enforce))
    if document.get("failed"):
        out.append('<p class="failed">%s failed and the cluster was restored to what it was before it:</p>\n<pre>%s</pre>\n'
                   % (_e(document["phase"]), _e(document["failed"])))
    gate = document.get("gate")
    if gate:
        if gate.get("refused"):
            out.append("<p>Enforce gate refused %d flow(s):</p>\n<ul>%s</ul>\n" % (len(gate["refused"]), "".join(
                "<li>%s &rarr; %s %s</li>" % (_e(f["source"]), _e(f["destination"]), _e(f["port"])) for f in gate["refused"])))
        else:
            out.append("<p>Enforce gate: %d declared and observed flow(s) proven allowed.</p>\n" % gate.get("proven", 0))
    out.append(graph)
    out.append("<h2>Flows</h2>\n")
    out.append(_table(("source", "destination", "port", "declared", "observed", "now", "at enforce"), [
        (_e(f["source"]), _e(f["destination"]), _e(f["port"]), _bool(f["declared"]), _bool(f["observed"]), _verdict(f["now"]),
         _verdict(f["at_enforce"])) for f in flows]))
    out.append("<h2>Scope</h2>\n")
    out.append(_table(("namespace", "tier", "tenant", "PCI", "workloads"), [
        (_e(name), _e(info["tier"]), _e(info["tenant"] or ""), '<span class="pci">PCI</span>' if info["pci"] else "",
         _e(", ".join("%s %s" % (w["kind"], w["name"]) for w in info["workloads"]))) for name, info in sorted(document["namespaces"].items())]))
    if document["tenants"]:
        out.append(_table(("tenant", "namespaces", "PCI"), [
            (_e(t["name"]), _e(", ".join(t["namespaces"])), _bool(t["pci"])) for t in document["tenants"]]))
    out.append(pci_section(document["pci"]))
    out.append("<h2>Reconciliation</h2>\n")
    for key in ("confirmed", "unobserved", "undeclared"):
        found = document["reconciliation"][key]
        out.append("<h3>%s (%d)</h3>\n" % (_e(key), len(found)))
        if found:
            items = "".join("<li>%s &rarr; %s %s</li>" % (_e(f["source"]), _e(f["destination"]), _e(f["port"])) for f in found)
            out.append("<ul>%s</ul>\n" % items)
    out.append("<h2>Policies</h2>\n")
    with_hits = any("hits" in rule for tier in document["policies"] for policy in tier["policies"] for rule in policy["rules"])
    headers = ("policy", "kind", "direction", "rule", "action", "what") + (("hits",) if with_hits else ())
    for tier in document["policies"]:
        out.append("<h3>tier %s</h3>\n" % _e(tier["tier"]))
        rows = []
        for policy in tier["policies"]:
            if not policy["rules"]:
                rows.append((_e(policy["name"]), _e(policy["kind"]), "", "", "", "no rules") + (("",) if with_hits else ()))
            for rule in policy["rules"]:
                rows.append((_e(policy["name"]), _e(policy["kind"]), _e(rule["direction"]), _e(rule["index"]), _e(rule["action"]),
                             "<code>%s</code>" % _e(rule["summary"])) + ((_e(rule.get("hits", "")),) if with_hits else ()))
        out.append(_table(headers, rows))
    out.append("</body></html>\n")
    return "".join(out)


_PHASE_KEYS = ("phase", "gate")


def same_but_phase(text, document):
    """Whether the report ``text`` says what ``document`` says about the cluster, whichever phase wrote it."""
    try:
        before = json.loads(text)
    except ValueError:
        return False
    if not isinstance(before, dict):
        return False
    return _without_phase(before) == json.loads(json_text(_without_phase(document)))


def _without_phase(document):
    return {key: value for key, value in document.items() if key not in _PHASE_KEYS}


def page_maker():
    """``zerotrust.microseg report page <PAGE_FORMAT>; <layout engine>``: what the page of a document is made with."""
    return "zerotrust.microseg report page %d; %s" % (PAGE_FORMAT, service_graph.layout_engine())


def made_with(path):
    """The maker named in the page at ``path`` (its first few KiB), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            found = _GENERATOR.search(handle.read(4096))
    except OSError:
        return None
    return html.unescape(found[1]) if found else None


def write(report_dir, host, document, check_mode=False, keep_phase=False):
    """Write ``<report_dir>/<host>/report.json`` and ``report.html`` where their text changes (nothing in check mode).

    ``keep_phase``: keep the report as it is when it differs from ``document`` only in ``phase`` and ``gate`` (for a run
    that changed nothing). Returns ``(changed, paths, diff)``: the diff of report.json when it changed (the page says the
    same in markup).
    """
    paths = (os.path.join(report_dir, host, REPORT_JSON), os.path.join(report_dir, host, REPORT_HTML))
    if keep_phase and all(os.path.exists(path) for path in paths) and same_but_phase(read_text(paths[0]), document):
        return False, list(paths), []
    data = json_text(document)
    before = read_text(paths[0])
    changed, diff = before != data, []
    if changed:
        write_if_changed(paths[0], data, check_mode)
        diff.append(dict(before=before, after=data, before_header=paths[0], after_header=paths[0]))
    if changed or made_with(paths[1]) != page_maker():   # the same data drawn the same way: the same page
        changed = write_if_changed(paths[1], render_html(document, host), check_mode)[0] or changed
    return changed, list(paths), diff
