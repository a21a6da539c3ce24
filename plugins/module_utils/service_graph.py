"""The service graph of an evidence report: every service and flow of a cluster, laid out by Graphviz, as inline SVG.

Nodes are the flow endpoints in flow-table notation (``ns/app``, ``ns/key=value``, ``ns/*``, ``domain:...``,
``net:...``) and every in-scope workload (``ns/<identity value>`` when the flows name it so, else the selector endpoint
matching its labels, else ``ns/<workload name>``), in clusters by namespace, namespaces nested in their tenant, external
endpoints in an "external" cluster; PCI workloads get a gold double border and a "PCI" line. One edge per flow, labelled
with its port and coloured by its ``category`` (``CATEGORIES``). Up to ``THRESHOLD`` nodes the section holds one graph;
above it a summary of namespaces (an edge per namespace pair with its flow count, coloured by the worst category; each
namespace links to ``#graph-ns-<namespace>``), then one graph per namespace with the peers it talks to.

Each graph is one ``dot`` process (several graphs in one process do not lay out the same twice), up to one per core at a
time; edge labels are ``xlabel``s (dot 2.43 fails with "trouble in init_rank" on most clustered graphs with ``label``s).
The SVG loses its prolog, DOCTYPE, comments, titles, ids and namespace declarations (HTML5 inline SVG needs none) and
links only to ``#`` fragments. Without Graphviz (the ``graphviz`` package or the ``dot`` executable) the section is a
paragraph saying what it needs; a graph ``dot`` fails on is a paragraph with dot's reason.
"""
from __future__ import annotations

import functools
import html
import os
import re
from concurrent.futures import ThreadPoolExecutor

try:
    import graphviz
except ImportError:  # the section says the graph needs Graphviz
    graphviz = None

THRESHOLD = 60   # nodes: up to this one graph, above it a summary of namespaces and one graph per namespace
# edges: above this a graph is laid out with straight edges and fewer crossing-minimisation passes (a 500-edge namespace
# takes dot 0.05 s instead of 0.26 s; every dot setting is fixed, so the layout stays the same from run to run)
LARGE = 200
_LARGE = {"splines": "line", "mclimit": "0.1", "nslimit": "1", "nslimit1": "1"}
# (category, colour, edge style, meaning), worst first: a summary edge takes the colour of its worst flow
CATEGORIES = (
    ("denied", "#cf222e", "solid", "denied now: blocked today"),
    ("enforce-denied", "#e16f24", "dashed", "declared and allowed now, denied at enforce: the enforce gate would refuse it"),
    ("undeclared", "#8250df", "dashed", "observed, not declared: allowed now, denied at enforce"),
    ("widened", "#bf8700", "solid", "not declared, yet allowed at enforce: a rule broader than the flow tables"),
    ("allowed", "#1a7f37", "solid", "declared, allowed now and at enforce"),
)
_STYLE = {name: (colour, style) for name, colour, style, _meaning in CATEGORIES}
_RANK = {entry[0]: rank for rank, entry in enumerate(CATEGORIES)}
PCI_COLOUR = "#9a6700"
EXTERNAL_NODE = "(external)"    # the summary's node of every domain: and net: endpoint (no namespace has this name)
NEEDS_GRAPHVIZ = ("<p>The service graph needs Graphviz: the <code>dot</code> executable (Debian package <code>graphviz</code>) "
                  "and the Python package <code>graphviz</code> (PyPI).</p>\n")
