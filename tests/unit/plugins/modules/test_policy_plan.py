"""policy_plan module: main() with module arguments, check mode, warnings and failures."""
import json
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS
from ansible_collections.zerotrust.microseg.plugins.modules import policy_plan

LAB = os.path.join(os.path.dirname(__file__), "..", "..", "data", "lab")
APPS = [{"name": "hipstershop", "tenant": "shop",
         "flows": [{"source": "frontend", "destination": "cartservice", "port": 7070},
                   {"source": "frontend", "destination": "domain:api.example.com", "port": 443}]},
        {"name": "yaobank", "tier": "application", "flows": "flows/yaobank.md"}]
TENANTS = [{"name": "shop", "namespaces": ["hipstershop"], "pci": True}]
WIDENED = ("hipstershop/frontend -> domain:api.example.com on 443/TCP: the oss edition cannot match domain names; "
           "allowed to any address outside 10.244.0.0/16, 10.96.0.0/12 on that port")


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(policy_plan, **args)


def warnings(result):
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def expected_plan(phase="deploy", tiers=None, **variables):
    intent = load_intent(dict({"microseg_apps": APPS, "microseg_tenants": TENANTS}, **variables), LAB)
    return make_plan(intent, phase, tiers)


@pytest.mark.parametrize("phase", ["deploy", "enforce"])
@pytest.mark.parametrize("check_mode", [False, True])
def test_plan_returns_the_rendered_set(run, phase, check_mode):
    result = run(apps=APPS, tenants=TENANTS, base_dir=LAB, phase=phase, _ansible_check_mode=check_mode)
    expected = expected_plan(phase)
    assert result["changed"] is False
    assert result["objects"] == expected.objects
    assert result["tiers"] == ["security", "platform", "application", "appsec", "default"]
    assert result["limitations"] == expected.warnings
    assert WIDENED in result["limitations"]
    assert warnings(result) == result["limitations"]
    assert {"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"} in result["flows"]
    assert {"source": "yaobank/customer", "destination": "yaobank/summary", "port": "80/TCP"} in result["flows"]


def test_diff_mode_changes_nothing(run):
    result = run(apps=APPS, tenants=TENANTS, base_dir=LAB, _ansible_diff=True, _ansible_check_mode=True)
    assert result["changed"] is False and "diff" not in result


@pytest.mark.parametrize("tiers", [["platform"], ["appsec", "default"]])
def test_tier_selection(run, tiers):
    result = run(apps=APPS, tenants=TENANTS, base_dir=LAB, phase="enforce", tiers=tiers)
    assert result["tiers"] == [t for t in ("security", "platform", "application", "appsec", "default") if t in tiers]
    assert result["objects"] == expected_plan("enforce", tiers).objects
    assert {o["metadata"]["labels"]["zerotrust.microseg/tier"] for o in result["objects"]} == set(tiers)


@pytest.mark.parametrize("args, check", [
    ({"calico_version": "3.31"}, lambda objects: all(o["metadata"]["name"].startswith(o["spec"]["tier"] + ".")
                                                     for o in objects if o["kind"].endswith("NetworkPolicy"))),
    ({"calico_edition": "enterprise"}, lambda objects: "domain-api.example.com" in [o["metadata"]["name"] for o in objects]),
    ({"dialect": "kubernetes"}, lambda objects: {o["apiVersion"] for o in objects} == {"networking.k8s.io/v1"}),
    ({"threat_nets": ["203.0.113.0/24"]}, lambda objects: "threat-nets-deny" in [o["metadata"]["name"] for o in objects]),
    ({"trusted_domains": ["tigera.io"]}, lambda objects: "trusted-domains" in [o["metadata"]["name"] for o in objects]),
    ({"dns": {"namespace": "dns", "port": 5353}, "cluster_cidrs": ["10.0.0.0/8"]},
     lambda objects: '"ports": [5353]' in json.dumps(objects) and '"notNets": ["10.0.0.0/8"]' in json.dumps(objects)),
])
def test_intent_options_reach_the_renderer(run, args, check):
    result = run(apps=APPS, tenants=TENANTS, base_dir=LAB, **args)
    assert "failed" not in result, result.get("msg")
    assert check(result["objects"])


def test_enterprise_has_no_widening_warning(run):
    result = run(apps=APPS, tenants=TENANTS, base_dir=LAB, calico_edition="enterprise")
    assert result["limitations"] == [] and warnings(result) == []


@pytest.mark.parametrize("args, message", [
    ({"apps": [{"name": "a", "tier": "x"}]}, "inventory: microseg_apps[0].tier: must be one of application, appsec, got 'x'"),
    ({"apps": [{"name": "a", "tenant": "nobody"}]}, "inventory: microseg_apps[0].tenant: tenant 'nobody' is not declared in microseg_tenants"),
    ({"apps": [{"name": "a", "flows": [{"source": "x", "destination": "y", "port": "70x0"}]}]},
     "microseg_apps[a].flows:1: port: '70x0' is not a port or range (expected e.g. 7070, 53/UDP or 8000-8080/TCP)"),
    ({"apps": [{"name": "a", "flows": "flows/missing.md"}]}, "flows/missing.md: cannot read flow table: No such file or directory"),
    ({"apps": APPS, "tiers": ["bogus"]}, "tiers: unknown tier(s) bogus; tiers are security, platform, application, appsec, default"),
    ({"apps": APPS, "threat_nets": ["203.0.113.1/24"]},
     "inventory: microseg_threat_nets[0]: '203.0.113.1/24' is not a CIDR: 203.0.113.1/24 has host bits set"),
    ({"apps": APPS, "calico_version": "three"}, "inventory: microseg_calico_version: 'three' is not a version like \"3.32\""),
    ({"apps": APPS, "dialect": "kubernetes", "dns": {"selector": "has(k8s-app)"}},
     "inventory: microseg_dns.selector: 'has(k8s-app)' cannot be written as Kubernetes matchLabels: use only k == 'v' terms joined by &&"),
])
def test_invalid_input_fails_naming_the_field(run, args, message):
    result = run(base_dir=LAB, tenants=TENANTS, **args)
    assert result["failed"] is True
    assert result["msg"] == message
    assert "objects" not in result


@pytest.mark.parametrize("args, fragment", [
    ({"phase": "remediate"}, "value of phase must be one of: deploy, enforce, got: remediate"),
    ({"dialect": "cilium"}, "value of dialect must be one of: %s, got: cilium" % ", ".join(DIALECTS)),
    ({"bogus": 1}, "Unsupported parameters"),
])
def test_argument_spec_is_enforced(run, args, fragment):
    result = run(apps=APPS, tenants=TENANTS, base_dir=LAB, **args)
    assert result["failed"] is True and fragment in result["msg"]
