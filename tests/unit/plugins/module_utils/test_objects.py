"""Object identity, paths, canonical YAML and per-object diffs."""
import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import (
    MANAGED_BY, POSTURE_LABEL, TIER_LABEL, diff_entry, dump, identity, is_managed, labels, load, relpath,
    same_content, strip_server_fields)


def _obj(api="projectcalico.org/v3", kind="NetworkPolicy", name="frontend", namespace="hipstershop", **extra):
    metadata = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    obj = {"apiVersion": api, "kind": kind, "metadata": metadata}
    obj.update(extra)
    return obj


IDENTITIES = [
    ("calico namespaced", _obj(), ("projectcalico.org", "NetworkPolicy", "hipstershop", "frontend"),
     "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"),
    ("calico global", _obj(kind="GlobalNetworkPolicy", name="default.deny", namespace=None),
     ("projectcalico.org", "GlobalNetworkPolicy", "", "default.deny"),
     "projectcalico.org/GlobalNetworkPolicy/_cluster/default.deny.yaml"),
    ("core v1", _obj(api="v1", kind="Namespace", name="hipstershop", namespace=None),
     ("core", "Namespace", "", "hipstershop"), "core/Namespace/_cluster/hipstershop.yaml"),
    ("apps group", _obj(api="apps/v1", kind="Deployment", name="cart"),
     ("apps", "Deployment", "hipstershop", "cart"), "apps/Deployment/hipstershop/cart.yaml"),
    ("empty namespace is cluster scope", _obj(kind="Tier", name="platform", namespace=""),
     ("projectcalico.org", "Tier", "", "platform"), "projectcalico.org/Tier/_cluster/platform.yaml"),
]


@pytest.mark.parametrize("obj, ident, path", [case[1:] for case in IDENTITIES], ids=[case[0] for case in IDENTITIES])
def test_identity_and_relpath(obj, ident, path):
    assert identity(obj) == ident
    assert relpath(ident) == path


BAD_IDENTITIES = [
    ("no apiVersion", {"kind": "Tier", "metadata": {"name": "x"}}, "apiVersion"),
    ("empty apiVersion", _obj(api=""), "apiVersion"),
    ("no kind", {"apiVersion": "v1", "metadata": {"name": "x"}}, "kind"),
    ("no metadata", {"apiVersion": "v1", "kind": "Namespace"}, "metadata"),
    ("no name", {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}, "metadata.name"),
    ("name not a string", _obj(name=7), "metadata.name"),
    ("slash in name", _obj(name="a/b"), "metadata.name"),
    ("dot name", _obj(name=".hidden"), "metadata.name"),
    ("dot-dot namespace", _obj(namespace=".."), "metadata.namespace"),
    ("reserved namespace", _obj(namespace="_cluster"), "metadata.namespace"),
    ("group only slash", _obj(api="/v1"), "apiVersion"),
]


@pytest.mark.parametrize("obj, field", [case[1:] for case in BAD_IDENTITIES], ids=[case[0] for case in BAD_IDENTITIES])
def test_identity_errors_name_the_field(obj, field):
    with pytest.raises(InputError) as info:
        identity(obj)
    assert info.value.field == field
    assert field in str(info.value)


def test_identity_of_a_non_mapping():
    with pytest.raises(InputError):
        identity(["not", "an", "object"])


def test_dump_orders_top_level_then_sorts_nested():
    obj = {"zeta": 1, "spec": {"b": 1, "a": {"d": 1, "c": 2}}, "metadata": {"name": "x", "labels": {"z": "1", "a": "2"}},
           "data": {"k": "v"}, "kind": "Tier", "apiVersion": "projectcalico.org/v3"}
    text = dump(obj)
    top = [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")]
    assert top == ["apiVersion", "kind", "metadata", "spec", "data", "zeta"]
    assert text.index("  labels:") < text.index("  name: x")
    assert text.index("  a:") < text.index("  b: 1")
    assert text.index("    c: 2") < text.index("    d: 1")


def test_dump_is_deterministic_whatever_the_insertion_order():
    first = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}, "data": {"a": "1", "b": "2"}}
    second = {"data": {"b": "2", "a": "1"}, "metadata": {"namespace": "y", "name": "x"}, "kind": "ConfigMap", "apiVersion": "v1"}
    assert dump(first) == dump(second)


def test_dump_block_style_without_aliases():
    shared = {"ports": [80, 443]}
    text = dump({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"a": shared, "b": shared}})
    assert "&" not in text and "*" not in text
    assert "{" not in text and "[" not in text
    assert text.endswith("\n")


ROUND_TRIPS = ["7070", "1e3", "0o17", "0x1F", "010", "1_000", "+1", "-2.5", ".5", "80:30", "8000:8080", "yes", "No",
               "on", "OFF", "true", "null", "~", "", "2024-01-01", ".inf", "=", "app == 'x'", "a: b", "- x", "#x",
               "line one\nline two\n", "trailing space \n", "ünïcode", "http", "1.2.3.4/32"]


@pytest.mark.parametrize("value", ROUND_TRIPS)
def test_strings_round_trip_exactly(value):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"value": value, value or "k": "v"}}
    assert load(dump(obj)) == obj
    assert yaml.safe_load(dump(obj))["data"]["value"] == value


@pytest.mark.parametrize("value", ["7070", "1e3", "0o17", "yes", "80:30", "true", "null"])
def test_number_and_bool_looking_strings_are_quoted(value):
    assert "value: '%s'" % value in dump({"value": value})