NOT_DRAWN = "<p>This graph could not be drawn: Graphviz failed: <code>%s</code></p>\n"
_FONT = "Helvetica,sans-Serif"
_GRAPH = {"rankdir": "LR", "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.2", "ranksep": "1.0"}
_NODE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f6f8fa", "color": "#57606a", "fontname": "Helvetica", "fontsize": "10"}
_EDGE = {"fontname": "Helvetica", "fontsize": "8", "arrowsize": "0.6", "penwidth": "1.4"}
_PCI = {"color": PCI_COLOUR, "penwidth": "2", "peripheries": "2", "fillcolor": "#fff8c5"}
_CLUSTER = {"style": "rounded", "color": "#8c959f"}
_FOCUS = {"style": "rounded,bold", "color": "#0969da", "fontcolor": "#0969da"}   # the namespace a per-namespace graph is about
_STRIP = re.compile(r'<!--.*?-->\n?| id="[^"]*"| font-family="%s"' % _FONT, re.S)
_TITLE = re.compile(r"<title>([^<]*)</title>\n?")
_EDGE_TITLE = re.compile(r"^(n\d+)&#45;&gt;(n\d+)$")
_NAMESPACES = re.compile(r'\s(?:xmlns(?::\w+)?|xml:space)="[^"]*"')
_HREF = re.compile(r'\bhref="([^"]*)"')
_FORBIDDEN = re.compile(r"(?i)(://|src=|url\(|<script)")   # cannot come from Graphviz once the namespaces are gone
_BOX = '<div style="overflow:auto;max-height:90vh;border:1px solid #d0d7de;margin:.5em 0 1.5em">%s</div>\n'
_FIT = ' style="max-width:100%;height:auto"'   # a single graph shrinks to the page's width (a large one scrolls in its box)


def fully_drawn(section):
    """Whether a graph section holds every graph it meant to (no "needs Graphviz", no graph dot failed on)."""
    return section != NEEDS_GRAPHVIZ and NOT_DRAWN.partition("%s")[0] not in section


def layout_engine():
    """``graphviz <dot version>``, or ``no graphviz``: what lays the graphs out here (a page records it)."""
    if graphviz is None:
        return "no graphviz"
    try:
        return "graphviz %s" % ".".join(str(part) for part in _dot_version())
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, RuntimeError, OSError):
        return "no graphviz"


@functools.lru_cache(maxsize=1)
def _dot_version():
    return graphviz.version()


def category(flow):
    """What happens to a flow: ``denied``, ``enforce-denied``, ``undeclared``, ``widened`` or ``allowed``."""
    if flow["now"] != "allow":
        return "denied"
    if flow["at_enforce"] != "allow":
        return "enforce-denied" if flow["declared"] else "undeclared"
    return "allowed" if flow["declared"] else "widened"


def namespace_of(endpoint):
    """The namespace of a flow endpoint; None for ``domain:`` and ``net:`` ones."""
    return None if endpoint.startswith(("domain:", "net:")) else endpoint.partition("/")[0]


def services(document):
    """Node name -> ``{"namespace", "label", "workloads", "pci"}``: every flow endpoint and every in-scope workload."""
    endpoints = {flow[side] for flow in document["flows"] for side in ("source", "destination")}
    identity = {app["namespace"]: app["identity_label"] for app in document.get("apps") or ()}
    pci = set((document.get("pci") or {}).get("workloads") or ())
    nodes = {name: _node(name) for name in endpoints}
    selectors = {}
    for name in sorted(endpoints):
        namespace, _slash, rest = name.partition("/")
        if namespace_of(name) and "=" in rest:
            selectors.setdefault(namespace, []).append((name,) + tuple(rest.split("=", 1)))
    for namespace, info in sorted(document["namespaces"].items()):
        for workload in info["workloads"]:
            labels = workload["labels"]
            value = labels.get(identity.get(namespace, "app"))
            name = "%s/%s" % (namespace, value)
            if value is None or name not in endpoints:
                name = next((selector for selector, key, wanted in selectors.get(namespace, ()) if labels.get(key) == wanted),
                            "%s/%s" % (namespace, workload["name"]))
            node = nodes.setdefault(name, _node(name))
            node["workloads"].append("%s %s" % (workload["kind"], workload["name"]))
            node["pci"] = node["pci"] or "%s/%s" % (namespace, workload["name"]) in pci
    return nodes


def _node(name):
    namespace = namespace_of(name)
    return {"namespace": namespace, "label": name.partition("/")[2] if namespace else name, "workloads": [], "pci": False}


