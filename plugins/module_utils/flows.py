"""Flow tables: Markdown, CSV, YAML or inline rows in, validated ``Flow`` objects out.

One row is one allowed connection ``source | destination | port`` (CONTRACT.md section 4).
Endpoint cells: ``svc``, ``namespace/svc``, ``namespace/key=value``, ``namespace/*``,
``domain:example.com`` / ``domain:*.example.com`` (destination only), ``net:10.0.0.0/8``.
Port cells: ``7070``, ``7070/TCP``, ``53/udp``, ``8000-8080``. As extensions, the bare
``key=value`` and ``*`` forms stand for the home namespace like a bare ``svc``.

Every name is checked with Kubernetes' own rules (``labels.py``), so no cell can carry
selector syntax. The first problem raises ``InputError`` naming file, line and field;
nothing is returned partially. Files are read as a stream.
"""
from __future__ import annotations

import copy
import csv
import io
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

try:
    import yaml
except ImportError:  # ansible-core requires PyYAML; only a bare import check runs without it
    yaml = None

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
from ansible_collections.zerotrust.microseg.plugins.module_utils.labels import (
    validate_label_key, validate_label_value, validate_namespace)

FIELDS = ("source", "destination", "port")
PROTOCOLS = ("TCP", "UDP", "SCTP")
DEFAULT_IDENTITY_LABEL = "app"

_PORT = re.compile(r"([0-9]{1,10})(?:-([0-9]{1,10}))?(?:/([A-Za-z0-9]+))?")
_ALIGNMENT = re.compile(r":?-+:?")
_HOSTNAME_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_FORMATS = {"table": "table", "md": "table", "markdown": "table", "csv": "csv", "yaml": "yaml", "yml": "yaml"}
_SHAPE = "expected a mapping with keys source, destination and port"
_LIST_SHAPE = "a list of {source, destination, port} mappings"


def _identity(identity_labels, namespace):
    return (identity_labels or {}).get(namespace) or DEFAULT_IDENTITY_LABEL


@dataclass(frozen=True, order=True)
class Endpoint:
    """One side of a flow: pods by label, a whole namespace, a domain name or a network."""

    kind: str
    namespace: str = ""
    key: str = ""
    value: str = ""
    domain: str = ""
    net: str = ""

    def notation(self, identity_labels=None):
        """Flow-table notation, always namespace-qualified: ``hipstershop/frontend``, ``ns/k=v``, ``ns/*``."""
        if self.kind == "workload":
            if self.key == _identity(identity_labels, self.namespace):
                return "%s/%s" % (self.namespace, self.value)
            return "%s/%s=%s" % (self.namespace, self.key, self.value)
        if self.kind == "namespace":
            return self.namespace + "/*"
        if self.kind == "domain":
            return "domain:" + self.domain
        return "net:" + self.net

    @property
    def is_external(self):
        """True for endpoints outside the cluster (domain names and networks)."""
        return self.kind in ("domain", "net")


@dataclass(frozen=True, order=True)
class Flow:
    """One allowed connection: source to destination on a protocol and port range."""

    source: Endpoint
    destination: Endpoint
    protocol: str
    port_min: int
    port_max: int
    origin: str = field(default="", compare=False)

    def port_notation(self):
        """``7070/TCP`` or ``8000-8080/TCP``."""
        if self.port_min == self.port_max:
            return "%d/%s" % (self.port_min, self.protocol)
        return "%d-%d/%s" % (self.port_min, self.port_max, self.protocol)

    def calico_port(self):
        """A Calico rule port: ``7070`` or ``"8000:8080"``."""
        if self.port_min == self.port_max:
            return self.port_min
        return "%d:%d" % (self.port_min, self.port_max)

    def notation(self, identity_labels=None):
        """``{"source": ..., "destination": ..., "port": "7070/TCP"}`` as in reports."""
        return {"source": self.source.notation(identity_labels),
                "destination": self.destination.notation(identity_labels),
                "port": self.port_notation()}


def parse_port(text):
    """``"7070"``, ``7070``, ``"53/udp"``, ``"8000-8080/TCP"`` -> ``(protocol, port_min, port_max)``; ValueError if bad."""
    text = str(text).strip()
    match = _PORT.fullmatch(text)
    if not match:
        raise ValueError("%r is not a port or range (expected e.g. 7070, 53/UDP or 8000-8080/TCP)" % text)
    low = int(match[1])
    high = int(match[2]) if match[2] else low
    protocol = (match[3] or "TCP").upper()
    if protocol not in PROTOCOLS:
        raise ValueError("%r has unsupported protocol %r: only TCP, UDP or SCTP flows have ports" % (text, match[3]))
    if not (1 <= low <= 65535 and 1 <= high <= 65535):
        raise ValueError("%r is out of range: ports are 1 to 65535" % text)
    if low > high:
        raise ValueError("%r is not a valid range: %d is greater than %d" % (text, low, high))
    return protocol, low, high