@pytest.mark.parametrize("value", [7070, 1.5, True, False, None, -3])
def test_typed_scalars_keep_their_type(value):
    loaded = load(dump({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "value": value}))
    assert loaded["value"] == value and type(loaded["value"]) is type(value)


def test_dump_turns_tuples_and_str_subclasses_into_plain_yaml():
    class Tagged(str):
        pass

    text = dump({"apiVersion": "v1", "kind": "X", "metadata": {"name": Tagged("x")}, "spec": {"ports": (80, 443)}})
    assert "name: x" in text and "- 80\n  - 443" in text


def test_dump_of_an_unrepresentable_value_is_an_input_error():
    with pytest.raises(InputError):
        dump({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": object()})


LOAD_ERRORS = [
    ("bad yaml", "a: [1\nb: 2\n", 2),
    ("a list", "- a\n- b\n", None),
    ("a scalar", "hello\n", None),
    ("empty", "", None),
    ("two documents", "a: 1\n---\nb: 2\n", None),
]


@pytest.mark.parametrize("text, line", [case[1:] for case in LOAD_ERRORS], ids=[case[0] for case in LOAD_ERRORS])
def test_load_errors_name_the_source(text, line):
    with pytest.raises(InputError) as info:
        load(text, source="some/file.yaml")
    assert info.value.source == "some/file.yaml"
    assert info.value.line == line
    assert str(info.value).startswith("some/file.yaml")


def test_load_keeps_dates_as_strings_and_accepts_bytes():
    assert load(b"a: 2024-01-01\nb: =\n") == {"a": "2024-01-01", "b": "="}


def test_load_rejects_non_utf8():
    with pytest.raises(InputError, match="UTF-8"):
        load(b"a: \xff\n", source="f.yaml")


def test_strip_server_fields_returns_a_copy():
    obj = _obj(status={"phase": "Active"}, spec={"a": 1})
    obj["metadata"].update(resourceVersion="1", uid="u", generation=3, creationTimestamp="t", selfLink="/x",
                           managedFields=[{"manager": "kubectl"}], labels={"a": "b"})
    stripped = strip_server_fields(obj)
    assert stripped == {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy", "spec": {"a": 1},
                        "metadata": {"name": "frontend", "namespace": "hipstershop", "labels": {"a": "b"}}}
    assert obj["status"] == {"phase": "Active"} and obj["metadata"]["uid"] == "u"
    stripped["spec"]["a"] = 2
    assert obj["spec"]["a"] == 1


SAME_CONTENT = [
    ("equal", {"a": 1}, {"a": 1}, True),
    ("server fields ignored", {"metadata": {"name": "x", "uid": "1"}, "status": {}}, {"metadata": {"name": "x"}}, True),
    ("key order ignored", {"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
    ("tuple is a list", {"a": (1, 2)}, {"a": [1, 2]}, True),
    ("bool is not int", {"a": True}, {"a": 1}, False),
    ("int is not float", {"a": 1}, {"a": 1.0}, False),
    ("string is not int", {"a": "80"}, {"a": 80}, False),
    ("list order matters", {"a": [1, 2]}, {"a": [2, 1]}, False),
    ("missing key", {"a": 1}, {"a": 1, "b": None}, False),
    ("nan equals nan", {"a": float("nan")}, {"a": float("nan")}, True),
]


@pytest.mark.parametrize("first, second, expected", [case[1:] for case in SAME_CONTENT], ids=[case[0] for case in SAME_CONTENT])
def test_same_content(first, second, expected):
    assert same_content(first, second) is expected
    assert same_content(second, first) is expected  # pylint: disable=arguments-out-of-order


def test_diff_entry_for_create_update_delete():
    ident = ("projectcalico.org", "NetworkPolicy", "hipstershop", "frontend")
    before, after = _obj(spec={"order": 1}, status={"x": 1}), _obj(spec={"order": 2})
    header = "projectcalico.org/NetworkPolicy/hipstershop/frontend.yaml"
    assert diff_entry(ident, None, after) == {"before": "", "after": dump(after), "before_header": header, "after_header": header}
    assert diff_entry(ident, before, None)["after"] == ""
    updated = diff_entry(ident, before, after)
    assert updated["before"] == dump(_obj(spec={"order": 1})) and "status" not in updated["before"]
    assert updated["after"] == dump(after)


LABELS = [
    ("managed", {"metadata": {"labels": {MANAGED_BY[0]: MANAGED_BY[1], TIER_LABEL: "platform"}}}, True),
    ("other manager", {"metadata": {"labels": {MANAGED_BY[0]: "helm"}}}, False),
    ("no labels", {"metadata": {"name": "x"}}, False),
    ("labels null", {"metadata": {"labels": None}}, False),
    ("no metadata", {}, False),
]


@pytest.mark.parametrize("obj, managed", [case[1:] for case in LABELS], ids=[case[0] for case in LABELS])
def test_is_managed_and_labels(obj, managed):
    assert is_managed(obj) is managed
    assert isinstance(labels(obj), dict)


def test_label_names():
    assert MANAGED_BY == ("app.kubernetes.io/managed-by", "zerotrust.microseg")
    assert TIER_LABEL == "zerotrust.microseg/tier"
    assert POSTURE_LABEL == "zerotrust.microseg/posture"
