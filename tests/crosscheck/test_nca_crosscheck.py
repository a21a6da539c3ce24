"""Cross-check of our offline evaluator against an independent analyser, network-config-analyzer (NCA).

For each policy set below, NCA's connectivity map (``nca --connectivity ... -o txt_no_fw_rules``:
one line per pair of endpoints with the protocols and ports they may use) is compared with
``PolicySet.verdict(...).allowed`` for every ordered pair of lab workloads (a workload with
itself meaning another replica of it), every port of the flow tables plus 53 and a random port
(``CROSSCHECK_SEED`` replays one), TCP and UDP, and five addresses outside the cluster in both
directions: 21252 flows per set, one NCA run per set.

The sets are rendered by our planner from the lab intent and flows copied into ``data/``:

* ``kubernetes-deploy`` / ``kubernetes-enforce``: ``microseg_dialect: kubernetes``. NCA 2.1.0
  has no AdminNetworkPolicy support (it silently ignores the kind), so the threat-net
  ``AdminNetworkPolicy`` is dropped from the set *both* tools evaluate.
* ``kubernetes-anp-networkpolicies-*``: the NetworkPolicies of ``microseg_dialect: kubernetes-anp`` (application,
  appsec and the per-namespace catch-alls), without its AdminNetworkPolicies and BaselineAdminNetworkPolicy, which NCA
  2.1.0 does not know: the NetworkPolicy layer that the admin policies Pass to.
* ``calico-tierfree-*``: the Calico set without tiers. NCA 2.1.0 rejects ``spec.tier`` and has
  no tiers for Pass to leave, so the Pass guardrails, the pass-alls and the tenant boundaries
  are dropped and the Allow/Deny policies (threat-net deny, trusted domains, cluster DNS, the
  per-namespace ``application`` and per-workload ``appsec`` Allow policies, the catch-alls) go
  to the default tier, their orders flattened to keep their tiered sequence (``-appsec``: every
  app rendered as appsec, one policy per workload). Without the pass-alls the ``all()``
  threat-net deny also isolates the egress of the out-of-scope pods (ingress-nginx, coredns):
  a different set from the tiered one, but the same for both tools.

What NCA alone is given, because its parser needs it (same meaning for Calico): two replicas
per Deployment (so a workload-to-itself flow is replica to replica), the ``projectcalico.org/name``
label Calico puts on every namespace, and single- instead of double-quoted selector literals.

NCA runs from its own virtualenv (``.venv-nca``, made by ``make crosscheck`` from
``tests/crosscheck/requirements-nca.txt``): it pins PyYAML 6.0.2, which conflicts with our
pinned PyYAML 6.0.4. A missing or broken NCA fails the tests, it never skips them.
"""
import glob
import ipaddress
import os
import random
import re
import subprocess
import time

import pytest
import yaml

from ansible_collections.zerotrust.microseg.plugins.module_utils.evaluate import (External, PolicySet,
                                                                                  namespaces_from_objects, workloads_from_objects)
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import TIERS, load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.objects import POSTURE_LABEL
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
NCA = os.environ.get("NCA") or os.path.join(REPO, ".venv-nca", "bin", "nca")
NCA_TIMEOUT = 120
EXTERNAL_IPS = ("198.51.100.7", "8.8.8.8", "203.0.113.9", "10.244.7.7", "10.96.0.10")
MIN_FLOWS = 500
CALICO_NS_LABEL = "projectcalico.org/name"


# ---------------------------------------------------------------------- NCA itself

def _nca_broken():
    """Why NCA cannot run here (None when it can)."""
    if not os.path.exists(NCA):
        return ("network-config-analyzer is not installed at %s: run `make crosscheck`, which creates .venv-nca from "
                "tests/crosscheck/requirements-nca.txt (PyPI package network-config-analyzer), or set NCA=<path to nca>" % NCA)
    try:
        proc = subprocess.run([NCA, "--version"], capture_output=True, text=True, timeout=NCA_TIMEOUT, check=False)
    except OSError as err:
        return "cannot run %s: %s" % (NCA, err)
    if proc.returncode != 0:
        return "%s --version failed (rc %d), is the .venv-nca install broken?\n%s%s" % (NCA, proc.returncode, proc.stdout, proc.stderr)
    return None


