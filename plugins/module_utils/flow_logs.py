"""Raw flow logs in, observed flows out: ``microseg_flow_logs`` (CONTRACT.md sections 3 to 5).

A flow log is JSON Lines, plain or gzip (recognised by its magic bytes, not its name), one
record per line. A line may also hold a JSON array of records or a list response
(``{"items": [...]}``, ``{"flows": [...]}``, Elasticsearch ``{"hits": {"hits": [...]}}``),
and a small file may be one pretty-printed JSON document of that shape. JSON Lines are read
as a stream and aggregated as they go, so memory follows the number of distinct flows,
not the number of records.

Formats (``format`` in the spec; ``auto``, the default, decides from the first record):

``hubble``
    Cilium Hubble flows as written by ``hubble observe -o json|jsonpb`` or the Hubble
    exporter: ``{"flow": {...}, "node_name": ..., "time": ...}`` or the bare flow object
    (``api/v1/flow/flow.proto``; proto field names, camelCase accepted too). Used fields:
    ``source`` / ``destination`` (``namespace``, ``labels`` such as ``k8s:app=frontend``,
    ``workloads``, ``identity``), ``IP.source`` / ``IP.destination``,
    ``l4.TCP|UDP|SCTP.destination_port``, ``destination_names``, ``is_reply`` (and the
    deprecated ``reply``), ``verdict``, ``Type``. Other exporter events (``node_status``,
    ``lost_events``, ``agent_event``, ``debug_event``) are skipped.
``calico``
    Calico Enterprise / Calico Cloud flow logs (the documents felix sends to Elasticsearch,
    also accepted wrapped in an Elasticsearch hit's ``_source``): ``source_type`` /
    ``dest_type`` (``wep``, ``hep``, ``ns``, ``net``), ``source_namespace``,
    ``source_name_aggr``, ``source_labels`` (``{"labels": ["app=frontend", ...]}``),
    ``source_ip``, the ``dest_*`` twins, ``dest_port``, ``dest_domains``, ``proto``
    (``tcp``, ``udp``, ``sctp`` or a number), ``action`` (``allow`` / ``deny``).
``goldmane``
    Calico Open Source 3.30+ Goldmane flows (``goldmane/proto/api.proto``): a ``Flow``
    (``{"Key": {...}, "source_labels": [...], "dest_labels": [...]}``, as the Goldmane
    emitter posts them, enums as numbers), a ``FlowResult`` (``{"id": ..., "flow": {...}}``,
    protojson, enums as names, camelCase accepted) or the flat Whisker API ``FlowResponse``
    (``source_name``, ``source_namespace``, ``source_labels`` as ``"a=b | c=d"``,
    ``protocol``, ``dest_port``, ``action``). Goldmane carries no addresses: flows to or
    from networks and network sets cannot be written as ``net:`` and are skipped (counted).

Endpoint rule (always namespace-qualified, CONTRACT section 4):

* a pod in namespace ``ns`` becomes ``Endpoint("workload", ns, key, value)`` with the first
  label the pod has among: the namespace's identity label (``identity_labels[ns]``, default
  ``app``), ``app``, ``app.kubernetes.io/name``, ``k8s-app`` (kube-system add-ons such as
  kube-dns), ``run`` (``kubectl run``). A pod with none of them gets ``app=<workload name>``:
  Hubble's owning workload (``workloads[0].name``), or Calico's / Goldmane's aggregated name
  with the trailing ``-*`` and a ReplicaSet pod-template-hash removed
  (``frontend-7d4b6c5f8d-*`` -> ``frontend``); a pod without a workload name is skipped.
  Hubble labels lose their ``k8s:`` source prefix; ``io.kubernetes.*`` and ``io.cilium.*``
  labels are ignored. A namespace or label value that is not valid is skipped (counted).
* an external peer becomes ``domain:<name>`` when the record names the destination
  (Hubble ``destination_names``, Calico ``dest_domains``), else ``net:<ip>/32`` (``/128``).
* host endpoints, host-network and remote-node peers and unknown identities are skipped.

A record is used only if it is an allowed, request-direction TCP, UDP or SCTP flow with a
destination port. Everything else that is valid JSON is skipped and counted by reason
(``SKIP_REASONS``): replies, denied or dropped flows (they did not work before, so they are
not "observed"), ICMP and other portless protocols, host endpoints, peers without an
address, names that are not valid Kubernetes names or labels. Malformed input -- a file that
cannot be read, a line that is not JSON, a record that is not an object, a record without a
field its format needs, a port that is not a port, an unknown format -- raises
``InputError`` naming the file, the line and the field.

Aggregation keys are (source id, destination id, protocol, port) with endpoints interned to
small ids and worked out once per distinct label set, so a record costs one JSON scan and a
few dictionary lookups; ``bench/flow_logs.py`` measures it.
"""
from __future__ import annotations

