"""The calico_selector filter: label mapping in, safely quoted Calico selector out."""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.zerotrust.microseg.plugins.filter.calico_selector import FilterModule, calico_selector
from ansible_collections.zerotrust.microseg.plugins.module_utils.selector import parse


@pytest.mark.parametrize("labels, expected", [
    ({"app": "frontend", "zone": ["dmz", "trusted"]}, "app == 'frontend' && zone in {'dmz', 'trusted'}"),
    ({"zone": ["trusted", "dmz", "dmz"], "app": "frontend"}, "app == 'frontend' && zone in {'dmz', 'trusted'}"),
    ({"app.kubernetes.io/name": "cart"}, "app.kubernetes.io/name == 'cart'"),
    ({"tier": ""}, "tier == ''"),
    ({"zone": ("dmz",)}, "zone in {'dmz'}"),
])
def test_builds_the_and_of_terms(labels, expected):
    assert calico_selector(labels) == expected


def test_selector_matches_exactly_the_labelled_endpoints():
    sel = parse(calico_selector({"app": "frontend", "zone": ["dmz", "trusted"]}))
    assert sel.matches({"app": "frontend", "zone": "dmz", "extra": "x"})
    assert sel.matches({"app": "frontend", "zone": "trusted"})
    assert not sel.matches({"app": "frontend"})
    assert not sel.matches({"app": "frontend", "zone": "internet"})
    assert not sel.matches({"zone": "dmz"})


@pytest.mark.parametrize("labels, message", [
    ({"app": "x' || all() || 'y"}, "label 'app': \"x' || all() || 'y\" is not a valid label value"),
    ({"app": 'x" || all() || "y'}, "label 'app'"),
    ({"zone": ["dmz", "x') || (all() || ('y"]}, "label 'zone'"),
    ({"app || all()": "x"}, "'app || all()' is not a valid label key"),
    ({"has(x)": "x"}, "'has(x)' is not a valid label key"),
    ({"app": 1}, "label 'app': value must be a string or a list of strings, not int"),
    ({"app": True}, "label 'app': value must be a string or a list of strings, not bool"),
    ({"app": None}, "label 'app'"),
    ({"app": {"a": "b"}}, "label 'app'"),
    ({"zone": []}, "label 'zone': the list of values is empty"),
    ({"zone": ["dmz", 3]}, "label 'zone': 3 is not a valid label value: must be a string, not int"),
    ({1: "x"}, "1 is not a valid label key: must be a string, not int"),
])
def test_refuses_anything_that_could_change_the_meaning(labels, message):
    with pytest.raises(AnsibleFilterError) as info:
        calico_selector(labels)
    assert str(info.value).startswith("calico_selector: ")
    assert message in str(info.value)


@pytest.mark.parametrize("labels", [{}, "app == 'x'", ["app"], None])
def test_refuses_empty_or_non_mapping_input(labels):
    with pytest.raises(AnsibleFilterError, match="calico_selector: input"):
        calico_selector(labels)


def test_filter_is_registered():
    assert FilterModule().filters() == {"calico_selector": calico_selector}


def test_sidecar_documentation():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "filter", "calico_selector.yml")
    with open(path, encoding="utf-8") as handle:
        docs = yaml.safe_load(handle)
    assert docs["DOCUMENTATION"]["name"] == "calico_selector"
    assert docs["DOCUMENTATION"]["options"]["_input"]["type"] == "dict"
    assert "zerotrust.microseg.calico_selector" in docs["EXAMPLES"]
    yaml.safe_load(docs["EXAMPLES"])
    assert docs["RETURN"]["_value"]["type"] == "string"
