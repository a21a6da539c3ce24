"""A loopback fake Kubernetes API server for testing the cluster target without a cluster.

Stdlib ``http.server`` + ``threading`` (and PyYAML for apply bodies). It serves what the official
``kubernetes`` Python client and kubectl-style code use: discovery, list/get/create/replace/delete,
JSON merge patch, JSON patch, and server-side apply (``application/apply-patch+yaml``) with
``fieldManager``, ``force`` and ``dryRun=All``, plus fault injection.

Fidelity notes (documented simplifications, see ``tests/fake_kube/README.md``):

* Field ownership (``metadata.managedFields``) is tracked at the granularity of top-level keys of
  every top-level section other than metadata/status (``spec.<key>``, ``data.<key>``) and of
  ``metadata.labels.<key>`` / ``metadata.annotations.<key>``. Values below that level are atomic:
  a manager applying ``spec.ingress`` owns and replaces the whole list.
* ``status`` is never written by a request (only by :meth:`FakeKube.seed`).
* Strategic merge patch is accepted for built-in groups only (415 for custom resources, as the real
  server answers) and behaves like a JSON merge patch.
* Watches are not served (400).
"""
import base64
import copy
import json
import re
import threading
import time
import uuid
from collections import namedtuple
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import yaml

Request = namedtuple("Request", "method path query content_type")
Resource = namedtuple("Resource", "group version plural singular kind namespaced short_names")

CORE, APPS, NETWORKING = "", "apps", "networking.k8s.io"
CALICO, NETWORK_POLICY_API = "projectcalico.org", "policy.networking.k8s.io"
BUILTIN_GROUPS = (CORE, APPS, NETWORKING)

RESOURCES = (
    Resource(CORE, "v1", "namespaces", "namespace", "Namespace", False, ("ns",)),
    Resource(CORE, "v1", "pods", "pod", "Pod", True, ("po",)),
    Resource(CORE, "v1", "services", "service", "Service", True, ("svc",)),
    Resource(CORE, "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    Resource(CORE, "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    Resource(APPS, "v1", "deployments", "deployment", "Deployment", True, ("deploy",)),
    Resource(APPS, "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",)),
    Resource(APPS, "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",)),
    Resource(NETWORKING, "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", True, ("netpol",)),
    Resource(CALICO, "v3", "tiers", "tier", "Tier", False, ()),
    Resource(CALICO, "v3", "networkpolicies", "networkpolicy", "NetworkPolicy", True, ("cnp", "caliconetworkpolicy")),
    Resource(CALICO, "v3", "globalnetworkpolicies", "globalnetworkpolicy", "GlobalNetworkPolicy", False, ("gnp",)),
    Resource(CALICO, "v3", "stagednetworkpolicies", "stagednetworkpolicy", "StagedNetworkPolicy", True, ()),
    Resource(CALICO, "v3", "stagedglobalnetworkpolicies", "stagedglobalnetworkpolicy", "StagedGlobalNetworkPolicy", False, ()),
    Resource(CALICO, "v3", "stagedkubernetesnetworkpolicies", "stagedkubernetesnetworkpolicy", "StagedKubernetesNetworkPolicy", True, ()),
    Resource(CALICO, "v3", "networksets", "networkset", "NetworkSet", True, ("netsets",)),
    Resource(CALICO, "v3", "globalnetworksets", "globalnetworkset", "GlobalNetworkSet", False, ()),
    Resource(NETWORK_POLICY_API, "v1alpha1", "adminnetworkpolicies", "adminnetworkpolicy", "AdminNetworkPolicy", False, ("anp",)),
    Resource(NETWORK_POLICY_API, "v1alpha1", "baselineadminnetworkpolicies", "baselineadminnetworkpolicy", "BaselineAdminNetworkPolicy", False,
             ("banp",)),
    # v1alpha2 beside v1alpha1 in the same group (network-policy-api v0.2.0; Calico 3.32 serves it)
    Resource(NETWORK_POLICY_API, "v1alpha2", "clusternetworkpolicies", "clusternetworkpolicy", "ClusterNetworkPolicy", False, ()),
)
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update"]
CALICO_TIERED_KINDS = ("NetworkPolicy", "GlobalNetworkPolicy", "StagedNetworkPolicy", "StagedGlobalNetworkPolicy")
TIER_LABEL = "projectcalico.org/tier"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# DELETE answers with the deleted object for these (as the real registries do); a Success Status otherwise.
DELETE_RETURNS_OBJECT = ("Namespace", "Pod", "ServiceAccount")
VERSION = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64",
}
REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict",
    410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
    503: "ServiceUnavailable", 504: "Timeout",
}
OPEN_PATHS = ("/version", "/healthz", "/livez", "/readyz")
APPLY, MERGE, JSON_PATCH, STRATEGIC = (
    "application/apply-patch+yaml", "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json")
TOP_SKIP = ("apiVersion", "kind", "metadata", "status")
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp")
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
MISSING = object()


class _Server(ThreadingHTTPServer):
    """A listen backlog deep enough for concurrent writers (the default 5 stalls the sixth for a second)."""

    request_queue_size = 128


