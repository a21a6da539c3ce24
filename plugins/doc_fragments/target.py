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
"""