@pytest.fixture(scope="session")
def nca():
    problem = _nca_broken()
    if problem:
        pytest.fail(problem, pytrace=False)
    return NCA


_SELECTOR_KEYS = ("selector", "namespaceSelector", "notSelector")


def nca_quoting(value):
    """A copy of ``value`` with double-quoted selector literals written in single quotes.

    Calico's selector language accepts both quote styles (our selector parser prints ``"..."``),
    NCA 2.1.0's only ``'...'`` ("Error: Invalid expression"); the meaning is the same.
    """
    if isinstance(value, dict):
        return {k: re.sub(r'"([^"\']*)"', r"'\1'", v) if k in _SELECTOR_KEYS and isinstance(v, str) else nca_quoting(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [nca_quoting(v) for v in value]
    return value


def run_nca(workdir, policies, pods, namespaces):
    """Write the three inputs, run NCA's connectivity map, return its text output."""
    paths = {}
    for name, objects in (("policies", policies), ("pods", pods), ("namespaces", namespaces)):
        paths[name] = os.path.join(workdir, name + ".yaml")
        with open(paths[name], "w", encoding="utf-8") as handle:
            yaml.safe_dump_all(nca_quoting(objects), handle, sort_keys=False)
    out = os.path.join(workdir, "connectivity.txt")
    cmd = [NCA, "--connectivity", paths["policies"], "--pod_list", paths["pods"], "--ns_list", paths["namespaces"],
           "--output_format", "txt_no_fw_rules", "--output_endpoints", "pods", "--file_out", out]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NCA_TIMEOUT, check=False, cwd=workdir)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if "error" in line.lower()]
    assert proc.returncode == 0 and not problems and os.path.exists(out), \
        "NCA failed (rc %d): %s\n%s%s" % (proc.returncode, " ".join(cmd), proc.stdout, proc.stderr)
    with open(out, encoding="utf-8") as handle:
        return handle.read()


# ---------------------------------------------------------------------- NCA output

class Conns:
    """A predicate over (protocol, port) parsed from NCA's connection text (ConnectivityProperties str)."""

    _KEY = re.compile(r",(?=[a-z_]+:)")

    def __init__(self, text):
        self.text = text.strip()
        self.negated, body = False, self.text
        if body == "All connections":
            self.cubes = None
            return
        if body.startswith("All but "):
            self.negated, body = True, body[len("All but "):]
        if not (body.startswith("{") and body.endswith("}")):
            raise ValueError("unexpected NCA connection text %r" % text)
        self.cubes = [self._cube(part) for part in body[1:-1].split("},{")]

    def _cube(self, text):
        cube = {}
        for item in self._KEY.split(text):
            key, _colon, value = item.partition(":")
            value = value.strip()
            if key == "protocols":
                negated = value.startswith("all but ")
                names = {v.strip() for v in value[len("all but "):].split(",")} if negated else {v.strip() for v in value.split(",")}
                cube["protocols"] = (negated, names)
            elif key == "dst_ports":
                ranges = []
                for part in value.split(","):
                    low, _dash, high = part.strip().partition("-")
                    ranges.append((int(low), int(high or low)))
                cube["dst_ports"] = ranges
            else:  # src_ports, ICMP, HTTP dimensions: our sets never produce them, so fail loudly
                raise ValueError("NCA connection text %r has dimension %r, which this cross-check does not model" % (self.text, key))
        return cube

    @staticmethod
    def _in_cube(cube, protocol, port):
        if "protocols" in cube:
            negated, names = cube["protocols"]
            if (protocol in names) == negated:
                return False
        if "dst_ports" in cube and not any(low <= port <= high for low, high in cube["dst_ports"]):
            return False
        return True

    def allows(self, protocol, port):
        if self.cubes is None:
            return True
        return any(self._in_cube(c, protocol, port) for c in self.cubes) != self.negated