class ApiError(Exception):
    """A request the fake answers with a Kubernetes ``Status`` (and optional extra headers)."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        """Keep the HTTP code, the Status body and the extra headers."""
        super().__init__(message)
        self.code = code
        self.body = status_body(code, message, reason, details)
        self.headers = headers or {}


def status_body(code, message, reason=None, details=None):
    """A ``Status`` object with ``status: Failure``, as every API error is answered."""
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
        "reason": reason or REASONS.get(code, "Unknown"), "details": details if details is not None else {}, "code": code,
    }


def now():
    """The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(res):
    """``v1`` for the core group, ``group/version`` otherwise."""
    return "%s/%s" % (res.group, res.version) if res.group else res.version


def qualified(res):
    """The resource as the server names it in messages: ``configmaps`` or ``networkpolicies.projectcalico.org``."""
    return "%s.%s" % (res.plural, res.group) if res.group else res.plural


def not_found(res, name):
    """404 for a named object that is not there."""
    details = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    return ApiError(404, '%s "%s" not found' % (qualified(res), name), details=details)


def conflict(res, name, message="the object has been modified; please apply your changes to the latest version and try again"):
    """409 Conflict for a stale resourceVersion (optimistic concurrency)."""
    details = {"name": name, "kind": res.plural}
    if res.group:
        details["group"] = res.group
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s' % (qualified(res), name, message), details=details)


def invalid(res, name, causes):
    """422 Invalid naming each (field, message) cause."""
    details = {"name": name, "kind": res.kind, "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": fld} for fld, msg in causes]}
    if res.group:
        details["group"] = res.group
    text = "; ".join("%s: %s" % (fld, msg) for fld, msg in causes)
    kind = "%s.%s" % (res.kind, res.group) if res.group else res.kind
    return ApiError(422, '%s "%s" is invalid: %s' % (kind, name, text), details=details)


def options_invalid(options, field, reason, message):
    """422 for bad request options (``PatchOptions.meta.k8s.io "" is invalid: ...``), as the real server answers."""
    details = {"group": "meta.k8s.io", "kind": options, "causes": [{"reason": reason, "message": message, "field": field}]}
    return ApiError(422, '%s.meta.k8s.io "" is invalid: %s: %s' % (options, field, message), details=details)


# ---------------------------------------------------------------------------------------------------------------------
# Field paths at the fake's granularity, and managedFields


def leaves(obj):
    """``{path: value}`` of the fields ownership is tracked for (see the module docstring)."""
    found = {}
    meta = obj.get("metadata") or {}
    for section in ("labels", "annotations"):
        for key, value in (meta.get(section) or {}).items():
            found[("metadata", section, key)] = value
    for top, value in obj.items():
        if top in TOP_SKIP:
            continue
        if isinstance(value, dict) and value:
            for key, sub in value.items():
                found[(top, key)] = sub
        else:
            found[(top,)] = value
    return found


def put_leaf(obj, path, value):
    """Set the field at ``path`` (creating parents)."""
    node = obj
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = copy.deepcopy(value)


def drop_leaf(obj, path):
    """Remove the field at ``path`` and the parents it leaves empty (never ``metadata`` itself)."""
    parents = [obj]
    for part in path[:-1]:
        node = parents[-1].get(part)
        if not isinstance(node, dict):
            return
        parents.append(node)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        if parents[depth] or path[:depth] == ("metadata",):
            break
        parents[depth - 1].pop(path[depth - 1], None)


def path_text(path):
    """A field path as the server prints it in conflicts: ``.spec.order``, ``.metadata.labels.app``."""
    return "".join("." + part for part in path)


def fields_v1(paths):
    """A ``FieldsV1`` tree (``{"f:spec": {"f:order": {}}}``) for a set of paths."""
    tree = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault("f:" + part, {})
    return tree


def paths_of(tree, prefix=()):
    """The paths of a ``FieldsV1`` tree, cut to the fake's granularity (for seeded managedFields)."""
    found = set()
    for key, sub in (tree or {}).items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        children = {k: v for k, v in (sub or {}).items() if k.startswith("f:")}
        if path[0] == "metadata":
            if len(path) == 3 and path[1] in ("labels", "annotations"):
                found.add(path)
            elif len(path) < 3:
                found |= paths_of(children, path)
        elif path[0] in TOP_SKIP:
            continue
        elif len(path) == 2 or not children:
            found.add(path)
        else:
            found |= paths_of(children, path)
    return found


def owners(obj):
    """The managedFields of ``obj`` as a list of ``{manager, operation, apiVersion, time, fields: set}``."""
    entries = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        entries.append({
            "manager": entry.get("manager", ""), "operation": entry.get("operation", "Update"),
            "apiVersion": entry.get("apiVersion", obj.get("apiVersion", "")), "time": entry.get("time"),
            "fields": paths_of(entry.get("fieldsV1")),
        })
    return entries


def render(entries):
    """managedFields for the entries that still own something."""
    out = []
    for entry in entries:
        if not entry["fields"]:
            continue
        item = {"manager": entry["manager"], "operation": entry["operation"], "apiVersion": entry["apiVersion"]}
        if entry.get("time"):
            item["time"] = entry["time"]
        item["fieldsType"] = "FieldsV1"
        item["fieldsV1"] = fields_v1(entry["fields"])
        out.append(item)
    return out


def entry_for(entries, manager, operation, version):
    """The entry of (manager, operation), appended if new."""
    for entry in entries:
        if entry["manager"] == manager and entry["operation"] == operation:
            entry["apiVersion"] = version
            return entry
    entry = {"manager": manager, "operation": operation, "apiVersion": version, "time": None, "fields": set()}
    entries.append(entry)
    return entry


