"""Calico Enterprise / Calico Cloud flow logs (felix's Elasticsearch documents), see ``flow_logs/__init__.py``."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import (
    Converter, DENIED, HOST, INVALID, NO_PORT, PROTOCOLS, UNKNOWN, label_pairs, missing, port_number, protocol_name, workload_value)

_SOURCE = ("source_namespace", "source_labels", "source_name_aggr", "source_name", "source_ip")
_DESTINATION = ("dest_namespace", "dest_labels", "dest_name_aggr", "dest_name", "dest_ip")
# The fields convert() and time() read (decode.py builds only these): None is any value, a mapping an object.
_DOCUMENT = dict({field: None for field in _SOURCE + _DESTINATION},
                 source_type=None, dest_type=None, action=None, proto=None, dest_port=None, dest_domains=None, start_time=None, end_time=None)
FIELDS = dict(_DOCUMENT, _source=_DOCUMENT)


class Calico(Converter):
    """Calico Enterprise / Cloud flow logs (felix ``flowlog.JSONOutput``)."""

    name = "calico"

    def convert(self, record):
        """A record -> (source id, destination id, protocol, port) or a skip reason."""
        hit = record.get("_source")
        if isinstance(hit, dict):
            record = hit
        try:
            source_type, destination_type = record["source_type"], record["dest_type"]
            action, proto = record["action"], record["proto"]
        except KeyError as err:
            raise missing(err.args[0], self.name) from None
        if action == "deny" and not self.take_denied:
            return DENIED
        protocol = PROTOCOLS.get(proto) or protocol_name(proto)
        if protocol is None:
            return NO_PORT
        port = record.get("dest_port")  # null for ICMP; log pipelines may drop nulls
        if port.__class__ is not int or not 0 < port < 65536:
            port = port_number(port, "dest_port")
            if port is None:
                return NO_PORT
        source_id = self.side(record, source_type, _SOURCE)
        if not isinstance(source_id, int):
            return source_id
        destination_id = self.side(record, destination_type, _DESTINATION)
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
                raise missing(namespace_field, self.name) from None
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
                found = self.endpoints.workload(namespace, label_pairs(labels if isinstance(labels, list) else ()), workload_value(name, True))
            self.memo[key] = (labels, found)
            return found
        if kind in ("net", "ns"):
            return self.endpoints.external(record.get(fields[4]), record.get("dest_domains") if fields is _DESTINATION else None)
        if kind == "hep":
            return HOST
        return UNKNOWN

    @staticmethod
    def time(record):
        """The interval the aggregated record covers: ``start_time`` and ``end_time`` (seconds)."""
        hit = record.get("_source")
        if isinstance(hit, dict):
            record = hit
        return record.get("start_time"), record.get("end_time")
