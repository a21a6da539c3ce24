"""The microseg_* variables: known names from the roles' argument specs, the closest-name suggestion, type errors that
name the variable, strict, and the specs agreeing with each other, the modules and the intent loader."""
import glob
import os
import re

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.face import INTENT_SPEC, TARGET_SPEC
from ansible_collections.zerotrust.microseg.plugins.plugin_utils import inventory_variables as iv
from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_intent import INVENTORY_OPTIONS

ROOT = os.path.dirname(iv.ROLES_DIR)
ROLES = ("identify", "analyze", "deploy", "enforce", "remediate")
MENTION = re.compile(r"(?<![A-Za-z0-9_.])microseg_[a-z_]+")


# -- suggestions ----------------------------------------------------------------------------

@pytest.mark.parametrize("typo, suggestion", [
    ("microseg_tennants", "microseg_tenants"),
    ("microseg_tenant", "microseg_tenants"),
    ("microseg_app", "microseg_apps"),
    ("microseg_calico_verison", "microseg_calico_version"),
    ("microseg_flowlogs", "microseg_flow_logs"),
    ("microseg_trusted_domain", "microseg_trusted_domains"),
    ("microseg_max_fail_percent", "microseg_max_fail_percentage"),   # playbook-level names are known too
    ("microseg_enforcegate", "microseg_enforce_gate"),
])
def test_closest_known_name(typo, suggestion):
    assert iv.closest(typo, iv.known_variables()) == suggestion


@pytest.mark.parametrize("name", ["microseg_foo", "microseg_x", "microseg_kubernetes_cluster_name"])
def test_no_suggestion_when_nothing_is_close(name):
    # compared without the shared prefix, which would otherwise make every name look alike
    assert iv.closest(name, iv.known_variables()) is None


def test_unknown_variables_are_named_sorted_with_their_suggestion():
    names = ["microseg_tennants", "microseg_apps", "zerotrust_microseg_run", "ansible_run_tags", "microseg_foo", "inventory_hostname"]
    assert iv.unknown_variables(names, iv.known_variables()) == [
        "unknown variable microseg_foo; not a variable of zerotrust.microseg (README: Inventory variables)",
        "unknown variable microseg_tennants; did you mean microseg_tenants?",
    ]


def test_closest_against_a_given_list():
    assert iv.closest("microseg_colour", ["microseg_color", "microseg_flavour"]) == "microseg_color"
    assert iv.closest("microseg_colour", []) is None


# -- check ----------------------------------------------------------------------------------

@pytest.mark.parametrize("values, says", [
    ({"microseg_apps": "yaobank"}, "option 'microseg_apps' is of type str and we were unable to convert to dict"),
    ({"microseg_strict": "maybe"}, "argument 'microseg_strict' is of type str and we were unable to convert to bool"),
    ({"microseg_tenants": {}}, "argument 'microseg_tenants' is of type dict and we were unable to convert to list"),
    ({"microseg_dialect": "cilium"}, "value of microseg_dialect must be one of: %s, got: cilium" % ", ".join(intent.DIALECTS)),
    ({"microseg_calico_edition": "free"}, "value of microseg_calico_edition must be one of: oss, enterprise, got: free"),
    ({"microseg_apps": [{"namespace": "yaobank"}]}, "missing required arguments: name found in microseg_apps"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["t"], "pci": "maybe"}]}, "microseg_tenants"),
    ({"microseg_remediate_apply": "sometimes"}, "argument 'microseg_remediate_apply' is of type str"),
    ({"microseg_cluster_serves": ["NetworkPolicy"]}, "value of microseg_cluster_serves must be one or more of: AdminNetworkPolicy, "
                                                     "BaselineAdminNetworkPolicy, ClusterNetworkPolicy. Got no match for: NetworkPolicy"),
    ({"microseg_threat_nets_fallback": "drop"}, "value of microseg_threat_nets_fallback must be one of: fail, except, got: drop"),
])
def test_wrong_types_are_errors_naming_the_variable(values, says):
    errors, warnings = iv.check(values, list(values))
    assert errors and warnings == []
    assert any(says in error for error in errors), errors
    assert all("microseg_" in error for error in errors), errors   # no bare converter message
    assert not any(re.search(r"'(%s)'" % "|".join(INVENTORY_OPTIONS), error) for error in errors)


@pytest.mark.parametrize("values", [
    {"microseg_calico_version": "3.31"},
    {"microseg_strict": "yes", "microseg_remediate_apply": "true"},                 # -e key=value gives strings
    {"microseg_trusted_domains": "google.com,tigera.io"},                          # and comma-separated lists
    {"microseg_flow_logs": ["logs/a.jsonl", {"path": "logs/b.jsonl.gz", "format": "hubble", "since": "24h"}]},
    {"microseg_apps": [{"name": "shop", "flows": [{"source": "a", "destination": "b", "port": 80}]}, {"name": "bank", "flows": "flows/bank.md"}]},
    {"microseg_dns": {"port": "53"}, "microseg_cluster_cidrs": None, "microseg_remediated_flows": None},
    {"microseg_cluster_serves": [], "microseg_threat_nets_fallback": "except"},
    {"microseg_cluster_serves": ["AdminNetworkPolicy", "BaselineAdminNetworkPolicy"]},
])
def test_valid_values_pass(values):
    assert iv.check(values, list(values)) == ([], [])


