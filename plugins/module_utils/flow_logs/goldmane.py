"""Calico Open Source Goldmane flows and Whisker ``FlowResponse`` objects, see ``flow_logs/__init__.py``."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import (
    Converter, DENIED, HOST, NO_ADDRESS, NO_PORT, PROTOCOLS, UNKNOWN, label_pairs, missing, not_object, port_number, protocol_name,
    workload_value)

_TYPES = {1: "wep", 2: "hep", 3: "ns", 4: "net", "WorkloadEndpoint": "wep", "HostEndpoint": "hep", "NetworkSet": "ns", "Network": "net"}
_DENY = frozenset((2, "Deny", "deny", "DENY"))
_NETWORK_NAMES = frozenset(("pub", "pvt", "PUBLIC NETWORK", "PRIVATE NETWORK"))
# Goldmane key fields: source type, namespace, name; destination type, namespace, name; port; then the Flow's label fields.
_SNAKE = ("source_type", "source_namespace", "source_name", "dest_type", "dest_namespace", "dest_name", "dest_port",
          "source_labels", "dest_labels")
_CAMEL = ("sourceType", "sourceNamespace", "sourceName", "destType", "destNamespace", "destName", "destPort",
          "sourceLabels", "destLabels")
# The fields convert() and time() read (decode.py builds only these): None is any value, a mapping an object.
_KEY = dict({field: None for field in _SNAKE[:7] + _CAMEL[:7]}, proto=None, action=None)
_FLOW = dict({field: None for field in _SNAKE[7:] + _CAMEL[7:]}, Key=_KEY, key=_KEY, start_time=None, end_time=None, startTime=None, endTime=None)
FIELDS = dict(_FLOW, flow=_FLOW, source_name=None, source_namespace=None, dest_name=None, dest_namespace=None, protocol=None, dest_port=None,
              action=None)


class Goldmane(Converter):
    """Calico OSS Goldmane flows (``goldmane/proto/api.proto``) and Whisker ``FlowResponse`` objects."""

    name = "goldmane"

    def convert(self, record):
        """A record -> (source id, destination id, protocol, port) or a skip reason."""
        prefix = ""
        inner = record.get("flow")
        if inner is not None:
            if not isinstance(inner, dict):
                raise not_object("flow", inner)
            record, prefix = inner, "flow."
        key = record.get("Key")
        if key is None:
            key = record.get("key")
        if key is None:
            if "source_name" in record or "protocol" in record:
                return self.whisker(record)
            raise missing(prefix + "Key", self.name)
        if not isinstance(key, dict):
            raise not_object(prefix + "Key", key)
        get = key.get
        proto = get("proto")
        if proto is None:
            raise missing(prefix + "Key.proto", self.name)
        if get("action") in _DENY and not self.take_denied:
            return DENIED
        protocol = PROTOCOLS.get(proto) or protocol_name(proto)
        if protocol is None:
            return NO_PORT
        fields = _CAMEL if ("sourceName" in key or "destName" in key or "destPort" in key) else _SNAKE
        port = get(fields[6])
        if port.__class__ is not int or not 0 < port < 65536:
            port = port_number(port, prefix + "Key." + fields[6])
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
            raise missing("protocol", self.name)
        if record.get("action") in _DENY and not self.take_denied:
            return DENIED
        protocol = protocol_name(record["protocol"])
        if protocol is None:
            return NO_PORT
        port = port_number(record.get("dest_port"), "dest_port")
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
        kind = _TYPES.get(kind)
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
        return self.endpoints.workload(namespace, label_pairs(labels), workload_value(name, True))

    @staticmethod
    def time(record):
        """The interval the flow covers: ``start_time`` and ``end_time`` (seconds, numbers or text; Whisker RFC 3339)."""
        inner = record.get("flow")
        if isinstance(inner, dict):
            record = inner
        start = record.get("start_time")
        end = record.get("end_time")
        return (record.get("startTime") if start is None else start), (record.get("endTime") if end is None else end)
