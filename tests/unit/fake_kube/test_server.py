"""The fake Kubernetes API server, driven by the official ``kubernetes`` client (and by raw HTTP where that is the point)."""
import json
import time
import urllib.error
import urllib.request

import pytest

from ansible_collections.zerotrust.microseg.tests.fake_kube.server import FakeKube, labels_match, parse_label_selector

try:
    import kubernetes
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes import dynamic as k8s_dynamic
    from kubernetes.dynamic import exceptions as dynamic_errors
except ImportError:  # ansible-test units runs without the collection's run-time requirements
    kubernetes = None

needs_client = pytest.mark.skipif(kubernetes is None, reason="the kubernetes client is not installed")

CALICO = "projectcalico.org/v3"
APPLY = "application/apply-patch+yaml"


def calico_policy(name="allow-dns", namespace="shop", order=100, **spec):
    """A projectcalico.org/v3 NetworkPolicy body."""
    body = {"apiVersion": CALICO, "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "zerotrust.microseg"}},
            "spec": dict({"tier": "platform", "order": order, "selector": "all()", "types": ["Egress"],
                          "egress": [{"action": "Allow", "protocol": "UDP", "destination": {"ports": [53]}}]}, **spec)}
    return body


@pytest.fixture(name="kube")
def kube_fixture():
    """A started fake server, stopped after the test."""
    server = FakeKube().start()
    yield server
    server.stop()


@pytest.fixture(name="api_client")
def api_client_fixture(kube, tmp_path):
    """An official ApiClient configured from the fake's kubeconfig (without touching the global default configuration)."""
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=kube.write_kubeconfig(tmp_path / "kubeconfig"), client_configuration=configuration)
    with k8s_client.ApiClient(configuration) as api:
        yield api


@pytest.fixture(name="dyn")
def dyn_fixture(api_client, tmp_path):
    """A DynamicClient with a per-test discovery cache file."""
    return k8s_dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))


def calico_resource(dyn, kind="NetworkPolicy"):
    """The projectcalico.org/v3 resource of ``kind``."""
    return dyn.resources.get(api_version=CALICO, kind=kind)


