"""policy_verdicts module: staged policies ignored, or taken as enforced with staged: preview."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.modules import policy_verdicts

DENY_ALL = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": "deny-shop"}, "spec": {"selector": "all()", "namespaceSelector": "projectcalico.org/name == 'shop'",
                                                        "ingress": [{"action": "Deny"}], "egress": [{"action": "Deny"}]}}
ALLOW_ALL = {"apiVersion": "projectcalico.org/v3", "kind": "StagedGlobalNetworkPolicy",
             "metadata": {"name": "deny-shop"}, "spec": {"stagedAction": "Set", "selector": "all()",
                                                         "namespaceSelector": "projectcalico.org/name == 'shop'",
                                                         "ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}}
FLOW = {"source": "shop/web", "destination": "shop/db", "port": 5432}


@pytest.fixture
def run(run_module):
    return lambda **args: run_module(policy_verdicts, **args)


@pytest.mark.parametrize("staged, verdict", [("ignore", "deny"), ("preview", "allow"), (False, "deny"), (True, "allow"), ("yes", "allow")])
def test_staged_policies_count_only_in_preview(run, staged, verdict):
    result = run(target="none", resources=[DENY_ALL, ALLOW_ALL], merge_live=False, declared=False, observed=False, flows=[FLOW], staged=staged)
    assert [entry["verdict"] for entry in result["verdicts"]] == [verdict]
    if verdict == "allow":
        assert result["verdicts"][0]["ingress"]["policy"] == "staged:deny-shop"


def test_an_unknown_staged_mode_fails_naming_the_option(run):
    result = run(target="none", resources=[DENY_ALL], merge_live=False, declared=False, observed=False, flows=[FLOW], staged="maybe")
    assert result["failed"] and result["msg"] == "staged: must be ignore or preview, not 'maybe'"
