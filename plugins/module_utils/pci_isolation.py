"""PCI isolation evidence: what may reach each PCI workload, what it may reach, and proof that nothing else can.

A PCI workload is a workload of a PCI tenant's namespace whose pods carry ``pci=true`` (CONTRACT §8). For each one,
every other workload of the cluster (in scope or not) is judged by the evaluator as a peer, both ways, under the
enforced policy set: that is the posture the segmentation guarantees (before enforce the fail-safe rules still allow,
which the report's ``now`` verdicts show per flow).

The verdict depends on the port, so each pair is judged on the ports the flow tables and logs name for that direction
(the ports of the flows into the destination) plus one port no flow names (``probe``): a peer that some rule allows on
an unexpected port shows up there. Every peer ends in exactly one place: ``allowed`` (peer, port, whether a declared flow
covers it) or ``denied`` (denied on every port judged).
"""
from __future__ import annotations

from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import PCI_LABEL

PROBE_FROM = 49152   # the first port of the dynamic range; the probe is the first port from here that no flow names


def endpoint_matches(endpoint, workload):
    """Whether a flow endpoint (workload by label, or a whole namespace) stands for ``workload``."""
    if endpoint.is_external or endpoint.namespace != workload.namespace:
        return False
    return endpoint.kind == "namespace" or workload.labels.get(endpoint.key) == endpoint.value


def probe_port(flows):
    """The first TCP port from PROBE_FROM that no flow's port range holds (None when flows name them all)."""
    taken = sorted((flow.port_min, flow.port_max) for flow in flows if flow.protocol == "TCP")
    port = PROBE_FROM
    for low, high in taken:
        if low <= port <= high:
            port = high + 1
    return port if port <= 65535 else None


def pci_workloads(intent, workloads):
    """The workloads of PCI tenants that carry ``pci=true``, sorted by namespace and name."""
    key, value = PCI_LABEL
    found = []
    for workload in workloads:
        tenant = intent.tenant_of(workload.namespace)
        if tenant and tenant.pci and workload.labels.get(key) == value:
            found.append(workload)
    return sorted(found, key=lambda w: (w.namespace, w.name))


def _name(workload):
    return "%s/%s" % (workload.namespace, workload.name)


def ports_into(flows, workloads):
    """``{id(workload): {(protocol, port)}}``: the lowest port of each flow into each workload, by distinct endpoint."""
    by_endpoint = {}
    for flow in flows:
        if not flow.destination.is_external:
            by_endpoint.setdefault(flow.destination, set()).add((flow.protocol, flow.port_min))
    by_namespace = {}
    for endpoint, ports in by_endpoint.items():
        by_namespace.setdefault(endpoint.namespace, []).append((endpoint, ports))
    found = {}
    for workload in workloads:
        ports = found[id(workload)] = set()
        for endpoint, endpoint_ports in by_namespace.get(workload.namespace, ()):
            if endpoint_matches(endpoint, workload):
                ports |= endpoint_ports
    return found


def _side(policy_set, ports_in, declared, pairs, probe):
    """``{"allowed": [...], "denied": [...], "judged": n}`` over ``pairs`` of (peer, source, destination)."""
    allowed, denied, judged = [], [], 0
    extra = {("TCP", probe)} if probe else set()
    for peer, source, destination in pairs:
        open_ports = []
        for protocol, port in sorted(ports_in[id(destination)] | extra):
            judged += 1
            if policy_set.verdict(source, destination, protocol, port).allowed:
                open_ports.append((protocol, port))
        if not open_ports:
            denied.append(_name(peer))
            continue
        between = [f for f in declared if endpoint_matches(f.source, source) and endpoint_matches(f.destination, destination)]
        for protocol, port in open_ports:
            covered = any(f.protocol == protocol and f.port_min <= port <= f.port_max for f in between)
            allowed.append({"peer": _name(peer), "port": "%d/%s" % (port, protocol), "declared": covered})
    return {"allowed": allowed, "denied": sorted(set(denied)), "judged": judged}


def isolation(intent, enforced, workloads, declared, observed):
    """``[{"workload", "inbound", "outbound"}]`` for every PCI workload, judged under ``enforced`` (a ``PolicySet``).

    ``workloads``: every workload of the cluster; ``declared`` / ``observed``: the cluster's flows (``Flow`` objects).
    """
    flows = list(declared) + list(observed)
    probe = probe_port(flows)
    workloads = sorted(workloads, key=lambda w: (w.namespace, w.name))
    ports_in = ports_into(flows, workloads)
    found = []
    for pci in pci_workloads(intent, workloads):
        peers = [peer for peer in workloads if peer is not pci and _name(peer) != _name(pci)]
        found.append({"workload": _name(pci),
                      "inbound": _side(enforced, ports_in, declared, [(peer, peer, pci) for peer in peers], probe),
                      "outbound": _side(enforced, ports_in, declared, [(peer, pci, peer) for peer in peers], probe)})
    return found, probe