def raw(kube, method, path, body=None, content_type="application/json", token=True):
    """A request without the client: ``(code, decoded JSON body, headers)``."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(kube.url + path, data=data, method=method)
    request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", "Bearer " + kube.token)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def apply(api_client, body, manager="zerotrust.microseg", force=None, dry_run=None, timeout=None):
    """Server-side apply through ``ApiClient.call_api`` with the apply-patch content type."""
    meta = body["metadata"]
    path = "/apis/%s/namespaces/%s/networkpolicies/%s" % (CALICO, meta["namespace"], meta["name"])
    query = [("fieldManager", manager)] if manager else []
    if force is not None:
        query.append(("force", force))
    if dry_run:
        query.append(("dryRun", "All"))
    request = api_client.param_serialize("PATCH", path, query_params=query, header_params={"Content-Type": APPLY, "Accept": "application/json"},
                                         body=body, auth_settings=["BearerToken"])
    response = api_client.call_api(*request, _request_timeout=timeout)
    data = response.read()
    if not 200 <= response.status <= 299:
        raise kubernetes.client.exceptions.ApiException(status=response.status, reason=response.reason, http_resp=response)
    return response.status, json.loads(data)


# --- stdlib-only checks (run everywhere) -------------------------------------------------------------------------------


@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app!=web", {"app": "web"}, False),
    ("app", {"app": ""}, True),
    ("!app", {"app": "x"}, False),
    ("app in (web, db),tier", {"app": "db", "tier": "1"}, True),
    ("app in (web,db),tier", {"app": "db"}, False),
    ("app notin (web,db)", {}, True),
    ("app.kubernetes.io/managed-by=zerotrust.microseg,!zerotrust.microseg/posture", {"app.kubernetes.io/managed-by": "zerotrust.microseg"}, True),
])
def test_label_selector_forms(selector, labels, expected):
    """Equality, inequality, existence, ``in``/``notin`` and comma-AND behave as in Kubernetes."""
    assert labels_match(parse_label_selector(selector), labels) is expected


def test_discovery_documents_follow_the_served_groups():
    """Calico and the network policy API groups are served only when asked for; unknown groups are a 404 Status."""
    with FakeKube(calico=False, network_policy_api=True) as kube:
        code, groups, headers = raw(kube, "GET", "/apis")
        assert code == 200 and groups["kind"] == "APIGroupList" and headers["Content-Type"] == "application/json"
        assert [group["name"] for group in groups["groups"]] == ["apps", "networking.k8s.io", "policy.networking.k8s.io"]
        code, resources, headers = raw(kube, "GET", "/apis/policy.networking.k8s.io/v1alpha1")
        assert {res["name"]: (res["kind"], res["namespaced"]) for res in resources["resources"]} == {
            "adminnetworkpolicies": ("AdminNetworkPolicy", False), "baselineadminnetworkpolicies": ("BaselineAdminNetworkPolicy", False)}
        code, status, headers = raw(kube, "GET", "/apis/projectcalico.org/v3/globalnetworkpolicies")
        assert code == 404 and status["kind"] == "Status" and status["reason"] == "NotFound"
        code, status, headers = raw(kube, "GET", "/api/v1/namespaces/x/widgets")
        assert code == 404 and status["status"] == "Failure"
        code, versions, headers = raw(kube, "GET", "/api", token=False)
        assert code == 401 and versions["reason"] == "Unauthorized"


def test_create_conflicts_and_missing_objects_answer_status_objects(kube):
    """POST is 201 then 409 AlreadyExists; GET and DELETE of an absent object are 404 NotFound naming it."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "shop"}, "data": {"a": "1"}}
    code, created, headers = raw(kube, "POST", "/api/v1/namespaces/shop/configmaps", body)
    assert code == 201 and created["metadata"]["resourceVersion"] == "1" and created["metadata"]["generation"] == 1
    code, status, headers = raw(kube, "POST", "/api/v1/namespaces/shop/configmaps", body)
    assert (code, status["reason"], status["message"]) == (409, "AlreadyExists", 'configmaps "cm" already exists')
    code, status, headers = raw(kube, "GET", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/nope")
    assert (code, status["message"], status["details"]) == (
        404, 'networkpolicies.projectcalico.org "nope" not found', {"name": "nope", "kind": "networkpolicies", "group": "projectcalico.org"})
    code, status, headers = raw(kube, "DELETE", "/api/v1/namespaces/shop/configmaps/nope")
    assert code == 404 and headers["Content-Type"] == "application/json"


def test_apply_needs_a_field_manager_and_force_needs_apply(kube):
    """Like the real server: 422 Invalid PatchOptions, before the object is even looked up."""
    code, status, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/p", calico_policy("p"), APPLY)
    assert (code, status["reason"]) == (422, "Invalid") and "fieldManager: Required value" in status["message"]
    code, status, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/p?force=true", {}, "application/merge-patch+json")
    assert code == 422 and "force" in status["message"]
    code, status, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/p", {}, "application/strategic-merge-patch+json")
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    assert not kube.objects()


def test_yaml_apply_body_and_namespace_admission(kube):
    """An apply body may be YAML; a namespace gets its ``kubernetes.io/metadata.name`` label; deleting it takes its objects."""
    text = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    team: a\n"
    code, namespace, headers = raw(kube, "PATCH", "/api/v1/namespaces/shop?fieldManager=me", text, APPLY)
    assert code == 201 and namespace["metadata"]["labels"] == {"team": "a", "kubernetes.io/metadata.name": "shop"}
    code, policy, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/allow-dns?fieldManager=me",
                                calico_policy(), APPLY)
    assert code == 201 and len(kube.objects()) == 2
    code, deleted, headers = raw(kube, "DELETE", "/api/v1/namespaces/shop")
    assert code == 200 and deleted["kind"] == "Namespace" and not kube.objects()


