"""Kubernetes objects as plain dicts: identity, file path, canonical YAML, per-object diff.

Both targets (the cluster and the directory) use these functions, so an object has one
identity, one canonical text and one diff whichever target holds it.
"""
import copy
import math
import re
from collections.abc import Mapping

try:
    import yaml
except ImportError:  # ansible-core requires PyYAML; only a bare import check runs without it
    yaml = None

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError, MicrosegError

MANAGED_BY = ("app.kubernetes.io/managed-by", "zerotrust.microseg")
TIER_LABEL = "zerotrust.microseg/tier"
POSTURE_LABEL = "zerotrust.microseg/posture"

# Fields the API server owns: never compared, never written, never shown in a diff.
SERVER_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
SERVER_TOP = ("status",)

CORE_GROUP = "core"
CLUSTER_SCOPE = "_cluster"
TOP_ORDER = ("apiVersion", "kind", "metadata", "spec")

# Kinds others refer to are written first and deleted last (by kind; everything else ranks after).
WRITE_RANK = {"Tier": 0, "GlobalNetworkSet": 1, "NetworkSet": 1}
_OTHER_RANK = 2

# Fields an API server fills in when an object leaves them out, per (group, kind): Calico's
# admission sets a policy's tier (``default``), its types and the label naming its tier;
# Kubernetes defaults a NetworkPolicy's policyTypes and each port's protocol (TCP).
# A path step "*" stands for every item of a list.
_CALICO_POLICY_DEFAULTS = (("spec", "tier"), ("spec", "types"), ("metadata", "labels", "projectcalico.org/tier"))
SERVER_DEFAULTS = {
    ("projectcalico.org", "NetworkPolicy"): _CALICO_POLICY_DEFAULTS,
    ("projectcalico.org", "GlobalNetworkPolicy"): _CALICO_POLICY_DEFAULTS,
    ("projectcalico.org", "StagedNetworkPolicy"): _CALICO_POLICY_DEFAULTS,
    ("projectcalico.org", "StagedGlobalNetworkPolicy"): _CALICO_POLICY_DEFAULTS,
    # the Tier CRD defaults spec.defaultAction to Deny (Calico 3.30+)
    ("projectcalico.org", "Tier"): (("spec", "defaultAction"),),
    # the network-policy-api CRDs default every port's protocol to TCP
    ("policy.networking.k8s.io", "AdminNetworkPolicy"): tuple(("spec", direction, "*", "ports", "*", kind, "protocol")
                                                              for direction in ("ingress", "egress")
                                                              for kind in ("portNumber", "portRange")),
    ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"): tuple(("spec", direction, "*", "ports", "*", kind, "protocol")
                                                                      for direction in ("ingress", "egress")
                                                                      for kind in ("portNumber", "portRange")),
    ("networking.k8s.io", "NetworkPolicy"): (("spec", "policyTypes"), ("spec", "ingress", "*", "ports", "*", "protocol"),
                                             ("spec", "egress", "*", "ports", "*", "protocol")),
}
_ABSENT = object()

# Plain scalars a YAML 1.1 or 1.2 reader (PyYAML, Go, kubectl) could read as something other
# than a string. Strings matching this are always quoted so they round-trip as strings.
_TYPED_LOOKING = re.compile(r"""^(?:
    [-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?
  | [-+]?0[xX][0-9a-fA-F_]+ | [-+]?0[oO][0-7_]+ | [-+]?0[bB][01_]+
  | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?
  | [-+]?\.(?i:inf) | \.(?i:nan)
  | (?i:y|yes|n|no|true|false|on|off|null|~)
)$""", re.X)

_UNRESOLVED_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")


def _represent_str(dumper, data):
    """Quote strings that could be read back as another type; literal blocks for multi-line."""
    style = None
    if _TYPED_LOOKING.match(data):
        style = "'"
    elif "\n" in data:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


if yaml is not None:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(_BaseLoader):  # pylint: disable=too-many-ancestors
        """Safe loader that keeps dates (and a bare ``=``) as strings, as Kubernetes does."""

        yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag not in _UNRESOLVED_TAGS]
            for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
        }

    class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # pylint: disable=too-many-ancestors
        """Safe dumper (libyaml when present: about 5x faster; content is compared parsed, never as bytes); no aliases."""

        def ignore_aliases(self, data):
            return True

    _Dumper.add_representer(str, _represent_str)


