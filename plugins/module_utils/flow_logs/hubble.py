"""Cilium Hubble flows (``hubble observe -o json|jsonpb`` and the Hubble exporter), see ``flow_logs/__init__.py``."""
from __future__ import annotations

import json

from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import (
    Converter, DENIED, HOST, NO_PORT, NOT_A_FLOW, REPLY, SERVICE, SOCKET, UNKNOWN, missing, not_object, port_number, workload_value)
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.decode import KEEP_TEXT, UNDECODED

_IGNORED_LABEL_PREFIXES = ("io.kubernetes.", "io.cilium.")
_L4_KEYS = ("TCP", "UDP", "SCTP")
EVENTS = ("node_status", "lost_events", "agent_event", "debug_event", "nodeStatus", "lostEvents", "agentEvent", "debugEvent")
_BAD_VERDICTS = frozenset(("DROPPED", "ERROR", 2, 3))
_WORLD_IDENTITIES = frozenset((2, 9, 10))   # reserved:world, world-ipv4, world-ipv6
_HOST_IDENTITIES = frozenset((1, 6))        # reserved:host, remote-node
_EXTERNAL = object()
_SOCKET_TYPES = frozenset(("SOCK", 3))
# The fields convert() and time() read (decode.py builds only these): None is any value, a mapping an object.
# An endpoint stays JSON text (UNDECODED): a pod's endpoint repeats in every record, so it is decoded and resolved once per text.
_ENDPOINT = KEEP_TEXT
_FLOW = {"source": _ENDPOINT, "destination": _ENDPOINT, "is_reply": None, "isReply": None, "reply": None, "verdict": None, "Type": None,
         "l4": {layer: {"destination_port": None, "destinationPort": None} for layer in _L4_KEYS}, "IP": {"source": None, "destination": None},
         "destination_names": None, "destinationNames": None, "destination_service": None, "destinationService": None, "time": None}
FIELDS = dict(_FLOW, flow=_FLOW, **{event: None for event in EVENTS})


class Hubble(Converter):
    """Cilium Hubble flows (``flow.proto``, JSON with proto or camelCase names)."""

    name = "hubble"

    def __init__(self, endpoints, take_denied=False):
        super().__init__(endpoints, take_denied)
        self.pods = {}
        self.texts = {}

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
        get = flow.get
        source = get("source")
        destination = get("destination")
        source_text = destination_text = None   # [endpoint, its kind once known] of an endpoint left as text (see undecoded)
        if source.__class__ is UNDECODED:
            source_text = self.texts.get(bytes(source)) or self.undecoded(source)
            source = source_text[0]
        if destination.__class__ is UNDECODED:
            destination_text = self.texts.get(bytes(destination)) or self.undecoded(destination)
            destination = destination_text[0]
        if not isinstance(source, dict):
            raise missing(prefix + "source", self.name) if source is None else not_object(prefix + "source", source)
        if not isinstance(destination, dict):
            raise missing(prefix + "destination", self.name) if destination is None else not_object(prefix + "destination", destination)
        if get("is_reply") or get("isReply") or get("reply"):
            return REPLY
        if get("verdict") in _BAD_VERDICTS and not self.take_denied:
            return DENIED
        if get("Type") in _SOCKET_TYPES:
            return SOCKET
        l4 = get("l4")
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
        addresses = get("IP") or {}
        if not isinstance(addresses, dict):
            raise not_object(prefix + "IP", addresses)
        if source_text is not None and source_text[1] is not None:
            source_id = source_text[1]
        else:
            source_id = self.kind(source, source_text)
        if source_id is _EXTERNAL:
            source_id = self.endpoints.external(addresses.get("source"), None)
        if source_id.__class__ is not int:
            return source_id
        if destination_text is not None and destination_text[1] is not None:
            destination_id = destination_text[1]
        else:
            destination_id = self.kind(destination, destination_text)
        if destination_id is _EXTERNAL:
            names = get("destination_names")
            if names is None:
                names = get("destinationNames")
            destination_id = self.endpoints.external(addresses.get("destination"), names)
        if destination_id.__class__ is not int:
            return destination_id
        if destination_id in self.endpoints.external_ids and (get("destination_service") or get("destinationService")):
            return SERVICE
        return source_id, destination_id, protocol, port

    def kind(self, endpoint, text=None):
        """One Hubble endpoint -> endpoint id, skip reason or _EXTERNAL (resolved per record from its address and names).

        Endpoints are remembered by (identity, namespace) with the labels and workload they had, so a repeated
        endpoint costs a list comparison instead of hashing its labels; one that came as text (``text``, see
        ``undecoded``) keeps its kind with the text.
        """
        get = endpoint.get
        labels = get("labels")
        workloads = get("workloads")
        key = (get("identity"), get("namespace"))
        try:
            cached = self.pods.get(key)
        except TypeError:   # an identity or namespace of an unexpected type: no shortcut
            cached = None
        if cached is not None and cached[0] == labels and cached[1] == workloads:
            found = cached[2]
        else:
            workload = ""
            if workloads and isinstance(workloads, list) and isinstance(workloads[0], dict):
                workload = workloads[0].get("name") or ""
            full = (get("namespace") or "", tuple(labels) if isinstance(labels, list) else (), workload, get("identity"))
            found = self.memo.get(full)
            if found is None:
                found = self.memo[full] = self.classify(*full)
            try:
                self.pods[key] = (labels, workloads, found)
            except TypeError:
                pass
        if text is not None:
            text[1] = found
        return found

    def undecoded(self, raw):
        """An endpoint the fast decoder left as JSON text (``decode.UNDECODED``) -> ``[endpoint, kind or None]``, decoded
        once per distinct text."""
        text = bytes(raw)
        found = self.texts.get(text)
        if found is None:
            found = self.texts[text] = [json.loads(text), None]
        return found

    @staticmethod
    def time(record):
        """The record's time as an interval of one instant: the flow's (or the exporter line's) ``time``."""
        flow = record.get("flow")
        value = flow.get("time") if isinstance(flow, dict) else None
        if value is None:
            value = record.get("time")
        return value, value

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