def test_require_namespaces_refuses_creates_in_a_missing_namespace():
    """With ``require_namespaces`` a namespaced create in a missing namespace is 404 ``namespaces "x" not found``."""
    with FakeKube(require_namespaces=True) as kube:
        code, status, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/allow-dns?fieldManager=me",
                                    calico_policy(), APPLY)
        assert (code, status["message"]) == (404, 'namespaces "shop" not found')
        kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        code, policy, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/allow-dns?fieldManager=me",
                                    calico_policy(), APPLY)
        assert code == 201


def test_validation_rejects_bad_names_and_label_values(kube):
    """Names and label values are checked as the real server does (422 Invalid naming the field)."""
    body = calico_policy("Bad_Name")
    code, status, headers = raw(kube, "POST", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies", body)
    assert (code, status["reason"], status["details"]["causes"][0]["field"]) == (422, "Invalid", "metadata.name")
    body = calico_policy()
    body["metadata"]["labels"]["zerotrust.microseg/tier"] = "not a label value"
    code, status, headers = raw(kube, "POST", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies", body)
    assert code == 422 and status["details"]["causes"][0]["field"] == "metadata.labels"


def test_list_pages_and_built_in_items_carry_no_kind(kube):
    """``limit``/``continue`` pages a list; items of built-in lists omit apiVersion/kind, custom resources keep them."""
    for name in ("a", "b", "c"):
        kube.seed({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "shop"}, "spec": {}})
        kube.seed({"apiVersion": CALICO, "kind": "GlobalNetworkSet", "metadata": {"name": name}, "spec": {"nets": ["10.0.0.0/8"]}})
    code, page, headers = raw(kube, "GET", "/apis/networking.k8s.io/v1/networkpolicies?limit=2")
    assert [item["metadata"]["name"] for item in page["items"]] == ["a", "b"] and page["metadata"]["remainingItemCount"] == 1
    assert "kind" not in page["items"][0] and page["kind"] == "NetworkPolicyList"
    code, rest, headers = raw(kube, "GET", "/apis/networking.k8s.io/v1/networkpolicies?limit=2&continue=" + page["metadata"]["continue"])
    assert [item["metadata"]["name"] for item in rest["items"]] == ["c"] and "continue" not in rest["metadata"]
    code, sets, headers = raw(kube, "GET", "/apis/projectcalico.org/v3/globalnetworksets?fieldSelector=metadata.name!%3Db")
    assert [(item["kind"], item["metadata"]["name"]) for item in sets["items"]] == [("GlobalNetworkSet", "a"), ("GlobalNetworkSet", "c")]


def test_seeded_update_owner_conflicts_with_its_time(kube):
    """A seeded object's manager owns every field as an Update: an apply changing one conflicts ``... at <time>``."""
    seeded = kube.seed(calico_policy(order=5), manager="kubectl-edit")
    code, status, headers = raw(kube, "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/allow-dns?fieldManager=zt",
                                calico_policy(order=7), APPLY)
    entry = seeded["metadata"]["managedFields"][0]
    assert code == 409 and status["details"]["causes"] == [{
        "reason": "FieldManagerConflict", "field": ".spec.order",
        "message": 'conflict with "kubectl-edit" using projectcalico.org/v3 at %s' % entry["time"]}]


# --- through the official client -----------------------------------------------------------------------------------------


@needs_client
def test_dynamic_client_discovers_every_served_kind(dyn, kube):
    """DynamicClient discovery finds core, apps, networking, Calico and ANP kinds with the right scope and path."""
    expected = {
        ("v1", "Namespace"): False, ("v1", "Pod"): True, ("v1", "Service"): True, ("v1", "ServiceAccount"): True, ("v1", "ConfigMap"): True,
        ("apps/v1", "Deployment"): True, ("apps/v1", "StatefulSet"): True, ("apps/v1", "DaemonSet"): True,
        ("networking.k8s.io/v1", "NetworkPolicy"): True, (CALICO, "Tier"): False, (CALICO, "NetworkPolicy"): True,
        (CALICO, "GlobalNetworkPolicy"): False, (CALICO, "StagedNetworkPolicy"): True, (CALICO, "StagedGlobalNetworkPolicy"): False,
        (CALICO, "StagedKubernetesNetworkPolicy"): True, (CALICO, "NetworkSet"): True, (CALICO, "GlobalNetworkSet"): False,
        ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"): False, ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"): False,
    }
    for (version, kind), namespaced in expected.items():
        assert dyn.resources.get(api_version=version, kind=kind).namespaced is namespaced, kind
    assert calico_resource(dyn, "GlobalNetworkPolicy").path(name="x") == "/apis/projectcalico.org/v3/globalnetworkpolicies/x"
    assert dyn.version["kubernetes"]["major"] == "1"
    with pytest.raises(dynamic_errors.ResourceNotFoundError):
        dyn.resources.get(api_version="projectcalico.org/v3", kind="HostEndpoint")


