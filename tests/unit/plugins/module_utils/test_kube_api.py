"""kube_api without a server: connection resolution, retry policy, requests with a mocked transport, discovery."""
import json

import pytest
from kubernetes import client as k8s_client

from ansible_collections.zerotrust.microseg.plugins.module_utils import kube_api
from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import TargetError
from ansible_collections.zerotrust.microseg.plugins.module_utils.kube_api import (
    ApiFailure, Connection, KubeApi, Resource, RetryPolicy, configure, connection_source, retry_after_seconds)


# -- connection resolution ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, environ, in_cluster, expected", [
    ({"kubeconfig": "/k/a", "context": "c"}, {"K8S_AUTH_HOST": "https://h"}, True, Connection("kubeconfig", "/k/a", "c")),
    ({"context": "c"}, {"K8S_AUTH_KUBECONFIG": "/k/env"}, False, Connection("kubeconfig", "/k/env", "c")),
    ({"kubeconfig": "/k/a"}, {"K8S_AUTH_CONTEXT": "env-ctx"}, False, Connection("kubeconfig", "/k/a", "env-ctx")),
    ({"context": "c"}, {"KUBECONFIG": "/k/one:/k/two"}, False, Connection("kubeconfig", "/k/one:/k/two", "c")),
    ({}, {"K8S_AUTH_KUBECONFIG": "/k/env", "K8S_AUTH_HOST": "https://h"}, True, Connection("kubeconfig", "/k/env", None)),
    ({}, {"K8S_AUTH_HOST": "https://h:6443/", "K8S_AUTH_API_KEY": "t", "K8S_AUTH_VERIFY_SSL": "no", "K8S_AUTH_SSL_CA_CERT": "/ca"}, True,
     Connection("host", host="https://h:6443", api_key="t", verify_ssl=False, ca_cert="/ca")),
    ({}, {"K8S_AUTH_HOST": "https://h", "K8S_AUTH_VERIFY_SSL": "true"}, False, Connection("host", host="https://h", verify_ssl=True)),
    ({}, {"K8S_AUTH_HOST": "https://h"}, False, Connection("host", host="https://h", verify_ssl=True)),
    ({}, {"KUBECONFIG": "/k/default"}, True, Connection("in-cluster")),
    ({}, {"KUBECONFIG": "/k/default"}, False, Connection("default", "/k/default")),
])
def test_connection_source_follows_kubernetes_core_order(kwargs, environ, in_cluster, expected):
    assert connection_source(environ=environ, in_cluster=in_cluster, **kwargs) == expected


def test_connection_source_expands_home_and_defaults_to_kube_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert connection_source(kubeconfig="~/kc", environ={}).kubeconfig == str(tmp_path / "kc")
    assert connection_source(environ={}, in_cluster=False) == Connection("default", str(tmp_path / ".kube" / "config"))


def test_in_cluster_needs_the_service_host_and_the_token(monkeypatch):
    monkeypatch.setattr(kube_api, "IN_CLUSTER_TOKEN", __file__)
    assert connection_source(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}).source == "in-cluster"
    assert connection_source(environ={}).source == "default"
    monkeypatch.setattr(kube_api, "IN_CLUSTER_TOKEN", "/nonexistent/token")
    assert connection_source(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}).source == "default"


@pytest.mark.parametrize("connection, text", [
    (Connection("kubeconfig", "/k", "ctx"), "kubeconfig /k (context ctx)"),
    (Connection("default", "/home/u/.kube/config"), "kubeconfig /home/u/.kube/config"),
    (Connection("host", host="https://h"), "K8S_AUTH_HOST https://h"),
    (Connection("in-cluster"), "in-cluster config"),
])
def test_connection_describes_itself(connection, text):
    assert connection.describe() == text


def test_configure_from_host_and_token():
    configuration = configure(Connection("host", host="https://h:6443", api_key="tok", verify_ssl=False, ca_cert="/ca"))
    assert (configuration.host, configuration.verify_ssl, configuration.ssl_ca_cert) == ("https://h:6443", False, "/ca")
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer tok"
    assert configuration.retries is False