def _endpoint(name):
    """An NCA endpoint name: ('pod', 'ns/name-N') or ('ips', [(low, high), ...]) for an address range / CIDR list."""
    if "/" in name and not re.match(r"^[0-9a-f:.]+/\d+", name):
        return "pod", name
    ranges = []
    for part in name.split(","):
        part = part.strip()
        if "/" in part:
            net = ipaddress.ip_network(part)
            ranges.append((int(net.network_address), int(net.broadcast_address), net.version))
        else:
            low, _dash, high = part.partition("-")
            low, high = ipaddress.ip_address(low), ipaddress.ip_address(high or low)
            ranges.append((int(low), int(high), low.version))
    return "ips", ranges


class ConnectivityMap:
    """NCA's txt_no_fw_rules connectivity map: who may reach whom on which protocol and port."""

    def __init__(self, text):
        self.text = text
        self.pods = {}       # (src pod, dst pod) -> [Conns]
        self.to_ips = {}     # src pod -> [(ranges, Conns)]
        self.from_ips = {}   # dst pod -> [(ranges, Conns)]
        for line in text.splitlines():
            if not line.strip():
                continue
            match = re.match(r"^(\S+) => (\S+) : (.+)$", line)
            if not match:
                raise ValueError("unexpected NCA output line %r" % line)
            (skind, src), (dkind, dst), conns = _endpoint(match.group(1)), _endpoint(match.group(2)), Conns(match.group(3))
            if skind == dkind == "pod":
                self.pods.setdefault((src, dst), []).append(conns)
            elif skind == "pod":
                self.to_ips.setdefault(src, []).append((dst, conns))
            elif dkind == "pod":
                self.from_ips.setdefault(dst, []).append((src, conns))
            else:
                raise ValueError("NCA output line between two address ranges: %r" % line)

    @staticmethod
    def _covers(ranges, ip):
        address = ipaddress.ip_address(ip)
        return any(version == address.version and low <= int(address) <= high for low, high, version in ranges)

    def lines(self, src, dst):
        """The NCA connection texts that concern src -> dst (pod names ``ns/name-N`` or IP strings)."""
        if "/" in src and "/" in dst:
            return self.pods.get((src, dst), [])
        if "/" in src:
            return [c for ranges, c in self.to_ips.get(src, []) if self._covers(ranges, dst)]
        return [c for ranges, c in self.from_ips.get(dst, []) if self._covers(ranges, src)]

    def allows(self, src, dst, protocol, port):
        return any(c.allows(protocol, port) for c in self.lines(src, dst))


# ---------------------------------------------------------------------- the lab: workloads and sets

def _load_all(pattern):
    found = []
    for path in sorted(glob.glob(os.path.join(DATA, pattern), recursive=True)):
        with open(path, encoding="utf-8") as handle:
            found.extend(o for o in yaml.safe_load_all(handle) if o)
    return found


DEPLOYMENTS = _load_all("cluster/Deployment/**/*.yaml")
NAMESPACES = _load_all("cluster/Namespace/*.yaml")


def lab_intent(dialect, all_appsec=False):
    with open(os.path.join(DATA, "lab.yml"), encoding="utf-8") as handle:
        variables = yaml.safe_load(handle)
    variables["microseg_dialect"] = dialect
    if all_appsec:
        for app in variables["microseg_apps"]:
            app["tier"] = "appsec"
    return load_intent(variables, DATA)