import gzip
import ipaddress
import json
import os
import re
import zlib
from collections.abc import Mapping

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import (
    DEFAULT_IDENTITY_LABEL, Endpoint, Flow, parse_endpoint)
from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import (
    validate_label_key, validate_label_value, validate_namespace)

FORMATS = ("hubble", "calico", "goldmane", "auto")
SPEC_KEYS = ("path", "format")
# The largest single JSON document (not JSON Lines) read whole, in bytes after decompression.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_BLOCK = 1 << 20
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")

REPLY = "reply"
DENIED = "denied"
NO_PORT = "no-port"
HOST = "host"
NO_ADDRESS = "external-without-address"
UNKNOWN = "unknown-endpoint"
UNIDENTIFIED = "unidentified-workload"
INVALID = "invalid-name"
NOT_A_FLOW = "not-a-flow"
SOCKET = "socket-trace"
SERVICE = "service-address"
SKIP_REASONS = {
    REPLY: "reply-direction packets",
    DENIED: "flows denied, dropped or in error",
    NO_PORT: "ICMP and other flows without a TCP, UDP or SCTP destination port",
    HOST: "host endpoints, host-network and remote-node peers",
    NO_ADDRESS: "external peers the record gives neither an address nor a name for",
    UNKNOWN: "peers that are neither a pod nor an external address",
    UNIDENTIFIED: "pods without an identity label or workload name",
    INVALID: "namespaces, label values or domain names that are not valid",
    NOT_A_FLOW: "exporter events that are not flows",
    SOCKET: "socket-level traces before service translation",
    SERVICE: "packets to a service's virtual address before translation (the translated packet is counted)",
}

_PREFERRED_KEYS = ("app", "app.kubernetes.io/name", "k8s-app", "run")
_IGNORED_LABEL_PREFIXES = ("io.kubernetes.", "io.cilium.")
_POD_TEMPLATE_HASH = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}$")
_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "6": "TCP", "17": "UDP", "132": "SCTP", 6: "TCP", 17: "UDP", 132: "SCTP"}
_L4_KEYS = ("TCP", "UDP", "SCTP")
_HUBBLE_EVENTS = ("node_status", "lost_events", "agent_event", "debug_event", "nodeStatus", "lostEvents", "agentEvent", "debugEvent")
_HUBBLE_BAD_VERDICTS = frozenset(("DROPPED", "ERROR", 2, 3))
_HUBBLE_WORLD_IDENTITIES = frozenset((2, 9, 10))   # reserved:world, world-ipv4, world-ipv6
_HUBBLE_HOST_IDENTITIES = frozenset((1, 6))        # reserved:host, remote-node
_GOLDMANE_TYPES = {1: "wep", 2: "hep", 3: "ns", 4: "net", "WorkloadEndpoint": "wep", "HostEndpoint": "hep", "NetworkSet": "ns", "Network": "net"}
_GOLDMANE_DENY = frozenset((2, "Deny", "deny", "DENY"))
_NETWORK_NAMES = frozenset(("pub", "pvt", "PUBLIC NETWORK", "PRIVATE NETWORK"))
_EXTERNAL = object()
_CALICO_SOURCE = ("source_namespace", "source_labels", "source_name_aggr", "source_name", "source_ip")
_CALICO_DESTINATION = ("dest_namespace", "dest_labels", "dest_name_aggr", "dest_name", "dest_ip")
_SCAN = json.JSONDecoder().scan_once
# Goldmane key fields: source type, namespace, name; destination type, namespace, name; port; then the Flow's label fields.
_GOLDMANE_SNAKE = ("source_type", "source_namespace", "source_name", "dest_type", "dest_namespace", "dest_name", "dest_port",
                   "source_labels", "dest_labels")
_GOLDMANE_CAMEL = ("sourceType", "sourceNamespace", "sourceName", "destType", "destNamespace", "destName", "destPort",
                   "sourceLabels", "destLabels")


