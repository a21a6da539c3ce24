"""Tier synthesis: phases, tier selection, flow collection, duplicate names, determinism and golden lab output.

Golden files: ``tests/unit/data/golden/lab-<dialect>-<phase>.yaml`` hold the rendered lab
(``tests/unit/data/lab``, a copy of ``inventories/lab``'s group_vars and flow tables). After an
intended change of the rendered output, regenerate them and review the diff before committing::

    MICROSEG_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/plugins/module_utils/test_plan.py -k golden
"""
import os

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import Endpoint, Flow
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import TIERS, load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import MANAGED_BY, POSTURE_LABEL, TIER_LABEL, dump
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import Plan, declared_flows, make_plan, observed_flows, selected_tiers
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import base_labels

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data")
LAB = os.path.join(DATA, "lab")
GOLDEN = os.path.join(DATA, "golden")
REGENERATE = os.environ.get("MICROSEG_REGENERATE_GOLDEN") == "1"


def flow(source, destination, port):
    return {"source": source, "destination": destination, "port": port}


def workload(namespace, value, key="app"):
    return Endpoint("workload", namespace=namespace, key=key, value=value)


SMALL = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True}],
    "microseg_apps": [{"name": "hipstershop", "tenant": "shop", "flows": [flow("frontend", "cartservice", 7070)]},
                      {"name": "yaobank", "tier": "application", "flows": [flow("customer", "summary", 80)]}],
    "microseg_threat_nets": ["203.0.113.0/24"],
    "microseg_trusted_domains": ["tigera.io"],
}


def tiers_of(objects):
    return sorted({o["metadata"]["labels"][TIER_LABEL] for o in objects})


# -- tier selection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tiers, expected", [
    (None, list(TIERS)),
    ([], list(TIERS)),
    (["platform"], ["platform"]),
    (["appsec", "security"], ["security", "appsec"]),
    (["default", "default"], ["default"]),
])
def test_selected_tiers(tiers, expected):
    assert selected_tiers(tiers) == expected


@pytest.mark.parametrize("tiers, message", [
    (["bogus"], "unknown tier(s) bogus; tiers are security, platform, application, appsec, default"),
    (["platform", "zz", "aa"], "unknown tier(s) aa, zz; tiers are security, platform, application, appsec, default"),
])
def test_unknown_tiers(tiers, message):
    with pytest.raises(InputError) as caught:
        selected_tiers(tiers)
    assert (caught.value.field, caught.value.message) == ("tiers", message)
    with pytest.raises(InputError):
        make_plan(load_intent(SMALL), "deploy", tiers)


@pytest.mark.parametrize("tiers", [["security"], ["platform"], ["application"], ["appsec"], ["default"], ["platform", "default"]])
def test_make_plan_renders_only_the_selected_tiers(tiers):
    everything = make_plan(load_intent(SMALL), "enforce")
    chosen = make_plan(load_intent(SMALL), "enforce", tiers)
    assert tiers_of(chosen.objects) == sorted(tiers)
    assert chosen.objects == [o for o in everything.objects if o["metadata"]["labels"][TIER_LABEL] in tiers]
    assert chosen.tiers == [t for t in TIERS if t in tiers]
    assert chosen.scope == [{TIER_LABEL: t} for t in chosen.tiers]


def test_platform_selection_holds_its_tier_dns_and_pass():
    objects = make_plan(load_intent(SMALL), "deploy", ["platform"]).objects
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Tier", "platform"), ("GlobalNetworkPolicy", "cluster-dns"), ("GlobalNetworkPolicy", "platform-default-pass")]


def test_all_tiers_by_default():
    result = make_plan(load_intent(SMALL), "deploy")
    assert result.tiers == list(TIERS)
    assert tiers_of(result.objects) == sorted(TIERS)


# -- phases -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phase", ["remediate", "", None, "Deploy"])
def test_unknown_phase(phase):
    with pytest.raises(InputError) as caught:
        make_plan(load_intent(SMALL), phase)
    assert caught.value.field == "phase"
    assert caught.value.message == "phase must be one of deploy, enforce, got %r" % (phase,)


@pytest.mark.parametrize("phase, posture", [("deploy", "failsafe"), ("enforce", "enforced")])
def test_phase_picks_the_posture(phase, posture):
    found = {o["metadata"]["labels"][POSTURE_LABEL] for o in make_plan(load_intent(SMALL), phase).objects
             if POSTURE_LABEL in o["metadata"]["labels"]}
    assert found == {posture}


@pytest.mark.parametrize("dialect, api_versions", [
    ("calico", {"projectcalico.org/v3"}),
    ("kubernetes", {"networking.k8s.io/v1", "policy.networking.k8s.io/v1alpha1"}),
])
def test_dialect_chooses_the_renderer(dialect, api_versions):
    objects = make_plan(load_intent(dict(SMALL, microseg_dialect=dialect)), "enforce").objects
    assert {o["apiVersion"] for o in objects} == api_versions