def kubernetes_set(phase):
    """The kubernetes dialect's set, without the AdminNetworkPolicy (NCA 2.1.0 ignores that kind)."""
    plan = make_plan(lab_intent("kubernetes"), phase)
    dropped = [o for o in plan.objects if o["kind"] == "AdminNetworkPolicy"]
    assert [o["metadata"]["name"] for o in dropped] == ["microseg-threat-nets-deny"]
    return [o for o in plan.objects if o["kind"] != "AdminNetworkPolicy"], []


def admin_dialect_network_policies(phase, dialect="kubernetes-anp"):
    """The NetworkPolicies of an admin-policy dialect's set (application, appsec, the per-namespace catch-alls): NCA 2.1.0
    has no AdminNetworkPolicy / BaselineAdminNetworkPolicy, so both tools judge the NetworkPolicy layer alone."""
    plan = make_plan(lab_intent(dialect), phase)
    policies = [o for o in plan.objects if o["kind"] == "NetworkPolicy"]
    assert any(o["metadata"]["name"] == "microseg-catch-all" for o in policies) and len(policies) < len(plan.objects)
    return policies, []


def calico_tier_free(phase, all_appsec=False):
    """The Calico set's Allow/Deny policies in the default tier, in their tiered sequence; (policies, network sets)."""
    plan = make_plan(lab_intent("calico", all_appsec), phase)
    policies, netsets = [], []
    for obj in plan.objects:
        kind, spec, labels = obj["kind"], obj.get("spec") or {}, obj["metadata"].get("labels") or {}
        if kind == "GlobalNetworkSet":
            netsets.append(obj)
            continue
        if kind == "Tier":
            continue
        actions = {r.get("action") for r in spec.get("ingress", []) + spec.get("egress", [])}
        tier = spec["tier"]
        if "Pass" in actions or (tier == "security" and POSTURE_LABEL in labels):    # guardrails, boundaries, pass-alls
            continue
        obj = yaml.safe_load(yaml.safe_dump(obj))
        obj["metadata"]["labels"].pop("projectcalico.org/tier", None)
        del obj["spec"]["tier"]
        obj["spec"]["order"] = TIERS.index(tier) * 1000 + spec["order"]
        policies.append(obj)
    kept = {o["metadata"]["name"] for o in policies}
    assert {"threat-nets-deny", "trusted-domains", "cluster-dns"} <= kept and any("catch-all" in n for n in kept), kept
    return policies, netsets


SETS = {
    "kubernetes-deploy": lambda: kubernetes_set("deploy"),
    "kubernetes-enforce": lambda: kubernetes_set("enforce"),
    "kubernetes-anp-networkpolicies-deploy": lambda: admin_dialect_network_policies("deploy"),
    "kubernetes-anp-networkpolicies-enforce": lambda: admin_dialect_network_policies("enforce"),
    "calico-tierfree-deploy": lambda: calico_tier_free("deploy"),
    "calico-tierfree-enforce": lambda: calico_tier_free("enforce"),
    "calico-tierfree-appsec-enforce": lambda: calico_tier_free("enforce", all_appsec=True),
}


def nca_inputs(netsets):
    """Pods (two replicas per Deployment, so NCA models replica-to-replica traffic) and namespaces for NCA.

    Calico labels every namespace with ``projectcalico.org/name`` (CALICO_SEMANTICS rule 21) and our
    evaluator does so implicitly; NCA 2.1.0 adds only ``kubernetes.io/metadata.name``, so we add it.
    """
    pods = []
    for deployment in DEPLOYMENTS:
        deployment = yaml.safe_load(yaml.safe_dump(deployment))
        deployment["spec"]["replicas"] = 2
        pods.append(deployment)
    namespaces = []
    for namespace in NAMESPACES:
        namespace = yaml.safe_load(yaml.safe_dump(namespace))
        namespace["metadata"].setdefault("labels", {})[CALICO_NS_LABEL] = namespace["metadata"]["name"]
        namespaces.append(namespace)
    return pods + netsets, namespaces