def identity(obj):
    """Return ``(group, kind, namespace, name)``; namespace is "" for cluster-scoped objects."""
    if not isinstance(obj, Mapping):
        raise InputError("object is not a mapping")
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise InputError("is missing or not a mapping", field="metadata")
    api_version = _required(obj.get("apiVersion"), "apiVersion")
    group = api_version.split("/", 1)[0] if "/" in api_version else CORE_GROUP
    kind = _required(obj.get("kind"), "kind")
    name = _required(metadata.get("name"), "metadata.name")
    namespace = metadata.get("namespace") or ""
    if not isinstance(namespace, str):
        raise InputError("is not a string", field="metadata.namespace")
    _check_segment(group, "apiVersion")
    _check_segment(kind, "kind")
    _check_segment(name, "metadata.name")
    if namespace:
        _check_segment(namespace, "metadata.namespace")
        if namespace == CLUSTER_SCOPE:
            raise InputError("%r is reserved for cluster-scoped objects" % namespace, field="metadata.namespace")
    return (group, kind, namespace, name)


def _required(value, field):
    """Return ``value`` if it is a non-empty string, else fail naming ``field``."""
    if not isinstance(value, str) or not value:
        raise InputError("is missing or not a non-empty string", field=field)
    return value


def _check_segment(value, field):
    """A value that becomes one path segment must not escape or hide in the tree."""
    if not value or value.startswith(".") or "/" in value or "\\" in value or "\0" in value:
        raise InputError("%r cannot name a file (empty, leading dot, or a slash)" % value, field=field)


def write_rank(ident):
    """0 for tiers, 1 for network sets, 2 for the rest: the order writes go in (deletes go in reverse)."""
    return WRITE_RANK.get(ident[1], _OTHER_RANK)


def relpath(ident):
    """``<group>/<Kind>/<namespace or _cluster>/<name>.yaml`` (always ``/``-separated)."""
    group, kind, namespace, name = ident
    return "%s/%s/%s/%s.yaml" % (group, kind, namespace or CLUSTER_SCOPE, name)


def labels(obj):
    """The object's labels (an empty dict when it has none)."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    found = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def is_managed(obj):
    """True when the object carries ``app.kubernetes.io/managed-by: zerotrust.microseg``."""
    return labels(obj).get(MANAGED_BY[0]) == MANAGED_BY[1]


def strip_server_fields(obj):
    """A deep copy of ``obj`` without the fields the API server owns (status, uid, ...)."""
    stripped = copy.deepcopy(dict(obj))
    for key in SERVER_TOP:
        stripped.pop(key, None)
    metadata = stripped.get("metadata")
    if isinstance(metadata, Mapping):
        stripped["metadata"] = {key: value for key, value in metadata.items() if key not in SERVER_METADATA}
    return stripped


def canonical(value, top=False):
    """Plain, key-ordered copy of ``value``: dicts, lists and built-in scalars only."""
    if isinstance(value, Mapping):
        return {key: canonical(value[key]) for key in sorted(value, key=_top_key if top else _key)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _key(key):
    """Sort nested keys by their text (type name breaks ties between 1 and "1")."""
    return (str(key), type(key).__name__)


def _top_key(key):
    """apiVersion, kind, metadata, spec first, then the rest by name."""
    if key in TOP_ORDER:
        return (0, TOP_ORDER.index(key), "", "")
    return (1, 0) + _key(key)


def require_yaml():
    """Fail clearly when PyYAML is missing (it comes with ansible-core and the kubernetes client)."""
    if yaml is None:
        raise MicrosegError("the Python library PyYAML is required on the host that runs zerotrust.microseg modules")


def dump(obj):
    """Canonical, deterministic block YAML of one object (ends with a newline)."""
    require_yaml()
    try:
        return yaml.dump(canonical(obj, top=True), Dumper=_Dumper, default_flow_style=False,
                         sort_keys=False, allow_unicode=True, width=4096)
    except yaml.YAMLError as exc:
        raise InputError("cannot be written as YAML: %s" % exc) from exc


def load(text, source=None):
    """Parse one YAML document holding one object (a mapping); errors name source and line."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("is not UTF-8: %s" % exc, source=source) from exc
    require_yaml()
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError("invalid YAML: %s" % problem, source=source, line=line) from exc
    documents = [document for document in documents if document is not None]
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise InputError("must hold exactly one object (a YAML mapping)", source=source)
    return documents[0]