@pytest.mark.parametrize("tier, posture, expected", [
    ("platform", None, {MANAGED_BY[0]: MANAGED_BY[1], TIER_LABEL: "platform"}),
    ("default", "enforced", {MANAGED_BY[0]: MANAGED_BY[1], TIER_LABEL: "default", POSTURE_LABEL: "enforced"}),
])
def test_base_labels(tier, posture, expected):
    assert base_labels(tier, posture) == expected


def test_plan_defaults():
    assert Plan() == Plan(objects=[], warnings=[], flows=[], tiers=[])
    assert Plan(tiers=["a"]).scope == [{TIER_LABEL: "a"}]


# -- flows -----------------------------------------------------------------------------------------

def test_declared_flows_merge_apps_inline_and_files():
    intent = load_intent({"microseg_apps": [
        {"name": "hipstershop", "flows": "flows/hipstershop.md"},
        {"name": "bookinfo", "identity_label": "app.kubernetes.io/name",
         "flows": [flow("productpage", "details", 9080), flow("productpage", "details", "9080/TCP"),
                   flow("productpage", "hipstershop/frontend", 8080)]},
        {"name": "extra", "namespace": "hipstershop", "flows": [flow("frontend", "cartservice", 7070)]},
        {"name": "quiet"},
    ]}, base_dir=LAB)
    found = declared_flows(intent)
    assert found == sorted(found)
    assert len(found) == len(set(found)) == 17 + 2  # the lab table, plus two distinct bookinfo rows; duplicates merged
    assert Flow(workload("bookinfo", "productpage", "app.kubernetes.io/name"), workload("bookinfo", "details", "app.kubernetes.io/name"),
                "TCP", 9080, 9080) in found
    assert Flow(workload("bookinfo", "productpage", "app.kubernetes.io/name"), workload("hipstershop", "frontend"),
                "TCP", 8080, 8080) in found
    merged = [f for f in found if f.source == workload("hipstershop", "frontend") and f.destination == workload("hipstershop", "cartservice")]
    assert [f.origin for f in merged] == ["flows/hipstershop.md:11"]  # the first origin is kept


def test_declared_flows_use_each_namespace_identity_label():
    intent = load_intent({"microseg_apps": [
        {"name": "a", "identity_label": "run", "flows": [flow("x", "b/y", 80)]},
        {"name": "b", "identity_label": "app.kubernetes.io/name"}]})
    assert declared_flows(intent) == [Flow(workload("a", "x", "run"), workload("b", "y", "app.kubernetes.io/name"), "TCP", 80, 80)]


@pytest.mark.parametrize("app, message", [
    ({"name": "shop", "flows": [flow("a", "b", 80), flow("a", "b", "x")]},
     "microseg_apps[shop].flows:2: port: 'x' is not a port or range (expected e.g. 7070, 53/UDP or 8000-8080/TCP)"),
    ({"name": "shop", "flows": [flow("domain:x.io", "b", 80)]},
     "microseg_apps[shop].flows:1: source: 'domain:x.io' cannot be a source: domain names are destination only"),
    ({"name": "shop", "flows": "flows/missing.md"}, "flows/missing.md: cannot read flow table: No such file or directory"),
])
def test_declared_flow_errors_name_where(app, message):
    with pytest.raises(InputError) as caught:
        declared_flows(load_intent({"microseg_apps": [app]}, base_dir=LAB))
    assert str(caught.value) == message


def test_observed_flows_from_files_and_rows():
    intent = load_intent({"microseg_observed_flows": ["flows/observed.md", flow("yaobank/customer", "yaobank/summary", 80),
                                                      flow("a/b", "net:10.0.0.0/8", "53/UDP")]}, base_dir=LAB)
    found = observed_flows(intent)
    assert len(found) == 7  # six rows in the table (customer -> summary once), plus a/b -> net
    assert Flow(workload("a", "b"), Endpoint("net", net="10.0.0.0/8"), "UDP", 53, 53) in found


def test_observed_rows_have_no_home_namespace():
    intent = load_intent({"microseg_observed_flows": [flow("a/b", "a/c", 80), flow("a/b", "a/c", 81), flow("frontend", "a/c", 80)]})
    with pytest.raises(InputError) as caught:
        observed_flows(intent)
    assert str(caught.value) == ("microseg_observed_flows:3: source: 'frontend' has no namespace and this table has no home "
                                 "namespace: write 'namespace/frontend'")


def test_explicit_flows_replace_the_declared_ones():
    intent = load_intent(SMALL)
    only = [Flow(workload("hipstershop", "a"), workload("hipstershop", "b"), "TCP", 1, 1)]
    result = make_plan(intent, "enforce", flows=only)
    assert result.flows == only
    assert ("NetworkPolicy", "a") in {(o["kind"], o["metadata"]["name"]) for o in result.objects}
    assert ("NetworkPolicy", "frontend") not in {(o["kind"], o["metadata"]["name"]) for o in result.objects}


