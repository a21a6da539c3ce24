"""Checked inputs through playbooks/site.yml on the lab: a microseg_* variable of the wrong type fails before anything is
written, naming the variable (not the module option it feeds); an unknown microseg_* name is warned with the closest known
name, and is an error with microseg_strict."""
import os
import re

import pytest

from conftest import policy_tree, run_playbook, tree
from test_semantics import set_lab_variable

from ansible_collections.zerotrust.microseg.plugins.plugin_utils.inventory_intent import INVENTORY_OPTIONS
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS

FAILED = "Validation of the microseg_* variables failed: "
TYPO_WARNING = "[WARNING]: unknown variable microseg_tennants; did you mean microseg_tenants?"
TENANTS = [{"name": "hipstershop", "namespaces": ["hipstershop"], "pci": True}]


def error_lines(out):
    """The one-line messages of failed tasks ([ERROR] lines are not wrapped)."""
    return [line for line in out.splitlines() if line.startswith("[ERROR]:")]


def names_no_module_option(out):
    """No message names a module option instead of its variable (``argument 'apps'``...)."""
    return not re.search(r"(argument|option) '(%s)'" % "|".join(INVENTORY_OPTIONS), out)


@pytest.mark.parametrize("variable, value, says", [
    ("microseg_apps", "yaobank", "option 'microseg_apps' is of type str and we were unable to convert to dict"),
    ("microseg_strict", "maybe", "argument 'microseg_strict' is of type str and we were unable to convert to bool"),
    ("microseg_tenants", {}, "argument 'microseg_tenants' is of type dict and we were unable to convert to list"),
    ("microseg_dialect", "cilium", "value of microseg_dialect must be one of: %s, got: cilium" % ", ".join(DIALECTS)),
    ("microseg_dns", "kube-dns", "argument 'microseg_dns' is of type str and we were unable to convert to dict"),
    ("microseg_target", "kubernetes", "value of microseg_target must be one of: cluster, directory, got: kubernetes"),
    # read by the first task's own arguments ("{{ microseg_keep_enforced | default(true) | bool }}") as well
    ("microseg_keep_enforced", "sometimes", "argument 'microseg_keep_enforced' is of type str and we were unable to convert to bool"),
    ("microseg_apps", [{"name": "yaobank", "tier": "platform"}], "value of tier must be one of: appsec, application, got: platform found in microseg_apps"),
])
def test_wrong_type_fails_naming_the_variable_and_writes_nothing(lab, variable, value, says):
    set_lab_variable(lab, variable, value)
    before = tree(lab)
    result = run_playbook(lab)
    assert result.rc != 0, result.out
    assert result.failed == 1 and result.ok == 0, result.out   # the first task, before any phase
    errors = error_lines(result.out)
    assert len(errors) == 1 and FAILED in errors[0] and says in errors[0], result.out
    assert names_no_module_option(result.out), result.out
    assert tree(lab) == before   # no policy, no report, no bookkeeping


def test_wrong_type_given_as_extra_variable_fails_the_same_way(lab):
    before = tree(lab)
    result = run_playbook(lab, "--tags", "deploy", "-e", "microseg_force=perhaps")
    assert result.rc != 0, result.out
    assert "argument 'microseg_force' is of type str and we were unable to convert to bool" in "".join(error_lines(result.out)), result.out
    assert names_no_module_option(result.out), result.out
    assert tree(lab) == before


def test_unknown_variable_is_warned_with_the_closest_name_and_the_run_goes_on(lab):
    set_lab_variable(lab, "microseg_tennants", TENANTS)
    result = run_playbook(lab)
    assert result.rc == 0, result.out
    assert result.out.count(TYPO_WARNING) == 1, result.out   # once per host, before the phases
    assert result.out.count("unknown variable") == 1, result.out   # nothing else (zerotrust_microseg_run...) is flagged
    assert any(path.startswith("projectcalico.org") for path in policy_tree(os.path.join(lab, "cluster")))


def test_unknown_variable_with_strict_fails_and_writes_nothing(lab):
    set_lab_variable(lab, "microseg_tennants", TENANTS)
    set_lab_variable(lab, "microseg_strict", True)
    before = tree(lab)
    result = run_playbook(lab)
    assert result.rc != 0, result.out
    assert result.failed == 1 and result.ok == 0, result.out
    errors = error_lines(result.out)
    assert len(errors) == 1, result.out
    assert FAILED + "unknown variable microseg_tennants; did you mean microseg_tenants? (an error since microseg_strict is true)" in errors[0]
    assert tree(lab) == before


def test_strict_from_the_command_line_fails_an_unknown_extra_variable(lab):
    before = tree(lab)
    result = run_playbook(lab, "--tags", "analyze", "-e", "microseg_strict=true", "-e", "microseg_calico_verison=3.31")
    assert result.rc != 0, result.out
    assert "unknown variable microseg_calico_verison; did you mean microseg_calico_version?" in "".join(error_lines(result.out)), result.out
    assert tree(lab) == before


