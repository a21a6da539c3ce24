"""Cilium Hubble flows (``hubble observe -o json|jsonpb`` and the Hubble exporter), see ``flow_logs/__init__.py``."""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import (
    DENIED, HOST, NO_PORT, NOT_A_FLOW, REPLY, SERVICE, SOCKET, UNKNOWN, missing, not_object, port_number, workload_value)

_IGNORED_LABEL_PREFIXES = ("io.kubernetes.", "io.cilium.")
_L4_KEYS = ("TCP", "UDP", "SCTP")
EVENTS = ("node_status", "lost_events", "agent_event", "debug_event", "nodeStatus", "lostEvents", "agentEvent", "debugEvent")
_BAD_VERDICTS = frozenset(("DROPPED", "ERROR", 2, 3))
_WORLD_IDENTITIES = frozenset((2, 9, 10))   # reserved:world, world-ipv4, world-ipv6
_HOST_IDENTITIES = frozenset((1, 6))        # reserved:host, remote-node
_EXTERNAL = object()


class Hubble:
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
                for event in EVENTS:
                    if event in record:
                        return NOT_A_FLOW
                raise missing("flow", self.name)
            flow, prefix = record, ""
        elif not isinstance(flow, dict):
            raise not_object("flow", flow)
        source = flow.get("source")
        destination = flow.get("destination")
        if not isinstance(source, dict):
            raise missing(prefix + "source", self.name) if source is None else not_object(prefix + "source", source)
        if not isinstance(destination, dict):
            raise missing(prefix + "destination", self.name) if destination is None else not_object(prefix + "destination", destination)
        if flow.get("is_reply") or flow.get("isReply") or flow.get("reply"):
            return REPLY
        if flow.get("verdict") in _BAD_VERDICTS:
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
            raise not_object(prefix + "l4." + protocol, layer)
        port = layer.get("destination_port")
        if port is None:
            port = layer.get("destinationPort")
        if port.__class__ is not int or not 0 < port < 65536:
            port = port_number(port, prefix + "l4." + protocol + ".destination_port")
            if port is None:
                return NO_PORT
        addresses = flow.get("IP") or {}
        if not isinstance(addresses, dict):
            raise not_object(prefix + "IP", addresses)
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
        if "host" in reserved or "remote-node" in reserved or (not labels and identity in _HOST_IDENTITIES):
            return HOST
        if isinstance(namespace, str) and namespace:
            return self.endpoints.workload(namespace, plain, workload_value(workload, False))
        if external or any(name.startswith("world") for name in reserved) or (not labels and identity in _WORLD_IDENTITIES):
            return _EXTERNAL
        return UNKNOWN