def describe(entry):
    """A manager as conflicts name it: ``"kubectl" using apps/v1`` (``at <time>`` for Update entries)."""
    text = '"%s"' % entry["manager"]
    if entry.get("apiVersion"):
        text += " using %s" % entry["apiVersion"]
    if entry["operation"] == "Update" and entry.get("time"):
        text += " at %s" % entry["time"]
    return text


def conflict_error(found):
    """409 for an apply that would change fields other managers own: one cause per (field, manager)."""
    causes, by_manager = [], {}
    for entry, path in found:
        causes.append({"reason": "FieldManagerConflict", "message": "conflict with %s" % describe(entry), "field": path_text(path)})
        by_manager.setdefault(describe(entry), []).append(path_text(path))
    count = len(found)
    if count == 1:
        message = "Apply failed with 1 conflict: %s: %s" % (causes[0]["message"], causes[0]["field"])
    else:
        parts = ["conflicts with %s:\n%s" % (who, "\n".join("- " + fld for fld in fields)) for who, fields in sorted(by_manager.items())]
        message = "Apply failed with %d conflicts: %s" % (count, "\n".join(parts))
    return ApiError(409, message, details={"causes": causes})


# ---------------------------------------------------------------------------------------------------------------------
# Selectors and patches


def split_terms(text):
    """Split a selector on the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def parse_label_selector(text):
    """``[(key, op, values)]`` for ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``."""
    parsed = []
    for term in split_terms(text or ""):
        match = re.match(r"^(\S+?)\s+(in|notin)\s*\((.*)\)$", term)
        if match:
            values = {value.strip() for value in match.group(3).split(",") if value.strip()}
            parsed.append((match.group(1), match.group(2), values))
            continue
        match = re.match(r"^!\s*([^\s!=]+)$", term)
        if match:
            parsed.append((match.group(1), "!", set()))
            continue
        match = re.match(r"^([^\s!=]+)\s*(==|!=|=)\s*([^\s!=]*)$", term)
        if match:
            parsed.append((match.group(1), "!=" if match.group(2) == "!=" else "=", {match.group(3)}))
            continue
        if re.match(r"^[^\s!=(),]+$", term):
            parsed.append((term, "exists", set()))
            continue
        raise ApiError(400, "unable to parse requirement: %r" % term)
    return parsed


def labels_match(selector, labels):
    """Whether a label set satisfies a parsed selector (``!=`` and ``notin`` match an absent key, as in Kubernetes)."""
    for key, op, values in selector:
        present = key in labels
        value = labels.get(key)
        if op == "=" and (not present or value not in values):
            return False
        if op == "!=" and present and value in values:
            return False
        if op == "in" and (not present or value not in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(text):
    """``[(field, negate, value)]`` for ``metadata.name`` / ``metadata.namespace`` with ``=``, ``==``, ``!=``."""
    parsed = []
    for term in split_terms(text or ""):
        match = re.match(r"^(metadata\.name|metadata\.namespace)\s*(==|!=|=)\s*(\S*)$", term)
        if not match:
            raise ApiError(400, 'field label not supported: "%s"' % term.split("=")[0].rstrip("!"))
        parsed.append((match.group(1).split(".")[1], match.group(2) == "!=", match.group(3)))
    return parsed


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def pointer(path):
    """The tokens of a JSON pointer."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "invalid JSON pointer %r" % path)
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def json_patch(doc, operations):
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    doc = copy.deepcopy(doc)
    if not isinstance(operations, list):
        raise ApiError(400, "a JSON patch must be a list of operations")

    def locate(tokens):
        node = doc
        for token in tokens[:-1]:
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node, tokens[-1]

    def read(tokens):
        parent, last = locate(tokens)
        return parent[int(last)] if isinstance(parent, list) else parent[last]

    def remove(tokens):
        parent, last = locate(tokens)
        return parent.pop(int(last)) if isinstance(parent, list) else parent.pop(last)

    def add(tokens, value):
        parent, last = locate(tokens)
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), value)
        else:
            parent[last] = value

    for operation in operations:
        op, tokens = operation.get("op"), pointer(operation.get("path", ""))
        try:
            if op == "add":
                add(tokens, copy.deepcopy(operation["value"]))
            elif op == "remove":
                remove(tokens)
            elif op == "replace":
                read(tokens)
                parent, last = locate(tokens)
                parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(operation["value"])
            elif op in ("move", "copy"):
                source = pointer(operation["from"])
                value = remove(source) if op == "move" else copy.deepcopy(read(source))
                add(tokens, value)
            elif op == "test":
                if read(tokens) != operation["value"]:
                    raise ApiError(422, "the server rejected our request due to an error in our request: test failed at %s" % operation["path"])
            else:
                raise ApiError(400, "unknown JSON patch operation %r" % op)
        except (KeyError, IndexError, ValueError, TypeError) as err:
            raise ApiError(422, "the server rejected our request due to an error in our request: %s %s: %s" % (op, operation.get("path"), err)) from err
    return doc