def _domain(name, text):
    name = name.lower()
    parts = name.split(".")
    reason = None
    if not name:
        reason = "must not be empty"
    elif len(name) > 253:
        reason = "must be 253 characters or less"
    elif name.count("*") > 1:
        reason = "may contain only one '*'"
    elif "*" in name and "*" not in parts:
        reason = "'*' must be a whole label, as in '*.example.com'"
    elif parts[-1] == "*":
        reason = "'*' cannot be the last label"
    elif not all(part == "*" or _HOSTNAME_LABEL.fullmatch(part) for part in parts):
        reason = "each label must be 63 characters or less, start and end with a letter or digit, and contain only letters, digits or '-'"
    if reason:
        raise ValueError("%r is not a valid domain name: %s" % (text, reason))
    return name


def _network(value, text):
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError("%r is not a valid CIDR or IP address" % text) from None
        raise ValueError("%r has host bits set: the network is %s" % (text, loose)) from None


def parse_endpoint(text, home_namespace=None, identity_labels=None, as_source=False):
    """One endpoint cell -> ``Endpoint``; ValueError with the reason if it is malformed."""
    text = text.strip()
    prefix, colon, rest = text.partition(":")
    if colon and prefix.lower() == "domain":
        if as_source:
            raise ValueError("%r cannot be a source: domain names are destination only" % text)
        return Endpoint("domain", domain=_domain(rest.strip(), text))
    if colon and prefix.lower() == "net":
        return Endpoint("net", net=_network(rest.strip(), text))
    namespace, slash, name = text.partition("/")
    if not slash:
        if home_namespace is None:
            raise ValueError("%r has no namespace and this table has no home namespace: write 'namespace/%s'" % (text, text))
        namespace, name = home_namespace, text
    validate_namespace(namespace)
    if not name:
        raise ValueError("%r has an empty name after '/'" % text)
    if name == "*":
        return Endpoint("namespace", namespace=namespace)
    key, equals, value = name.partition("=")
    if not equals:
        key, value = _identity(identity_labels, namespace), name
    validate_label_key(key)
    if not value:
        raise ValueError("%r has an empty label value after '='" % text)
    validate_label_value(value)
    return Endpoint("workload", namespace=namespace, key=key, value=value)


class _Context:
    """Where rows come from and how bare names resolve."""

    def __init__(self, source, home_namespace, identity_labels):
        self.source = source
        self.home = home_namespace
        if not isinstance(identity_labels, (Mapping, type(None))):
            raise self.error("must be a mapping of namespace to label key, not %s" % type(identity_labels).__name__, field_name="identity_labels")
        self.identity = dict(identity_labels or {})
        try:
            if home_namespace is not None:
                validate_namespace(home_namespace)
        except ValueError as err:
            raise self.error(str(err), field_name="namespace") from err
        try:
            for namespace, key in self.identity.items():
                validate_namespace(namespace)
                validate_label_key(key)
        except ValueError as err:
            raise self.error(str(err), field_name="identity_labels") from err
        # plain str (not Ansible's tagged subclasses), so Endpoints dump cleanly to YAML
        self.home = None if home_namespace is None else str(home_namespace)
        self.identity = {str(namespace): str(key) for namespace, key in self.identity.items()}

    def named(self, source):
        """The same context for another file."""
        other = copy.copy(self)
        other.source = source
        return other

    def error(self, message, line=None, field_name=None):
        return InputError(message, source=self.source, line=line, field=field_name)

    def flow(self, cells, line):
        """Three stripped cells -> Flow, or InputError naming the field."""
        if len(cells) != len(FIELDS):
            raise self.error("expected 3 cells (source | destination | port), found %d" % len(cells), line)
        for name, cell in zip(FIELDS, cells):
            if not cell:
                raise self.error("must not be empty", line, name)
        values = {}
        for name, cell in zip(FIELDS, cells):
            try:
                if name == "port":
                    values[name] = parse_port(cell)
                else:
                    values[name] = parse_endpoint(cell, self.home, self.identity, as_source=name == "source")
            except ValueError as err:
                raise self.error(str(err), line, name) from err
        protocol, low, high = values["port"]
        return Flow(values["source"], values["destination"], protocol, low, high, origin="%s:%s" % (self.source, line))

    def mapping_flow(self, row, line):
        """A ``{source, destination, port}`` mapping (YAML item or inline row) -> Flow."""
        if not isinstance(row, Mapping):
            raise self.error("%s, got %s" % (_SHAPE, type(row).__name__), line)
        unknown = sorted(str(key) for key in row if key not in FIELDS)
        if unknown:
            raise self.error("unknown key %r (expected source, destination and port)" % unknown[0], line)
        cells = []
        for name in FIELDS:
            if name not in row:
                raise self.error("is missing", line, name)
            value = "" if row[name] is None else row[name]
            if name == "port" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise self.error("must be a string%s, not %s" % (" or a number" if name == "port" else "", type(value).__name__), line, name)
            cells.append(value.strip())
        return self.flow(cells, line)


def _is_header(cells):
    lowered = [cell.lower() for cell in cells]
    if not (any("source" in cell for cell in lowered) and any("destination" in cell for cell in lowered)):
        return False
    try:
        parse_port(cells[-1])
    except ValueError:
        return True
    return False


