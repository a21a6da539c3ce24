"""Drive real ansible-playbook runs on copies of the lab inventory."""
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(REPO, "inventories", "lab")
PLAYBOOK = os.path.join(REPO, "playbooks", "site.yml")
BIN = os.path.dirname(sys.executable)


class Run:
    """One finished ansible-playbook run."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        recap = re.search(r"lab-cluster\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)", self.out)
        self.ok, self.changed, self.unreachable, self.failed, self.skipped, self.rescued = (int(g) for g in recap.groups()) if recap else (None,) * 6


def playbook_command(inventory, *args, playbook=PLAYBOOK, env=None):
    """``(argv, environment)`` of an ansible-playbook run on ``inventory``."""
    environment = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                       ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"), ANSIBLE_DEPRECATION_WARNINGS="0",
                       PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    environment.update(env or {})
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(inventory, "hosts.yml"), playbook] + list(args)
    return cmd, environment


def run_playbook(inventory, *args, playbook=PLAYBOOK, env=None):
    cmd, environment = playbook_command(inventory, *args, playbook=playbook, env=env)
    return Run(subprocess.run(cmd, capture_output=True, text=True, cwd=inventory, env=environment, check=False))


def tree(root):
    """Every file below root (dot-entries included) -> its bytes."""
    found = {}
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def policy_tree(root):
    """The cluster's objects, without our bookkeeping under .microseg/."""
    return {k: v for k, v in tree(root).items() if not k.startswith(".microseg" + os.sep)}


def copy_lab(dest):
    """A copy of the lab inventory at ``dest`` without what runs wrote (its cluster/ holds only workloads)."""
    shutil.copytree(LAB, dest, ignore=shutil.ignore_patterns("projectcalico.org", "networking.k8s.io", "policy.networking.k8s.io",
                                                             ".microseg", "reports"))
    return str(dest)


@pytest.fixture
def lab(tmp_path):
    """A private copy of the lab inventory (its cluster/ holds only workloads)."""
    return copy_lab(tmp_path / "lab")