def graph_section(document):
    """The service graph as HTML: a heading, the legend and one inline SVG graph, or above ``THRESHOLD`` nodes a summary of
    namespaces and one graph per namespace; a paragraph saying why not when Graphviz is missing (or, for one graph, fails).
    Never raises for Graphviz's sake."""
    if graphviz is None:
        return NEEDS_GRAPHVIZ
    nodes = services(document)
    flows = sorted(document["flows"], key=lambda f: (f["source"], f["destination"], f["port"]))
    out = ['<h2 id="graph">Service graph</h2>\n']
    if not nodes:
        return out[0] + "<p>No service and no flow.</p>\n"
    if len(nodes) <= THRESHOLD:
        parts = [("", _digraph(document, nodes, sorted(nodes), flows))]
        out.append("<p>%d service(s), %d flow(s).</p>\n" % (len(nodes), len(flows)))
    else:
        parts = _per_namespace(document, nodes, flows)
        out.append("<p>%d service(s) in %d namespace(s), %d flow(s): first the namespaces (flows counted per namespace pair; "
                   "a namespace links to its graph), then one graph per namespace with the peers it talks to.</p>\n"
                   % (len(nodes), len(parts) - 1, len(flows)))
    out.append(legend())
    try:
        drawn = render([drawing for _heading, drawing in parts])
    except graphviz.ExecutableNotFound:
        return NEEDS_GRAPHVIZ
    for (heading, _graph), (svg, reason) in zip(parts, drawn):
        if svg and len(parts) == 1:
            svg = svg.replace("<svg", "<svg" + _FIT, 1)
        out.append(heading + (_BOX % svg if svg else NOT_DRAWN % html.escape(reason)))
    return "".join(out)


def _per_namespace(document, nodes, flows):
    """[(heading, graph)]: the summary of namespaces, then one graph per namespace that has a node."""
    members, touching = {}, {}
    for name, info in nodes.items():
        if info["namespace"]:
            members.setdefault(info["namespace"], set()).add(name)
    for flow in flows:
        for namespace in {namespace_of(flow["source"]), namespace_of(flow["destination"])} - {None}:
            touching.setdefault(namespace, []).append(flow)
    parts = [('<h3 id="graph-namespaces">Namespaces</h3>\n', _summary(document, nodes, flows, members))]
    for namespace in sorted(members):
        names = members[namespace] | {f[side] for f in touching.get(namespace, ()) for side in ("source", "destination")}
        heading = '<h3 id="graph-ns-%s">namespace %s</h3>\n' % (html.escape(namespace), html.escape(namespace))
        parts.append((heading, _digraph(document, nodes, sorted(names), touching.get(namespace, []), focus=namespace)))
    return parts


def _summary(document, nodes, flows, members):
    """One node per namespace (in its tenant's cluster) and one for all external endpoints; one edge per namespace pair.
    ``members``: namespace -> its node names, for the namespaces that have a graph of their own."""
    tenant_of = {name: info["tenant"] or "" for name, info in document["namespaces"].items()}
    shown = {}
    for namespace in sorted(set(members) | set(document["namespaces"])):
        count = len(members.get(namespace, ()))
        pci = sum(1 for name in members.get(namespace, ()) if nodes[name]["pci"])
        shown[namespace] = {"group": (tenant_of.get(namespace, ""), 2, ""), "pci": bool(pci),
                            "lines": [namespace, "%d service(s)" % count] + (["PCI: %d" % pci] if pci else []),
                            "tooltip": "namespace %s: %d service(s)%s" % (namespace, count, ", see its graph" if count else "")}
        if count:
            shown[namespace]["url"] = "#graph-ns-" + namespace
    externals = sorted(name for name, info in nodes.items() if not info["namespace"])
    if externals:
        shown[EXTERNAL_NODE] = {"group": ("", 2, ""), "lines": ["external", "%d endpoint(s)" % len(externals)], "pci": False,
                                "tooltip": ", ".join(externals)}
    pairs = {}
    for flow in flows:
        pair = tuple(namespace_of(flow[side]) or EXTERNAL_NODE for side in ("source", "destination"))
        pairs.setdefault(pair, []).append(category(flow))
    edges = []
    for (source, destination), found in sorted(pairs.items()):
        counts = ", ".join("%d %s" % (found.count(name), name) for name, *_rest in CATEGORIES if name in found)
        edges.append((source, destination, str(len(found)), min(found, key=_RANK.get),
                      "%s -> %s: %d flow(s) (%s)" % (source, destination, len(found), counts)))
    return _build(document, shown, sorted(shown), edges)


