"""The fleet summary: statuses, one line per cluster, and the page that links each cluster's evidence report."""
import json
import os

from ansible_collections.zerotrust.microseg.plugins.module_utils.fleet import cluster_status, lines, render_html, report_links, summarise, write_summary


def test_status_of_a_run():
    assert cluster_status(None) == "untouched"
    assert cluster_status({"failed": True, "status": "changed"}) == "rolled_back"
    assert cluster_status({"status": "unchanged"}) == "unchanged"


def test_links_are_relative_to_the_fleet_page_and_fall_back_to_an_earlier_report(tmp_path):
    reports = tmp_path / "reports"
    for host in ("c1", "c3"):
        os.makedirs(reports / host)
        (reports / host / "report.html").write_text("<html></html>", encoding="utf-8")
    clusters = [("c1", "changed", "deploy: 3 created", str(reports / "c1" / "report.html")),
                ("c2", "untouched", "not run", None),                    # never ran, no earlier page
                ("c3", "untouched", "not run", None),                    # an earlier rollout's page
                ("c4 & <b>", "rolled_back", "deploy failed", str(tmp_path / "elsewhere" / "c4 & <b>" / "report.html"))]
    summary = summarise(report_links(str(reports), clusters), "")
    assert [entry["report"] for entry in summary["clusters"]] == ["c1/report.html", None, "c3/report.html", "../elsewhere/c4 & <b>/report.html"]
    assert summary["counts"] == {"changed": 1, "unchanged": 0, "rolled_back": 1, "untouched": 2}
    page = render_html(summary)
    assert page.count("<a href=") == 3 and 'href="c1/report.html"' in page and 'href="../elsewhere/c4%20%26%20%3Cb%3E/report.html"' in page
    assert "<b>" not in page and "<script" not in page
    assert lines(summary)[-1] == "fleet: 1 changed, 1 rolled_back, 2 untouched"
    changed, paths = write_summary(str(reports), summary)
    assert changed and json.loads(open(paths[0], encoding="utf-8").read())["clusters"][0]["report"] == "c1/report.html"
    assert write_summary(str(reports), summary) == (False, paths)


def test_a_summary_without_pages_still_renders():
    summary = summarise([("c1", "unchanged", "", None)], "")
    assert summary["clusters"] == [{"host": "c1", "status": "unchanged", "detail": "", "report": None}]
    assert "<a " not in render_html(summary)