def test_plan_carries_the_declared_flows():
    intent = load_intent(SMALL)
    assert make_plan(intent, "deploy").flows == declared_flows(intent)


# -- duplicate object names ---------------------------------------------------------------------

@pytest.mark.parametrize("variables, kind, name", [
    ({"microseg_tenants": [{"name": "x", "namespaces": ["a"], "pci": True}, {"name": "x-pci", "namespaces": ["b"]}]},
     "GlobalNetworkPolicy", "tenant-x-pci"),
    ({"microseg_apps": [{"name": "a", "flows": [flow("a/one.io/name=x", "a/two.io/name=x", 80)]}]}, "NetworkPolicy", "name-x"),
    ({"microseg_apps": [{"name": "a", "flows": [flow("all-workloads", "*", 80)]}]}, "NetworkPolicy", "all-workloads"),
])
def test_duplicate_object_names_are_an_input_error(variables, kind, name):
    with pytest.raises(InputError) as caught:
        make_plan(load_intent(variables), "enforce")
    assert caught.value.field == "microseg_apps"
    assert caught.value.message == "two security domains render the same object %s %s; rename one of them" % (kind, name)


def test_duplicates_in_unselected_tiers_do_not_matter():
    variables = {"microseg_apps": [{"name": "a", "flows": [flow("a/one.io/name=x", "a/two.io/name=x", 80)]}]}
    assert make_plan(load_intent(variables), "enforce", ["platform"]).tiers == ["platform"]


def test_same_name_in_two_namespaces_is_not_a_duplicate():
    variables = {"microseg_apps": [{"name": "a", "flows": [flow("web", "db", 80)]}, {"name": "b", "flows": [flow("web", "db", 80)]}]}
    objects = make_plan(load_intent(variables), "enforce").objects
    assert sorted((o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects if o["kind"] == "NetworkPolicy") == [
        ("a", "db"), ("a", "web"), ("b", "db"), ("b", "web")]


# -- determinism ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", ["calico", "kubernetes"])
@pytest.mark.parametrize("phase", ["deploy", "enforce"])
def test_two_renders_are_equal(dialect, phase):
    variables = dict(lab_variables(), microseg_dialect=dialect)
    first = make_plan(load_intent(variables, LAB), phase)
    second = make_plan(load_intent(variables, LAB), phase)
    assert first == second
    assert [dump(o) for o in first.objects] == [dump(o) for o in second.objects]


# -- golden lab output ----------------------------------------------------------------------------

def lab_variables():
    with open(os.path.join(LAB, "group_vars", "lab.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def golden_text(dialect, phase):
    """The lab rendered as one YAML stream: a header document with the warnings, then every object in apply order."""
    variables = dict(lab_variables(), microseg_dialect=dialect)
    result = make_plan(load_intent(variables, LAB), phase)
    header = ("# make_plan(tests/unit/data/lab, dialect=%s, phase=%s)\n"
              "# Regenerate: MICROSEG_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/plugins/module_utils/test_plan.py -k golden\n"
              % (dialect, phase))
    documents = [yaml.safe_dump({"warnings": result.warnings}, default_flow_style=False, sort_keys=False)]
    documents += [dump(obj) for obj in result.objects]
    return header + "---\n".join(documents), result


GOLDEN_CASES = [("calico", "deploy"), ("calico", "enforce"), ("kubernetes", "deploy"), ("kubernetes", "enforce")]


@pytest.mark.parametrize("dialect, phase", GOLDEN_CASES)
def test_golden_lab_output(dialect, phase):
    path = os.path.join(GOLDEN, "lab-%s-%s.yaml" % (dialect, phase))
    text, result = golden_text(dialect, phase)
    if REGENERATE:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        expected = handle.read()
    assert text == expected, "rendered lab differs from %s; if intended, regenerate (see this module's docstring)" % path
    # the golden text reads back as exactly the rendered objects (ints stay ints, "8000:8080" stays a string)
    documents = list(yaml.safe_load_all(expected))
    assert documents[0] == {"warnings": result.warnings}
    assert documents[1:] == result.objects


def test_golden_deploy_and_enforce_differ_only_in_posture():
    for dialect in ("calico", "kubernetes"):
        deploy = list(yaml.safe_load_all(golden_text(dialect, "deploy")[0]))[1:]
        enforce = list(yaml.safe_load_all(golden_text(dialect, "enforce")[0]))[1:]
        assert len(deploy) == len(enforce)
        differ = [(a, b) for a, b in zip(deploy, enforce) if a != b]
        assert differ and all(POSTURE_LABEL in before["metadata"]["labels"] for before, _after in differ)
