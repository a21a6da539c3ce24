"""Declared intent: defaults, derived views (tiers, scope, identity, tenants) and every validation error."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import App, Dns, Intent, Tenant, load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS

NAMESPACE_RULE = ("must be 63 characters or less, start and end with a lower-case alphanumeric character, "
                  "and contain only lower-case alphanumerics or '-'")
LABEL_RULE = "must be 63 characters or less, start and end with an alphanumeric character, and contain only alphanumerics, '-', '_' or '.'"
DOMAIN_RULE = "each label must be 63 characters or less, start and end with a letter or digit, and contain only letters, digits or '-'"
APP_KEYS = "name, namespace, tenant, identity_label, tier, flows"

SHOP = {"name": "shop", "namespaces": ["hipstershop"], "pci": True}
HIPSTER = {"name": "hipstershop", "tenant": "shop"}


# -- defaults -------------------------------------------------------------------------------

def test_empty_variables_give_the_documented_defaults():
    intent = load_intent({})
    assert intent.dialect == "calico"
    assert intent.calico_version == (3, 32)
    assert intent.edition == "oss"
    assert intent.tenants == [] and intent.apps == []
    assert intent.trusted_domains == [] and intent.threat_nets == []
    assert intent.dns == Dns(namespace="kube-system", selector='k8s-app == "kube-dns"', port=53)
    assert intent.cluster_cidrs == ["10.244.0.0/16", "10.96.0.0/12"]
    assert intent.observed_flows == [] and intent.flow_logs == []
    assert intent.base_dir == "."
    assert intent.namespace_tiers == {} and intent.in_scope_namespaces == [] and intent.identity_labels == {}


@pytest.mark.parametrize("variables", [None, {}, {"unrelated": 1}], ids=["none", "empty", "unrelated"])
def test_missing_variables_are_defaults(variables):
    assert load_intent(variables) == Intent(dns=Dns("kube-system", 'k8s-app == "kube-dns"', 53),
                                            cluster_cidrs=["10.244.0.0/16", "10.96.0.0/12"])


@pytest.mark.parametrize("value, expected", [
    ("3.32", (3, 32)), ("3.31", (3, 31)), ("3.31.2", (3, 31)), ("3.29", (3, 29)), ("3.30", (3, 30)), (3.31, (3, 31)),
    (3.29, (3, 29)), (3.32, (3, 32)), (None, (3, 32)), ("", (3, 32)),
])
def test_calico_version(value, expected):
    assert load_intent({"microseg_calico_version": value}).calico_version == expected


QUOTE_IT = "the unquoted number %s is ambiguous: YAML reads %s0 as %s too; quote the version as written, e.g. microseg_calico_version: \"%s0\""
NOT_SUPPORTED = "Calico %s is not supported: the calico dialect renders for Calico 3.29 to 3.32"
OLDER = " (policy tiers came to Calico open source in 3.29)"
NEWER = " (a newer Calico is not known to this release of zerotrust.microseg)"


@pytest.mark.parametrize("value, message", [
    # YAML makes 3.3 of an unquoted 3.30 and 3.4 of 3.40: what was written cannot be known
    (3.3, QUOTE_IT % (("3.3",) * 4)), (3.4, QUOTE_IT % (("3.4",) * 4)), (3.0, QUOTE_IT % (("3.0",) * 4)),
    ("3.28", NOT_SUPPORTED % "3.28" + OLDER), ("3.3", NOT_SUPPORTED % "3.3" + OLDER), ("3.4", NOT_SUPPORTED % "3.4" + OLDER),
    (3, NOT_SUPPORTED % "3.0" + OLDER), ("4", NOT_SUPPORTED % "4.0" + NEWER), ("3.33", NOT_SUPPORTED % "3.33" + NEWER),
    (3.33, NOT_SUPPORTED % "3.33" + NEWER), (3.305, NOT_SUPPORTED % "3.305" + NEWER),
    (True, "True is not a version like \"3.32\""), ([3, 32], "[3, 32] is not a version like \"3.32\""),
])
def test_calico_version_refused(value, message):
    with pytest.raises(InputError) as err:
        load_intent({"microseg_calico_version": value})
    assert (err.value.field, err.value.message) == ("microseg_calico_version", message)
    assert str(err.value) == "inventory: microseg_calico_version: " + message


def test_calico_version_of_enterprise_is_the_paired_open_source_version():
    with pytest.raises(InputError) as err:
        load_intent({"microseg_calico_version": "3.23", "microseg_calico_edition": "enterprise"})
    assert err.value.message == NOT_SUPPORTED % "3.23" + OLDER + (
        "; with microseg_calico_edition enterprise give the Calico open-source version your Calico Enterprise release is "
        "paired with (e.g. Calico Enterprise 3.23 with Calico 3.32)")
    assert load_intent({"microseg_calico_version": "3.32", "microseg_calico_edition": "enterprise"}).calico_version == (3, 32)


@pytest.mark.parametrize("dialect", ["kubernetes"])
def test_calico_version_range_is_the_calico_dialects_own(dialect):
    """Other dialects render no Calico object: any well-formed version passes; an ambiguous number is refused all the same."""
    assert load_intent({"microseg_dialect": dialect, "microseg_calico_version": "3.28"}).calico_version == (3, 28)
    with pytest.raises(InputError, match="ambiguous"):
        load_intent({"microseg_dialect": dialect, "microseg_calico_version": 3.4})


def test_app_defaults():
    app = load_intent({"microseg_apps": [{"name": "yaobank"}]}).apps[0]
    assert app == App(name="yaobank", namespace="yaobank", tenant="", identity_label="app", tier="appsec", flows=None)


def test_full_intent_is_kept():
    intent = load_intent({
        "microseg_dialect": "kubernetes", "microseg_calico_version": "3.31", "microseg_calico_edition": "enterprise",
        "microseg_tenants": [SHOP, {"name": "bank", "namespaces": ["yaobank", "ledger"], "pci": "no"}],
        "microseg_apps": [dict(HIPSTER, identity_label="app.kubernetes.io/name", tier="application",
                               flows=[{"source": "a", "destination": "b", "port": 80}]),
                          {"name": "yaobank", "tenant": "bank", "flows": "flows/yaobank.md"}],
        "microseg_trusted_domains": ["tigera.io", "Google.CA", "tigera.io", "*.example.com"],
        "microseg_threat_nets": ["203.0.113.0/24", "198.51.100.7", "203.0.113.0/24"],
        "microseg_dns": {"namespace": "dns", "selector": "app=='coredns'", "port": "5353"},
        "microseg_cluster_cidrs": ["10.0.0.0/8", "fd00::/64"],
        "microseg_observed_flows": ["flows/observed.md", {"source": "a/b", "destination": "a/c", "port": 1}],
        "microseg_flow_logs": [{"path": "logs/f.jsonl", "format": "hubble"}],
    }, base_dir="/inv")
    assert (intent.dialect, intent.calico_version, intent.edition, intent.base_dir) == ("kubernetes", (3, 31), "enterprise", "/inv")
    assert intent.tenants == [Tenant("shop", ("hipstershop",), True), Tenant("bank", ("ledger", "yaobank"), False)]
    assert intent.apps[0] == App("hipstershop", "hipstershop", "shop", "app.kubernetes.io/name", "application",
                                 [{"source": "a", "destination": "b", "port": 80}])
    assert intent.apps[1] == App("yaobank", "yaobank", "bank", "app", "appsec", "flows/yaobank.md")
    assert intent.trusted_domains == ["*.example.com", "google.ca", "tigera.io"]  # lower-cased, de-duplicated, sorted
    assert intent.threat_nets == ["198.51.100.7/32", "203.0.113.0/24"]
    assert intent.dns == Dns("dns", "app == \"coredns\"", 5353)
    assert intent.cluster_cidrs == ["10.0.0.0/8", "fd00::/64"]
    assert intent.observed_flows == ["flows/observed.md", {"source": "a/b", "destination": "a/c", "port": 1}]
    assert intent.flow_logs == [{"path": "logs/f.jsonl", "format": "hubble"}]


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("yes", True), ("True", True), ("no", False), ("FALSE", False),
])
def test_tenant_pci_booleans(value, expected):
    tenant = load_intent({"microseg_tenants": [{"name": "t", "namespaces": ["a"], "pci": value}]}).tenants[0]
    assert tenant.pci is expected


@pytest.mark.parametrize("value, expected", [
    (None, ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy")),
    ([], ()),
    (["ClusterNetworkPolicy", "AdminNetworkPolicy", "ClusterNetworkPolicy"], ("AdminNetworkPolicy", "ClusterNetworkPolicy")),
])
def test_cluster_serves_defaults_to_the_v1alpha1_admin_kinds_and_an_empty_list_is_kept(value, expected):
    intent = load_intent({"microseg_cluster_serves": value})
    assert intent.cluster_serves == expected and intent.threat_nets_fallback == "fail"
    assert intent.served_by == "the cluster (microseg_cluster_serves)"   # phases.adopt_served_kinds names the cluster
    assert load_intent({"microseg_threat_nets_fallback": "except"}).threat_nets_fallback == "except"


def test_explicit_empty_cluster_cidrs_are_kept_empty():
    assert load_intent({"microseg_cluster_cidrs": []}).cluster_cidrs == []


def test_dns_is_merged_over_the_default():
    assert load_intent({"microseg_dns": {"port": 5353}}).dns == Dns("kube-system", 'k8s-app == "kube-dns"', 5353)


@pytest.mark.parametrize("path, base, expected", [
    ("flows/a.md", "/inv", "/inv/flows/a.md"),
    ("/abs/a.md", "/inv", "/abs/a.md"),
    ("a.md", None, "./a.md"),
])
def test_resolve(path, base, expected):
    assert load_intent({}, base_dir=base).resolve(path) == expected


# -- derived views ----------------------------------------------------------------------------

# tenants, apps -> namespace_tiers
TIERS = [
    ([], [{"name": "a"}], {"a": "appsec"}),
    ([], [{"name": "a", "tier": "application"}], {"a": "application"}),
    ([{"name": "t", "namespaces": ["x", "y"]}], [], {"x": "application", "y": "application"}),
    ([{"name": "t", "namespaces": ["x"]}], [{"name": "x", "tenant": "t"}], {"x": "appsec"}),
    ([{"name": "t", "namespaces": ["x"]}], [{"name": "x", "tenant": "t", "tier": "application"}], {"x": "application"}),
    # appsec wins over application in one namespace, whichever app comes first
    ([], [{"name": "a", "namespace": "n", "tier": "application"}, {"name": "b", "namespace": "n"}], {"n": "appsec"}),
    ([], [{"name": "a", "namespace": "n"}, {"name": "b", "namespace": "n", "tier": "application"}], {"n": "appsec"}),
    ([{"name": "t", "namespaces": ["z", "x"]}], [{"name": "b", "tier": "application"}, {"name": "a"}],
     {"x": "application", "z": "application", "b": "application", "a": "appsec"}),
]


@pytest.mark.parametrize("tenants, apps, expected", TIERS)
def test_namespace_tiers_and_scope(tenants, apps, expected):
    intent = load_intent({"microseg_tenants": tenants, "microseg_apps": apps})
    assert intent.namespace_tiers == expected
    assert intent.in_scope_namespaces == sorted(expected)


def test_identity_labels_per_namespace():
    intent = load_intent({"microseg_apps": [{"name": "a"}, {"name": "b", "identity_label": "app.kubernetes.io/name"},
                                            {"name": "c", "namespace": "b", "identity_label": "app.kubernetes.io/name"}]})
    assert intent.identity_labels == {"a": "app", "b": "app.kubernetes.io/name"}


@pytest.mark.parametrize("namespace, tenant", [("hipstershop", "shop"), ("ledger", "bank"), ("yaobank", "bank"), ("other", None)])
def test_tenant_of(namespace, tenant):
    intent = load_intent({"microseg_tenants": [SHOP, {"name": "bank", "namespaces": ["yaobank", "ledger"]}]})
    found = intent.tenant_of(namespace)
    assert (found.name if found else None) == tenant


# -- every validation error: variables, field path, exact message ----------------------------

ERRORS = [
    # top level
    ({"microseg_dialect": "cilium"}, "microseg_dialect", "must be one of %s, got 'cilium'" % ", ".join(DIALECTS)),
    ({"microseg_calico_version": "x.y"}, "microseg_calico_version", "'x.y' is not a version like \"3.32\""),
    ({"microseg_calico_version": "3."}, "microseg_calico_version", "'3.' is not a version like \"3.32\""),
    ({"microseg_calico_edition": "cloud"}, "microseg_calico_edition", "must be one of oss, enterprise, got 'cloud'"),
    # tenants
    ({"microseg_tenants": "shop"}, "microseg_tenants", "must be a list, got str"),
    ({"microseg_tenants": {"name": "shop"}}, "microseg_tenants", "must be a list, got dict"),
    ({"microseg_tenants": [SHOP, "bank"]}, "microseg_tenants[1]", "must be a mapping, got str"),
    ({"microseg_tenants": [dict(SHOP, colour="red", apps=[])]}, "microseg_tenants[0]",
     "unknown key(s) apps, colour; allowed: name, namespaces, pci"),
    ({"microseg_tenants": [{"namespaces": ["a"]}]}, "microseg_tenants[0].name", "must be a non-empty string, got None"),
    ({"microseg_tenants": [{"name": "", "namespaces": ["a"]}]}, "microseg_tenants[0].name", "must be a non-empty string, got ''"),
    ({"microseg_tenants": [{"name": "Shop", "namespaces": ["a"]}]}, "microseg_tenants[0].name",
     "'Shop' is not a valid namespace: " + NAMESPACE_RULE),
    ({"microseg_tenants": [{"name": "t", "namespaces": "a"}]}, "microseg_tenants[0].namespaces", "must be a list, got str"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a", "B_"]}]}, "microseg_tenants[0].namespaces[1]",
     "'B_' is not a valid namespace: " + NAMESPACE_RULE),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a", 7]}]}, "microseg_tenants[0].namespaces[1]",
     "must be a non-empty string, got 7"),
    ({"microseg_tenants": [{"name": "t"}]}, "microseg_tenants[0].namespaces", "a tenant needs at least one namespace"),
    ({"microseg_tenants": [{"name": "t", "namespaces": []}]}, "microseg_tenants[0].namespaces", "a tenant needs at least one namespace"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a", "b"]}, {"name": "u", "namespaces": ["c", "b"]}]},
     "microseg_tenants[1].namespaces[1]", "namespace 'b' already belongs to tenant 't'"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a", "a"]}]}, "microseg_tenants[0].namespaces[1]",
     "namespace 'a' already belongs to tenant 't'"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a"]}, {"name": "t", "namespaces": ["b"]}]}, "microseg_tenants[1].name",
     "tenant 't' is declared twice"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a"], "pci": "maybe"}]}, "microseg_tenants[0].pci",
     "must be a boolean, got 'maybe'"),
    ({"microseg_tenants": [{"name": "t", "namespaces": ["a"], "pci": 1}]}, "microseg_tenants[0].pci", "must be a boolean, got 1"),
    # apps
    ({"microseg_apps": "shop"}, "microseg_apps", "must be a list, got str"),
    ({"microseg_apps": [{"name": "a"}, ["b"]]}, "microseg_apps[1]", "must be a mapping, got list"),
    ({"microseg_apps": [{"name": "a", "labels": {}}]}, "microseg_apps[0]", "unknown key(s) labels; allowed: " + APP_KEYS),
    ({"microseg_apps": [{"namespace": "a"}]}, "microseg_apps[0].name", "must be a non-empty string, got None"),
    ({"microseg_apps": [{"name": "My App"}]}, "microseg_apps[0].name", "'My App' is not a valid namespace: " + NAMESPACE_RULE),
    ({"microseg_apps": [{"name": "a", "namespace": "Shop"}]}, "microseg_apps[0].namespace",
     "'Shop' is not a valid namespace: " + NAMESPACE_RULE),
    ({"microseg_apps": [{"name": "a", "namespace": ""}]}, "microseg_apps[0].namespace", "must be a non-empty string, got ''"),
    ({"microseg_apps": [{"name": "a", "tenant": 5}]}, "microseg_apps[0].tenant", "must be a non-empty string, got 5"),
    ({"microseg_tenants": [SHOP], "microseg_apps": [{"name": "a", "tenant": "bank"}]}, "microseg_apps[0].tenant",
     "tenant 'bank' is not declared in microseg_tenants"),
    ({"microseg_tenants": [SHOP], "microseg_apps": [{"name": "a", "tenant": "shop"}]}, "microseg_apps[0].namespace",
     "namespace 'a' is not one of tenant 'shop''s namespaces ['hipstershop']"),
    ({"microseg_apps": [{"name": "a", "identity_label": "bad key!"}]}, "microseg_apps[0].identity_label",
     "'bad key!' is not a valid label key: " + LABEL_RULE),
    ({"microseg_apps": [{"name": "a", "identity_label": ""}]}, "microseg_apps[0].identity_label", "must be a non-empty string, got ''"),
    ({"microseg_apps": [{"name": "a", "namespace": "n"}, {"name": "b", "namespace": "n", "identity_label": "run"}]},
     "microseg_apps[1].identity_label", "namespace 'n' already uses identity label 'app'"),
    ({"microseg_apps": [{"name": "a"}, {"name": "b", "tier": "x"}]}, "microseg_apps[1].tier", "must be one of application, appsec, got 'x'"),
    ({"microseg_apps": [{"name": "a", "tier": "security"}]}, "microseg_apps[0].tier", "must be one of application, appsec, got 'security'"),
    ({"microseg_apps": [{"name": "a", "flows": {"source": "a"}}]}, "microseg_apps[0].flows",
     "must be a path or a list of {source, destination, port}"),
    ({"microseg_apps": [{"name": "a", "flows": 7}]}, "microseg_apps[0].flows", "must be a path or a list of {source, destination, port}"),
    ({"microseg_apps": [{"name": "a"}, {"name": "a", "namespace": "b"}]}, "microseg_apps[1].name", "app 'a' is declared twice"),
    # domains, nets, cidrs
    ({"microseg_trusted_domains": "tigera.io"}, "microseg_trusted_domains", "must be a list, got str"),
    ({"microseg_trusted_domains": ["tigera.io", None]}, "microseg_trusted_domains[1]", "must be a non-empty string, got None"),
    ({"microseg_trusted_domains": ["-bad.com"]}, "microseg_trusted_domains[0]", "'domain:-bad.com' is not a valid domain name: " + DOMAIN_RULE),
    ({"microseg_trusted_domains": ["*.*.com"]}, "microseg_trusted_domains[0]", "'domain:*.*.com' is not a valid domain name: may contain only one '*'"),
    ({"microseg_threat_nets": {"a": 1}}, "microseg_threat_nets", "must be a list, got dict"),
    ({"microseg_threat_nets": ["203.0.113.1/24"]}, "microseg_threat_nets[0]",
     "'203.0.113.1/24' is not a CIDR: 203.0.113.1/24 has host bits set"),
    ({"microseg_threat_nets": ["10.0.0.0/8", "nope"]}, "microseg_threat_nets[1]",
     "'nope' is not a CIDR: 'nope' does not appear to be an IPv4 or IPv6 network"),
    ({"microseg_threat_nets": [24]}, "microseg_threat_nets[0]", "must be a non-empty string, got 24"),
    ({"microseg_cluster_cidrs": "10.0.0.0/8"}, "microseg_cluster_cidrs", "must be a list, got str"),
    ({"microseg_cluster_cidrs": ["10.0.0.0/33"]}, "microseg_cluster_cidrs[0]",
     "'10.0.0.0/33' is not a CIDR: '10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"),
    # dns
    ({"microseg_dns": ["kube-system"]}, "microseg_dns", "must be a mapping, got list"),
    ({"microseg_dns": "kube-system"}, "microseg_dns", "must be a mapping, got str"),
    ({"microseg_dns": {"namespace": "kube-system", "ports": 53}}, "microseg_dns", "unknown key(s) ports; allowed: namespace, selector, port"),
    ({"microseg_dns": {1: 53}}, "microseg_dns", "unknown key(s) 1; allowed: namespace, selector, port"),
    ({"microseg_dns": {"namespace": "Kube"}}, "microseg_dns.namespace", "'Kube' is not a valid namespace: " + NAMESPACE_RULE),
    ({"microseg_dns": {"selector": ""}}, "microseg_dns.selector", "must be a non-empty string, got ''"),
    ({"microseg_dns": {"selector": "k8s-app == "}}, "microseg_dns.selector",
     "selector 'k8s-app == ', position 11: expected a quoted string after '==', found end of selector"),
    ({"microseg_dns": {"port": "dns"}}, "microseg_dns.port", "'dns' is not a port (1-65535)"),
    ({"microseg_dns": {"port": 0}}, "microseg_dns.port", "0 is not a port (1-65535)"),
    ({"microseg_dns": {"port": 65536}}, "microseg_dns.port", "65536 is not a port (1-65535)"),
    ({"microseg_dns": {"port": None}}, "microseg_dns.port", "None is not a port (1-65535)"),
    ({"microseg_dns": {"port": True}}, "microseg_dns.port", "True is not a port (1-65535)"),
    # observed flows and flow logs
    ({"microseg_observed_flows": "flows/observed.md"}, "microseg_observed_flows", "must be a list, got str"),
    ({"microseg_flow_logs": {"path": "x"}}, "microseg_flow_logs", "must be a list, got dict"),
    # what the cluster serves, and the kubernetes dialect's way without AdminNetworkPolicy
    ({"microseg_cluster_serves": "AdminNetworkPolicy"}, "microseg_cluster_serves", "must be a list, got str"),
    ({"microseg_cluster_serves": ["AdminNetworkPolicy", "NetworkPolicy"]}, "microseg_cluster_serves[1]",
     "must be one of AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy, got 'NetworkPolicy'"),
    ({"microseg_threat_nets_fallback": "drop"}, "microseg_threat_nets_fallback", "must be one of fail, except, got 'drop'"),
]


@pytest.mark.parametrize("variables, field, message", ERRORS, ids=["%s:%s" % (e[1], e[2][:30]) for e in ERRORS])
def test_validation_error(variables, field, message):
    with pytest.raises(InputError) as caught:
        load_intent(variables)
    error = caught.value
    assert (error.source, error.line, error.field, error.message) == ("inventory", None, field, message)
    assert str(error) == "inventory: %s: %s" % (field, message)


def test_error_text_names_the_field_path():
    with pytest.raises(InputError, match=r"^inventory: microseg_apps\[1\]\.tier: must be one of application, appsec, got 'x'$"):
        load_intent({"microseg_apps": [{"name": "a"}, {"name": "b", "tier": "x"}]})
