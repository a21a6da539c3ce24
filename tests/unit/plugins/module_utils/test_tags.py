"""Which phases and tiers a run's --tags / --skip-tags select (the roles' own tags, CONTRACT §1)."""
import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.tags import PHASES, selected_phases


@pytest.mark.parametrize("run, skip, phases, tiers", [
    (["all"], [], list(PHASES), []),
    (None, None, list(PHASES), []),
    (["analyze"], [], ["analyze"], []),
    (["enforce", "identify"], [], ["identify", "enforce"], []),
    (["deploy", "tier_platform"], [], ["deploy"], ["platform"]),
    (["tier_security", "tier_appsec"], [], ["deploy"], ["appsec", "security"]),
    (["all"], ["remediate"], ["identify", "analyze", "deploy", "enforce"], []),
    (["tier_platform"], ["deploy"], [], ["platform"]),
    (["enforce", "tier_default"], [], ["enforce"], ["default"]),
    (["something-else"], [], [], []),
])
def test_selected_phases_follow_the_role_tags(run, skip, phases, tiers):
    assert selected_phases(run, skip) == (phases, tiers)
