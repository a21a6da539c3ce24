"""policy_remediate module: argument handling, the staged preview, check mode, warnings for skipped lines, errors."""
import json
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan
from ansible_collections.zerotrust.microseg.plugins.modules import policy_remediate

APPS = [{"name": "shop", "flows": [{"source": "web", "destination": "db", "port": 5432}]}]
NEW = {"source": "shop/web", "destination": "shop/cache", "port": 6379}


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(policy_remediate, **args)


@pytest.fixture
def base(tmp_path):
    intent = load_intent({"microseg_apps": APPS}, str(tmp_path))
    plan = make_plan(intent, "enforce")
    apply_objects(DirectoryTarget(str(tmp_path / "cluster")), plan.objects, scope=plan.scope)
    return tmp_path


def args(base, **more):
    return dict(dict(apps=APPS, observed_flows=[NEW], base_dir=str(base), report_dir="reports", host="c", target="directory",
                     directory=str(base / "cluster"), remediated_flows="flows/remediated-c.md"), **more)


def test_the_preview_stages_the_fix_and_reports_it(run, base):
    result = run(**args(base))
    assert result["changed"] and result["staged"] == ["projectcalico.org/StagedNetworkPolicy/shop/cache.yaml",
                                                      "projectcalico.org/StagedNetworkPolicy/shop/web.yaml"]
    with open(os.path.join(str(base), "reports", "c", "remediation.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    assert report == result["report"]
    assert report["denied"] == [dict(NEW, port="6379/TCP", tier="default", policy="namespace-shop-catch-all")]
    assert report["proposals"] == [dict(NEW, port="6379/TCP", tier="appsec", policy="shop/cache")]
    assert report["skipped"] == [] and report["skipped_total"] == 0
    assert "1 observed flow(s) denied by the live policies, 1 proposed; 2 staged proposal(s)" in result["summary"]
    assert not run(**args(base))["changed"]


def test_check_mode_returns_the_diff_and_writes_nothing(run, base):
    before = sorted(os.walk(str(base)))
    result = run(**args(base, apply=True, _ansible_check_mode=True, _ansible_diff=True))
    assert result["changed"] and sorted(os.walk(str(base))) == before
    headers = [entry["after_header"] for entry in result["diff"]]
    assert os.path.join(str(base), "flows", "remediated-c.md") in headers and headers[-1].endswith("remediation.json")
    assert "projectcalico.org/NetworkPolicy/shop/cache.yaml" in headers


def test_a_bad_intent_fails_naming_the_variable(run, base):
    result = run(**args(base, apps=[{"name": "shop", "tier": "nowhere"}]))
    assert result["failed"] and "microseg_apps[0].tier" in result["msg"]