def test_configure_from_kubeconfig_and_context(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "a", "cluster": {"server": "https://a:6443"}}, {"name": "b", "cluster": {"server": "https://b:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "u"}}, {"name": "b", "context": {"cluster": "b", "user": "u"}}]}))
    assert configure(Connection("kubeconfig", str(path), None)).host == "https://a:6443"
    assert configure(Connection("kubeconfig", str(path), "b")).host == "https://b:6443"
    with pytest.raises(TargetError, match=r"cannot load the Kubernetes client configuration from kubeconfig .* \(context nope\)"):
        configure(Connection("kubeconfig", str(path), "nope"))


def test_configure_fails_clearly_for_a_missing_file():
    with pytest.raises(TargetError) as info:
        configure(Connection("kubeconfig", "/nonexistent/kc", None))
    assert str(info.value).startswith("cannot load the Kubernetes client configuration from kubeconfig /nonexistent/kc: ")


def test_missing_client_library_is_named(monkeypatch):
    monkeypatch.setattr(kube_api, "k8s_client", None)
    with pytest.raises(TargetError, match=r"needs the Python library kubernetes"):
        configure(Connection("in-cluster"))


# -- retry policy ------------------------------------------------------------------------------

def _failure(status, body=None, retry_after=None):
    return ApiFailure("PATCH", "/apis/x", status, body, retry_after)


FIELD_CONFLICT = {"reason": "Conflict", "message": "Apply failed with 1 conflict",
                  "details": {"causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl" using v1', "field": ".spec.x"}]}}


@pytest.mark.parametrize("failure, can_reread, expected", [
    (_failure(429), False, True),
    (_failure(500), False, True),
    (_failure(502), False, True),
    (_failure(503), False, True),
    (_failure(504), False, True),
    (_failure(0), False, True),
    (_failure(400), True, False),
    (_failure(403), True, False),
    (_failure(404), True, False),
    (_failure(422), True, False),
    (_failure(501), True, False),
    (_failure(409, {"reason": "Conflict"}), True, True),
    (_failure(409, {"reason": "Conflict"}), False, False),
    (_failure(409, FIELD_CONFLICT), True, False),
    (_failure(409, {"reason": "AlreadyExists"}), True, False),
])
def test_what_is_retried(failure, can_reread, expected):
    assert RetryPolicy().retryable(failure, can_reread) is expected


def test_backoff_doubles_up_to_the_cap_and_retry_after_wins():
    policy = RetryPolicy(base=0.5, cap=3.0)
    assert [policy.delay(attempt) for attempt in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(4, retry_after=7) == 7.0
    assert policy.delay(0, retry_after=0) == 0.0


@pytest.mark.parametrize("headers, expected", [({"Retry-After": "3"}, 3.0), ({"Retry-After": "0"}, 0.0), ({}, None),
                                               ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None), (None, None)])
def test_retry_after_header(headers, expected):
    assert retry_after_seconds(headers) == expected


def test_field_conflicts_name_managers_and_fields():
    assert _failure(409, FIELD_CONFLICT).field_conflicts() == [("kubectl", ".spec.x")]
    assert _failure(409, {"reason": "Conflict"}).field_conflicts() == []


# -- requests with a mocked transport -----------------------------------------------------------

class Response:
    """What ApiClient.call_api returns, as far as KubeApi reads it."""

    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.reason = "R%d" % status
        self.headers = headers or {}
        self._data = json.dumps(body).encode() if body is not None else b""

    def read(self):
        return self._data


class Clock:
    """A fake monotonic clock that sleeping advances."""

    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


@pytest.fixture(name="clock")
def _clock():
    return Clock()


def make_api(monkeypatch, clock, answers, **kwargs):
    """A KubeApi whose transport answers from ``answers`` (Responses or exceptions), recording the calls."""
    api = KubeApi(k8s_client.Configuration(host="http://kube.test"), sleep=clock.sleep, clock=clock, **kwargs)
    calls = []

    def call_api(method, url, header_params=None, body=None, post_params=None, _request_timeout=None):
        calls.append({"method": method, "url": url, "headers": header_params, "body": body, "timeout": _request_timeout})
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(api.api_client, "call_api", call_api)
    api.calls = calls
    return api


def test_success_returns_the_decoded_body_and_sends_json(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(200, {"kind": "X"})])
    assert api.request("PATCH", "/apis/g/v1/things/a", [("fieldManager", "m"), ("force", "true")], {"a": 1},
                       "application/apply-patch+yaml") == {"kind": "X"}
    call = api.calls[0]
    assert call["url"] == "http://kube.test/apis/g/v1/things/a?fieldManager=m&force=true"
    assert call["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert call["body"] == {"a": 1} and call["timeout"] == kube_api.DEFAULT_TIMEOUT


def test_429_honours_retry_after_then_5xx_backs_off(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(429, {"message": "slow down"}, {"Retry-After": "2"}), Response(503, {}),
                                        Response(500, {}), Response(200, {"ok": True})])
    assert api.request("GET", "/api/v1/pods") == {"ok": True}
    assert clock.slept == [2.0, 0.4, 0.8]


def test_connection_failures_are_retried(monkeypatch, clock):
    import urllib3  # pylint: disable=import-outside-toplevel
    api = make_api(monkeypatch, clock, [urllib3.exceptions.NewConnectionError(None, "refused"), Response(200, {})])
    assert api.request("GET", "/apis") == {}
    assert clock.slept == [0.2]


def test_gives_up_after_the_retries(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(500, {"message": "boom"})] * 3, retries=2)
    with pytest.raises(ApiFailure) as info:
        api.request("GET", "/apis")
    assert info.value.status == 500 and str(info.value) == "GET /apis: 500 boom"
    assert len(api.calls) == 3


def test_errors_that_retrying_cannot_fix_are_not_retried(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(422, {"message": "bad", "reason": "Invalid"})])
    with pytest.raises(ApiFailure) as info:
        api.request("PATCH", "/x", body={})
    assert (info.value.status, info.value.reason, clock.slept) == (422, "Invalid", [])


def test_optimistic_conflict_rereads_and_retries_with_the_new_request(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(409, {"reason": "Conflict"}), Response(200, {"done": 1})])
    assert api.request("PUT", "/x", body={"v": 1}, reread=lambda: ([("q", "2")], {"v": 2})) == {"done": 1}
    assert api.calls[1]["body"] == {"v": 2} and api.calls[1]["url"].endswith("/x?q=2")


