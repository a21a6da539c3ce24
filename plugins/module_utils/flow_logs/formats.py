"""The formats: which converter reads a record, and one record -> one ``Flow``."""
from __future__ import annotations

import json
from collections.abc import Mapping

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.flows import Flow
from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import validate_label_key, validate_namespace
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import Endpoints, RecordError, json_type, type_problem
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs import calico, goldmane, hubble
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.decode import fast_decoder
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.hubble import EVENTS

FORMATS = ("hubble", "calico", "goldmane", "auto")
CONVERTERS = {"hubble": hubble.Hubble, "calico": calico.Calico, "goldmane": goldmane.Goldmane}
FIELDS = {"hubble": hubble.FIELDS, "calico": calico.FIELDS, "goldmane": goldmane.FIELDS}
TIME_FIELDS = ("time", "start_time", "end_time", "startTime", "endTime")   # read only for a since / until window
_DECODERS = {}


def _without_times(fields):
    return {key: (_without_times(inner) if isinstance(inner, dict) else inner) for key, inner in fields.items() if key not in TIME_FIELDS}


def decoder(fmt, times=True):
    """The decoder of ``fmt`` (built once): msgspec building only the fields the converter reads (and the record's time only
    when ``times``), or the standard library's."""
    key = (fmt, times)
    if key not in _DECODERS:
        _DECODERS[key] = fast_decoder(fmt, FIELDS[fmt] if times else _without_times(FIELDS[fmt]))
    return _DECODERS[key]


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
    if any(event in record for event in EVENTS):
        return "hubble"
    if isinstance(record.get("source"), Mapping) and isinstance(record.get("destination"), Mapping):
        return "hubble"
    if "source_name_aggr" in record or "dest_name_aggr" in record or isinstance(record.get("source_type"), str):
        return "calico"
    if "source_name" in record and ("protocol" in record or "dest_name" in record):
        return "goldmane"
    return None


def checked_identity_labels(identity_labels, source):
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


def format_name(fmt, source):
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
    fmt = format_name(fmt, None)
    if not isinstance(record, Mapping):
        raise InputError("expected a JSON object (one flow record), got %s" % json_type(record))
    if fmt == "auto":
        fmt = detect_format(record)
        if fmt is None:
            raise InputError(undetected(record))
    endpoints = Endpoints(checked_identity_labels(identity_labels, None))
    try:
        result = CONVERTERS[fmt](endpoints).convert(record if isinstance(record, dict) else dict(record))
    except RecordError as err:
        raise InputError(err.message, field=err.field) from None
    except TypeError as err:
        raise InputError(type_problem(err)) from None
    if not isinstance(result, tuple):
        return None
    source_id, destination_id, protocol, port = result
    return Flow(endpoints.endpoints[source_id], endpoints.endpoints[destination_id], protocol, port, port)


def undetected(record):
    keys = sorted(str(key) for key in record)
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
    return "cannot tell the flow log format from this record (keys: %s); set format to hubble, calico or goldmane" % (shown or "none")
