"""Options shared by the modules that read declared intent (CONTRACT §3)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  dialect:
    description:
      - Policy dialect to render (C(microseg_dialect)).
      - C(calico) writes the tiered Calico policies; C(kubernetes) C(networking.k8s.io/v1) NetworkPolicies (and an
        AdminNetworkPolicy for the threat nets); C(kubernetes-anp) AdminNetworkPolicies and the BaselineAdminNetworkPolicy
        C(default) (C(policy.networking.k8s.io/v1alpha1)) for the security, platform and default tiers and NetworkPolicies
        for application and appsec (the cluster must serve both admin kinds, O(cluster_serves)); C(kubernetes-cnp) the same
        tiers as ClusterNetworkPolicies (C(policy.networking.k8s.io/v1alpha2), tiers C(Admin) and C(Baseline)) and
        NetworkPolicies (the cluster must serve ClusterNetworkPolicy).
    type: str
    default: calico
    choices: [calico, kubernetes, kubernetes-anp, kubernetes-cnp]
  calico_version:
    description:
      - Calico version of the target (C(microseg_calico_version)).
      - Below C(3.32) policies are named C(<tier>.<name>); below C(3.30) open source has no staged policies.
      - With the C(calico) dialect only C(3.29) to C(3.32) are accepted; a number with a one-digit minor (C(3.3), what YAML
        makes of an unquoted C(3.30)) is refused.
    type: str
    default: "3.32"
  calico_edition:
    description:
      - C(oss) cannot match domain names, so domain destinations widen to any address outside the cluster on the row's port.
      - C(enterprise) renders GlobalNetworkSets with C(allowedEgressDomains).
    type: str
    default: oss
    choices: [oss, enterprise]
  tenants:
    description: Tenant security domains (C(microseg_tenants)), each with C(name), C(namespaces) and optional C(pci).
    type: list
    elements: dict
    default: []
  apps:
    description:
      - Applications in scope (C(microseg_apps)), each with C(name), C(namespace), optional C(tenant),
        C(identity_label) (default C(app)), C(tier) (C(appsec) or C(application)) and C(flows) (a path or an inline list).
    type: list
    elements: dict
    default: []
  trusted_domains:
    description: Domains every in-scope pod may reach (C(microseg_trusted_domains)).
    type: list
    elements: str
    default: []
  threat_nets:
    description: CIDRs no pod of the cluster may reach (C(microseg_threat_nets)).
    type: list
    elements: str
    default: []
  dns:
    description: The cluster resolver, C(namespace), C(selector) and C(port) (C(microseg_dns)).
    type: dict
  cluster_cidrs:
    description: Pod and service networks, what "outside the cluster" excludes (C(microseg_cluster_cidrs)).
    type: list
    elements: str
  observed_flows:
    description: Flow tables (paths) or flows (mappings) seen in the cluster (C(microseg_observed_flows)).
    type: list
    elements: raw
    default: []
  flow_logs:
    description:
      - Raw flow logs whose flows count as observed (C(microseg_flow_logs)), each C({path, format, since, until}) with format
        C(hubble), C(calico), C(goldmane) or C(auto) (default); plain or gzip JSON Lines.
      - C(since) and C(until) (optional) keep only the records whose time falls in that window, each an
        RFC 3339 time (C(2026-12-04T12:00:00Z)) or a duration back from now (C(24h), C(30m), C(7d), C(1h30m)); records
        outside it, or without a time, are skipped and counted.
      - Denied, reply and host-network records are skipped (remediate takes denied and dropped records as attempts).
      - Lines that hold no flow record (not JSON, cut short, not a record, another exporter event) are skipped, warned
        about by file and line and listed in the report, unless O(strict).
    type: list
    elements: raw
    default: []
  strict:
    description:
      - Fail on flow-log lines that are skipped (not JSON, cut, not a flow record, other exporter events) instead of
        warning about them (C(microseg_strict)).
      - The action plugin of M(zerotrust.microseg.phases) also fails, before any phase, on C(microseg_*) variables that no role
        or playbook of the collection reads, which it otherwise warns about with the closest known name.
    type: bool
    default: false
  remediated_flows:
    description:
      - The flow table that remediate appends accepted rows to (C(microseg_remediated_flows)); every phase reads its rows
        as declared flows of the cluster. Rows are namespace-qualified. A missing file holds no rows.
      - Through the action plugin it defaults to C(flows/remediated-<inventory_hostname>.md) relative to O(base_dir).
    type: path
  cluster_serves:
    description:
      - The cluster-wide policy kinds the cluster serves (C(microseg_cluster_serves)), for the dialects that write them;
        the C(kubernetes) dialect denies the threat nets with an C(AdminNetworkPolicy) only where it is served.
      - The C(directory) target has no API server and takes this list. On the C(cluster) target API discovery decides and wins
        over this list (a value set that discovery contradicts is warned about).
      - Unset, a cluster serving what the dialect writes - V(ClusterNetworkPolicy) for C(kubernetes-cnp), else
        V(AdminNetworkPolicy) and V(BaselineAdminNetworkPolicy) (the v1alpha1 CRDs come together); V([]) is a cluster serving none.
    type: list
    elements: str
    choices: [AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy]
  threat_nets_fallback:
    description:
      - What the C(kubernetes) dialect does with O(threat_nets) where the cluster serves no C(AdminNetworkPolicy)
        (C(microseg_threat_nets_fallback)).
      - C(fail) stops the run before anything is written, naming the kind, the cluster and the ways out.
      - C(except) puts the threat nets into the C(except) of every egress C(ipBlock) of the in-scope namespaces' NetworkPolicies
        and reports that pods of out-of-scope namespaces can still reach them.
    type: str
    default: fail
    choices: [fail, except]
  base_dir:
    description: Directory that relative paths in the intent are relative to, normally C(inventory_dir).
    type: path
    default: .
"""