class _RecordError(Exception):
    """A record lacks a field its format needs; becomes an InputError once the line is known."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def _missing(field, fmt):
    return _RecordError(field, "is missing (every %s flow record has it)" % fmt)


def _not_object(field, value):
    return _RecordError(field, "must be a JSON object, not %s" % _json_type(value))


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _port(value, field):
    """A destination port: 1..65535 -> int; absent or 0 (ICMP) -> None; anything else is an error."""
    if value is None or value == 0 or value == "0" or value == "":
        return None
    if value.__class__ is int and 0 < value < 65536:  # bool is not a port
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise _RecordError(field, "must be a port number from 1 to 65535, not %s" % json.dumps(value))


def _protocol(value):
    """``tcp``, ``UDP``, ``6``, 17 ... -> ``TCP`` / ``UDP`` / ``SCTP``; None for other protocols."""
    if not isinstance(value, (str, int)):
        return None
    found = _PROTOCOLS.get(value)
    if found is None and isinstance(value, str):
        found = _PROTOCOLS.get(value.strip().lower())
    return found


def _workload_value(name, aggregated):
    """A workload name usable as a label value: ``frontend-7d4b6c5f8d-*`` -> ``frontend`` when ``aggregated``."""
    if not isinstance(name, str):
        return ""
    name = name.strip()
    if aggregated and name.endswith("*"):
        name = name[:-1].rstrip("-")
        name = _POD_TEMPLATE_HASH.sub("", name)
    return "" if name in ("", "-") else name


class _Endpoints:
    """Endpoint resolution with memory: each distinct endpoint is worked out once and gets a small id."""

    def __init__(self, identity_labels):
        self.identity = identity_labels
        self.memo = {}
        self.ids = {}
        self.endpoints = []

    def register(self, endpoint):
        """Endpoint -> its id (ids make aggregation keys cheap to hash)."""
        found = self.ids.get(endpoint)
        if found is None:
            found = self.ids[endpoint] = len(self.endpoints)
            self.endpoints.append(endpoint)
        return found

    def workload(self, namespace, labels, workload_name):
        """A pod's endpoint id from its namespace, label mapping and workload name, or a skip reason."""
        try:
            validate_namespace(namespace)
        except ValueError:
            return INVALID
        identity = self.identity.get(namespace, DEFAULT_IDENTITY_LABEL)
        key = value = None
        for key in (identity,) + _PREFERRED_KEYS:
            value = labels.get(key)
            if value:
                break
        else:
            key, value = DEFAULT_IDENTITY_LABEL, workload_name
            if not value:
                return UNIDENTIFIED
        if not isinstance(value, str):
            return INVALID
        try:
            validate_label_value(value)
        except ValueError:
            return INVALID
        return self.register(Endpoint("workload", namespace=namespace, key=key, value=value))

    def domain(self, name):
        """``domain:name`` id, or INVALID; a trailing root dot is dropped."""
        key = ("domain", name)
        found = self.memo.get(key)
        if found is None:
            found = INVALID
            if isinstance(name, str) and name.strip().rstrip("."):
                try:
                    found = self.register(parse_endpoint("domain:" + name.strip().rstrip(".")))
                except ValueError:
                    found = INVALID
            self.memo[key] = found
        return found

    def address(self, ip):
        """``net:ip/32`` (or ``/128``) id, NO_ADDRESS if there is none, INVALID if it is not an address."""
        if not ip:
            return NO_ADDRESS
        if not isinstance(ip, str):
            return INVALID
        key = ("ip", ip)
        found = self.memo.get(key)
        if found is None:
            try:
                address = ipaddress.ip_address(ip.strip())
                found = INVALID if getattr(address, "scope_id", None) else self.register(
                    Endpoint("net", net="%s/%d" % (address, address.max_prefixlen)))
            except ValueError:
                found = INVALID
            self.memo[key] = found
        return found

    def external(self, ip, names):
        """An external peer: the first valid name if the record gives any, else its address."""
        if names and isinstance(names, str):
            names = names.split(",")
        if names and isinstance(names, list):
            for name in names:
                found = self.domain(name)
                if isinstance(found, int):
                    return found
        return self.address(ip)


def _label_pairs(items):
    """``["app=frontend", ...]`` -> mapping (the first value of a key wins)."""
    labels = {}
    for item in items:
        if isinstance(item, str):
            key, equals, value = item.partition("=")
            if equals:
                labels.setdefault(key.strip(), value.strip())
    return labels