@needs_client
def test_create_get_list_by_label_and_delete(dyn):
    """The usual round trip through DynamicClient, with label selectors and the all-namespaces list."""
    policies = calico_resource(dyn)
    first = dyn.create(policies, body=calico_policy("a", "shop"), field_manager="zt")
    dyn.create(policies, body=calico_policy("b", "bank"), field_manager="zt")
    other = calico_policy("c", "shop")
    other["metadata"]["labels"] = {"owner": "someone"}
    dyn.create(policies, body=other)
    assert first.metadata.uid and first.metadata.managedFields[0].manager == "zt"
    assert dyn.get(policies, name="a", namespace="shop").metadata.uid == first.metadata.uid
    managed = dyn.get(policies, label_selector="app.kubernetes.io/managed-by=zerotrust.microseg")
    assert sorted(item.metadata.name for item in managed.items) == ["a", "b"]
    assert [item.metadata.name for item in dyn.get(policies, namespace="shop", label_selector="!app.kubernetes.io/managed-by").items] == ["c"]
    assert [item.metadata.name for item in dyn.get(policies, label_selector="owner in (someone,nobody)").items] == ["c"]
    status = dyn.delete(policies, name="a", namespace="shop")
    assert (status.kind, status.status, status.details.name) == ("Status", "Success", "a")
    with pytest.raises(dynamic_errors.NotFoundError):
        dyn.get(policies, name="a", namespace="shop")
    assert dyn.get(policies).metadata.resourceVersion == "4"


@needs_client
def test_no_op_apply_keeps_resource_version_and_a_change_bumps_generation(dyn, kube):
    """A repeated identical apply writes nothing; a changed spec bumps resourceVersion and generation."""
    policies = calico_resource(dyn)
    created = dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt")
    again = dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt")
    assert (again.metadata.resourceVersion, again.metadata.generation) == (created.metadata.resourceVersion, 1)
    assert again.metadata.managedFields[0].time == created.metadata.managedFields[0].time
    changed = dyn.server_side_apply(policies, body=calico_policy(order=200), field_manager="zt")
    assert int(changed.metadata.resourceVersion) > int(created.metadata.resourceVersion) and changed.metadata.generation == 2
    relabelled = calico_policy(order=200)
    relabelled["metadata"]["labels"]["extra"] = "yes"
    assert dyn.server_side_apply(policies, body=relabelled, field_manager="zt").metadata.generation == 2
    assert len(kube.mutations()) == 4


