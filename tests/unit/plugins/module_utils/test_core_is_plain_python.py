"""The core under plugins/module_utils imports no Ansible; only face.py wraps AnsibleModule."""
import os
import re

import pytest

CORE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils")
ANSIBLE_IMPORT = re.compile(r"^\s*(?:from\s+ansible(?:\.|\s)|import\s+ansible\b)", re.M)


CORE_FILES = sorted(os.path.relpath(os.path.join(folder, name), CORE) for folder, _dirs, names in os.walk(CORE)
                    for name in names if name.endswith(".py") and name != "face.py")


def test_the_core_packages_are_walked():
    assert os.path.join("flow_logs", "hubble.py") in CORE_FILES


@pytest.mark.parametrize("name", CORE_FILES)
def test_core_file_imports_no_ansible(name):
    with open(os.path.join(CORE, name), encoding="utf-8") as handle:
        source = handle.read()
    assert not ANSIBLE_IMPORT.search(source), "%s imports Ansible; only face.py may" % name


def test_face_is_the_ansible_face():
    with open(os.path.join(CORE, "face.py"), encoding="utf-8") as handle:
        assert ANSIBLE_IMPORT.search(handle.read())