class _Hubble:
    """Cilium Hubble flows (``flow.proto``, JSON with proto or camelCase names)."""

    name = "hubble"

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.memo = {}

    def convert(self, record):
        """A record -> (source id, destination id, protocol, port) or a skip reason."""
        flow = record.get("flow")
        prefix = "flow."
        if flow is None:
            if "source" not in record and "destination" not in record:
                for event in _HUBBLE_EVENTS:
                    if event in record:
                        return NOT_A_FLOW
                raise _missing("flow", self.name)
            flow, prefix = record, ""
        elif not isinstance(flow, dict):
            raise _not_object("flow", flow)
        source = flow.get("source")
        destination = flow.get("destination")
        if not isinstance(source, dict):
            raise _missing(prefix + "source", self.name) if source is None else _not_object(prefix + "source", source)
        if not isinstance(destination, dict):
            raise _missing(prefix + "destination", self.name) if destination is None else _not_object(prefix + "destination", destination)
        if flow.get("is_reply") or flow.get("isReply") or flow.get("reply"):
            return REPLY
        if flow.get("verdict") in _HUBBLE_BAD_VERDICTS:
            return DENIED
        if flow.get("Type") in ("SOCK", 3):
            return SOCKET
        l4 = flow.get("l4")
        if not l4 or not isinstance(l4, dict):
            return NO_PORT
        for protocol in _L4_KEYS:
            layer = l4.get(protocol)
            if layer is not None:
                break
        else:
            return NO_PORT
        if not isinstance(layer, dict):
            raise _not_object(prefix + "l4." + protocol, layer)
        port = layer.get("destination_port")
        if port is None:
            port = layer.get("destinationPort")
        if port.__class__ is not int or not 0 < port < 65536:
            port = _port(port, prefix + "l4." + protocol + ".destination_port")
            if port is None:
                return NO_PORT
        addresses = flow.get("IP") or {}
        if not isinstance(addresses, dict):
            raise _not_object(prefix + "IP", addresses)
        source_id = self.side(source, addresses.get("source"), None)
        if not isinstance(source_id, int):
            return source_id
        names = flow.get("destination_names")
        if names is None:
            names = flow.get("destinationNames")
        destination_id = self.side(destination, addresses.get("destination"), names)
        if not isinstance(destination_id, int):
            return destination_id
        if self.endpoints.endpoints[destination_id].is_external and (flow.get("destination_service") or flow.get("destinationService")):
            return SERVICE
        return source_id, destination_id, protocol, port

    def side(self, endpoint, ip, names):
        """One Hubble endpoint -> endpoint id or skip reason."""
        labels = endpoint.get("labels")
        labels = tuple(labels) if isinstance(labels, list) else ()
        namespace = endpoint.get("namespace") or ""
        workload = ""
        workloads = endpoint.get("workloads")
        if workloads and isinstance(workloads, list) and isinstance(workloads[0], dict):
            workload = workloads[0].get("name") or ""
        key = (namespace, labels, workload, endpoint.get("identity"))
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self.classify(*key)
        if found is _EXTERNAL:
            return self.endpoints.external(ip, names)
        return found

    def classify(self, namespace, labels, workload, identity):
        """Labels, namespace and identity -> endpoint id, skip reason or _EXTERNAL."""
        plain, reserved, external = {}, set(), False
        for label in labels:
            if not isinstance(label, str):
                continue
            source, colon, rest = label.partition(":")
            if not colon or "=" in source:
                source, rest = "", label
            if source == "reserved":
                reserved.add(rest.partition("=")[0])
            elif source in ("cidr", "fqdn"):
                external = True
            elif source in ("k8s", ""):
                key, equals, value = rest.partition("=")
                if equals and not key.startswith(_IGNORED_LABEL_PREFIXES):
                    plain.setdefault(key, value)
        if "host" in reserved or "remote-node" in reserved or (not labels and identity in _HUBBLE_HOST_IDENTITIES):
            return HOST
        if isinstance(namespace, str) and namespace:
            return self.endpoints.workload(namespace, plain, _workload_value(workload, False))
        if external or any(name.startswith("world") for name in reserved) or (not labels and identity in _HUBBLE_WORLD_IDENTITIES):
            return _EXTERNAL
        return UNKNOWN


