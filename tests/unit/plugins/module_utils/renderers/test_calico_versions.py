"""Calico versions and editions: the one feature table, and every rendering held to what its Calico serves.

* ``features(version, edition)``: names, staged policies, Tier defaultAction, domains, the upstream admin kinds;
* per supported version, edition and phase: every (apiVersion, kind) is one that Calico serves, and every spec field is
  one this dialect may write at that version (``FIELDS``: each with the first version serving it);
* the ``oss`` rendering of the lab (trusted domains, domain flows) against Calico's open-source CRDs
  (``tests/unit/data/crds/calico-v3.32.1``) field by field: no Enterprise-only field, nothing unknown;
* Tier ``defaultAction`` is not written: the ``<tier>-default-pass`` policies decide every flow of the lab exactly as a
  tier ``defaultAction: Pass`` would (so keeping them is a choice, not a difference).
"""
import glob
import itertools
import os

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import namespaces_from_objects, workloads_from_objects
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import parse_flow_rows
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import declared_flows, make_plan
from ansible_collections.zerotrust.microseg.plugins.module_utils.remediation import STAGED_KINDS, staged_copy
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.calico import (
    ANP_API, CNP_API, SUPPORTED, Features, check_served, features, unserved)
from ansible_collections.zerotrust.microseg.plugins.module_utils.verdicts import evaluate_flows

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", ".."))
LAB = os.path.join(ROOT, "inventories", "lab")
CRDS = os.path.join(ROOT, "tests", "unit", "data", "crds", "calico-v3.32.1")
API = "projectcalico.org/v3"
VERSIONS = ("3.29", "3.30", "3.31", "3.32")
EDITIONS = ("oss", "enterprise")
PHASES = ("deploy", "enforce")


def as_tuple(version):
    return tuple(int(part) for part in version.split("."))


# -- the fields this dialect may write, and since when ----------------------------------------------------------
# Every key path of a spec the calico dialect writes ("[]": any list item) -> the first Calico (open source) version that
# serves it. Policy fields are as old as projectcalico.org/v3; tiers came to open source in 3.29 (CALICO_SEMANTICS 5),
# staged policies in 3.30 (30). A new field in the renderer fails test_every_field_is_one_the_version_serves until it is
# added here with its version.
ENTITY = ("selector", "namespaceSelector", "nets", "notNets", "ports")


def _policy_fields(namespaced, staged):
    since = (3, 30) if staged else (3, 29)
    paths = ["spec.tier", "spec.order", "spec.selector", "spec.types", "spec.ingress", "spec.egress"]
    if not namespaced:
        paths.append("spec.namespaceSelector")
    for direction in ("ingress", "egress"):
        paths += ["spec.%s[].%s" % (direction, key) for key in ("action", "protocol", "source", "destination")]
        paths += ["spec.%s[].%s.%s" % (direction, side, key) for side in ("source", "destination") for key in ENTITY]
    if staged:
        paths.append("spec.stagedAction")
    return {path: since for path in paths}


FIELDS = {
    "Tier": {"spec.order": (3, 29)},
    "GlobalNetworkSet": {"spec.nets": (3, 29)},
    "GlobalNetworkPolicy": _policy_fields(namespaced=False, staged=False),
    "NetworkPolicy": _policy_fields(namespaced=True, staged=False),
    "StagedGlobalNetworkPolicy": _policy_fields(namespaced=False, staged=True),
    "StagedNetworkPolicy": _policy_fields(namespaced=True, staged=True),
}
# Calico Enterprise / Cloud only (CALICO_SEMANTICS 27): never in oss output
ENTERPRISE_ONLY = {("GlobalNetworkSet", "spec.allowedEgressDomains")} | {
    (kind, "spec.%s[].%s.domains" % (direction, side)) for kind in ("GlobalNetworkPolicy", "NetworkPolicy")
    for direction in ("ingress", "egress") for side in ("source", "destination")}


