"""The ``microseg_*`` inventory variables: checked by their own names before anything is written.

Their types, choices and defaults are the roles' argument specs (``roles/*/meta/argument_specs.yml``, entry
point ``main``); Ansible checks them when a role starts, and the action plugins check the same specs before
their module runs, so that ``playbooks/tasks/phases.yml``, whose first task runs every phase, fails on
``microseg_apps: "yaobank"`` naming ``microseg_apps`` rather than the module option ``apps``. The variables
only the playbooks read are named in PLAYBOOK_VARIABLES. Together they are every known name: any other
``microseg_*`` variable is warned about with the closest known name, and ``microseg_strict`` makes it an error.
"""
from __future__ import annotations

import difflib
import functools
import glob
import os
from collections.abc import Mapping

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import calico_version

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C one when built: ten times faster
PREFIX = "microseg_"
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
# variables only the playbooks read (no role does): name -> where
PLAYBOOK_VARIABLES = {
    "microseg_batch": "rollout.yml: hosts per batch after the canaries, a number or a percentage (default 25%)",
    "microseg_max_fail_percentage": "rollout.yml: the share of a batch that may fail before the rollout stops (default 0)",
    "microseg_check_flows": "verdicts.yml: flows to decide besides the declared and observed ones",
    "microseg_fail_on_denied": "verdicts.yml: fail when a flow is denied",
    "microseg_staged": "verdicts.yml: preview takes the staged policies as enforced",
}


@functools.lru_cache(maxsize=None)
def role_specs(roles_dir=ROLES_DIR):
    """Role name -> the options of its ``main`` entry point, as its ``meta/argument_specs.yml`` declares them."""
    specs = {}
    for path in sorted(glob.glob(os.path.join(roles_dir, "*", "meta", "argument_specs.yml"))):
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=YAML_LOADER) or {}  # a safe loader
        main = (data.get("argument_specs") or {}).get("main") or {}
        specs[os.path.basename(os.path.dirname(os.path.dirname(path)))] = main.get("options") or {}
    return specs


@functools.lru_cache(maxsize=None)
def variable_spec(roles_dir=ROLES_DIR):
    """Every variable any role declares -> its spec (roles declare a shared variable alike)."""
    spec = {}
    for options in role_specs(roles_dir).values():
        for name, option in options.items():
            spec.setdefault(name, option)
    return spec


def known_variables(roles_dir=ROLES_DIR):
    """Every ``microseg_*`` name the collection reads."""
    return frozenset(variable_spec(roles_dir)) | frozenset(PLAYBOOK_VARIABLES)


def _suffix(name):
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def closest(name, known):
    """The known name closest to ``name`` (compared without the common prefix), or None."""
    by_suffix = {_suffix(candidate): candidate for candidate in known}
    matches = difflib.get_close_matches(_suffix(name), sorted(by_suffix), n=1, cutoff=0.6)
    return by_suffix[matches[0]] if matches else None


def unknown_variables(names, known):
    """One line per ``microseg_*`` name in ``names`` that is not known, with the closest known name."""
    lines = []
    for name in sorted(set(names)):
        if not name.startswith(PREFIX) or name in known:
            continue
        suggestion = closest(name, known)
        hint = "did you mean %s?" % suggestion if suggestion else "not a variable of zerotrust.microseg (README: Inventory variables)"
        lines.append("unknown variable %s; %s" % (name, hint))
    return lines


def _plain(value):
    """``value`` with Ansible's tagged mappings, lists and scalars made plain, so that messages name plain types."""
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    for kind in (str, bool, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def type_errors(values, spec):
    """The argument spec errors of ``values`` (variable -> templated value), each naming its variable."""
    checked = {name: _plain(value) for name, value in values.items() if name in spec}
    result = ArgumentSpecValidator({name: spec[name] for name in checked}).validate(checked)
    # a failed conversion to dict also reports the converter's bare message, which names nothing: drop it
    named = [error for error in result.error_messages if PREFIX in error]
    return named or list(result.error_messages)


def version_errors(values):
    """``microseg_calico_version`` as the modules will read it (``intent.calico_version``): an unquoted number whose
    written form YAML lost (3.4 from 3.40), or a version the calico dialect does not render for, is an error."""
    if values.get("microseg_calico_version") in (None, ""):
        return []
    try:
        calico_version(_plain(values["microseg_calico_version"]), _plain(values.get("microseg_dialect")) or "calico",
                       _plain(values.get("microseg_calico_edition")) or "oss")
    except InputError as err:
        return ["%s: %s" % (err.field, err.message)]
    return []


def number_warnings(values):
    """A Calico version YAML read as a number (3.31, unambiguous; 3.3 is an error): say so, it had better be quoted."""
    value = values.get("microseg_calico_version")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ["microseg_calico_version is the number %r, read as %r; quote it (\"3.30\"), YAML drops a trailing zero" % (value, str(value))]
    return []


def check(values, names=(), roles_dir=ROLES_DIR):
    """``(errors, warnings)`` for one host: ``values`` are its templated variables that the roles declare, ``names``
    every ``microseg_*`` variable it has. Type errors are always errors; an unknown name is a warning, or an error
    when ``microseg_strict`` is true."""
    spec = variable_spec(roles_dir)
    if not spec:   # without them every name would look unknown
        return ["no role argument specs found (%s)" % os.path.join(roles_dir, "*", "meta", "argument_specs.yml")], []
    errors = type_errors(values, spec) or version_errors(values)
    if errors:
        return errors, []
    unknown = unknown_variables(names, known_variables(roles_dir))
    if unknown and boolean(values.get("microseg_strict", False), strict=False):
        return ["%s (an error since microseg_strict is true)" % line for line in unknown], []
    return [], unknown + number_warnings(values)