class _Calico:
    """Calico Enterprise / Cloud flow logs (felix ``flowlog.JSONOutput``)."""

    name = "calico"

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.memo = {}

    def convert(self, record):
        """A record -> (source id, destination id, protocol, port) or a skip reason."""
        hit = record.get("_source")
        if isinstance(hit, dict):
            record = hit
        try:
            source_type, destination_type = record["source_type"], record["dest_type"]
            action, proto = record["action"], record["proto"]
        except KeyError as err:
            raise _missing(err.args[0], self.name) from None
        if action == "deny":
            return DENIED
        protocol = _PROTOCOLS.get(proto) or _protocol(proto)
        if protocol is None:
            return NO_PORT
        port = record.get("dest_port")  # null for ICMP; log pipelines may drop nulls
        if port.__class__ is not int or not 0 < port < 65536:
            port = _port(port, "dest_port")
            if port is None:
                return NO_PORT
        source_id = self.side(record, source_type, _CALICO_SOURCE)
        if not isinstance(source_id, int):
            return source_id
        destination_id = self.side(record, destination_type, _CALICO_DESTINATION)
        if not isinstance(destination_id, int):
            return destination_id
        return source_id, destination_id, protocol, port

    def side(self, record, kind, fields):
        """One side (the ``source_`` or ``dest_`` fields) -> endpoint id or skip reason.

        Pods are remembered by (namespace, aggregated name) with the labels they had, so a
        repeated pod costs a list comparison instead of hashing its labels.
        """
        if kind == "wep":
            namespace_field, labels_field, aggregated_field, name_field, ip_field = fields
            try:
                namespace = record[namespace_field]
            except KeyError:
                raise _missing(namespace_field, self.name) from None
            name = record.get(aggregated_field)
            if not name or name == "-":
                name = record.get(name_field)
            labels = record.get(labels_field)
            if isinstance(labels, dict):
                labels = labels.get("labels")
            key = (namespace, name)
            cached = self.memo.get(key)
            if cached is not None and cached[0] == labels:
                return cached[1]
            if not isinstance(namespace, str):
                found = INVALID
            else:
                found = self.endpoints.workload(namespace, _label_pairs(labels if isinstance(labels, list) else ()), _workload_value(name, True))
            self.memo[key] = (labels, found)
            return found
        if kind in ("net", "ns"):
            return self.endpoints.external(record.get(fields[4]), record.get("dest_domains") if fields is _CALICO_DESTINATION else None)
        if kind == "hep":
            return HOST
        return UNKNOWN


class _Goldmane:
    """Calico OSS Goldmane flows (``goldmane/proto/api.proto``) and Whisker ``FlowResponse`` objects."""

    name = "goldmane"

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.memo = {}

    def convert(self, record):
        """A record -> (source id, destination id, protocol, port) or a skip reason."""
        prefix = ""
        inner = record.get("flow")
        if inner is not None:
            if not isinstance(inner, dict):
                raise _not_object("flow", inner)
            record, prefix = inner, "flow."
        key = record.get("Key")
        if key is None:
            key = record.get("key")
        if key is None:
            if "source_name" in record or "protocol" in record:
                return self.whisker(record)
            raise _missing(prefix + "Key", self.name)
        if not isinstance(key, dict):
            raise _not_object(prefix + "Key", key)
        get = key.get
        proto = get("proto")
        if proto is None:
            raise _missing(prefix + "Key.proto", self.name)
        if get("action") in _GOLDMANE_DENY:
            return DENIED
        protocol = _PROTOCOLS.get(proto) or _protocol(proto)
        if protocol is None:
            return NO_PORT
        fields = _GOLDMANE_CAMEL if ("sourceName" in key or "destName" in key or "destPort" in key) else _GOLDMANE_SNAKE
        port = get(fields[6])
        if port.__class__ is not int or not 0 < port < 65536:
            port = _port(port, prefix + "Key." + fields[6])
            if port is None:
                return NO_PORT
        source_id = self.side(get(fields[0]), get(fields[1]), get(fields[2]), record.get(fields[7]))
        if not isinstance(source_id, int):
            return source_id
        destination_id = self.side(get(fields[3]), get(fields[4]), get(fields[5]), record.get(fields[8]))
        if not isinstance(destination_id, int):
            return destination_id
        return source_id, destination_id, protocol, port

    def whisker(self, record):
        """A flat Whisker ``FlowResponse`` (no endpoint types: pods are recognised by their namespace)."""
        if "protocol" not in record:
            raise _missing("protocol", self.name)
        if record.get("action") in _GOLDMANE_DENY:
            return DENIED
        protocol = _protocol(record["protocol"])
        if protocol is None:
            return NO_PORT
        port = _port(record.get("dest_port"), "dest_port")
        if port is None:
            return NO_PORT
        source_id = self.side(None, record.get("source_namespace"), record.get("source_name"), record.get("source_labels"))
        if not isinstance(source_id, int):
            return source_id
        destination_id = self.side(None, record.get("dest_namespace"), record.get("dest_name"), record.get("dest_labels"))
        if not isinstance(destination_id, int):
            return destination_id
        return source_id, destination_id, protocol, port

    def side(self, kind, namespace, name, labels):
        """One side -> endpoint id or skip reason (Goldmane has no addresses, so networks are skipped)."""
        key = (kind, namespace, name, tuple(labels) if isinstance(labels, list) else labels)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self.resolve(*key)
        return found

    def resolve(self, kind, namespace, name, labels):
        """The work behind ``side``, once per distinct endpoint."""
        kind = _GOLDMANE_TYPES.get(kind)
        if kind is None:  # unspecified (omitted when zero) or Whisker: infer from name and namespace
            if name in _NETWORK_NAMES:
                return NO_ADDRESS
            kind = "wep" if isinstance(namespace, str) and namespace not in ("", "-", "Global") else None
        if kind == "hep":
            return HOST
        if kind in ("ns", "net"):
            return NO_ADDRESS
        if kind != "wep" or not isinstance(namespace, str):
            return UNKNOWN
        if isinstance(labels, str):
            labels = [part for part in labels.split(" | ") if part]
        elif not isinstance(labels, tuple):
            labels = ()
        return self.endpoints.workload(namespace, _label_pairs(labels), _workload_value(name, True))


