"""What every flow log format shares: skip reasons, record errors, field readers and endpoint interning.

Endpoints are interned to small ids and worked out once per distinct label set, so the
aggregation key of a record is a tuple of four small values (source id, destination id,
protocol, port).
"""
from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import DEFAULT_IDENTITY_LABEL, Endpoint, parse_endpoint
from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import validate_label_value, validate_namespace

REPLY = "reply"
DENIED = "denied"
NO_PORT = "no-port"
HOST = "host"
NO_ADDRESS = "external-without-address"
UNKNOWN = "unknown-endpoint"
UNIDENTIFIED = "unidentified-workload"
INVALID = "invalid-name"
SOCKET = "socket-trace"
SERVICE = "service-address"
WINDOW = "outside-window"
NO_TIME = "no-time"
SKIP_REASONS = {
    REPLY: "reply-direction packets",
    DENIED: "flows denied, dropped or in error",
    NO_PORT: "ICMP and other flows without a TCP, UDP or SCTP destination port",
    HOST: "host endpoints, host-network and remote-node peers",
    NO_ADDRESS: "external peers the record gives neither an address nor a name for",
    UNKNOWN: "peers that are neither a pod nor an external address",
    UNIDENTIFIED: "pods without an identity label or workload name",
    INVALID: "namespaces, label values or domain names that are not valid",
    SOCKET: "socket-level traces before service translation",
    SERVICE: "packets to a service's virtual address before translation (the translated packet is counted)",
    WINDOW: "records outside the since / until window",
    NO_TIME: "records without a time while since or until is set",
}
# Lines that hold no flow record (CONTRACT §5): skipped and named by file:line, errors with microseg_strict.
NOT_JSON = "invalid-json"
CUT = "cut-line"
NOT_A_RECORD = "not-a-record"
NOT_A_FLOW = "not-a-flow"
UNDETECTED = "unknown-format"
MALFORMED_REASONS = {
    NOT_JSON: "lines that are not JSON",
    CUT: "lines cut short (a writer stopped mid-line, or the gzip data ends)",
    NOT_A_RECORD: "values that are not flow records (not an object, or without a field the format needs)",
    NOT_A_FLOW: "exporter events that are not flows",
    UNDETECTED: "records whose format cannot be told",
}


PREFERRED_KEYS = ("app", "app.kubernetes.io/name", "k8s-app", "run")
POD_TEMPLATE_HASH = re.compile(r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}$")
PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "6": "TCP", "17": "UDP", "132": "SCTP", 6: "TCP", 17: "UDP", 132: "SCTP"}


class RecordError(Exception):
    """A record lacks a field its format needs; becomes an InputError once the line is known."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def missing(field, fmt):
    return RecordError(field, "is missing (every %s flow record has it)" % fmt)


def not_object(field, value):
    return RecordError(field, "must be a JSON object, not %s" % json_type(value))


def json_type(value):
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


def port_number(value, field):
    """A destination port: 1..65535 -> int; absent or 0 (ICMP) -> None; anything else is an error."""
    if value is None or value == 0 or value == "0" or value == "":
        return None
    if value.__class__ is int and 0 < value < 65536:  # bool is not a port
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise RecordError(field, "must be a port number from 1 to 65535, not %s" % json.dumps(value))


def protocol_name(value):
    """``tcp``, ``UDP``, ``6``, 17 ... -> ``TCP`` / ``UDP`` / ``SCTP``; None for other protocols."""
    if not isinstance(value, (str, int)):
        return None
    found = PROTOCOLS.get(value)
    if found is None and isinstance(value, str):
        found = PROTOCOLS.get(value.strip().lower())
    return found


def workload_value(name, aggregated):
    """A workload name usable as a label value: ``frontend-7d4b6c5f8d-*`` -> ``frontend`` when ``aggregated``."""
    if not isinstance(name, str):
        return ""
    name = name.strip()
    if aggregated and name.endswith("*"):
        name = name[:-1].rstrip("-")
        name = POD_TEMPLATE_HASH.sub("", name)
    return "" if name in ("", "-") else name


class Converter:
    """What the format converters (``hubble.py``, ``calico.py``, ``goldmane.py``) share: the endpoint index, whether denied
    and dropped records count as observed attempts (remediate's ``take_denied``), and a memo of resolved endpoints."""

    name = ""

    def __init__(self, endpoints, take_denied=False):
        self.endpoints = endpoints
        self.take_denied = take_denied
        self.memo = {}


class Endpoints:
    """Endpoint resolution with memory: each distinct endpoint is worked out once and gets a small id."""

    def __init__(self, identity_labels):
        self.identity = identity_labels
        self.memo = {}
        self.ids = {}
        self.endpoints = []
        self.external_ids = set()   # ids of domain: and net: endpoints

    def register(self, endpoint):
        """Endpoint -> its id (ids make aggregation keys cheap to hash)."""
        found = self.ids.get(endpoint)
        if found is None:
            found = self.ids[endpoint] = len(self.endpoints)
            self.endpoints.append(endpoint)
            if endpoint.is_external:
                self.external_ids.add(found)
        return found

    def workload(self, namespace, labels, workload_name):
        """A pod's endpoint id from its namespace, label mapping and workload name, or a skip reason."""
        try:
            validate_namespace(namespace)
        except ValueError:
            return INVALID
        identity = self.identity.get(namespace, DEFAULT_IDENTITY_LABEL)
        key = value = None
        for key in (identity,) + PREFERRED_KEYS:
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


def label_pairs(items):
    """``["app=frontend", ...]`` -> mapping (the first value of a key wins)."""
    labels = {}
    for item in items:
        if isinstance(item, str):
            key, equals, value = item.partition("=")
            if equals:
                labels.setdefault(key.strip(), value.strip())
    return labels


def type_problem(err):
    return "a field has an unexpected JSON type (%s)" % err
