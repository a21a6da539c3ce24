"""report.html (CONTRACT §8) as a person sees it: rendered by headless Chromium, driven by Selenium.

The lab's site.yml runs identify, analyze and deploy with a Hubble log holding one undeclared flow (as
test_evidence_report.py does); the page, opened from its file:// path, must show one flow-table row per flow of
report.json with its verdicts, render its scope and policy tables, draw the service graph as inline SVG naming every
workload of the flows, and fetch nothing. A full-page screenshot lands beside it as report.png.

Needs Debian's chromium and chromium-driver (``apt-get install chromium chromium-driver``, as .ci/run does) and the
selenium package (requirements-dev.txt); without them the test skips and says what is missing.
"""
import importlib.util
import json
import os
import shutil

import pytest

from conftest import run_playbook
from test_evidence_report import add_new_traffic, reports

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGE_LOAD_TIMEOUT = 60   # seconds: a page that does not load fails the test, it never hangs it
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")

# The flow table's cells, and the scope and policy tables, as the page lays them out (what a reader sees).
_TABLES = """
const after = (heading) => {
  const h2 = [...document.querySelectorAll('h2')].find((h) => h.textContent.trim() === heading);
  const found = [];
  for (let node = h2 && h2.nextElementSibling; node && node.tagName !== 'H2'; node = node.nextElementSibling) {
    if (node.tagName === 'TABLE') found.push(node);
  }
  return found;
};
const size = (table) => { const box = table.getBoundingClientRect(); return [box.width, box.height]; };
const flows = after('Flows')[0];
return {
  flows: flows ? [...flows.tBodies[0].rows].map((row) => [...row.cells].map((cell) => {
    const span = cell.querySelector('span');
    return {text: cell.innerText.trim(), cls: span ? span.className : ''};
  })) : null,
  scope: after('Scope').map(size),
  policies: after('Policies').map(size),
};
"""

# Every svg of the page: its box and its nodes' names (the <title> of each <g class="node">, what a browser shows on hover).
_SVGS = """
return [...document.querySelectorAll('svg')].map((svg) => {
  const box = svg.getBoundingClientRect();
  const style = getComputedStyle(svg);
  return {
    width: box.width, height: box.height, shown: style.display !== 'none' && style.visibility !== 'hidden',
    nodes: [...svg.querySelectorAll('g.node > title')].map((t) => t.textContent.trim()),
  };
});
"""