def test_unknown_name_is_a_warning_or_with_strict_an_error():
    values = {"microseg_tenants": []}
    names = ["microseg_tenants", "microseg_tennants"]
    assert iv.check(values, names) == ([], ["unknown variable microseg_tennants; did you mean microseg_tenants?"])
    assert iv.check(dict(values, microseg_strict="true"), names + ["microseg_strict"]) == (
        ["unknown variable microseg_tennants; did you mean microseg_tenants? (an error since microseg_strict is true)"], [])
    assert iv.check(dict(values, microseg_strict=False), names + ["microseg_strict"])[0] == []


def test_type_errors_come_before_unknown_names():
    errors, warnings = iv.check({"microseg_strict": "maybe"}, ["microseg_strict", "microseg_tennants"])
    assert len(errors) == 1 and "microseg_strict" in errors[0] and warnings == []


@pytest.mark.parametrize("value, warned", [(3.31, True), (3.29, True), ("3.30", False)])
def test_a_number_for_the_calico_version_is_warned(value, warned):
    errors, warnings = iv.check({"microseg_calico_version": value}, ["microseg_calico_version"])
    assert errors == [] and bool(warnings) == warned
    if warned:
        assert warnings == ["microseg_calico_version is the number %r, read as %r; quote it (\"3.30\"), YAML drops a trailing zero"
                            % (value, str(value))]


@pytest.mark.parametrize("values, error", [
    ({"microseg_calico_version": 3.4}, "microseg_calico_version: the unquoted number 3.4 is ambiguous: YAML reads 3.40 as 3.4 "
     "too; quote the version as written, e.g. microseg_calico_version: \"3.40\""),
    ({"microseg_calico_version": 3.3, "microseg_dialect": "kubernetes"}, "microseg_calico_version: the unquoted number 3.3 is"),
    ({"microseg_calico_version": 3}, "microseg_calico_version: Calico 3.0 is not supported: the calico dialect renders for Calico 3.29 to 3.32"),
    ({"microseg_calico_version": "3.33"}, "microseg_calico_version: Calico 3.33 is not supported"),
    ({"microseg_calico_version": "3.22", "microseg_calico_edition": "enterprise"}, "your Calico Enterprise release is paired with"),
])
def test_an_ambiguous_or_unsupported_calico_version_is_an_error_naming_the_variable(values, error):
    """The modules' own reading (intent.calico_version), before any module runs."""
    errors, warnings = iv.check(values, list(values))
    assert len(errors) == 1 and errors[0].startswith("microseg_calico_version: ") and error in errors[0] and warnings == [], errors


def test_a_calico_version_for_another_dialect_is_not_range_checked():
    assert iv.check({"microseg_calico_version": "3.28", "microseg_dialect": "kubernetes"}, []) == ([], [])


# -- one place: the roles' argument specs --------------------------------------------------

def test_every_role_has_an_argument_spec_for_its_main_entry_point():
    assert sorted(iv.role_specs()) == sorted(ROLES)
    for role in ROLES:
        assert os.path.exists(os.path.join(iv.ROLES_DIR, role, "meta", "main.yml"))   # kept beside it
        options = iv.role_specs()[role]
        assert options and all(name.startswith(iv.PREFIX) for name in options)
        assert all(option.get("description") and option.get("type") for option in options.values()), role


def test_a_variable_several_roles_declare_is_declared_alike():
    for name in iv.variable_spec():
        declared = {role: options[name] for role, options in iv.role_specs().items() if name in options}
        first = next(iter(declared.values()))
        assert all(option == first for option in declared.values()), "%s differs between roles %s" % (name, sorted(declared))


def test_every_variable_a_module_option_reads_is_declared_like_the_module_option():
    spec = iv.variable_spec()
    modules = dict(INTENT_SPEC, **TARGET_SPEC)
    for option, variable in INVENTORY_OPTIONS.items():
        assert variable in spec, variable
        if option not in modules:
            continue
        for key in ("type", "elements", "choices"):
            assert spec[variable].get(key) == modules[option].get(key), (variable, key)
        assert spec[variable].get("default") == modules[option].get("default"), variable


def test_choices_are_the_intent_loaders():
    spec = iv.variable_spec()
    assert spec["microseg_dialect"]["choices"] == list(intent.DIALECTS)
    assert spec["microseg_calico_edition"]["choices"] == list(intent.EDITIONS)
    assert sorted(spec["microseg_apps"]["options"]["tier"]["choices"]) == sorted(intent.APP_TIERS)
    assert spec["microseg_cluster_serves"]["choices"] == list(intent.CLUSTER_KINDS)
    assert "default" not in spec["microseg_cluster_serves"]   # unset means "what the dialect writes" (intent.load_intent)
    assert spec["microseg_threat_nets_fallback"]["choices"] == list(intent.THREAT_NETS_FALLBACKS)


def _mentions(paths):
    found = set()
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            found.update(MENTION.findall(handle.read()))
    return found


def test_every_variable_the_collection_reads_is_known():
    paths = [path for pattern in ("playbooks/**/*.yml", "roles/**/*.yml", "plugins/**/*.py", "extensions/**/*.yml")
             for path in glob.glob(os.path.join(ROOT, pattern), recursive=True)]
    assert paths
    assert sorted(_mentions(paths) - iv.known_variables()) == []


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_a_role_reads_is_in_its_own_spec(role):
    paths = [path for path in glob.glob(os.path.join(iv.ROLES_DIR, role, "**", "*.yml"), recursive=True)
             if not path.endswith("argument_specs.yml")]
    assert sorted(_mentions(paths) - set(iv.role_specs()[role])) == []


def test_playbook_variables_are_not_role_variables():
    assert not set(iv.PLAYBOOK_VARIABLES) & set(iv.variable_spec())
