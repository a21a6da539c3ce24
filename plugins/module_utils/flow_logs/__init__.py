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
destination port (inside the entry's ``since`` / ``until`` window, if any). Everything else that
is valid JSON is skipped and counted by reason (``SKIP_REASONS``): replies, denied or dropped
flows (they did not work before, so they are not "observed"; remediate asks for them as
attempts), ICMP and other portless protocols, host endpoints, peers without an address, names
that are not valid Kubernetes names or labels, records outside the window.

Live logs are imperfect (CONTRACT section 5): a line that is not JSON, a cut line, a value that
is not a flow record (not an object, a field its format needs missing or of the wrong type, a
port that is not a port), another exporter event, or the end of a truncated gzip is skipped and
named by line and reason (``MALFORMED_REASONS``), or fatal with ``strict``. A file that cannot
be read, a corrupt gzip stream, a format that cannot be told, UTF-16 text or a line over 64 MiB
is always an ``InputError`` naming the file.

Layout: ``reader.py`` (files, chunks, documents), ``tally.py`` (the per-line loop and the
aggregation), ``aggregate.py`` (skip reasons, field readers, endpoint interning), one file per
format (``hubble.py``, ``calico.py``, ``goldmane.py``) and ``formats.py`` (detection), ``decode.py``
(msgspec or the standard library), ``window.py`` (since / until) and ``parallel.py`` (worker
processes for large files). ``bench/flow_logs.py`` measures it against hubble-audit2policy.
"""
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.aggregate import SKIP_REASONS
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.formats import FORMATS, detect_format, flow_from_record
from ansible_collections.zerotrust.microseg.plugins.module_utils.flow_logs.reader import read_flow_logs

__all__ = ["FORMATS", "SKIP_REASONS", "detect_format", "flow_from_record", "read_flow_logs"]
