"""The Kubernetes API as the cluster target speaks it: connection, requests with retries, discovery.

Built on the official ``kubernetes`` client: its configuration loaders (kubeconfig, in-cluster)
and its HTTP transport (``ApiClient.param_serialize`` + ``call_api``) with raw paths, so any
group (``projectcalico.org/v3``, ``policy.networking.k8s.io``) is reached without the dynamic
client, which discovers every group of the server. Discovery here is one ``GET /apis`` plus one
request per group version actually used, cached for the life of the ``KubeApi``.

Every request has a timeout, and all of them share one deadline (the whole phase). 429 (after
its Retry-After), 5xx and connection failures are retried with exponential backoff; a 409 that
is an optimistic-concurrency conflict is retried after the caller re-reads the object.
"""
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
except ImportError:  # the module fails with a clear message when the cluster target is used
    k8s_client = None

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import TargetError

CORE_GROUP = "core"
DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 900.0
DEFAULT_RETRIES = 5
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
RETRY_STATUSES = (429, 500, 502, 503, 504)
# The version the collection speaks for each group (else the server's preferred one).
GROUP_VERSIONS = {CORE_GROUP: "v1", "apps": "v1", "batch": "v1", "networking.k8s.io": "v1",
                  "projectcalico.org": "v3", "policy.networking.k8s.io": "v1alpha1"}
# Kinds spoken in another version of their group than GROUP_VERSIONS says (one group, two API generations).
KIND_VERSIONS = {("policy.networking.k8s.io", "ClusterNetworkPolicy"): "v1alpha2"}
INSTALL_HINTS = {
    "projectcalico.org": "install Calico 3.29+ or its v3 CRDs (projectcalico.org/v3)",
    "policy.networking.k8s.io": "install the network-policy-api CRDs (AdminNetworkPolicy, BaselineAdminNetworkPolicy v1alpha1; "
                                "ClusterNetworkPolicy v1alpha2) from kubernetes-sigs/network-policy-api",
}
_FALSE = ("0", "false", "no", "off", "n")
_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]*)"')


def require_kubernetes():
    """Fail clearly when the official client is missing."""
    if k8s_client is None:
        raise TargetError("target 'cluster' needs the Python library kubernetes (pip install 'kubernetes>=30.1.0') "
                          "on the host that runs zerotrust.microseg modules")


# -- connection ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Connection:
    """Where a target's API configuration comes from; ``source`` says which rule chose it."""

    source: str
    kubeconfig: str = None
    context: str = None
    host: str = None
    api_key: str = None
    verify_ssl: bool = True
    ca_cert: str = None

    def describe(self):
        """``kubeconfig /path (context x)``, ``K8S_AUTH_HOST https://...``, ``in-cluster config``."""
        if self.source == "host":
            return "K8S_AUTH_HOST %s" % self.host
        if self.source == "in-cluster":
            return "in-cluster config"
        text = "kubeconfig %s" % (self.kubeconfig or "(default)")
        return text + (" (context %s)" % self.context if self.context else "")


def connection_source(kubeconfig=None, context=None, environ=None, in_cluster=None):
    """Resolve the connection the way kubernetes.core users expect.

    1. ``kubeconfig`` / ``context`` given (module options), completed by ``K8S_AUTH_KUBECONFIG`` /
       ``K8S_AUTH_CONTEXT``; 2. those variables alone; 3. ``K8S_AUTH_HOST`` with ``K8S_AUTH_API_KEY``,
       ``K8S_AUTH_VERIFY_SSL``, ``K8S_AUTH_SSL_CA_CERT``; 4. the in-cluster service account;
       5. the default kubeconfig (``KUBECONFIG``, else ``~/.kube/config``).
    ``in_cluster`` overrides the detection of a pod's service account (for tests).
    """
    env = os.environ if environ is None else environ
    kubeconfig = kubeconfig or env.get("K8S_AUTH_KUBECONFIG") or None
    context = context or env.get("K8S_AUTH_CONTEXT") or None
    if kubeconfig or context:
        return Connection("kubeconfig", kubeconfig=os.path.expanduser(kubeconfig) if kubeconfig else _default_kubeconfig(env),
                          context=context)
    if env.get("K8S_AUTH_HOST"):
        verify = env.get("K8S_AUTH_VERIFY_SSL")
        return Connection("host", host=env["K8S_AUTH_HOST"].rstrip("/"), api_key=env.get("K8S_AUTH_API_KEY") or None,
                          verify_ssl=verify is None or verify.strip().lower() not in _FALSE,
                          ca_cert=env.get("K8S_AUTH_SSL_CA_CERT") or None)
    if in_cluster is None:
        in_cluster = bool(env.get("KUBERNETES_SERVICE_HOST")) and os.path.isfile(IN_CLUSTER_TOKEN)
    if in_cluster:
        return Connection("in-cluster")
    return Connection("default", kubeconfig=_default_kubeconfig(env))