def _missing():
    """What this test needs that the machine lacks, with how CI installs it; empty when nothing is missing."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s (Debian package chromium)" % CHROMIUM)
    if not os.access(CHROMEDRIVER, os.X_OK):
        missing.append("%s (Debian package chromium-driver)" % CHROMEDRIVER)
    if importlib.util.find_spec("selenium") is None:
        missing.append("the Python package selenium (requirements-dev.txt: selenium==4.50.0)")
    if shutil.which("dot") is None:   # the page has no service graph without it (it says so), so the graph checks could not pass
        missing.append("Graphviz's dot (Debian package graphviz)")
    if importlib.util.find_spec("graphviz") is None:
        missing.append("the Python package graphviz (requirements-dev.txt: graphviz==0.21)")
    return missing


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium on this machine's own binaries (Selenium Manager never runs, nothing is downloaded); quit after the test."""
    missing = _missing()
    if missing:
        reason = ("report.html browser test skipped: missing %s. CI (.ci/run) installs them with `apt-get install chromium chromium-driver graphviz` "
                  "and `pip install -r requirements-dev.txt` (make test does the latter)." % "; ".join(missing))
        print(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=%s" % (tmp_path / "chromium-profile"))
    options.add_argument("--window-size=1280,1024")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
        driver.set_script_timeout(PAGE_LOAD_TIMEOUT)
        yield driver
    finally:
        driver.quit()


def workload_services(report):
    """The flow endpoints of ``report`` that are workloads: ``namespace/name`` where the namespace is in scope and one of its
    workloads carries that identity label value (or has that name)."""
    identity = {app["namespace"]: app["identity_label"] for app in report.get("apps") or ()}
    names = set()
    for namespace, info in report["namespaces"].items():
        for workload in info["workloads"]:
            names.add("%s/%s" % (namespace, workload["name"]))
            value = (workload.get("labels") or {}).get(identity.get(namespace, "app"))
            if value is not None:
                names.add("%s/%s" % (namespace, value))
    endpoints = {flow[side] for flow in report["flows"] for side in ("source", "destination")}
    return sorted(endpoints & names)


def _yes_no(value):
    return "yes" if value else "no"


def test_report_renders_in_a_browser(lab, browser):
    add_new_traffic(lab)
    run = run_playbook(lab, "--tags", "identify,analyze,deploy")
    assert run.rc == 0, run.out
    with open(os.path.join(reports(lab), "report.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    page = os.path.join(reports(lab), "report.html")
    flows = report["flows"]
    workloads = workload_services(report)
    assert flows and workloads, report

    browser.get("file://" + page)
    assert browser.execute_script("return document.readyState") == "complete"

    # the flow table: one row per flow of report.json, in its order, each cell what the flow says
    tables = browser.execute_script(_TABLES)
    rows = tables["flows"]
    assert rows is not None, "no table after the Flows heading"
    assert len(rows) == len(flows), (len(rows), len(flows))
    for row, flow in zip(rows, flows):
        expected = [flow["source"], flow["destination"], flow["port"], _yes_no(flow["declared"]), _yes_no(flow["observed"]),
                    flow["now"], flow["at_enforce"]]
        assert [cell["text"] for cell in row] == expected, (row, flow)
        for cell, verdict in ((row[5], flow["now"]), (row[6], flow["at_enforce"])):
            assert cell["cls"].split() == ["v", "allow" if verdict == "allow" else "deny"], (cell, flow)
    assert any(row[6]["text"] == "deny" for row in rows), "the undeclared flow shows denied at enforce"

    # the scope and policy tables are laid out, not collapsed
    assert tables["scope"] and all(w > 0 and h > 0 for w, h in tables["scope"]), tables["scope"]
    assert tables["policies"] and all(w > 0 and h > 0 for w, h in tables["policies"]), tables["policies"]

    # the page fetched nothing: no stylesheet, font, image or frame (the page has no script; this one runs from the test)
    resources = browser.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    assert resources == [], resources

    # the screenshot first, so that it exists to look at even when the graph assertions below fail
    width, height = browser.execute_script(
        "const d = document.documentElement, b = document.body;"
        "return [Math.max(d.scrollWidth, b.scrollWidth), Math.max(d.scrollHeight, b.scrollHeight)];")
    browser.set_window_size(width, height)
    # the window's own frame takes some of that: grow it by what the viewport lacks, so that the screenshot holds the whole page
    inner_width, inner_height = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    browser.set_window_size(2 * width - inner_width, 2 * height - inner_height)
    screenshot = os.path.join(os.path.dirname(page), "report.png")
    assert browser.save_screenshot(screenshot)
    print("report.html screenshot (%dx%d page): %s" % (width, height, screenshot))
    assert os.path.getsize(screenshot) > 10 * 1024, os.path.getsize(screenshot)
    with open(screenshot, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"

    # the service graph: at least one inline svg drawn with a size, all of them together naming every workload of the flows
    svgs = browser.execute_script(_SVGS)
    drawn = [svg for svg in svgs if svg["shown"] and svg["width"] > 0 and svg["height"] > 0]
    assert drawn, "no svg displayed with a non-zero size (%d svg element(s))" % len(svgs)
    named = {name for svg in svgs for name in svg["nodes"]}
    unnamed = sorted(set(workloads) - named)
    assert not unnamed, "the service graph has no node named %s" % unnamed