def test_unquoted_calico_version_is_warned_and_read_as_its_text(lab):
    set_lab_variable(lab, "microseg_calico_version", 3.31)   # YAML: a float
    result = run_playbook(lab, "--tags", "deploy")
    assert result.rc == 0, result.out
    assert "[WARNING]: microseg_calico_version is the number 3.31, read as '3.31'; quote it" in result.out
    names = [path for path in policy_tree(os.path.join(lab, "cluster")) if "/NetworkPolicy/hipstershop/" in path]
    assert names and all(os.path.basename(path).startswith("appsec.") for path in names)   # below 3.32: <tier>.<name>


def set_calico_version_text(lab, text):
    """Write ``microseg_calico_version: <text>`` into the lab copy's group_vars as is (``3.40`` unquoted: a YAML float)."""
    vars_file = os.path.join(lab, "group_vars", "lab.yml")
    with open(vars_file, encoding="utf-8") as handle:
        content = handle.read()
    assert 'microseg_calico_version: "3.32"\n' in content
    with open(vars_file, "w", encoding="utf-8") as handle:
        handle.write(content.replace('microseg_calico_version: "3.32"\n', "microseg_calico_version: %s\n" % text))


AMBIGUOUS = ('microseg_calico_version: the unquoted number %s is ambiguous: YAML reads %s0 as %s too; quote the version as written, '
             'e.g. microseg_calico_version: "%s0"')
UNSUPPORTED = "microseg_calico_version: Calico %s is not supported: the calico dialect renders for Calico 3.29 to 3.32"


@pytest.mark.parametrize("text, says", [
    ("3.40", AMBIGUOUS % (("3.4",) * 4)),      # YAML: the float 3.4
    ("3.30", AMBIGUOUS % (("3.3",) * 4)),
    ('"3.28"', UNSUPPORTED % "3.28" + " (policy tiers came to Calico open source in 3.29)"),
    ('"3.33"', UNSUPPORTED % "3.33" + " (a newer Calico is not known to this release of zerotrust.microseg)"),
])
def test_an_ambiguous_or_unsupported_calico_version_fails_before_anything_is_written(lab, text, says):
    set_calico_version_text(lab, text)
    before = tree(lab)
    result = run_playbook(lab)
    assert result.rc != 0, result.out
    assert result.failed == 1 and result.ok == 0, result.out   # the first task, before any phase
    errors = error_lines(result.out)
    assert len(errors) == 1 and FAILED + says in errors[0], result.out
    assert tree(lab) == before


def test_a_calico_version_given_as_a_json_number_is_refused_and_as_text_accepted(lab):
    before = tree(lab)
    result = run_playbook(lab, "--tags", "deploy", "-e", '{"microseg_calico_version": 3.30}')
    assert result.rc != 0, result.out
    assert FAILED + AMBIGUOUS % (("3.3",) * 4) in "".join(error_lines(result.out)), result.out
    assert tree(lab) == before
    result = run_playbook(lab, "--tags", "deploy", "-e", "microseg_calico_version=3.30")   # key=value: the text "3.30"
    assert result.rc == 0, result.out
    names = [path for path in policy_tree(os.path.join(lab, "cluster")) if "/NetworkPolicy/hipstershop/" in path]
    assert names and all(os.path.basename(path).startswith("appsec.") for path in names)   # 3.30, not 3.3


ROLE_ALONE = """---
- name: One role on its own
  hosts: all
  gather_facts: false
  roles:
    - zerotrust.microseg.analyze
"""


def test_a_role_used_on_its_own_validates_its_argument_spec_from_group_vars(lab):
    playbook = os.path.join(lab, "analyze.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(ROLE_ALONE)
    set_lab_variable(lab, "microseg_apps", "yaobank")
    before = tree(lab)
    result = run_playbook(lab, playbook=playbook)
    assert result.rc != 0, result.out
    # Ansible's own check, the role's implicit first task, against meta/argument_specs.yml
    assert "TASK [zerotrust.microseg.analyze : Validating arguments against arg spec 'main'" in result.out
    errors = error_lines(result.out)
    assert len(errors) == 1 and "Validation of arguments failed" in result.out, result.out
    assert "option 'microseg_apps' is of type str" in result.out
    assert tree(lab) == before


def test_a_role_used_on_its_own_warns_about_an_unknown_variable(lab):
    playbook = os.path.join(lab, "analyze.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(ROLE_ALONE)
    set_lab_variable(lab, "microseg_tennants", TENANTS)
    result = run_playbook(lab, playbook=playbook)
    assert result.rc == 0, result.out
    assert result.out.count(TYPO_WARNING) == 1, result.out
    assert os.path.exists(os.path.join(lab, "reports", "lab-cluster", "reconciliation.json"))