_CONVERTERS = {"hubble": _Hubble, "calico": _Calico, "goldmane": _Goldmane}


def detect_format(record):
    """The format a record is written in (``hubble``, ``calico``, ``goldmane``) or None if it cannot tell."""
    if not isinstance(record, Mapping):
        return None
    if isinstance(record.get("_source"), Mapping):
        record = record["_source"]
    inner = record.get("flow")
    if isinstance(inner, Mapping):
        return "goldmane" if ("Key" in inner or "key" in inner) else "hubble"
    if isinstance(record.get("Key"), Mapping) or isinstance(record.get("key"), Mapping):
        return "goldmane"
    if any(event in record for event in _HUBBLE_EVENTS):
        return "hubble"
    if isinstance(record.get("source"), Mapping) and isinstance(record.get("destination"), Mapping):
        return "hubble"
    if "source_name_aggr" in record or "dest_name_aggr" in record or isinstance(record.get("source_type"), str):
        return "calico"
    if "source_name" in record and ("protocol" in record or "dest_name" in record):
        return "goldmane"
    return None


def _identity_labels(identity_labels, source):
    if identity_labels is None:
        return {}
    if not isinstance(identity_labels, Mapping):
        raise InputError("must be a mapping of namespace to label key, not %s" % type(identity_labels).__name__, source=source, field="identity_labels")
    try:
        for namespace, key in identity_labels.items():
            validate_namespace(namespace)
            validate_label_key(key)
    except ValueError as err:
        raise InputError(str(err), source=source, field="identity_labels") from err
    return {str(namespace): str(key) for namespace, key in identity_labels.items()}


def _format_name(fmt, source):
    if fmt is None:
        return "auto"
    if not isinstance(fmt, str) or fmt.strip().lower() not in FORMATS:
        raise InputError("unknown flow log format %s (expected %s or %s)" % (json.dumps(fmt, default=str), ", ".join(FORMATS[:-1]), FORMATS[-1]),
                         source=source, field="format")
    return fmt.strip().lower()


def flow_from_record(record, fmt, identity_labels=None):
    """One parsed record -> ``Flow`` (origin empty), or None for a record with no usable L4 flow.

    ``fmt`` is ``hubble``, ``calico``, ``goldmane`` or ``auto``. Raises ``InputError`` for an
    unknown format, a record that is not an object or lacks a field its format needs.
    """
    fmt = _format_name(fmt, None)
    if not isinstance(record, Mapping):
        raise InputError("expected a JSON object (one flow record), got %s" % _json_type(record))
    if fmt == "auto":
        fmt = detect_format(record)
        if fmt is None:
            raise InputError(_undetected(record))
    endpoints = _Endpoints(_identity_labels(identity_labels, None))
    try:
        result = _CONVERTERS[fmt](endpoints).convert(record if isinstance(record, dict) else dict(record))
    except _RecordError as err:
        raise InputError(err.message, field=err.field) from None
    except TypeError as err:
        raise InputError(_type_problem(err)) from None
    if not isinstance(result, tuple):
        return None
    source_id, destination_id, protocol, port = result
    return Flow(endpoints.endpoints[source_id], endpoints.endpoints[destination_id], protocol, port, port)


def _undetected(record):
    keys = sorted(str(key) for key in record)
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
    return "cannot tell the flow log format from this record (keys: %s); set format to hubble, calico or goldmane" % (shown or "none")