def field_paths(value, path=""):
    """Every key path inside ``value`` (list items as ``[]``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = "%s.%s" % (path, key) if path else key
            yield here
            yield from field_paths(item, here)
    elif isinstance(value, list):
        for item in value:
            yield from field_paths(item, path + "[]")


def lab_variables():
    with open(os.path.join(LAB, "group_vars", "lab.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def lab_intent(**changes):
    return load_intent(dict(lab_variables(), **changes), LAB)


def rendered(version, edition, phase):
    """The calico dialect's objects for the lab, plus the staged twin of every policy (remediate's proposals), if staged."""
    objects = make_plan(lab_intent(microseg_calico_version=version, microseg_calico_edition=edition), phase).objects
    if features(as_tuple(version), edition).staged:
        objects = objects + [staged_copy(obj) for obj in objects if obj["kind"] in STAGED_KINDS]
    return objects


CASES = list(itertools.product(VERSIONS, EDITIONS, PHASES))


def case_id(case):
    return "-".join(case)


# -- the feature table -------------------------------------------------------------------------------------------

ANP = ((ANP_API, "AdminNetworkPolicy"), (ANP_API, "BaselineAdminNetworkPolicy"))
CNP = ((CNP_API, "ClusterNetworkPolicy"),)


@pytest.mark.parametrize("version, edition, expected", [
    # version, edition: tier_prefix, staged, tier_default_action, domains, admin_kinds
    ((3, 29), "oss", (True, False, False, False, ANP)),
    ((3, 29), "enterprise", (True, True, False, True, ANP)),
    ((3, 30), "oss", (True, True, True, False, ANP)),
    ((3, 31), "oss", (True, True, True, False, ANP)),
    ((3, 31), "enterprise", (True, True, True, True, ANP)),
    ((3, 32), "oss", (False, True, True, False, CNP)),
    ((3, 32), "enterprise", (False, True, True, True, CNP)),
])
def test_the_feature_table(version, edition, expected):
    found = features(version, edition)
    assert found == Features(version, edition, *expected)
    assert features(version + (4,), edition) == found   # a patch release serves what its minor serves


def test_supported_range():
    assert SUPPORTED == ((3, 29), (3, 32))
    assert [as_tuple(version) for version in VERSIONS] == [(3, minor) for minor in range(29, 33)]


@pytest.mark.parametrize("version, staged", [((3, 29), False), ((3, 30), True), ((3, 32), True)])
def test_served_kinds(version, staged):
    kinds = features(version).kinds
    own = {(API, kind) for kind in ("Tier", "GlobalNetworkPolicy", "NetworkPolicy", "GlobalNetworkSet", "NetworkSet")}
    staged_kinds = {(API, kind) for kind in ("StagedGlobalNetworkPolicy", "StagedNetworkPolicy", "StagedKubernetesNetworkPolicy")}
    assert kinds == own | (staged_kinds if staged else set()) | set(features(version).admin_kinds)


# -- every rendering against what its Calico serves ---------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_kind_is_one_the_version_serves(case):
    version, edition, phase = case
    found = features(as_tuple(version), edition)
    kinds = {(obj["apiVersion"], obj["kind"]) for obj in rendered(version, edition, phase)}
    assert kinds <= found.kinds
    # this dialect writes only Calico's own kinds: never AdminNetworkPolicy (gone in 3.32) nor ClusterNetworkPolicy (3.32+)
    assert {api for api, _kind in kinds} == {API}
    assert ((API, "StagedNetworkPolicy") in kinds) == found.staged
    assert unserved(rendered(version, edition, phase), found) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_field_is_one_the_version_serves(case):
    version, edition, phase = case
    for obj in rendered(version, edition, phase):
        allowed = FIELDS[obj["kind"]]
        for path in field_paths(obj["spec"], "spec"):
            if (obj["kind"], path) in ENTERPRISE_ONLY:
                assert edition == "enterprise", (obj["metadata"]["name"], path)
                continue
            assert path in allowed, "%s %s: %s is not a field of FIELDS" % (obj["kind"], obj["metadata"]["name"], path)
            since = allowed[path]
            if edition == "enterprise" and obj["kind"].startswith("Staged"):
                since = SUPPORTED[0]   # Calico Enterprise has staged policies at every supported version
            assert since <= as_tuple(version), (obj["metadata"]["name"], path, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_tiers_never_carry_a_default_action(version):
    """defaultAction (3.30+) is not used: the <tier>-default-pass policies Pass at every version."""
    objects = make_plan(lab_intent(microseg_calico_version=version), "enforce").objects
    tiers = [obj for obj in objects if obj["kind"] == "Tier"]
    assert tiers and all(obj["spec"] == {"order": obj["spec"]["order"]} for obj in tiers)
    passes = sorted(obj["metadata"]["name"].split(".")[-1] for obj in objects if obj["metadata"]["name"].endswith("-default-pass"))
    assert passes == ["application-default-pass", "appsec-default-pass", "platform-default-pass", "security-default-pass"]


# -- the oss rendering of the lab against Calico's open-source CRDs -----------------------------------------------

def load_crds():
    """``(apiVersion, kind)`` -> (namespaced, the schema of spec), of every CRD in CRDS."""
    found = {}
    for path in sorted(glob.glob(os.path.join(CRDS, "*.yaml"))):
        with open(path, encoding="utf-8") as handle:
            crd = yaml.safe_load(handle)
        spec = crd["spec"]
        for version in spec["versions"]:
            if version["served"]:
                schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
                found[("%s/%s" % (spec["group"], version["name"]), spec["names"]["kind"])] = (spec["scope"] == "Namespaced", schema)
    return found


TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list}


def schema_problems(value, schema, path):
    """What in ``value`` the structural schema ``schema`` does not accept: unknown fields, types, enums, required."""
    problems = []
    for part in schema.get("allOf", ()):
        problems += schema_problems(value, part, path)
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: %r is not one of %s" % (path, value, schema["enum"]))
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            problems.append("%s: %r is not an int or a string" % (path, value))
        return problems
    kind = schema.get("type")
    if kind and (not isinstance(value, TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool))):
        return problems + ["%s: %r is not of type %s" % (path, value, kind)]
    if kind == "object":
        properties = schema.get("properties")
        for key, item in value.items():
            if properties is not None:
                if key not in properties:
                    problems.append("%s.%s: no such field" % (path, key))
                else:
                    problems += schema_problems(item, properties[key], "%s.%s" % (path, key))
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += schema_problems(item, schema["additionalProperties"], "%s.%s" % (path, key))
        problems += ["%s.%s: required" % (path, key) for key in schema.get("required", ()) if key not in value]
    elif kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], "%s[%d]" % (path, i))
    return problems


def walk_keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_keys(item)


def test_the_lab_has_trusted_domains_and_domain_flows():
    """The precondition of the oss walk below: what would need an Enterprise field is there."""
    intent = lab_intent()
    assert intent.edition == "oss" and intent.trusted_domains
    assert any(flow.destination.kind == "domain" for flow in declared_flows(intent))
    enterprise = make_plan(lab_intent(microseg_calico_edition="enterprise"), "enforce").objects
    assert any("allowedEgressDomains" in obj["spec"] for obj in enterprise)


@pytest.mark.parametrize("version, phase", list(itertools.product(VERSIONS, PHASES)), ids="-".join)
def test_oss_rendering_of_the_lab_has_no_enterprise_field_and_fits_the_open_source_crds(version, phase):
    crds = load_crds()
    plan = make_plan(lab_intent(microseg_calico_version=version), phase)
    objects = plan.objects + ([staged_copy(obj) for obj in plan.objects if obj["kind"] in STAGED_KINDS] if version != "3.29" else [])
    assert objects
    for obj in objects:
        name = "%s %s" % (obj["kind"], obj["metadata"]["name"])
        enterprise = set(walk_keys(obj)) & {"allowedEgressDomains", "domains"}
        assert not enterprise, "%s: Enterprise-only %s in oss output" % (name, sorted(enterprise))
        namespaced, schema = crds[(obj["apiVersion"], obj["kind"])]
        assert bool(obj["metadata"].get("namespace")) == namespaced, name
        assert schema_problems(obj["spec"], schema, "spec") == [], name
    # each domain was widened, and said so
    assert any(loss.change == "widened" and loss.rule == "trusted-domains" for loss in plan.losses)
    assert any(loss.change == "widened" and "domain:*.bloomberg.com" in loss.rule for loss in plan.losses)


def test_the_crds_hold_the_fields_table_and_lack_the_enterprise_fields():
    """FIELDS names only fields of the open-source CRDs; ENTERPRISE_ONLY only fields they lack."""
    crds = load_crds()

    def has(kind, path):
        schema = crds[(API, kind)][1]
        for key in path.split(".")[1:]:
            while key.endswith("[]"):
                key = key[:-2]
                schema = schema["properties"][key]["items"] if key in schema.get("properties", {}) else {}
                key = ""
            if key:
                if key not in schema.get("properties", {}):
                    return False
                schema = schema["properties"][key]
        return True

    for kind, paths in FIELDS.items():
        for path in paths:
            assert has(kind, path), (kind, path)
    for kind, path in ENTERPRISE_ONLY:
        assert not has(kind, path), (kind, path)


def test_the_schema_walk_finds_what_it_must():
    _namespaced, schema = load_crds()[(API, "GlobalNetworkSet")]
    assert schema_problems({"allowedEgressDomains": ["tigera.io"]}, schema, "spec") == ["spec.allowedEgressDomains: no such field"]
    _namespaced, schema = load_crds()[(API, "GlobalNetworkPolicy")]
    assert schema_problems({"egress": [{"action": "Accept", "destination": {"domains": ["x.io"], "ports": [1.5]}}]}, schema, "spec") == [
        "spec.egress[0].action: 'Accept' is not one of ['Allow', 'Deny', 'Log', 'Pass']",
        "spec.egress[0].destination.domains: no such field", "spec.egress[0].destination.ports[0]: 1.5 is not an int or a string"]


# -- never silently: what a Calico does not serve is an error naming the variable ------------------------------------

@pytest.mark.parametrize("version, edition, obj, field, says", [
    ((3, 29), "oss", {"apiVersion": API, "kind": "StagedNetworkPolicy", "metadata": {"name": "x"}, "spec": {}},
     "microseg_calico_version", "StagedNetworkPolicy x: Calico 3.29 (oss) does not serve projectcalico.org/v3 StagedNetworkPolicy"),
    ((3, 31), "oss", {"apiVersion": CNP_API, "kind": "ClusterNetworkPolicy", "metadata": {"name": "x"}, "spec": {}},
     "microseg_calico_version", "does not serve policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy"),
    ((3, 32), "oss", {"apiVersion": ANP_API, "kind": "AdminNetworkPolicy", "metadata": {"name": "x"}, "spec": {}},
     "microseg_calico_version", "does not serve policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy"),
    ((3, 29), "oss", {"apiVersion": API, "kind": "Tier", "metadata": {"name": "x"}, "spec": {"order": 1, "defaultAction": "Pass"}},
     "microseg_calico_version", "Tier x: spec.defaultAction needs Calico 3.30 or later"),
    ((3, 32), "oss", {"apiVersion": API, "kind": "GlobalNetworkSet", "metadata": {"name": "d"}, "spec": {"allowedEgressDomains": ["a.io"]}},
     "microseg_calico_edition", "GlobalNetworkSet d: spec.allowedEgressDomains is Calico Enterprise only"),
    ((3, 32), "oss", {"apiVersion": API, "kind": "NetworkPolicy", "metadata": {"name": "p"},
                      "spec": {"egress": [{"action": "Allow", "destination": {"domains": ["a.io"]}}]}},
     "microseg_calico_edition", "NetworkPolicy p: spec.egress[0].destination.domains is Calico Enterprise only"),
])
def test_what_a_calico_does_not_serve_is_refused_naming_the_variable(version, edition, obj, field, says):
    with pytest.raises(InputError) as err:
        check_served([obj], features(version, edition))
    assert err.value.field == field and says in err.value.message, str(err.value)


def test_an_enterprise_rendering_is_refused_for_oss():
    objects = make_plan(lab_intent(microseg_calico_edition="enterprise"), "enforce").objects
    problems = unserved(objects, features((3, 32), "oss"))
    assert problems and {variable for variable, _message in problems} == {"microseg_calico_edition"}


# -- Tier defaultAction: the pass-all policies decide every flow as defaultAction Pass would ---------------------------

def lab_cluster():
    """The lab's workloads and namespaces (its cluster/ directory; policy kinds a run may have left there are not read)."""
    objects = []
    for group in ("apps", "core"):
        for path in sorted(glob.glob(os.path.join(LAB, "cluster", group, "*", "*", "*.yaml"))):
            with open(path, encoding="utf-8") as handle:
                objects.append(yaml.safe_load(handle))
    return workloads_from_objects(objects), namespaces_from_objects(objects)


