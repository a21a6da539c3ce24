"""The Ansible face of the core: the only module_utils file that imports Ansible.

``MicrosegModule.run(fn)`` calls ``fn(module)`` and turns every MicrosegError into a
``fail_json`` whose message says where, then what.
"""
from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import MicrosegError, GateRefused
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers import DIALECTS

INTENT_SPEC = dict(
    dialect=dict(type="str", default="calico", choices=list(DIALECTS)),
    calico_version=dict(type="str", default="3.32"),
    calico_edition=dict(type="str", default="oss", choices=["oss", "enterprise"]),
    tenants=dict(type="list", elements="dict", default=[]),
    apps=dict(type="list", elements="dict", default=[]),
    trusted_domains=dict(type="list", elements="str", default=[]),
    threat_nets=dict(type="list", elements="str", default=[]),
    dns=dict(type="dict"),
    cluster_cidrs=dict(type="list", elements="str"),
    observed_flows=dict(type="list", elements="raw", default=[]),
    flow_logs=dict(type="list", elements="raw", default=[]),
    strict=dict(type="bool", default=False),
    remediated_flows=dict(type="path"),
    cluster_serves=dict(type="list", elements="str",
                        choices=["AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"]),
    threat_nets_fallback=dict(type="str", default="fail", choices=["fail", "except"]),
    base_dir=dict(type="path", default="."),
)

TARGET_SPEC = dict(
    target=dict(type="str", default="cluster", choices=["cluster", "directory"]),
    directory=dict(type="path"),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    force=dict(type="bool", default=False),
    state_dir=dict(type="path"),
)


def intent_variables(params):
    """Module parameters -> the microseg_* variables of CONTRACT §3."""
    names = ("dialect", "calico_version", "calico_edition", "tenants", "apps", "trusted_domains", "threat_nets", "dns",
             "cluster_cidrs", "observed_flows", "flow_logs", "strict", "remediated_flows", "cluster_serves", "threat_nets_fallback")
    return {"microseg_" + name: params.get(name) for name in names}


class MicrosegModule(AnsibleModule):
    """AnsibleModule that runs one core call and reports core errors cleanly."""

    def run(self, action):
        try:
            result = action(self)
        except GateRefused as err:
            self.fail_json(msg=str(err), denied=err.denied)
        except MicrosegError as err:
            self.fail_json(msg=str(err))
        self.exit_json(**result)


def open_target(module):
    """The target named by the module's target options, honouring check mode."""
    from ansible_collections.zerotrust.microseg.plugins.module_utils.errors import InputError
    params = module.params
    if params["target"] == "directory":
        if not params.get("directory"):
            raise InputError("target 'directory' needs the directory option (microseg_directory)", field="directory")
        from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget
        return DirectoryTarget(params["directory"], check_mode=module.check_mode)
    from ansible_collections.zerotrust.microseg.plugins.module_utils.cluster import ClusterTarget
    return ClusterTarget(kubeconfig=params.get("kubeconfig"), context=params.get("context"), check_mode=module.check_mode,
                         force=bool(params.get("force")), state_dir=params.get("state_dir"))