def _default_kubeconfig(env):
    """``KUBECONFIG`` (possibly several paths) or ``~/.kube/config``, as kubectl reads it."""
    return env.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def configure(connection):
    """A ``kubernetes.client.Configuration`` for ``connection``; TargetError when it cannot be loaded."""
    require_kubernetes()
    configuration = k8s_client.Configuration()
    try:
        if connection.source == "host":
            configuration.host = connection.host
            configuration.verify_ssl = connection.verify_ssl
            configuration.ssl_ca_cert = connection.ca_cert
            if connection.api_key:
                configuration.api_key = {"authorization": "Bearer " + connection.api_key}
        elif connection.source == "in-cluster":
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(config_file=connection.kubeconfig, context=connection.context,
                                        client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        raise TargetError("cannot load the Kubernetes client configuration from %s: %s" % (connection.describe(), exc)) from exc
    configuration.retries = False  # every retry is decided here, with the phase deadline in view
    return configuration


# -- failures and retries --------------------------------------------------------------------

class ApiFailure(TargetError):
    """A request the API server refused, or (``status`` 0) one that never got an answer."""

    def __init__(self, method, path, status, body=None, retry_after=None, detail=None):
        self.method = method
        self.path = path
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.retry_after = retry_after
        self.detail = detail or self.body.get("message") or (str(body) if body else "")
        super().__init__("%s %s: %s" % (method, path, self.detail if status == 0 else "%s %s" % (status, self.detail)))

    def annotated(self, note):
        """The same failure with ``(note)`` added to its detail."""
        return ApiFailure(self.method, self.path, self.status, self.body, self.retry_after, "%s (%s)" % (self.detail, note))

    @property
    def reason(self):
        """The Status ``reason`` (Conflict, NotFound, AlreadyExists, ...)."""
        return self.body.get("reason") or ""

    def field_conflicts(self):
        """``[(manager, field)]`` of a server-side apply conflict (empty for any other failure)."""
        causes = (self.body.get("details") or {}).get("causes") or []
        found = []
        for cause in causes:
            if cause.get("reason") == "FieldManagerConflict":
                match = _CONFLICT_MANAGER.search(cause.get("message") or "")
                found.append((match.group(1) if match else "unknown", cause.get("field") or ""))
        return found


@dataclass
class RetryPolicy:
    """Which failures are worth another try, and how long to wait before it."""

    retries: int = DEFAULT_RETRIES
    base: float = 0.2
    cap: float = 10.0

    def retryable(self, failure, can_reread=False):
        """429, 5xx and no answer at all; a 409 only when it is optimistic concurrency and the caller can re-read."""
        if failure.status == 409:
            return can_reread and not failure.field_conflicts() and failure.reason != "AlreadyExists"
        return failure.status == 0 or failure.status in RETRY_STATUSES

    def delay(self, attempt, retry_after=None):
        """Seconds before retry ``attempt`` (0-based): the server's Retry-After, else ``base * 2**attempt`` up to ``cap``."""
        if retry_after is not None:
            return max(0.0, float(retry_after))
        return min(self.cap, self.base * (2 ** attempt))


def retry_after_seconds(headers):
    """The Retry-After header as seconds, or None (absent or an HTTP date, which the API server never sends)."""
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


# -- resources -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    """One kind as the server serves it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self):
        """``v1`` for the core group, else ``group/version``."""
        return self.version if self.group == CORE_GROUP else "%s/%s" % (self.group, self.version)

    def path(self, namespace="", name=""):
        """Collection path (all namespaces when ``namespace`` is empty), or an object's path."""
        base = "/api/%s" % self.version if self.group == CORE_GROUP else "/apis/%s/%s" % (self.group, self.version)
        if self.namespaced and namespace:
            base += "/namespaces/%s" % quote(namespace, safe="")
        base += "/" + self.plural
        return base + ("/" + quote(name, safe="") if name else "")


class KubeApi:
    """Requests (with retries, timeout and deadline) and discovery against one API server."""

    def __init__(self, configuration, timeout=DEFAULT_TIMEOUT, deadline=DEFAULT_DEADLINE, retries=DEFAULT_RETRIES,
                 sleep=time.sleep, clock=time.monotonic):
        require_kubernetes()
        self.api_client = k8s_client.ApiClient(configuration)
        self.host = configuration.host
        self.timeout = float(timeout)
        self.deadline = float(deadline)
        self.policy = RetryPolicy(retries=int(retries))
        self._sleep = sleep
        self._clock = clock
        self._ends = clock() + self.deadline
        self._discovery_lock = threading.Lock()
        self._groups = None
        self._resources = {}

    # -- requests --------------------------------------------------------------------------

    def request(self, method, path, query=None, body=None, content_type="application/json", reread=None):
        """Send one request until it succeeds or is not worth retrying; returns the decoded JSON body.

        ``reread()``, when given, is called after a 409 optimistic-concurrency conflict and returns
        the ``(query, body)`` to try again with, or None when there is nothing left to do (the
        request then returns None).
        """
        attempt = 0
        while True:
            try:
                return self._once(method, path, query, body, content_type)
            except ApiFailure as failure:
                if attempt >= self.policy.retries or not self.policy.retryable(failure, reread is not None):
                    raise
                wait = self.policy.delay(attempt, failure.retry_after)
                if wait >= self._remaining():
                    raise failure.annotated("gave up: retrying would pass the run's deadline of %gs" % self.deadline) from failure
                self._sleep(wait)
                attempt += 1
                if failure.status == 409:
                    again = reread()
                    if again is None:
                        return None
                    query, body = again

    def _remaining(self):
        """Seconds left before the deadline."""
        return self._ends - self._clock()

    def _once(self, method, path, query, body, content_type):
        """One HTTP exchange; non-2xx answers and transport failures become ApiFailure."""
        remaining = self._remaining()
        if remaining <= 0:
            raise TargetError("%s %s: not sent: the run's deadline of %gs has passed" % (method, path, self.deadline))
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            request = self.api_client.param_serialize(method, path, query_params=list(query or ()), header_params=headers,
                                                      body=body, auth_settings=["BearerToken"])
            response = self.api_client.call_api(*request, _request_timeout=min(self.timeout, remaining))
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as exc:
            raise ApiFailure(method, path, 0, detail="no answer from %s: %s" % (self.host, exc)) from exc
        decoded = _decode(data)
        if not 200 <= response.status < 300:
            body = decoded if isinstance(decoded, dict) else {"message": str(decoded or response.reason or "")}
            raise ApiFailure(method, path, response.status, body, retry_after_seconds(response.headers))
        return decoded

    # -- discovery -------------------------------------------------------------------------

    def groups(self):
        """``{group: (preferred version, [versions])}`` from one ``GET /apis`` (core always served)."""
        with self._discovery_lock:
            if self._groups is None:
                listing = self._discover("/apis")
                groups = {CORE_GROUP: ("v1", ["v1"])}
                for item in listing.get("groups") or []:
                    versions = [entry.get("version") for entry in item.get("versions") or []]
                    preferred = (item.get("preferredVersion") or {}).get("version") or (versions[0] if versions else None)
                    groups[item.get("name")] = (preferred, versions)
                self._groups = groups
            return self._groups

    def _discover(self, path):
        """A discovery request; failing to reach the server at all says so plainly."""
        try:
            return self.request("GET", path) or {}
        except ApiFailure as failure:
            if failure.status == 0:
                raise TargetError("cannot reach the Kubernetes API at %s: %s" % (self.host, failure.detail)) from failure
            if failure.status in (401, 403):
                raise TargetError("the Kubernetes API at %s refused discovery (%s %s): check the credentials and "
                                  "rbac/clusterrole.yaml" % (self.host, failure.status, failure.detail)) from failure
            raise

    def version_of(self, group, version=None):
        """The version used for ``group``: ``version`` if served, else ours, else the server's preferred one; None if absent."""
        served = self.groups().get(group)
        if served is None:
            return None
        preferred, versions = served
        if version:
            return version if version in versions else None
        ours = GROUP_VERSIONS.get(group)
        return ours if ours in versions else preferred

    def resource(self, group, kind, version=None):
        """The served Resource of ``(group, kind)``; a TargetError naming what is missing and how to install it."""
        version = version or KIND_VERSIONS.get((group, kind))
        chosen = self.version_of(group, version)
        if chosen is None:
            where = group if not version else "%s/%s" % (group, version)
            hint = INSTALL_HINTS.get(group, "install the CRDs or API that serve it")
            raise TargetError("the Kubernetes API at %s does not serve %s, needed for kind %s: %s" % (self.host, where, kind, hint))
        found = self._kinds(group, chosen).get(kind)
        if found is None:
            hint = INSTALL_HINTS.get(group, "install the CRD that serves it")
            raise TargetError("the Kubernetes API at %s serves %s/%s but not kind %s: %s" % (self.host, group, chosen, kind, hint))
        return found

    def serves(self, group, kind, version=None):
        """True when ``(group, kind)`` is served (in ``version``, else in the version the collection would use)."""
        version = version or KIND_VERSIONS.get((group, kind))
        chosen = self.version_of(group, version)
        return chosen is not None and kind in self._kinds(group, chosen)

    def _kinds(self, group, version):
        """``{kind: Resource}`` of one group version, from one request (cached)."""
        key = (group, version)
        with self._discovery_lock:
            if key not in self._resources:
                path = "/api/%s" % version if group == CORE_GROUP else "/apis/%s/%s" % (group, version)
                listing = self._discover(path)
                kinds = {}
                for item in listing.get("resources") or []:
                    if "/" not in item.get("name", "/") and item.get("kind"):
                        kinds[item["kind"]] = Resource(group, version, item["kind"], item["name"], bool(item.get("namespaced")))
                self._resources[key] = kinds
            return self._resources[key]


def _decode(data):
    """JSON body as Python (None for an empty body; the raw text when it is not JSON)."""
    if not data:
        return None
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    try:
        return json.loads(data)
    except ValueError:
        return data