def calico_defaults(obj):
    """Calico 3.32 admission defaults on tiered policy kinds: ``spec.tier``, ``spec.types`` and the tier label."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    if not spec.get("tier"):
        spec["tier"] = "default"
    if not spec.get("types"):
        ingress, egress = bool(spec.get("ingress")), bool(spec.get("egress"))
        spec["types"] = (["Ingress"] if ingress or not egress else []) + (["Egress"] if egress else [])
    labels = obj["metadata"].get("labels")
    if not isinstance(labels, dict):
        labels = obj["metadata"]["labels"] = {}
    labels[TIER_LABEL] = spec["tier"]


def user_agent_manager(agent):
    """The manager the real server infers for updates without ``fieldManager``: the User-Agent up to its first ``/``."""
    return (agent or "unknown").split("/")[0][:128] or "unknown"


# ---------------------------------------------------------------------------------------------------------------------
# The server


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the FakeKube that owns the server."""

    server_version = "fake-kube"
    protocol_version = "HTTP/1.0"
    timeout = 30

    def do_GET(self):  # pylint: disable=invalid-name
        """GET."""
        self.server.fake.handle(self, "GET")

    def do_POST(self):  # pylint: disable=invalid-name
        """POST."""
        self.server.fake.handle(self, "POST")

    def do_PUT(self):  # pylint: disable=invalid-name
        """PUT."""
        self.server.fake.handle(self, "PUT")

    def do_PATCH(self):  # pylint: disable=invalid-name
        """PATCH."""
        self.server.fake.handle(self, "PATCH")

    def do_DELETE(self):  # pylint: disable=invalid-name
        """DELETE."""
        self.server.fake.handle(self, "DELETE")

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Quiet."""


class FakeKube:
    """A fake Kubernetes API server on 127.0.0.1 (see the module docstring and README.md)."""

    def __init__(self, calico=True, network_policy_api=True, require_namespaces=False, token="fake-token"):
        """Choose the CRD groups served; ``require_namespaces`` makes namespaced creates 404 in a missing namespace."""
        self.calico = calico
        self.network_policy_api = network_policy_api
        self.require_namespaces = require_namespaces
        self.token = token
        self.resources = [res for res in RESOURCES if (res.group != CALICO or calico) and (res.group != NETWORK_POLICY_API or network_policy_api)]
        self._by_path = {(res.group, res.version, res.plural): res for res in self.resources}
        self._by_kind = {(api_version(res), res.kind): res for res in self.resources}
        self.requests = []
        self.url = None
        self._store = {}
        self._counter = 0
        self._faults = []
        self._lock = threading.RLock()
        self._server = None
        self._thread = None

    # --- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self):
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the socket (requests still sleeping in a delay fault are abandoned)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        """``with FakeKube() as kube:`` starts it."""
        return self.start()

    def __exit__(self, *exc):
        """And stops it."""
        self.stop()

    def write_kubeconfig(self, path, context="fake"):
        """Write a kubeconfig (plain http server, bearer token) the official client and kubectl load; return ``path``."""
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}],
            "current-context": context,
        }
        with open(str(path), "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, default_flow_style=False, sort_keys=False)
        return str(path)

    # --- test-side access --------------------------------------------------------------------------------------------

    def resource(self, api_ver, kind):
        """The served resource of (apiVersion, kind), or None."""
        return self._by_kind.get((api_ver, kind))

    def seed(self, obj, manager=None):
        """Store ``obj`` directly (no admission): sets uid, resourceVersion, creationTimestamp, generation.

        managedFields given in ``obj`` are kept (and honoured for conflicts); without them and with ``manager``,
        that manager gets an Update entry owning every field. Returns the stored copy.
        """
        obj = copy.deepcopy(obj)
        res = self.resource(obj.get("apiVersion"), obj.get("kind"))
        if res is None:
            raise ValueError("not served: %s %s" % (obj.get("apiVersion"), obj.get("kind")))
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace") if res.namespaced else None
        if res.namespaced and not namespace:
            namespace = meta["namespace"] = "default"
        if not res.namespaced:
            meta.pop("namespace", None)
        with self._lock:
            self._counter += 1
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now())
            meta.setdefault("generation", 1)
            meta["resourceVersion"] = str(self._counter)
            if manager and not meta.get("managedFields"):
                meta["managedFields"] = render([{"manager": manager, "operation": "Update", "apiVersion": obj["apiVersion"], "time": now(),
                                                 "fields": set(leaves(obj))}])
            self._store[self._key(res, namespace, meta["name"])] = obj
            return copy.deepcopy(obj)

    def get(self, api_ver, kind, name, namespace=None):
        """A copy of a stored object, or None."""
        res = self.resource(api_ver, kind)
        with self._lock:
            found = self._store.get(self._key(res, namespace if res.namespaced else None, name))
            return copy.deepcopy(found)

    def objects(self, api_ver=None, kind=None):
        """Copies of the stored objects (optionally of one apiVersion / kind), in key order."""
        with self._lock:
            return [copy.deepcopy(obj) for key, obj in sorted(self._store.items())
                    if (api_ver is None or obj.get("apiVersion") == api_ver) and (kind is None or obj.get("kind") == kind)]

    def dump(self):
        """Canonical JSON (sorted) of the whole store and the resourceVersion counter, to compare byte for byte."""
        with self._lock:
            state = {"resourceVersion": self._counter, "objects": [obj for key, obj in sorted(self._store.items())]}
            return json.dumps(state, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def mutations(self, dry_run=None):
        """The non-GET requests; ``dry_run=True`` only those with ``dryRun``, ``False`` only those without."""
        with self._lock:
            found = [req for req in self.requests if req.method != "GET"]
        if dry_run is None:
            return found
        return [req for req in found if ("dryRun" in req.query) == bool(dry_run)]

    def clear_requests(self):
        """Forget the recorded requests."""
        with self._lock:
            del self.requests[:]

    def fail(self, method=None, path_contains=None, status=500, times=1, after=0, delay=0.0, reason="injected"):
        """Inject a fault on matching requests (method, and a substring of the path without the query).

        The (after+1)-th .. (after+times)-th matching request (``times=None``: every one after ``after``) is answered
        with a ``status`` Status (``reason`` is its message; 429 carries ``Retry-After: 0``); with ``delay`` it is
        first held that many seconds. With ``status=None`` the held request is then served normally (a write
        still happens even when the client has given up waiting).
        """
        with self._lock:
            self._faults.append({"method": method.upper() if method else None, "path": path_contains, "status": status, "times": times,
                                 "after": after, "delay": float(delay or 0), "reason": reason, "seen": 0})

    def clear_faults(self):
        """Remove every injected fault."""
        with self._lock:
            del self._faults[:]

    # --- HTTP --------------------------------------------------------------------------------------------------------

    def handle(self, handler, method):
        """Serve one request: record it, apply a fault if one matches, dispatch, answer JSON."""
        split = urlsplit(handler.path)
        path = "/" + split.path.strip("/")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        with self._lock:
            self.requests.append(Request(method, path, query, content_type))
            fault = self._fault_for(method, path)
        headers = {}
        if fault and fault["delay"]:
            time.sleep(fault["delay"])
        if fault and fault["status"] is not None:
            code = fault["status"]
            body = status_body(code, fault["reason"], details={"retryAfterSeconds": 0} if code == 429 else {})
            if code == 429:
                headers["Retry-After"] = "0"
        else:
            try:
                code, body = self._dispatch(method, path, query, content_type, raw, handler.headers)
            except ApiError as err:
                code, body, headers = err.code, err.body, err.headers
            except Exception as err:  # pylint: disable=broad-except
                code, body = 500, status_body(500, "fake-kube internal error: %r" % err)
        text = isinstance(body, str)
        data = (body if text else json.dumps(body)).encode("utf-8")
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "text/plain; charset=utf-8" if text else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout) and closed the connection

    def _fault_for(self, method, path):
        """The first fault whose window holds this request (every matching fault counts it)."""
        chosen = None
        for fault in self._faults:
            if fault["method"] not in (None, method) or (fault["path"] and fault["path"] not in path):
                continue
            fault["seen"] += 1
            position = fault["seen"] - fault["after"]
            if chosen is None and position >= 1 and (fault["times"] is None or position <= fault["times"]):
                chosen = fault
        return chosen

    def _dispatch(self, method, path, query, content_type, raw, headers):
        """Route to discovery or to a resource handler; returns (code, body)."""
        if self.token is not None and path not in OPEN_PATHS and headers.get("Authorization") != "Bearer %s" % self.token:
            raise ApiError(401, "Unauthorized")
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        parts = path.strip("/").split("/")
        discovery = self._discovery(parts)
        if discovery is not None:
            if method != "GET":
                raise ApiError(405, "the server does not allow this method on the requested resource")
            return 200, discovery
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = CORE, parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        if not rest:
            raise ApiError(404, "the server could not find the requested resource")
        namespace, name = None, None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, plural, tail = rest[1], rest[2], rest[3:]
        else:
            plural, tail = rest[0], rest[1:]
        if tail:
            name, tail = tail[0], tail[1:]
        res = self._by_path.get((group, version, plural))
        if res is None or tail or (namespace is not None and not res.namespaced) or (res.namespaced and namespace is None and name):
            raise ApiError(404, "the server could not find the requested resource")
        if query.get("dryRun") not in (None, "All"):
            raise ApiError(400, 'unsupported dryRun value "%s" (only "All")' % query["dryRun"])
        if name is None:
            return self._collection(method, res, namespace, query, content_type, raw, headers)
        return self._object(method, res, namespace, name, query, content_type, raw, headers)

    def _discovery(self, parts):
        """The discovery document for ``parts``, or None if the path is not a discovery path."""
        if parts == ["version"]:
            return dict(VERSION)
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("//")[1]}]}
        groups = {}
        for res in self.resources:
            if res.group:
                versions = groups.setdefault(res.group, [])
                if res.version not in versions:
                    versions.append(res.version)   # the first is the preferred one
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group(name, versions) for name, versions in groups.items()]}
        if len(parts) == 2 and parts[0] == "apis":
            if parts[1] not in groups:
                raise ApiError(404, "the server could not find the requested resource")
            return dict(self._group(parts[1], groups[parts[1]]), kind="APIGroup", apiVersion="v1")
        if parts == ["api", "v1"]:
            return self._resource_list(CORE, "v1")
        if len(parts) == 3 and parts[0] == "apis":
            if parts[2] not in groups.get(parts[1], ()):
                raise ApiError(404, "the server could not find the requested resource")
            return self._resource_list(parts[1], parts[2])
        return None

    @staticmethod
    def _group(name, versions):
        """One entry of an APIGroupList (the first version preferred)."""
        entries = [{"groupVersion": "%s/%s" % (name, version), "version": version} for version in versions]
        return {"name": name, "versions": entries, "preferredVersion": dict(entries[0])}

    def _resource_list(self, group, version):
        """The APIResourceList of one group version."""
        items = []
        for res in self.resources:
            if res.group == group and res.version == version:
                item = {"name": res.plural, "singularName": res.singular, "namespaced": res.namespaced, "kind": res.kind,
                        "verbs": [verb for verb in VERBS if verb != "deletecollection" or res.kind != "Namespace"]}
                if res.short_names:
                    item["shortNames"] = list(res.short_names)
                items.append(item)
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version) if group else version, "resources": items}

    # --- resources ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _key(res, namespace, name):
        """The store key of an object."""
        return (res.group, res.plural, namespace or "", name)

    @staticmethod
    def _body(raw, content_type):
        """The request body as Python data (JSON, or YAML for apply / yaml content types)."""
        if not raw:
            return None
        text = raw.decode("utf-8")
        try:
            return json.loads(text)
        except ValueError:
            if content_type in (APPLY, "application/yaml"):
                try:
                    return yaml.safe_load(text)
                except yaml.YAMLError as err:
                    raise ApiError(400, "error decoding YAML: %s" % err) from err
            raise ApiError(400, "the object provided is unrecognized (body is not valid JSON)") from None

    def _collection(self, method, res, namespace, query, content_type, raw, headers):
        """GET list, POST create, DELETE deletecollection on a collection path."""
        if method == "GET":
            if query.get("watch") in ("1", "true", "True"):
                raise ApiError(400, "watch is not supported by the fake API server")
            return 200, self._list(res, namespace, query)
        if res.namespaced and namespace is None:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if method == "POST":
            return self._create(res, namespace, query, self._body(raw, content_type), headers)
        if method == "DELETE":
            with self._lock:
                listed = self._list(res, namespace, query)
                if "dryRun" not in query:
                    for item in listed["items"]:
                        self._delete_key(res, namespace, item["metadata"]["name"])
            for item in listed["items"]:
                item.setdefault("apiVersion", api_version(res))
                item.setdefault("kind", res.kind)
            return 200, listed
        raise ApiError(405, "the server does not allow this method on the requested resource")

    def _list(self, res, namespace, query):
        """A ``<Kind>List`` of the matching objects (items of built-in groups carry no apiVersion/kind, as served)."""
        selector = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        with self._lock:
            items = []
            for key, obj in sorted(self._store.items()):
                if key[:2] != (res.group, res.plural) or (namespace is not None and key[2] != namespace):
                    continue
                meta = obj["metadata"]
                if not labels_match(selector, meta.get("labels") or {}):
                    continue
                if any((meta.get(fld, "") == value) == negate for fld, negate, value in fields):
                    continue
                item = copy.deepcopy(obj)
                if res.group in BUILTIN_GROUPS:
                    item.pop("apiVersion", None)
                    item.pop("kind", None)
                items.append(item)
            listed = {"kind": res.kind + "List", "apiVersion": api_version(res), "metadata": {"resourceVersion": str(self._counter)}}
        start = 0
        if query.get("continue"):
            try:
                start = int(json.loads(base64.urlsafe_b64decode(query["continue"].encode()).decode())["start"])
            except (ValueError, KeyError, TypeError) as err:
                raise ApiError(400, "invalid continue token") from err
        limit = int(query.get("limit") or 0)
        end = start + limit if limit > 0 else len(items)
        if end < len(items):
            listed["metadata"]["continue"] = base64.urlsafe_b64encode(json.dumps({"start": end}).encode()).decode()
            listed["metadata"]["remainingItemCount"] = len(items) - end
        listed["items"] = items[start:end]
        return listed

    def _object(self, method, res, namespace, name, query, content_type, raw, headers):
        """GET, PUT, PATCH, DELETE on an object path."""
        key = self._key(res, namespace, name)
        if method == "GET":
            with self._lock:
                if key not in self._store:
                    raise not_found(res, name)
                return 200, copy.deepcopy(self._store[key])
        if method == "PUT":
            return self._replace(res, namespace, name, query, self._body(raw, content_type), headers)
        if method == "PATCH":
            return self._patch(res, namespace, name, query, content_type, raw, headers)
        if method == "DELETE":
            return self._delete(res, namespace, name, query, self._body(raw, "application/json"))
        raise ApiError(405, "the server does not allow this method on the requested resource")

    def _check_body(self, res, namespace, name, body, apply=False):
        """The checks the real server makes on a submitted object; fills apiVersion/kind/namespace in."""
        if not isinstance(body, dict):
            raise ApiError(400, "the body of the request is not an object")
        for field, expected in (("apiVersion", api_version(res)), ("kind", res.kind)):
            if apply and not body.get(field):
                raise ApiError(400, "%s must be set in an apply request" % field)
            if body.get(field, expected) != expected:
                raise ApiError(400, "the %s in the data (%s) does not match the expected %s (%s)" % (field, body[field], field, expected))
        body["apiVersion"], body["kind"] = api_version(res), res.kind
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            meta = body["metadata"] = {}
        if name is not None and meta.get("name", name) != name:
            raise ApiError(400, "the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name))
        if name is not None:
            meta["name"] = name
        if res.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise ApiError(400, "the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return body

    def _validate(self, res, obj):
        """422 for an invalid name or label / annotation key or label value."""
        meta, causes = obj["metadata"], []
        name = meta.get("name") or ""
        limit = 63 if res.kind == "Namespace" else 253
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif len(name) > limit or not NAME_RE.match(name) or (res.kind == "Namespace" and "." in name):
            causes.append(("metadata.name", 'Invalid value: "%s": a lowercase RFC 1123 name must consist of lower case alphanumeric characters, '
                           "'-' or '.'" % name))
        for section in ("labels", "annotations"):
            for key, value in (meta.get(section) or {}).items():
                prefix, sep, short = key.rpartition("/")
                if not LABEL_NAME_RE.match(short) or len(short) > 63 or (sep and (not NAME_RE.match(prefix) or len(prefix) > 253)):
                    causes.append(("metadata.%s" % section, 'Invalid value: "%s": name part must consist of alphanumeric characters, '
                                   "'-', '_' or '.'" % key))
                if not isinstance(value, str):
                    causes.append(("metadata.%s" % section, "Invalid value: %r: must be a string" % (value,)))
                elif section == "labels" and value and (len(value) > 63 or not LABEL_NAME_RE.match(value)):
                    causes.append(("metadata.labels", 'Invalid value: "%s": a valid label must be an empty string or consist of alphanumeric '
                                   "characters, '-', '_' or '.'" % value))
        if causes:
            raise invalid(res, name, causes)

    def _admit(self, res, obj):
        """Mutating admission: Calico defaults, the namespace name label, a namespace's status."""
        if res.group == CALICO and res.kind in CALICO_TIERED_KINDS:
            calico_defaults(obj)
        if res.group == CALICO and res.kind == "Tier" and isinstance(obj.get("spec"), dict):
            obj["spec"].setdefault("defaultAction", "Deny")  # the Tier CRD's schema default (Calico 3.30+)
        if res.kind == "Namespace":
            obj["metadata"].setdefault("labels", {})[NAMESPACE_NAME_LABEL] = obj["metadata"]["name"]

    def _need_namespace(self, res, namespace):
        """404 on a create in a missing namespace, when ``require_namespaces``."""
        if self.require_namespaces and res.namespaced and self._key(self._by_path[(CORE, "v1", "namespaces")], None, namespace) not in self._store:
            raise not_found(self._by_path[(CORE, "v1", "namespaces")], namespace)

    @staticmethod
    def _manager(query, headers):
        """The manager of an Update: ``fieldManager``, else the User-Agent's product."""
        return query.get("fieldManager") or user_agent_manager(headers.get("User-Agent"))

    def _create(self, res, namespace, query, body, headers):
        """POST: 201 with the created object; 409 AlreadyExists."""
        obj = self._check_body(res, namespace, None, body)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        for field in SERVER_METADATA:
            meta.pop(field, None)
        obj.pop("status", None)
        self._admit(res, obj)
        self._validate(res, obj)
        with self._lock:
            key = self._key(res, namespace, meta["name"])
            if key in self._store:
                details = {"name": meta["name"], "kind": res.plural}
                if res.group:
                    details["group"] = res.group
                raise ApiError(409, '%s "%s" already exists' % (qualified(res), meta["name"]), reason="AlreadyExists", details=details)
            self._need_namespace(res, namespace)
            entries = []
            entry_for(entries, self._manager(query, headers), "Update", api_version(res))["fields"] = set(leaves(obj))
            return 201, self._commit(res, key, None, obj, entries, entries[0], "dryRun" in query)

    def _replace(self, res, namespace, name, query, body, headers):
        """PUT: 200 with the replaced object; 404 if absent, 409 on a stale metadata.resourceVersion."""
        obj = self._check_body(res, namespace, name, body)
        with self._lock:
            key = self._key(res, namespace, name)
            current = self._store.get(key)
            if current is None:
                raise not_found(res, name)
            wanted = obj["metadata"].get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            return 200, self._update(res, key, current, obj, query, headers)

    def _update(self, res, key, current, obj, query, headers):
        """Commit ``obj`` as an Update operation of the request's manager."""
        for field in SERVER_METADATA:
            obj["metadata"].pop(field, None)
        if "status" in current:
            obj["status"] = copy.deepcopy(current["status"])
        else:
            obj.pop("status", None)
        self._admit(res, obj)
        self._validate(res, obj)
        entries = owners(current)
        mine = entry_for(entries, self._manager(query, headers), "Update", api_version(res))
        before, after = leaves(current), leaves(obj)
        changed = {path for path, value in after.items() if before.get(path, MISSING) != value}
        removed = set(before) - set(after)
        for entry in entries:
            entry["fields"] -= changed | removed
        mine["fields"] |= changed
        return self._commit(res, key, current, obj, entries, mine, "dryRun" in query)

    def _patch(self, res, namespace, name, query, content_type, raw, headers):
        """PATCH: merge patch, JSON patch, strategic merge (built-ins, as merge) or server-side apply."""
        if content_type not in (APPLY, MERGE, JSON_PATCH, STRATEGIC) or (content_type == STRATEGIC and res.group not in BUILTIN_GROUPS):
            accepted = [JSON_PATCH, MERGE, APPLY] + ([STRATEGIC] if res.group in BUILTIN_GROUPS else [])
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: %s" % ", ".join(accepted))
        if content_type != APPLY and "force" in query:
            raise options_invalid("PatchOptions", "force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch")
        if content_type == APPLY and not query.get("fieldManager"):
            raise options_invalid("PatchOptions", "fieldManager", "FieldValueRequired", "Required value: is required for apply patch")
        body = self._body(raw, content_type)
        if content_type == APPLY:
            return self._apply(res, namespace, name, query, body)
        with self._lock:
            key = self._key(res, namespace, name)
            current = self._store.get(key)
            if current is None:
                raise not_found(res, name)
            if content_type == JSON_PATCH:
                obj = json_patch(current, body)
            else:
                if not isinstance(body, dict):
                    raise ApiError(400, "a merge patch must be a JSON object")
                obj = merge_patch(current, body)
            wanted = ((body if isinstance(body, dict) else {}).get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            obj = self._check_body(res, namespace, name, obj)
            return 200, self._update(res, key, current, obj, query, headers)

    def _apply(self, res, namespace, name, query, body):
        """Server-side apply: conflicts, force, removal of fields the manager applied before and omits now."""
        config = self._check_body(res, namespace, name, body, apply=True)
        meta = config["metadata"]
        if meta.get("managedFields"):
            raise ApiError(400, "metadata.managedFields must be nil")
        manager, force = query["fieldManager"], query.get("force") in ("true", "True", "1")
        applied = {path: value for path, value in leaves(config).items() if value is not None}
        with self._lock:
            key = self._key(res, namespace, name)
            current = self._store.get(key)
            wanted = meta.get("resourceVersion")
            if wanted and (current is None or wanted != current["metadata"]["resourceVersion"]):
                raise conflict(res, name)
            if current is None:
                self._need_namespace(res, namespace)
            entries = owners(current) if current else []
            mine = entry_for(entries, manager, "Apply", api_version(res))
            others = [entry for entry in entries if entry is not mine]
            live = leaves(current) if current else {}
            found = [(entry, path) for path, value in sorted(applied.items()) if path in live and live[path] != value
                     for entry in others if path in entry["fields"]]
            if found and not force:
                raise conflict_error(found)
            for entry, path in found:
                entry["fields"].discard(path)
            if current is None:
                obj = {"apiVersion": api_version(res), "kind": res.kind, "metadata": {"name": name}}
                if res.namespaced:
                    obj["metadata"]["namespace"] = namespace
            else:
                obj = copy.deepcopy(current)
            for path, value in applied.items():
                put_leaf(obj, path, value)
            for path in mine["fields"] - set(applied):
                if not any(path in entry["fields"] for entry in others):
                    drop_leaf(obj, path)
            mine["fields"] = set(applied)
            undefaulted = leaves(obj)
            self._admit(res, obj)
            self._validate(res, obj)
            mine["fields"] |= {path for path, value in leaves(obj).items() if undefaulted.get(path, MISSING) != value}
            return (201 if current is None else 200), self._commit(res, key, current, obj, entries, mine, "dryRun" in query)

    def _commit(self, res, key, current, obj, entries, actor, dry_run):
        """Set server fields, skip no-op writes, store unless dry run; return the response object."""
        meta = obj["metadata"]
        if current is None:
            meta["uid"], meta["creationTimestamp"], meta["generation"] = str(uuid.uuid4()), now(), 1
        else:
            for field in ("uid", "creationTimestamp", "generation", "resourceVersion"):
                meta[field] = current["metadata"][field]
            old_entries = {(entry["manager"], entry["operation"]): entry for entry in owners(current)}
            same_fields = all(old_entries.get((entry["manager"], entry["operation"]), {}).get("fields") == entry["fields"]
                              for entry in entries if entry["fields"])
            same_fields = same_fields and len([entry for entry in entries if entry["fields"]]) == len(old_entries)
            content = {field: value for field, value in obj.items() if field != "metadata"}
            old_content = {field: value for field, value in current.items() if field != "metadata"}
            strip = ("managedFields", "resourceVersion", "generation")
            same_meta = {k: v for k, v in meta.items() if k not in strip} == {k: v for k, v in current["metadata"].items() if k not in strip}
            if same_fields and same_meta and content == old_content:
                return copy.deepcopy(current)
            if content != old_content:
                meta["generation"] = current["metadata"].get("generation", 1) + 1
        actor["time"] = now()
        meta["managedFields"] = render(entries)
        if dry_run:
            if current is None:
                meta.pop("resourceVersion", None)
            return copy.deepcopy(obj)
        self._counter += 1
        meta["resourceVersion"] = str(self._counter)
        self._store[key] = obj
        return copy.deepcopy(obj)

    def _delete(self, res, namespace, name, query, options):
        """DELETE: the deleted object (Namespace, Pod, ServiceAccount) or a Success Status; 404 if absent."""
        with self._lock:
            key = self._key(res, namespace, name)
            current = self._store.get(key)
            if current is None:
                raise not_found(res, name)
            preconditions = (options or {}).get("preconditions") or {}
            for field in ("uid", "resourceVersion"):
                if preconditions.get(field) and preconditions[field] != current["metadata"][field]:
                    raise conflict(res, name, "Precondition failed: %s in precondition: %s, %s in object meta: %s"
                                   % (field.upper() if field == "uid" else field, preconditions[field], field, current["metadata"][field]))
            answer = copy.deepcopy(current)
            if "dryRun" not in query:
                self._delete_key(res, namespace, name)
        if res.kind in DELETE_RETURNS_OBJECT:
            return 200, answer
        details = {"name": name, "kind": res.plural, "uid": answer["metadata"]["uid"]}
        if res.group:
            details["group"] = res.group
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _delete_key(self, res, namespace, name):
        """Remove an object (a namespace takes its namespaced objects with it) and bump the counter."""
        self._store.pop(self._key(res, namespace, name), None)
        if res.kind == "Namespace":
            for key in [key for key in self._store if key[2] == name]:
                del self._store[key]
        self._counter += 1