def _digraph(document, nodes, names, flows, focus=None):
    """The graph of ``names`` (node names of ``services``) and ``flows``, in tenant / namespace / external clusters; the
    cluster of namespace ``focus`` drawn bold."""
    tenant_of = {name: info["tenant"] or "" for name, info in document["namespaces"].items()}
    shown = {}
    for name in names:
        info = nodes[name]
        namespace = info["namespace"]
        lines = [info["label"]] + [w for w in info["workloads"] if w.partition(" ")[2] != info["label"]] + (["PCI"] if info["pci"] else [])
        tooltip = name + (": " + ", ".join(info["workloads"]) if info["workloads"] else "") + (" (PCI)" if info["pci"] else "")
        group = (tenant_of.get(namespace, ""), 0, namespace) if namespace else ("", 1, "external")
        shown[name] = {"group": group, "lines": lines, "pci": info["pci"], "tooltip": tooltip}
    edges = [(f["source"], f["destination"], f["port"], category(f), "%s -> %s %s: %s" % (f["source"], f["destination"], f["port"], category(f)))
             for f in flows]
    return _build(document, shown, names, edges, focus)


def _build(document, shown, names, edges, focus=None):
    """``(graph, names)``: a ``graphviz.Digraph`` of the ``shown`` nodes, each in its ``group`` (tenant or "", 0 namespace cluster / 1 external
    cluster / 2 no cluster, cluster label), and ``edges`` (source, destination, label, category, tooltip). Node ids are
    ``n<i>`` in ``names`` order (flow names hold ``:``, which ``Digraph.edge`` reads as a port); ``names`` maps them back."""
    graph = graphviz.Digraph(graph_attr=dict(_GRAPH, **(_LARGE if len(edges) > LARGE else {})), node_attr=_NODE, edge_attr=_EDGE)
    ids = {name: "n%d" % index for index, name in enumerate(names)}
    pci_tenants = {tenant["name"] for tenant in document.get("tenants") or () if tenant["pci"]}
    groups = {}
    for name in names:
        groups.setdefault(shown[name]["group"], []).append(name)
    numbers = iter(range(len(groups) * 2))
    for tenant in sorted({group[0] for group in groups if group[0]}):
        with graph.subgraph(name="cluster_%d" % next(numbers)) as outer:
            label = "tenant %s%s" % (tenant, " (PCI)" if tenant in pci_tenants else "")
            outer.attr(label=_text(label), tooltip=_text(label), **_CLUSTER)
            _place(outer, numbers, [(group, groups[group]) for group in sorted(groups) if group[0] == tenant], shown, ids, focus)
    _place(graph, numbers, [(group, groups[group]) for group in sorted(groups) if not group[0]], shown, ids, focus)
    for source, destination, label, name, tooltip in edges:
        colour, style = _STYLE[name]
        graph.edge(ids[source], ids[destination], xlabel=_text(label), color=colour, fontcolor=colour, style=style,
                   tooltip=_text(tooltip), labeltooltip=_text(tooltip))
    return graph, {node: name for name, node in ids.items()}


def _place(parent, numbers, groups, shown, ids, focus):
    for (_tenant, kind, label), members in groups:
        if kind == 2:
            _nodes(parent, members, shown, ids)
            continue
        with parent.subgraph(name="cluster_%d" % next(numbers)) as sub:
            sub.attr(label=_text(label), tooltip=_text("namespace " + label if kind == 0 else "external endpoints"),
                     **(_FOCUS if kind == 0 and label == focus else _CLUSTER))
            _nodes(sub, members, shown, ids)