@needs_client
def test_apply_removes_fields_the_manager_stopped_applying(dyn):
    """SSA: a field this manager applied before and omits now is removed, unless another manager also owns it."""
    policies = calico_resource(dyn)
    rules = [{"action": "Allow", "source": {"selector": "app == 'web'"}}]
    body = calico_policy(ingress=rules, types=["Ingress", "Egress"])
    body["metadata"]["annotations"] = {"note": "x"}
    dyn.server_side_apply(policies, body=body, field_manager="zt")
    partial = {"apiVersion": CALICO, "kind": "NetworkPolicy", "metadata": {"name": "allow-dns", "namespace": "shop"}, "spec": {"ingress": rules}}
    dyn.server_side_apply(policies, body=partial, field_manager="other")
    result = dyn.server_side_apply(policies, body=calico_policy(types=["Ingress", "Egress"]), field_manager="zt").to_dict()
    assert "annotations" not in result["metadata"]
    assert result["spec"]["ingress"] == rules, "still owned by 'other'"
    del partial["spec"]
    result = dyn.server_side_apply(policies, body=partial, field_manager="other").to_dict()
    assert "ingress" not in result["spec"] and result["spec"]["types"] == ["Ingress", "Egress"]
    assert [entry["manager"] for entry in result["metadata"]["managedFields"]] == ["zt"]


@needs_client
def test_conflict_without_force_and_ownership_moves_with_force(dyn, kube):
    """Another manager changing an owned field gets 409 naming field and owner; with force it wins and takes ownership."""
    policies = calico_resource(dyn)
    dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt")
    before = kube.dump()
    with pytest.raises(dynamic_errors.ConflictError) as caught:
        dyn.server_side_apply(policies, body=calico_policy(order=1), field_manager="platform-team")
    status = json.loads(caught.value.body)
    assert status["reason"] == "Conflict" and status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "zt" using projectcalico.org/v3', "field": ".spec.order"}]
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "zt" using projectcalico.org/v3: .spec.order'
    assert kube.dump() == before
    shared = dyn.server_side_apply(policies, body=calico_policy(), field_manager="platform-team")
    assert [entry.manager for entry in shared.metadata.managedFields] == ["zt", "platform-team"], "same values: shared, no conflict"
    forced = dyn.server_side_apply(policies, body=calico_policy(order=1), field_manager="platform-team", force_conflicts=True).to_dict()
    owned = {entry["manager"]: entry["fieldsV1"]["f:spec"] for entry in forced["metadata"]["managedFields"]}
    assert forced["spec"]["order"] == 1 and "f:order" in owned["platform-team"] and "f:order" not in owned["zt"]


@needs_client
def test_dry_run_changes_nothing(dyn, kube):
    """dryRun=All on apply, create, replace, patch and delete answers in full and leaves the store byte-identical."""
    policies = calico_resource(dyn)
    created = dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt")
    before = kube.dump()
    preview = dyn.server_side_apply(policies, body=calico_policy(order=5), field_manager="zt", dry_run="All")
    assert preview.spec.order == 5 and preview.metadata.generation == 2 and preview.metadata.resourceVersion == created.metadata.resourceVersion
    fresh = dyn.server_side_apply(policies, body=calico_policy("new"), field_manager="zt", dry_run="All")
    assert fresh.metadata.uid and fresh.metadata.resourceVersion is None and fresh.spec.tier == "platform"
    dyn.create(policies, body=calico_policy("other"), dry_run="All")
    dyn.patch(policies, name="allow-dns", namespace="shop", body={"spec": {"order": 9}}, content_type="application/merge-patch+json", dry_run="All")
    assert dyn.delete(policies, name="allow-dns", namespace="shop", dry_run="All").status == "Success"
    assert kube.dump() == before
    assert len(kube.mutations(dry_run=True)) == 5 and len(kube.mutations(dry_run=False)) == 1