def with_tier_default_pass(objects):
    """The same set written with Tier defaultAction Pass instead of the <tier>-default-pass policies."""
    tiers = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Tier"}
    changed = []
    for obj in objects:
        if obj["metadata"]["name"].endswith("-default-pass"):
            continue
        if obj["kind"] == "Tier":
            obj = dict(obj, spec=dict(obj["spec"], defaultAction="Pass"))
        changed.append(obj)
    assert len(changed) == len(objects) - len(tiers)
    return changed


@pytest.mark.parametrize("version, phase", [("3.32", "deploy"), ("3.32", "enforce"), ("3.30", "enforce")])
def test_pass_all_policies_equal_a_tier_default_action_pass_flow_by_flow(version, phase):
    intent = lab_intent(microseg_calico_version=version)
    workloads, namespaces = lab_cluster()
    endpoints = sorted({"%s/%s=%s" % (pod.namespace, key, pod.labels[key]) for pod in workloads
                        for key in ("app", "k8s-app", "app.kubernetes.io/name") if key in pod.labels})
    assert len(endpoints) > 20
    ports = sorted({flow.port_notation() for flow in declared_flows(intent)} | {"8081/TCP", "53/UDP"})
    rows = [{"source": a, "destination": b, "port": port} for a, b in itertools.product(endpoints, endpoints) for port in ports[:4]]
    rows += [{"source": a, "destination": b, "port": port} for a in endpoints
             for b in ("net:203.0.113.9/32", "net:8.8.8.8/32", "domain:tigera.io") for port in ("443/TCP", "80/TCP")]
    rows += [{"source": "net:198.51.100.1/32", "destination": b, "port": "8080/TCP"} for b in endpoints]
    flows = declared_flows(intent) + parse_flow_rows(rows, "probe", None, intent.identity_labels)
    objects = make_plan(intent, phase).objects
    common = dict(workloads=workloads, namespaces=namespaces, cluster_cidrs=intent.cluster_cidrs, identity_labels=intent.identity_labels)
    passes = evaluate_flows(objects, flows, **common)
    default_action = evaluate_flows(with_tier_default_pass(objects), flows, **common)
    assert [entry["verdict"] for entry in passes] == [entry["verdict"] for entry in default_action]
    assert {entry["verdict"] for entry in passes} == ({"allow", "deny"})   # the probes do tell allow from deny