class _Reader:
    """One file: lines -> records -> aggregated flow keys, with the first line each key was seen on."""

    def __init__(self, path, fmt, identity):
        self.path = path
        self.fmt = fmt
        self.endpoints = _Endpoints(identity)
        self.converter = None if fmt == "auto" else _CONVERTERS[fmt](self.endpoints)
        self.seen = {}
        self.skipped = {}
        self.records = 0

    def error(self, message, line=None, field=None):
        """An InputError about this file."""
        return InputError(message, source=self.path, line=line, field=field)

    def start(self, record, line, where):
        """Pick the converter for ``auto`` from the first record."""
        fmt = detect_format(record)
        if fmt is None:
            raise self.error(_undetected(record), line, where or None)
        self.fmt = fmt
        self.converter = _CONVERTERS[fmt](self.endpoints)

    def add(self, record, line, where=""):
        """One parsed JSON value (a record, an array of records or a list response)."""
        if isinstance(record, dict):
            found = _container_items(record)
            if found is not None:
                path, items = found
                for index, item in enumerate(items):
                    self.add(item, line, "%s%s%s[%d]" % (where, "." if where else "", path, index))
                return
        elif isinstance(record, list):
            for index, item in enumerate(record):
                self.add(item, line, "%s[%d]" % (where, index))
            return
        else:
            raise self.error("expected a JSON object (one flow record), got %s" % _json_type(record), line, where or None)
        if self.converter is None:
            self.start(record, line, where)
        self.records += 1
        try:
            result = self.converter.convert(record)
        except _RecordError as err:
            raise self.error(err.message, line, (where + "." if where else "") + err.field) from None
        except TypeError as err:
            raise self.error(_type_problem(err), line, where or None) from None
        if isinstance(result, tuple):
            if result not in self.seen:
                self.seen[result] = line
        else:
            self.skipped[result] = self.skipped.get(result, 0) + 1

    def read_lines(self, stream):
        """JSON Lines, streamed in blocks; falls back to one JSON document when the first line is only its beginning."""
        setdefault = self.seen.setdefault
        skipped = self.skipped
        convert = self.converter.convert if self.converter else None
        scan = _SCAN
        number = counted = 0
        started = False
        pieces, pending = [], 0   # the line still being read, and its length so far
        read = getattr(stream, "read1", stream.read)   # read1: a truncated gzip fails at the line it cuts, not a block early
        try:
            block = read(_BLOCK)
            if block.startswith(_WIDE_BOMS):
                raise self.error("is UTF-16 or UTF-32 text: flow logs must be UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)")
            while True:
                if block:
                    if b"\n" not in block:
                        pieces.append(block)
                        pending += len(block)
                        if pending > MAX_DOCUMENT_BYTES:
                            raise self.error("has a line longer than %s" % _size(MAX_DOCUMENT_BYTES), number + 1)
                        block = read(_BLOCK)
                        continue
                    if pieces:
                        pieces.append(block)
                        block = b"".join(pieces)
                    lines = block.split(b"\n")
                    last = lines.pop()
                    pieces, pending = ([last], len(last)) if last else ([], 0)
                else:
                    lines = [b"".join(pieces)] if pieces else []
                    pieces = []
                base = number
                for line in lines:
                    number += 1
                    try:
                        # The C scanner straight on the decoded line; json.loads (BOM, spaces, errors) only if that fails.
                        text = line.decode()
                        record, end = scan(text, 0)
                        if end != len(text) and text[end:].strip():
                            record = json.loads(line)
                    except (StopIteration, ValueError):
                        try:
                            record = json.loads(line)
                        except ValueError as err:
                            if not line.strip():
                                continue
                            if not started and isinstance(err, json.JSONDecodeError) and err.pos >= len(line.rstrip()):
                                tail = [b"".join(pieces)] if block else []   # a split block ended with a separator
                                return self.read_document(b"\n".join(lines[number - base - 1:] + tail), stream, number)
                            raise self.error(_json_problem(err), number) from None
                    started = True
                    if convert is not None and isinstance(record, dict):
                        try:
                            result = convert(record)
                        except _RecordError as err:
                            if _container_items(record) is None:   # a list response is no record: its items are
                                raise self.error(err.message, number, err.field) from None
                            self.add(record, number)
                            continue
                        except TypeError as err:
                            raise self.error(_type_problem(err), number) from None
                        counted += 1
                        if isinstance(result, tuple):
                            setdefault(result, number)
                        else:
                            skipped[result] = skipped.get(result, 0) + 1
                    else:
                        self.add(record, number)
                        convert = self.converter.convert if self.converter else None
                if not block:
                    return None
                block = read(_BLOCK)
        except (OSError, EOFError, zlib.error) as err:
            raise self.error("cannot read flow log: %s" % _os_problem(err), number + 1) from None
        finally:
            self.records += counted

    def read_document(self, first, stream, first_line):
        """A small file holding one (pretty-printed) JSON document."""
        data = first + stream.read(max(0, MAX_DOCUMENT_BYTES + 1 - len(first)))
        if len(data) > MAX_DOCUMENT_BYTES:
            raise self.error("is one JSON document larger than %s: write it as JSON Lines, one record per line (e.g. jq -c '.[]')"
                             % _size(MAX_DOCUMENT_BYTES))
        try:
            document = json.loads(data)
        except ValueError as err:
            line = first_line - 1 + err.lineno if isinstance(err, json.JSONDecodeError) else first_line
            raise self.error(_json_problem(err), line) from None
        self.add(document, None)

    def flows(self):
        """The aggregated flows, each with the first place it was seen as origin, sorted as ``merge_flows`` sorts.

        Endpoints are ranked once, so the sort compares small tuples, not dataclasses.
        """
        endpoints = self.endpoints.endpoints
        rank = [0] * len(endpoints)
        for position, index in enumerate(sorted(range(len(endpoints)), key=endpoints.__getitem__)):
            rank[index] = position
        ordered = sorted(self.seen.items(), key=lambda item: (rank[item[0][0]], rank[item[0][1]], item[0][2], item[0][3]))
        path = self.path
        return [Flow(endpoints[source_id], endpoints[destination_id], protocol, port, port,
                     origin=path if line is None else "%s:%d" % (path, line))
                for (source_id, destination_id, protocol, port), line in ordered]


