"""Options shared by the modules that read or write a target (CONTRACT §2)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  target:
    description:
      - Where desired state goes (C(microseg_target)).
      - C(directory) is a directory-backed cluster, one YAML file per object at C(<group>/<Kind>/<namespace or _cluster>/<name>.yaml).
    type: str
    default: cluster
    choices: [cluster, directory]
  directory:
    description: Root of the directory-backed cluster (C(microseg_directory)); required with C(target=directory).
    type: path
  kubeconfig:
    description:
      - Kubeconfig file of the C(cluster) target (C(microseg_kubeconfig)), relative to the inventory when set there.
      - Without it and O(context), the connection is found as kubernetes.core finds it, first match wins.
        E(K8S_AUTH_KUBECONFIG) and E(K8S_AUTH_CONTEXT), then E(K8S_AUTH_HOST) with E(K8S_AUTH_API_KEY), E(K8S_AUTH_VERIFY_SSL)
        and E(K8S_AUTH_SSL_CA_CERT), then the service account when running in a pod, then E(KUBECONFIG) or C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context of the C(cluster) target (C(microseg_context)); default the current context.
    type: str
  force:
    description:
      - Take over objects at the same place that this collection does not manage (C(microseg_force)).
      - On the C(cluster) target also server-side apply with C(force), taking over fields another field manager owns;
        without it such a conflict fails the task, naming the object and the other manager.
      - Only writes use it.
    type: bool
    default: false
  state_dir:
    description:
      - Local directory for the C(cluster) target's snapshots (full live objects, for the roles' phase rollback) and lock.
      - Default C(~/.ansible/zerotrust.microseg/snapshots/<api-server-host>/).
    type: path
"""
