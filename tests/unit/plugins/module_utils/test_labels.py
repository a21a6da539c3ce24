"""Kubernetes name and label rules: tables of accepted and rejected names, exact messages."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import (
    validate_label_key, validate_label_value, validate_namespace, validate_object_name)

LABEL_RULE = "must be 63 characters or less, start and end with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"
NAMESPACE_RULE = ("must be 63 characters or less, start and end with a lower-case alphanumeric character, "
                  "and contain only lower-case alphanumerics or '-'")
SUBDOMAIN_RULE = ("must be 253 characters or less, start and end with a lower-case alphanumeric character, "
                  "and contain only lower-case alphanumerics, '-' or '.' (with an alphanumeric on each side of every '.')")

VALID = [
    (validate_namespace, "hipstershop"),
    (validate_namespace, "kube-system"),
    (validate_namespace, "a"),
    (validate_namespace, "0"),
    (validate_namespace, "a" * 63),
    (validate_object_name, "hipstershop.allow-frontend"),
    (validate_object_name, "a.b-c.d"),
    (validate_object_name, "a" * 253),
    (validate_label_value, ""),
    (validate_label_value, "frontend"),
    (validate_label_value, "Frontend_v2.1-x"),
    (validate_label_value, "9"),
    (validate_label_value, "a" * 63),
    (validate_label_key, "app"),
    (validate_label_key, "k8s-app"),
    (validate_label_key, "App_Name.v1"),
    (validate_label_key, "app.kubernetes.io/name"),
    (validate_label_key, "projectcalico.org/name"),
    (validate_label_key, "x/y"),
    (validate_label_key, "a" * 253 + "/" + "b" * 63),
]

INVALID = [
    (validate_namespace, "", "'' is not a valid namespace: must not be empty"),
    (validate_namespace, "Hipstershop", "'Hipstershop' is not a valid namespace: " + NAMESPACE_RULE),
    (validate_namespace, "-a", "'-a' is not a valid namespace: " + NAMESPACE_RULE),
    (validate_namespace, "a-", "'a-' is not a valid namespace: " + NAMESPACE_RULE),
    (validate_namespace, "a.b", "'a.b' is not a valid namespace: " + NAMESPACE_RULE),
    (validate_namespace, "a_b", "'a_b' is not a valid namespace: " + NAMESPACE_RULE),
    (validate_namespace, "a" * 64, "%r is not a valid namespace: %s" % ("a" * 64, NAMESPACE_RULE)),
    (validate_namespace, "ns\n", "'ns\\n' is not a valid namespace: " + NAMESPACE_RULE),
    (validate_namespace, 5, "5 is not a valid namespace: must be a string, not int"),
    (validate_namespace, None, "None is not a valid namespace: must be a string, not NoneType"),
    (validate_object_name, "", "'' is not a valid object name: must not be empty"),
    (validate_object_name, "A", "'A' is not a valid object name: " + SUBDOMAIN_RULE),
    (validate_object_name, "a..b", "'a..b' is not a valid object name: " + SUBDOMAIN_RULE),
    (validate_object_name, "a.-b", "'a.-b' is not a valid object name: " + SUBDOMAIN_RULE),
    (validate_object_name, ".a", "'.a' is not a valid object name: " + SUBDOMAIN_RULE),
    (validate_object_name, "a" * 254, "%r is not a valid object name: %s" % ("a" * 254, SUBDOMAIN_RULE)),
    (validate_label_value, "Frontend!", "'Frontend!' is not a valid label value: " + LABEL_RULE),
    (validate_label_value, "-a", "'-a' is not a valid label value: " + LABEL_RULE),
    (validate_label_value, "a.", "'a.' is not a valid label value: " + LABEL_RULE),
    (validate_label_value, "a b", "'a b' is not a valid label value: " + LABEL_RULE),
    (validate_label_value, "a" * 64, "%r is not a valid label value: %s" % ("a" * 64, LABEL_RULE)),
    (validate_label_value, "ünï", "'ünï' is not a valid label value: " + LABEL_RULE),
    (validate_label_value, 1, "1 is not a valid label value: must be a string, not int"),
    (validate_label_key, "", "'' is not a valid label key: must not be empty"),
    (validate_label_key, "a b", "'a b' is not a valid label key: " + LABEL_RULE),
    (validate_label_key, "_a", "'_a' is not a valid label key: " + LABEL_RULE),
    (validate_label_key, "a" * 64, "%r is not a valid label key: %s" % ("a" * 64, LABEL_RULE)),
    (validate_label_key, "x/", "'x/' is not a valid label key: name after '/' must not be empty"),
    (validate_label_key, "x/-a", "'x/-a' is not a valid label key: name after '/' " + LABEL_RULE),
    (validate_label_key, "/a", "'/a' is not a valid label key: prefix before '/' " + SUBDOMAIN_RULE),
    (validate_label_key, "Example.com/a", "'Example.com/a' is not a valid label key: prefix before '/' " + SUBDOMAIN_RULE),
    (validate_label_key, "a" * 254 + "/b", "%r is not a valid label key: prefix before '/' %s" % ("a" * 254 + "/b", SUBDOMAIN_RULE)),
    (validate_label_key, "a/b/c", "'a/b/c' is not a valid label key: may contain at most one '/'"),
    (validate_label_key, None, "None is not a valid label key: must be a string, not NoneType"),
]

# Anything that would change the meaning of a Calico selector is not a label value or key.
SELECTOR_SYNTAX = ["a'b", 'a"b', "a b", "has(a)", "!a", "a&&b", "a||b", "a==b", "a!=b", "a,b", "{a}", "a)", "all()",
                   "a in {'b'}", "a\tb", "a\nb", "a\\b", "a=b", "a*", "a;b", "a:b", "a|b", "a#b"]


@pytest.mark.parametrize("validate, name", VALID)
def test_valid_names_pass(validate, name):
    assert validate(name) is None


@pytest.mark.parametrize("validate, name, message", INVALID)
def test_invalid_names_say_why(validate, name, message):
    with pytest.raises(ValueError) as err:
        validate(name)
    assert str(err.value) == message


@pytest.mark.parametrize("text", SELECTOR_SYNTAX)
@pytest.mark.parametrize("validate", [validate_label_value, validate_label_key, validate_namespace])
def test_selector_syntax_is_never_a_name(validate, text):
    with pytest.raises(ValueError):
        validate(text)