def _container_items(record):
    """``(JSON path, records)`` of a list response (Whisker ``items``, Goldmane ``flows``, Elasticsearch ``hits.hits``), else None."""
    for key in ("items", "flows"):
        value = record.get(key)
        if isinstance(value, list):
            return key, value
    hits = record.get("hits")
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
        return "hits.hits", hits["hits"]
    return None


def _size(count):
    return "%d MiB" % (count // 2 ** 20) if count >= 2 ** 20 else "%d bytes" % count


def _type_problem(err):
    return "a field has an unexpected JSON type (%s)" % err


def _json_problem(err):
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text: %s" % err.reason
    if isinstance(err, json.JSONDecodeError):
        return "invalid JSON: %s (column %d)" % (err.msg, err.colno)
    return "invalid JSON: %s" % err


def _os_problem(err):
    if isinstance(err, EOFError):
        return "the gzip data is truncated (%s)" % err
    if isinstance(err, zlib.error):
        return "the gzip data is corrupt (%s)" % err
    return err.strerror or str(err)


def _spec(spec, source):
    """``{"path": ..., "format": ...}`` (or a bare path) -> (path, format)."""
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, Mapping):
        raise InputError("expected a mapping with keys path and format, got %s" % type(spec).__name__, source=source)
    unknown = sorted(str(key) for key in spec if key not in SPEC_KEYS)
    if unknown:
        raise InputError("unknown key %r (expected path and format)" % unknown[0], source=source)
    path = spec.get("path")
    if path is None:
        raise InputError("is missing", source=source, field="path")
    if not isinstance(path, str):
        raise InputError("must be a string, not %s" % type(path).__name__, source=source, field="path")
    if not path.strip():
        raise InputError("must not be empty", source=source, field="path")
    return str(path), _format_name(spec.get("format"), source)


def read_flow_logs(spec, base_dir, identity_labels=None, source_field="microseg_flow_logs[0]", stats=None):
    """One ``microseg_flow_logs`` item -> merged, sorted observed ``Flow`` objects.

    ``spec`` is ``{"path": "logs/flows.jsonl.gz", "format": "hubble"|"calico"|"goldmane"|"auto"}``
    (format defaults to ``auto``); a relative path is relative to ``base_dir``. Spec problems
    name ``source_field``; file problems name the path, the line and the field. If ``stats``
    is a dict it receives ``path``, ``format`` (as detected), ``records``, ``flows`` and
    ``skipped`` (skip reason -> count, see ``SKIP_REASONS``).
    """
    path, fmt = _spec(spec, source_field)
    identity = _identity_labels(identity_labels, source_field)
    reader = _Reader(path, fmt, identity)
    full = os.path.join(base_dir or "", os.path.expanduser(path))
    try:
        raw = open(full, "rb")   # closed in the finally below, whether gzip wraps it or not
    except OSError as err:
        raise reader.error("cannot read flow log: %s" % (err.strerror or err)) from None
    try:
        try:
            compressed = raw.peek(2)[:2] == b"\x1f\x8b"
        except OSError as err:
            raise reader.error("cannot read flow log: %s" % (err.strerror or err)) from None
        if compressed:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                reader.read_lines(stream)
        else:
            reader.read_lines(raw)
    finally:
        raw.close()
    flows = reader.flows()
    if isinstance(stats, dict):
        stats.update({"path": path, "format": reader.fmt, "records": reader.records,
                      "flows": len(flows), "skipped": dict(sorted(reader.skipped.items()))})
    return flows