@needs_client
def test_stale_put_is_a_conflict(dyn):
    """PUT with an old metadata.resourceVersion is 409; with the current one it replaces (and records an Update)."""
    policies = calico_resource(dyn)
    live = dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt").to_dict()
    dyn.server_side_apply(policies, body=calico_policy(order=7), field_manager="zt")
    live["spec"]["order"] = 8
    with pytest.raises(dynamic_errors.ConflictError) as caught:
        dyn.replace(policies, body=live, field_manager="editor")
    assert "the object has been modified" in json.loads(caught.value.body)["message"]
    live = dyn.get(policies, name="allow-dns", namespace="shop").to_dict()
    live["spec"]["order"] = 8
    replaced = dyn.replace(policies, body=live, field_manager="editor")
    assert replaced.spec.order == 8 and [(entry.manager, entry.operation) for entry in replaced.metadata.managedFields] == [
        ("zt", "Apply"), ("editor", "Update")]
    same = dyn.replace(policies, body=replaced.to_dict(), field_manager="editor")
    assert same.metadata.resourceVersion == replaced.metadata.resourceVersion, "an identical PUT writes nothing"
    patched = dyn.patch(policies, name="allow-dns", namespace="shop", body={"spec": {"order": 8}}, content_type="application/merge-patch+json")
    assert patched.metadata.resourceVersion == replaced.metadata.resourceVersion


@needs_client
def test_custom_objects_api_merge_patch_and_apply(api_client, kube):
    """CustomObjectsApi: merge patch by default, apply with ``_content_type``; a missing manager falls back to the User-Agent."""
    custom = k8s_client.CustomObjectsApi(api_client)
    gnp = {"apiVersion": CALICO, "kind": "GlobalNetworkPolicy", "metadata": {"name": "deny-all"}, "spec": {"selector": "all()"}}
    data, code, headers = custom.patch_cluster_custom_object_with_http_info("projectcalico.org", "v3", "globalnetworkpolicies", "deny-all", gnp,
                                                                            field_manager="zt", _content_type=APPLY)
    assert (code, data) == (201, None), "client 37 maps only '200' for patch: a creating apply decodes to None"
    assert headers["Content-Type"] == "application/json"
    applied = custom.patch_cluster_custom_object("projectcalico.org", "v3", "globalnetworkpolicies", "deny-all", gnp,
                                                 field_manager="zt", _content_type=APPLY)
    assert applied["spec"] == {"selector": "all()", "tier": "default", "types": ["Ingress"]}
    patched = custom.patch_cluster_custom_object("projectcalico.org", "v3", "globalnetworkpolicies", "deny-all", {"spec": {"order": 3}})
    assert patched["spec"]["order"] == 3 and kube.requests[-1].content_type == "application/merge-patch+json"
    assert [entry["manager"] for entry in patched["metadata"]["managedFields"]] == ["zt", "OpenAPI-Generator"]


@needs_client
def test_call_api_apply_and_missing_field_manager(api_client):
    """The raw ApiClient.call_api path with the apply content type: 201 on create, 200 after; 422 without fieldManager."""
    code, created = apply(api_client, calico_policy())
    assert code == 201 and created["metadata"]["labels"]["projectcalico.org/tier"] == "platform"
    assert apply(api_client, calico_policy())[0] == 200
    with pytest.raises(kubernetes.client.exceptions.ApiException) as caught:
        apply(api_client, calico_policy(), manager=None)
    assert caught.value.status == 422


@pytest.mark.parametrize("spec, types", [
    ({}, ["Ingress"]),
    ({"ingress": [{"action": "Allow"}]}, ["Ingress"]),
    ({"egress": [{"action": "Allow"}]}, ["Egress"]),
    ({"ingress": [{"action": "Allow"}], "egress": [{"action": "Deny"}]}, ["Ingress", "Egress"]),
    ({"types": ["Egress"]}, ["Egress"]),
])
@needs_client
def test_calico_admission_defaults(dyn, spec, types):
    """spec.tier defaults to ``default``, spec.types follows the rules present, and the tier label is set."""
    body = {"apiVersion": CALICO, "kind": "StagedGlobalNetworkPolicy", "metadata": {"name": "p"}, "spec": dict(spec, selector="all()")}
    created = dyn.create(calico_resource(dyn, "StagedGlobalNetworkPolicy"), body=body).to_dict()
    assert created["spec"]["tier"] == "default" and created["spec"]["types"] == types
    assert created["metadata"]["labels"] == {"projectcalico.org/tier": "default"}