def _nodes(parent, members, shown, ids):
    for name in members:
        info = shown[name]
        extra = dict(_PCI) if info["pci"] else {}
        if info.get("url"):
            extra["URL"] = _text(info["url"])
        parent.node(ids[name], label=_text(*info["lines"]), tooltip=_text(info["tooltip"]), **extra)


def _text(*lines):
    """A Graphviz escString showing ``lines`` literally: ``&`` is ``&amp;`` (Graphviz reads entities), a backslash becomes
    U+2216 (dot 2.43 expands escapes in tooltips twice, so no escaping keeps one; Kubernetes names hold none), ``<...>``
    is no HTML label, and DOT quoting is the package's."""
    return graphviz.nohtml("\\n".join(line.replace("&", "&amp;").replace("\\", "\u2216") for line in lines))


def render(graphs):
    """``(svg, None)`` or, where dot fails, ``(None, reason)`` per ``(graph, names)`` (node id -> name): one ``dot`` process each (several graphs in one
    dot 2.43 process lay out differently from run to run), up to one per core at a time. Raises ``graphviz.ExecutableNotFound``."""
    with ThreadPoolExecutor(max_workers=min(len(graphs), os.cpu_count() or 1)) as pool:
        return list(pool.map(_drawn, graphs))


def _drawn(drawing):
    try:
        return _svg(*drawing), None
    except (graphviz.CalledProcessError, OSError, ValueError) as error:
        reason = getattr(error, "stderr", None) or error
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return None, reason.strip()[:500]


def _titled(names):
    """A ``re.sub`` function for Graphviz's ``<title>`` elements: a node's full flow-table name (``ns/app``, what a reader
    or a test searches for), an edge's ``source -> destination``; the graph's and clusters' (``%3``, ``cluster_1``) go."""
    def title(match):
        text = match[1]
        edge = _EDGE_TITLE.match(text)
        if edge and edge[1] in names and edge[2] in names:
            text = "%s -> %s" % (names[edge[1]], names[edge[2]])
        elif text in names:
            text = names[text]
        else:
            return ""
        return "<title>%s</title>\n" % html.escape(text, quote=False)
    return title


def _svg(graph, names):
    """One graph as inline SVG: no prolog, DOCTYPE, comments, ids or namespace declarations; titles name the nodes (``names``:
    node id -> name); ``#`` links only."""
    text = graphviz.pipe("dot", "svg", graph.source.encode("utf-8"), quiet=True).decode("utf-8")
    found = re.search(r"<svg\b.*?</svg>", text, flags=re.S)
    if not found:
        raise ValueError("dot wrote no SVG")
    head, _end, body = found[0].partition(">")
    body = _FORBIDDEN.sub(lambda m: html.escape(m[0][:-1]) + "&#%d;" % ord(m[0][-1]), _TITLE.sub(_titled(names), _STRIP.sub("", body)))
    svg = '%s font-family="%s">%s' % (_NAMESPACES.sub("", head), _FONT, body)
    bad = [href for href in _HREF.findall(svg) if not href.startswith("#")]
    if bad:
        raise ValueError("a link that is no fragment: %s" % bad[0])
    return svg


def legend():
    """The colours of the edges and the PCI mark, as HTML with inline CSS."""
    items = ['<span style="display:inline-block;width:2.2em;vertical-align:middle;border-top:3px %s %s"></span> <b>%s</b>: %s'
             % (style, colour, name, html.escape(meaning)) for name, colour, style, meaning in CATEGORIES]
    items.append('<span style="display:inline-block;padding:0 .4em;border:3px double %s;background:#fff8c5">PCI</span> '
                 "a workload of a PCI tenant labelled pci=true (in the summary: a namespace holding some)" % PCI_COLOUR)
    return '<ul style="list-style:none;padding:0;margin:.5em 0;font-size:.9em">%s</ul>\n' % "".join("<li>%s</li>" % item for item in items)
