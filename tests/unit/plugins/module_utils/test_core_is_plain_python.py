"""The core under plugins/module_utils imports no Ansible; only face.py wraps AnsibleModule."""
import os
import re

import pytest

CORE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils")
ANSIBLE_IMPORT = re.compile(r"^\s*(?:from\s+ansible(?:\.|\s)|import\s+ansible\b)", re.M)


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CORE) if n.endswith(".py") and n != "face.py"))
def test_core_file_imports_no_ansible(name):
    with open(os.path.join(CORE, name), encoding="utf-8") as handle:
        source = handle.read()
    assert not ANSIBLE_IMPORT.search(source), "%s imports Ansible; only face.py may" % name


def test_face_is_the_ansible_face():
    with open(os.path.join(CORE, "face.py"), encoding="utf-8") as handle:
        assert ANSIBLE_IMPORT.search(handle.read())