def same_content(first, second):
    """True when two objects are equal once server fields are ignored (types must match too)."""
    return _equal(canonical(strip_server_fields(first)), canonical(strip_server_fields(second)))


def same_value(first, second):
    """Strict equality of two plain values (dicts, lists, scalars): ``True`` is not ``1``, key order does not matter."""
    return _equal(canonical(first), canonical(second))


def _equal(first, second):
    """Strict equality: ``True`` is not ``1`` and ``1`` is not ``1.0``."""
    if type(first) is not type(second):
        return False
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(_equal(first[key], second[key]) for key in first)
    if isinstance(first, list):
        return len(first) == len(second) and all(map(_equal, first, second))
    if isinstance(first, float) and math.isnan(first):
        return math.isnan(second)
    return first == second


def without_server_defaults(live, desired):
    """``(live, desired)`` copies made comparable: what the API server fills in or drops is ignored.

    An API server changes what it stores in two ways: it fills in defaults (SERVER_DEFAULTS) and
    it drops empty lists and nulls (Go's ``omitempty``). So keys holding an empty list or null
    are removed from both copies, and each SERVER_DEFAULTS field of the object's kind is removed
    from ``live`` wherever ``desired`` does not set it. A field ``desired`` sets is always
    compared. Server-owned metadata (status, resourceVersion, ...) is stripped from both.
    """
    live = _without_empty(strip_server_fields(live))
    desired = _without_empty(strip_server_fields(desired))
    try:
        group, kind = identity(live)[:2]
    except InputError:
        return live, desired
    for path in SERVER_DEFAULTS.get((group, kind), ()):
        _drop_unset(live, desired, path)
    return live, desired


def _without_empty(value):
    """A copy of ``value`` without mapping keys whose value is null or an empty list (list items are kept)."""
    if isinstance(value, Mapping):
        return {key: _without_empty(item) for key, item in value.items()
                if item is not None and not (isinstance(item, (list, tuple)) and not item)}
    if isinstance(value, (list, tuple)):
        return [_without_empty(item) for item in value]
    return value


def _drop_unset(live, desired, path):
    """Remove the field at ``path`` from ``live`` (in place) where ``desired`` has nothing at the same place."""
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(live, list):
            others = desired if isinstance(desired, list) else []
            for index, item in enumerate(live):
                _drop_unset(item, others[index] if index < len(others) else None, rest)
        return
    if not isinstance(live, dict) or head not in live:
        return
    wanted = desired.get(head, _ABSENT) if isinstance(desired, Mapping) else _ABSENT
    if not rest:
        if wanted is _ABSENT:
            del live[head]
        return
    _drop_unset(live[head], None if wanted is _ABSENT else wanted, rest)


def merge_patch(current, wanted):
    """The JSON merge patch (RFC 7386) that turns live ``current`` into ``wanted``, guarded by current's resourceVersion.

    It covers every top-level field but the server's (apiVersion, kind, metadata, status) and, of
    metadata, the labels and annotations: mappings are patched key by key (null removes a key),
    anything else is replaced whole.
    """
    patch = _patch_between(_patchable(current), _patchable(wanted))
    patch.setdefault("metadata", {})["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
    return patch


def _patchable(obj):
    """The part of an object a restore puts back."""
    view = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata", "status")}
    meta = obj.get("metadata") or {}
    view["metadata"] = {key: meta[key] for key in ("labels", "annotations") if meta.get(key)}
    return view


def _patch_between(current, wanted):
    """RFC 7386 diff of two mappings."""
    patch = {key: None for key in current if key not in wanted}
    for key, value in wanted.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = _patch_between(old, value)
            if nested:
                patch[key] = nested
        elif key not in current or not same_value(old, value):
            patch[key] = value
    return patch


def diff_entry(ident, before, after):
    """One Ansible diff item for one object; an absent side is the empty text."""
    path = relpath(ident)
    return {
        "before": dump(strip_server_fields(before)) if before is not None else "",
        "after": dump(strip_server_fields(after)) if after is not None else "",
        "before_header": path,
        "after_header": path,
    }
