"""The service graph of the evidence report: nodes, edge colours per category, PCI, legend, scale, self-containment, no Graphviz."""
import html
import re
import shutil

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import evidence, service_graph

FORBIDDEN = ("http://", "https://", "<script", "src=", "url(", "<link", "<img", "<?xml", "<!DOCTYPE", "<!--", "xmlns")


def flow(source, destination, port, declared, observed, now, at_enforce):
    return {"source": source, "destination": destination, "port": port, "declared": declared, "observed": observed, "now": now,
            "at_enforce": at_enforce}


def small():
    """Two namespaces (shop of the PCI tenant t, blog of none), one flow of each category, selector and external endpoints."""
    workloads = [{"kind": "Deployment", "name": "web", "labels": {"app": "web", "pci": "true"}},
                 {"kind": "Deployment", "name": "db-v2", "labels": {"app": "db", "pci": "true"}},
                 {"kind": "Pod", "name": "cache", "labels": {"app": "cache"}},
                 {"kind": "Pod", "name": "batch", "labels": {"role": "batch"}},
                 {"kind": "Pod", "name": "lonely", "labels": {}}]
    return {
        "phase": "deploy", "failed": None, "gate": None, "policies": [],
        "apps": [{"name": "shop", "namespace": "shop", "identity_label": "app", "tier": "appsec", "identities": ["db", "web"]}],
        "tenants": [{"name": "t", "namespaces": ["shop"], "pci": True}],
        "namespaces": {"shop": {"exists": True, "tier": "appsec", "tenant": "t", "pci": True, "workloads": workloads},
                       "blog": {"exists": True, "tier": "application", "tenant": None, "pci": False,
                                "workloads": [{"kind": "Pod", "name": "blog", "labels": {"app": "blog"}}]}},
        "flows": [flow("shop/web", "shop/db", "5432/TCP", True, True, "allow", "allow"),
                  flow("blog/blog", "shop/web", "8080/TCP", True, False, "allow", "deny"),
                  flow("shop/web", "shop/cache", "6379/TCP", False, True, "allow", "deny"),
                  flow("shop/role=batch", "domain:api.stripe.com", "443/TCP", False, True, "allow", "allow"),
                  flow("shop/*", "net:10.0.0.0/8", "53/UDP", False, True, "deny", "deny")],
        "pci": {"workloads": ["shop/db-v2", "shop/web"]},
        "reconciliation": {"confirmed": [], "unobserved": [], "undeclared": []},
    }


EXPECTED = {("shop/web", "shop/db"): "allowed", ("blog/blog", "shop/web"): "enforce-denied", ("shop/web", "shop/cache"): "undeclared",
            ("shop/role=batch", "domain:api.stripe.com"): "widened", ("shop/*", "net:10.0.0.0/8"): "denied"}
NODES = ["blog/blog", "domain:api.stripe.com", "net:10.0.0.0/8", "shop/*", "shop/cache", "shop/db", "shop/lonely", "shop/role=batch",
         "shop/web"]


def large(namespaces=50, per_namespace=10, tenants=10):
    """500 workloads: each calls the next one of its namespace and, every third, one of the next namespace; every category."""
    names = ["ns%02d" % index for index in range(namespaces)]
    shapes = [(True, "allow", "allow"), (False, "allow", "allow"), (False, "allow", "deny"), (True, "allow", "deny"), (True, "deny", "deny")]
    doc = {"apps": [], "tenants": [{"name": "tenant%d" % t, "namespaces": names[t::tenants], "pci": t % 3 == 0} for t in range(tenants)],
           "namespaces": {}, "flows": [], "pci": {"workloads": []}}
    for index, namespace in enumerate(names):
        tenant = doc["tenants"][index % tenants]
        doc["namespaces"][namespace] = {"tier": "application", "tenant": tenant["name"], "pci": tenant["pci"], "workloads": [
            {"kind": "Deployment", "name": "svc%d" % w, "labels": {"app": "svc%d" % w}} for w in range(per_namespace)]}
        for w in range(per_namespace):
            declared, now, at_enforce = shapes[(index + w) % len(shapes)]
            doc["flows"].append(flow("%s/svc%d" % (namespace, w), "%s/svc%d" % (namespace, (w + 1) % per_namespace), "80/TCP", declared, True,
                                     now, at_enforce))
            if w % 3 == 0:
                doc["flows"].append(flow("%s/svc%d" % (namespace, w), "%s/svc%d" % (names[(index + 1) % namespaces], w), "443/TCP", True, True,
                                         "allow", "allow"))
        if tenant["pci"]:
            doc["pci"]["workloads"].append("%s/svc0" % namespace)
    doc["flows"].append(flow("ns00/svc0", "domain:example.com", "443/TCP", False, True, "allow", "allow"))
    return doc