@needs_client
def test_calico_defaults_only_on_tiered_policy_kinds(dyn):
    """Network sets and tiers are stored as given."""
    netset = {"apiVersion": CALICO, "kind": "NetworkSet", "metadata": {"name": "dns", "namespace": "shop"}, "spec": {"nets": ["10.0.0.10/32"]}}
    assert dyn.create(calico_resource(dyn, "NetworkSet"), body=netset).to_dict()["spec"] == {"nets": ["10.0.0.10/32"]}
    tier = {"apiVersion": CALICO, "kind": "Tier", "metadata": {"name": "platform"}, "spec": {"order": 100}}
    assert "labels" not in dyn.create(calico_resource(dyn, "Tier"), body=tier).to_dict()["metadata"]


@needs_client
def test_fault_500_once_then_success(dyn, kube):
    """An injected 500 surfaces once (PATCH is not retried by urllib3); the next request succeeds."""
    policies = calico_resource(dyn)
    kube.fail(method="PATCH", path_contains="/networkpolicies/allow-dns", status=500, times=1)
    with pytest.raises(kubernetes.client.exceptions.ApiException) as caught:
        dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt")
    assert caught.value.status == 500 and json.loads(caught.value.body)["reason"] == "InternalError"
    assert not kube.objects()
    assert dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt").metadata.name == "allow-dns"


@needs_client
def test_fault_429_retry_after(dyn, kube):
    """429 carries ``Retry-After: 0``: urllib3 retries it by itself for GET, a PATCH sees it."""
    policies = calico_resource(dyn)
    kube.seed(calico_policy())
    kube.fail(method="GET", path_contains="/networkpolicies", status=429, times=2)
    assert dyn.get(policies, name="allow-dns", namespace="shop").metadata.name == "allow-dns"
    assert [req.method for req in kube.requests[-3:]] == ["GET", "GET", "GET"]
    kube.fail(method="PATCH", status=429)
    with pytest.raises(kubernetes.client.exceptions.ApiException) as caught:
        dyn.server_side_apply(policies, body=calico_policy(), field_manager="zt")
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "0"


@needs_client
def test_fault_after_skips_the_first_matches(kube, api_client):
    """``after=1``: the first matching request passes, the second fails, the third passes again."""
    kube.fail(method="PATCH", status=503, after=1)
    assert apply(api_client, calico_policy())[0] == 201
    with pytest.raises(kubernetes.client.exceptions.ApiException) as caught:
        apply(api_client, calico_policy(order=1))
    assert caught.value.status == 503
    assert apply(api_client, calico_policy(order=1))[1]["spec"]["order"] == 1
    kube.clear_faults()


@needs_client
def test_delay_times_the_client_out_and_the_write_still_lands(kube, api_client):
    """A held request makes ``_request_timeout`` fire; the server then completes the write, as a slow apiserver would."""
    kube.fail(method="PATCH", status=None, delay=0.3)
    with pytest.raises(Exception) as caught:
        apply(api_client, calico_policy(), timeout=0.1)
    assert "timed out" in str(caught.value).lower()
    assert kube.get(CALICO, "NetworkPolicy", "allow-dns", "shop") is None, "not yet: the server still holds the request"
    deadline = time.monotonic() + 2
    while kube.get(CALICO, "NetworkPolicy", "allow-dns", "shop") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kube.get(CALICO, "NetworkPolicy", "allow-dns", "shop")["spec"]["order"] == 100


@needs_client
def test_requests_are_recorded_in_order(dyn, kube):
    """``requests`` holds (method, path, query, content type); ``mutations`` the non-GET ones."""
    kube.clear_requests()
    dyn.server_side_apply(calico_resource(dyn), body=calico_policy(), field_manager="zt", force_conflicts=True)
    method, path, query, content_type = kube.requests[-1]
    assert (method, path, query, content_type) == (
        "PATCH", "/apis/projectcalico.org/v3/namespaces/shop/networkpolicies/allow-dns", {"fieldManager": "zt", "force": "true"}, APPLY)
    assert kube.mutations() == [kube.requests[-1]]