def _cell_rows(rows, ctx):
    flows = []
    for number, (line, cells) in enumerate(rows):
        if number == 0 and len(cells) == len(FIELDS) and _is_header(cells):
            continue
        flows.append(ctx.flow(cells, line))
    return flows


def _table_rows(stream):
    for line, raw in enumerate(stream, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("|"):
            text = text[1:]
        if text.endswith("|"):
            text = text[:-1]
        cells = [cell.strip() for cell in text.split("|")]
        if not all(_ALIGNMENT.fullmatch(cell) for cell in cells):
            yield line, cells


def _csv_rows(stream, ctx):
    reader = csv.reader(stream)
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if cells not in ([], [""]) and not cells[0].startswith("#"):
                yield reader.line_num, cells
    except csv.Error as err:
        raise ctx.error("invalid CSV: %s" % err, reader.line_num) from err


def _yaml_flows(stream, ctx):
    from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import require_yaml
    require_yaml()
    try:
        root = yaml.compose(stream, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        reason = ", ".join(part for part in (err.context, err.problem) if part)
        raise ctx.error("invalid YAML: %s" % reason, mark.line + 1 if mark else None) from err
    except yaml.YAMLError as err:
        raise ctx.error("invalid YAML: %s" % err) from err
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ctx.error("expected " + _LIST_SHAPE, root.start_mark.line + 1)
    flows = []
    for item in root.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise ctx.error(_SHAPE, line)
        row = {}
        for key, value in item.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            if name in row:
                raise ctx.error("duplicate key %r" % name, line)
            if not isinstance(value, yaml.ScalarNode):
                raise ctx.error("must be a single value, not a list or mapping", line, name)
            row[name] = "" if value.tag == "tag:yaml.org,2002:null" else value.value
        flows.append(ctx.mapping_flow(row, line))
    return flows


def _parse_stream(stream, ctx, fmt):
    kind = _FORMATS.get(str(fmt).lower().lstrip(".")) if fmt else None
    if fmt and not kind:
        raise ctx.error("unknown flow table format %r (expected table, csv or yaml)" % fmt)
    if kind is None:
        kind = _FORMATS.get(os.path.splitext(str(ctx.source))[1].lower().lstrip("."), "table")
    if kind == "yaml":
        return _yaml_flows(stream, ctx)
    if kind == "csv":
        return _cell_rows(_csv_rows(stream, ctx), ctx)
    return _cell_rows(_table_rows(stream), ctx)


def parse_flow_text(text, source, home_namespace=None, identity_labels=None, fmt=None):
    """Flow-table text -> list of Flow in row order. ``fmt``: table, csv, yaml or None (by ``source``'s extension)."""
    ctx = _Context(source, home_namespace, identity_labels)
    if not isinstance(text, str):
        raise ctx.error("expected flow-table text, got %s" % type(text).__name__)
    if text.startswith("\ufeff"):
        text = text[1:]
    return _parse_stream(io.StringIO(text, newline=""), ctx, fmt)


def parse_flow_rows(rows, source, home_namespace=None, identity_labels=None):
    """Inline ``[{source, destination, port}, ...]`` -> list of Flow; the "line" is the 1-based item number."""
    ctx = _Context(source, home_namespace, identity_labels)
    if isinstance(rows, (str, Mapping)) or not hasattr(rows, "__iter__"):
        raise ctx.error("expected %s, got %s" % (_LIST_SHAPE, type(rows).__name__))
    return [ctx.mapping_flow(row, line) for line, row in enumerate(rows, 1)]


def _load_file(path, base_dir, ctx):
    if not path.strip():
        raise ctx.error("flow table path is empty")
    full = os.path.join(base_dir or "", os.path.expanduser(path))
    ctx = ctx.named(path)
    try:
        with open(full, encoding="utf-8-sig", newline="") as stream:
            return _parse_stream(stream, ctx, None)
    except UnicodeDecodeError as err:
        raise ctx.error("cannot read flow table: not UTF-8 text") from err
    except OSError as err:
        raise ctx.error("cannot read flow table: %s" % (err.strerror or err)) from err


def load_flows(spec, base_dir, home_namespace=None, identity_labels=None, source="flows"):
    """A path (relative to ``base_dir``), an inline list of rows, or a list mixing rows and paths -> list of Flow.

    ``source`` names inline rows in errors (e.g. ``microseg_apps[0].flows``); files are named by their path.
    """
    ctx = _Context(source, home_namespace, identity_labels)
    if spec is None:
        return []
    if isinstance(spec, str):
        return _load_file(spec, base_dir, ctx)
    if isinstance(spec, Mapping) or not hasattr(spec, "__iter__"):
        raise ctx.error("expected a flow table path or %s, got %s" % (_LIST_SHAPE, type(spec).__name__))
    flows = []
    for line, item in enumerate(spec, 1):
        if isinstance(item, str):
            flows.extend(_load_file(item, base_dir, ctx))
        else:
            flows.append(ctx.mapping_flow(item, line))
    return flows


def merge_flows(flows):
    """Exact duplicates merged (the first origin is kept), result sorted."""
    first = {}
    for flow in flows:
        first.setdefault(flow, flow)
    return sorted(first.values())
