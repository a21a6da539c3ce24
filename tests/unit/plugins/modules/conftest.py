"""Run a module's main() in-process, as ANSIBLE_CONVENTIONS §5 shows."""
import json

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args


@pytest.fixture(autouse=True)
def module_process(monkeypatch):
    """Behave like a module process: warnings go to the result, and none is left over from another test.

    AnsibleModule keeps warnings in a process-wide registry, and once any test has imported controller code
    (filters, action plugins) ``is_controller`` sends them to the Display instead of the result.
    """
    monkeypatch.setattr(ansible_internal, "is_controller", False)
    ansible_warnings._global_warnings.clear()  # pylint: disable=protected-access
    ansible_warnings._global_deprecations.clear()  # pylint: disable=protected-access
    yield


@pytest.fixture
def run_module(capsys):
    """``run_module(module, **args)`` -> the module's JSON result; the exit code must agree with ``failed``."""
    def run(module, **args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as caught:
                module.main()
        result = json.loads(capsys.readouterr().out)
        assert caught.value.code == (1 if result.get("failed") else 0), result
        return result
    return run