def needs_dot():
    """Skip, saying why, where Graphviz is missing (CI installs the Debian package graphviz; requirements-dev.txt the binding)."""
    missing = [what for what, lacking in (("the dot executable (Debian package graphviz)", shutil.which("dot") is None),
                                          ("the Python package graphviz", service_graph.graphviz is None)) if lacking]
    if missing:
        reason = "service graph not drawn here: missing %s" % " and ".join(missing)
        print(reason)
        pytest.skip(reason)


def svg_text(section):
    """What the SVG of ``section`` says, its markup and Graphviz's character references (``&#45;``) undone."""
    return html.unescape(section)


def edges(section):
    """``{(source, destination): (category, colour, dashed)}`` from the edges' tooltips and their paths."""
    found = {}
    for match in re.finditer(r'<g class="edge">\n<title>[^<]*</title>\n<g><a xlink:title="([^"]*)">\n<path ([^>]*)>', section):
        title, attributes = html.unescape(match[1]), match[2]
        ends, _port, category = re.fullmatch(r"(.+) (\S+): (\S+)", title).groups()
        source, destination = ends.split(" -> ")
        found[(source, destination)] = (category, re.search(r'stroke="([^"]*)"', attributes)[1], "stroke-dasharray" in attributes)
    return found


def test_categories_follow_declared_now_and_at_enforce():
    assert {key: service_graph.category(f) for f in small()["flows"] for key in [(f["source"], f["destination"])]} == EXPECTED
    assert service_graph.category(flow("a/x", "a/y", "1/TCP", True, True, "deny", "allow")) == "denied"


def test_services_name_workloads_as_the_flows_do():
    nodes = service_graph.services(small())
    assert sorted(nodes) == NODES
    assert nodes["shop/db"]["workloads"] == ["Deployment db-v2"] and nodes["shop/db"]["pci"]     # its identity value, as the flows name it
    assert nodes["shop/role=batch"]["workloads"] == ["Pod batch"]                               # the selector endpoint its labels match
    assert nodes["shop/lonely"]["workloads"] == ["Pod lonely"] and not nodes["shop/lonely"]["pci"]   # no flow names it: its name
    assert nodes["domain:api.stripe.com"]["namespace"] is None and nodes["shop/*"]["workloads"] == []
    assert [name for name, info in sorted(nodes.items()) if info["pci"]] == ["shop/db", "shop/web"]


def test_a_small_document_is_one_graph_naming_every_node_with_edges_coloured_by_category():
    needs_dot()
    section = service_graph.graph_section(small())
    assert section.count("<svg") == 1 and section.startswith('<h2 id="graph">Service graph</h2>')
    text = svg_text(section)
    for name in NODES:
        assert name in text, name
    colours = {name: (colour, style == "dashed") for name, colour, style, _meaning in service_graph.CATEGORIES}
    drawn = edges(section)
    assert {key: value[0] for key, value in drawn.items()} == EXPECTED
    for key, (category, colour, dashed) in drawn.items():
        assert (colour, dashed) == colours[category], (key, category)
    assert colours["denied"][0] == "#cf222e" and colours["allowed"][0] == "#1a7f37"
    # PCI: the workloads of shop/web and shop/db carry the PCI border and a PCI line, nothing else does
    nodes = re.findall(r'<g class="node">\n<title>[^<]*</title>\n<g><a xlink:title="([^"]*)">(.*?)</a>', section, flags=re.S)
    pci = sorted(html.unescape(title).split(":")[0] for title, body in nodes if service_graph.PCI_COLOUR in body and ">PCI</text>" in body)
    assert pci == ["shop/db", "shop/web"] and len(nodes) == len(NODES)
    assert "tenant t (PCI)" in text and "Deployment db-v2" in text
    # each node's and edge's <title> (what a browser shows and a reader searches for) is its full name, not dot's id
    titles = [html.unescape(title) for title in re.findall(r"<title>([^<]*)</title>", section)]
    assert sorted(title for title in titles if " -> " not in title) == sorted(NODES)
    assert sorted(tuple(title.split(" -> ")) for title in titles if " -> " in title) == sorted(EXPECTED)