def test_reread_finding_nothing_left_to_do_ends_the_request(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(409, {"reason": "Conflict"})])
    assert api.request("DELETE", "/x", body={}, reread=lambda: None) is None


def test_field_manager_conflicts_are_never_retried(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(409, FIELD_CONFLICT)])
    with pytest.raises(ApiFailure):
        api.request("PATCH", "/x", body={}, reread=lambda: ([], {}))
    assert len(api.calls) == 1


def test_the_deadline_bounds_waits_and_timeouts(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(429, {"message": "slow"}, {"Retry-After": "50"})], deadline=40, timeout=30)
    with pytest.raises(ApiFailure, match=r"429 slow \(gave up: retrying would pass the run's deadline of 40s\)"):
        api.request("GET", "/x")
    clock.now = 100.0
    api = make_api(monkeypatch, clock, [Response(200, {})], deadline=40, timeout=30)
    clock.now = 135.0
    api.request("GET", "/x")
    assert api.calls[0]["timeout"] == pytest.approx(5.0)
    clock.now = 141.0
    with pytest.raises(TargetError, match=r"GET /y: not sent: the run's deadline of 40s has passed"):
        api.request("GET", "/y")


def test_non_json_error_bodies_are_kept_as_text(monkeypatch, clock):
    response = Response(502)
    response._data = b"bad gateway"  # pylint: disable=protected-access
    api = make_api(monkeypatch, clock, [response], retries=0)
    with pytest.raises(ApiFailure, match=r"GET /x: 502 bad gateway"):
        api.request("GET", "/x")


# -- discovery ---------------------------------------------------------------------------------

APIS = {"groups": [
    {"name": "projectcalico.org", "versions": [{"version": "v3"}], "preferredVersion": {"version": "v3"}},
    {"name": "networking.k8s.io", "versions": [{"version": "v1"}], "preferredVersion": {"version": "v1"}},
    {"name": "example.com", "versions": [{"version": "v2"}, {"version": "v1"}], "preferredVersion": {"version": "v2"}},
]}
CALICO = {"resources": [{"name": "tiers", "kind": "Tier", "namespaced": False},
                        {"name": "networkpolicies", "kind": "NetworkPolicy", "namespaced": True},
                        {"name": "networkpolicies/status", "kind": "NetworkPolicy", "namespaced": True}]}


def test_discovery_is_one_apis_request_plus_one_per_group_version(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(200, APIS), Response(200, CALICO), Response(200, {"resources": []})])
    tier = api.resource("projectcalico.org", "Tier")
    assert tier == Resource("projectcalico.org", "v3", "Tier", "tiers", False)
    assert api.resource("projectcalico.org", "NetworkPolicy").path("ns", "a") == "/apis/projectcalico.org/v3/namespaces/ns/networkpolicies/a"
    assert api.serves("projectcalico.org", "Tier") and not api.serves("policy.networking.k8s.io", "AdminNetworkPolicy")
    assert api.version_of("example.com") == "v2" and api.version_of("example.com", "v1") == "v1"
    assert not api.serves("example.com", "Thing")
    assert [call["url"] for call in api.calls] == ["http://kube.test/apis", "http://kube.test/apis/projectcalico.org/v3",
                                                   "http://kube.test/apis/example.com/v2"]


def test_serves_in_a_given_version(monkeypatch, clock):
    apis = {"groups": [{"name": "policy.networking.k8s.io", "versions": [{"version": "v1alpha2"}, {"version": "v1alpha1"}],
                        "preferredVersion": {"version": "v1alpha2"}}]}
    v1alpha1 = {"resources": [{"name": "adminnetworkpolicies", "kind": "AdminNetworkPolicy", "namespaced": False}]}
    v1alpha2 = {"resources": [{"name": "clusternetworkpolicies", "kind": "ClusterNetworkPolicy", "namespaced": False}]}
    api = make_api(monkeypatch, clock, [Response(200, apis), Response(200, v1alpha2), Response(200, v1alpha1)])
    assert api.serves("policy.networking.k8s.io", "ClusterNetworkPolicy", "v1alpha2")
    assert not api.serves("policy.networking.k8s.io", "AdminNetworkPolicy", "v1alpha2")
    assert api.serves("policy.networking.k8s.io", "AdminNetworkPolicy", "v1alpha1")
    assert not api.serves("policy.networking.k8s.io", "AdminNetworkPolicy", "v1beta1")   # not served: no request
    assert len(api.calls) == 3