def flow_ports():
    ports = set()
    for path in glob.glob(os.path.join(DATA, "flows", "*.md")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                cells = [c.strip() for c in line.split("|")]
                if len(cells) == 3 and cells[2].isdigit():
                    ports.add(int(cells[2]))
    return ports


def test_pods_and_flows_are_the_lab_ones():
    """The copied data is what the comparison claims to cover (23 workloads in 5 namespaces, 12 flow ports)."""
    workloads = workloads_from_objects(DEPLOYMENTS)
    assert len(workloads) == 23 and {w.namespace for w in workloads} == {n["metadata"]["name"] for n in NAMESPACES}
    assert len(flow_ports()) == 12


def _seed():
    return int(os.environ.get("CROSSCHECK_SEED") or random.SystemRandom().randrange(1 << 30))


SEED = _seed()


def random_port(taken):
    rng = random.Random(SEED)
    while True:
        port = rng.randrange(1024, 65536)
        if port not in taken:
            return port


def _decision(decision):
    if decision is None:
        return "-"
    rule = "" if decision.rule is None else " rule %d" % decision.rule
    return "%s by %s%s%s (%s)" % (decision.action, decision.tier + "/" if decision.tier else "", decision.policy, rule, decision.reason)


@pytest.mark.parametrize("name", list(SETS))
def test_nca_agrees_with_our_evaluator(name, nca, tmp_path):  # pylint: disable=redefined-outer-name,unused-argument
    started = time.monotonic()
    policies, netsets = SETS[name]()
    pods, namespaces = nca_inputs(netsets)
    conn_map = ConnectivityMap(run_nca(str(tmp_path), policies, pods, namespaces))

    objects = policies + netsets
    ours = PolicySet(objects, namespaces=namespaces_from_objects(NAMESPACES), cluster_cidrs=["10.244.0.0/16", "10.96.0.0/12"])
    workloads = workloads_from_objects(DEPLOYMENTS)
    ports = flow_ports() | {53}
    ports = sorted(ports | {random_port(ports)})
    externals = [External(ip=ip) for ip in EXTERNAL_IPS]

    def pod(workload, replica=1):
        return "%s/%s-%d" % (workload.namespace, workload.name, replica)

    cases = []
    for source in workloads:
        for destination in workloads:
            cases.append((source, destination, pod(source), pod(destination, 2 if destination is source else 1)))
        for external in externals:
            cases.append((source, external, pod(source), external.ip))
            cases.append((external, source, external.ip, pod(source)))
    compared = allowed = 0
    disagreements = []
    for source, destination, nca_src, nca_dst in cases:
        for protocol in ("TCP", "UDP"):
            for port in ports:
                verdict = ours.verdict(source, destination, protocol, port)
                theirs = conn_map.allows(nca_src, nca_dst, protocol, port)
                compared += 1
                allowed += verdict.allowed
                if verdict.allowed != theirs:
                    nca_text = "; ".join(c.text for c in conn_map.lines(nca_src, nca_dst)) or "no line (no connections)"
                    disagreements.append("%s -> %s %d/%s: ours %s [egress %s; ingress %s], NCA %s [%s]" % (
                        nca_src, nca_dst, port, protocol, "allow" if verdict.allowed else "deny", _decision(verdict.egress),
                        _decision(verdict.ingress), "allow" if theirs else "deny", nca_text))
    elapsed = time.monotonic() - started
    print("%s: %d flows compared (%d allowed), %d disagreements, ports %s, seed %d, %.1fs"
          % (name, compared, allowed, len(disagreements), ports, SEED, elapsed))
    assert not disagreements, "%s: NCA and our evaluator disagree on %d of %d flows (CROSSCHECK_SEED=%d):\n%s" % (
        name, len(disagreements), compared, SEED, "\n".join(disagreements[:200]))
    assert compared >= MIN_FLOWS and 0 < allowed, (compared, allowed)
    if name.endswith("enforce"):
        assert allowed < compared