def test_the_legend_explains_every_colour_and_the_pci_mark():
    legend = service_graph.legend()
    for name, colour, style, _meaning in service_graph.CATEGORIES:
        assert "%s %s" % (style, colour) in legend and "<b>%s</b>" % name in legend
    assert service_graph.PCI_COLOUR in legend and ">PCI</span>" in legend


def test_the_section_is_deterministic_and_self_contained_with_hostile_names():
    needs_dot()
    doc = small()
    doc["namespaces"]["shop"]["workloads"].append({"kind": "Pod", "name": 'we"ird\\N<b>&amp;', "labels": {"src": "x"}})
    doc["flows"].append(flow("shop/src=x", "domain:url(x).example", "1/TCP", False, True, "allow", "allow"))
    first, second = service_graph.graph_section(doc), service_graph.graph_section(doc)
    assert first == second
    for forbidden in FORBIDDEN:
        assert forbidden not in first, forbidden
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', first))
    text = svg_text(first)
    assert 'Pod we"ird\u2216N<b>&amp;' in text and "src=x" in text      # literal, escaped in the markup (backslash: see _text)
    page = evidence.render_html(doc, "c1")
    assert first in page and page.index(first) < page.index("<h2>Flows</h2>")


def test_500_workloads_give_a_summary_of_namespaces_and_one_graph_per_namespace():
    needs_dot()
    doc = large()
    section = service_graph.graph_section(doc)
    assert section.count("<svg") == 1 + 50
    text = svg_text(section)
    for namespace, info in doc["namespaces"].items():
        assert '<h3 id="graph-ns-%s">' % namespace in section and 'href="#graph-ns-%s"' % namespace in section
        for workload in info["workloads"]:
            assert "%s/%s" % (namespace, workload["name"]) in text
    assert "domain:example.com" in text
    summary = section[section.index('<h3 id="graph-namespaces">'):section.index('<h3 id="graph-ns-ns00">')]
    assert "ns00 -> ns01: 4 flow(s) (4 allowed)" in svg_text(summary)
    assert "ns03 -> ns03: 10 flow(s) (2 denied, 2 enforce-denied, 2 undeclared, 2 widened, 2 allowed)" in svg_text(summary)
    for forbidden in FORBIDDEN:
        assert forbidden not in section, forbidden
    assert all(href.startswith("#graph-ns-") for href in re.findall(r'href="([^"]*)"', section))


def test_without_the_graphviz_package_the_section_says_what_it_needs(monkeypatch):
    monkeypatch.setattr(service_graph, "graphviz", None)
    assert service_graph.graph_section(small()) == service_graph.NEEDS_GRAPHVIZ
    assert "Debian package <code>graphviz</code>" in service_graph.NEEDS_GRAPHVIZ and "PyPI" in service_graph.NEEDS_GRAPHVIZ
    page = evidence.render_html(small(), "c1")
    assert service_graph.NEEDS_GRAPHVIZ in page and "<h2>Flows</h2>" in page and "<svg" not in page


def test_without_dot_the_section_says_what_it_needs(monkeypatch):
    if service_graph.graphviz is None:
        pytest.skip("the Python package graphviz is not installed: the no-package test covers this machine")
    monkeypatch.setenv("PATH", "")
    assert service_graph.graph_section(small()) == service_graph.NEEDS_GRAPHVIZ


def test_a_failing_dot_gives_a_paragraph_with_its_reason_in_place_of_its_graph(monkeypatch):
    if service_graph.graphviz is None:
        pytest.skip("the Python package graphviz is not installed: the no-package test covers this machine")

    def failing(*_args, **_kwargs):
        raise service_graph.graphviz.CalledProcessError(1, ["dot", "-Tsvg"], output=b"", stderr=b"Error: trouble in <init_rank>\n")

    monkeypatch.setattr(service_graph.graphviz, "pipe", failing)
    section = service_graph.graph_section(small())
    assert section.endswith("<p>This graph could not be drawn: Graphviz failed: <code>Error: trouble in &lt;init_rank&gt;</code></p>\n")
    assert "<svg" not in section and service_graph.legend() in section