def test_cluster_network_policy_is_spoken_in_v1alpha2_beside_the_v1alpha1_admin_kinds(monkeypatch, clock):
    """One group, two generations: without a version asked for, each kind is found in the version the collection writes."""
    apis = {"groups": [{"name": "policy.networking.k8s.io", "versions": [{"version": "v1alpha1"}, {"version": "v1alpha2"}],
                        "preferredVersion": {"version": "v1alpha1"}}]}
    v1alpha1 = {"resources": [{"name": "adminnetworkpolicies", "kind": "AdminNetworkPolicy", "namespaced": False}]}
    v1alpha2 = {"resources": [{"name": "clusternetworkpolicies", "kind": "ClusterNetworkPolicy", "namespaced": False}]}
    api = make_api(monkeypatch, clock, [Response(200, apis), Response(200, v1alpha2), Response(200, v1alpha1)])
    cnp = api.resource("policy.networking.k8s.io", "ClusterNetworkPolicy")
    assert cnp == Resource("policy.networking.k8s.io", "v1alpha2", "ClusterNetworkPolicy", "clusternetworkpolicies", False)
    assert cnp.path("", "microseg-default") == "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies/microseg-default"
    assert api.serves("policy.networking.k8s.io", "AdminNetworkPolicy") and api.serves("policy.networking.k8s.io", "ClusterNetworkPolicy")
    assert not api.serves("policy.networking.k8s.io", "ClusterNetworkPolicy", "v1alpha1")


@pytest.mark.parametrize("group, kind, message", [
    ("projectcalico.org", "Tier", "the Kubernetes API at http://kube.test does not serve projectcalico.org, needed for kind Tier: "
                                  "install Calico 3.29+ or its v3 CRDs (projectcalico.org/v3)"),
    ("policy.networking.k8s.io", "AdminNetworkPolicy",
     "the Kubernetes API at http://kube.test does not serve policy.networking.k8s.io, needed for kind AdminNetworkPolicy: install the "
     "network-policy-api CRDs (AdminNetworkPolicy, BaselineAdminNetworkPolicy v1alpha1; ClusterNetworkPolicy v1alpha2) from "
     "kubernetes-sigs/network-policy-api"),
    ("policy.networking.k8s.io", "ClusterNetworkPolicy",
     "the Kubernetes API at http://kube.test does not serve policy.networking.k8s.io/v1alpha2, needed for kind ClusterNetworkPolicy: "
     "install the network-policy-api CRDs (AdminNetworkPolicy, BaselineAdminNetworkPolicy v1alpha1; ClusterNetworkPolicy v1alpha2) "
     "from kubernetes-sigs/network-policy-api"),
])
def test_a_missing_group_names_the_kind_and_how_to_install_it(monkeypatch, clock, group, kind, message):
    api = make_api(monkeypatch, clock, [Response(200, {"groups": []})])
    with pytest.raises(TargetError) as info:
        api.resource(group, kind)
    assert str(info.value) == message


def test_a_missing_kind_in_a_served_group_is_named(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(200, APIS), Response(200, CALICO)])
    with pytest.raises(TargetError, match=r"serves projectcalico.org/v3 but not kind GlobalNetworkSet: install Calico 3.29\+"):
        api.resource("projectcalico.org", "GlobalNetworkSet")


def test_core_group_needs_no_apis_entry(monkeypatch, clock):
    api = make_api(monkeypatch, clock, [Response(200, {"groups": []}), Response(200, {"resources": [{"name": "pods", "kind": "Pod", "namespaced": True}]})])
    assert api.resource("core", "Pod").path() == "/api/v1/pods"
    assert api.resource("core", "Pod").api_version == "v1"


@pytest.mark.parametrize("answer, message", [
    (Response(401, {"message": "Unauthorized"}), r"refused discovery \(401 Unauthorized\): check the credentials and rbac/clusterrole.yaml"),
    (ConnectionRefusedError("refused"), r"cannot reach the Kubernetes API at http://kube.test: no answer from http://kube.test: refused"),
])
def test_discovery_failures_say_what_to_check(monkeypatch, clock, answer, message):
    api = make_api(monkeypatch, clock, [answer], retries=0)
    with pytest.raises(TargetError, match=message):
        api.groups()
