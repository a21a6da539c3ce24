"""The fidelity report: the lines a run prints, fidelity.json (sorted, written when it changes, never in check mode, none for
Calico), and which flows a Loss covers."""
import json
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils import fidelity
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan
from ansible_collections.zerotrust.microseg.plugins.module_utils.renderers.model import Loss

WIDENED = Loss("widened", "appsec", "shop/web -> domain:x.com 443/TCP", "cannot match domain names", "shop/web", "*", "443/TCP")
TRUSTED = Loss("widened", "security", "trusted-domains", "cannot match domain names (x.com)", "*", "*", "443/TCP")
MERGED_IN = Loss("merged", "security", "tenant-t", "default-deny only", "*", "shop/*", "*")
MERGED_OUT = Loss("merged", "security", "tenant-t", "default-deny only", "shop/*", "*", "*")
THREAT = Loss("widened", "security", "threat-nets-deny", "out of scope", "*", "net:203.0.113.0/24", "*")


def intent(dialect="kubernetes", **variables):
    return load_intent(dict(variables, microseg_dialect=dialect))


def test_one_line_per_rule_names_the_dialect_tier_rule_change_and_why():
    assert fidelity.line("kubernetes", TRUSTED) == (
        "kubernetes dialect: security rule trusted-domains widened: cannot match domain names (x.com)")
    assert fidelity.lines("kubernetes", [WIDENED, MERGED_IN, MERGED_OUT, TRUSTED]) == [
        "kubernetes dialect: appsec rule shop/web -> domain:x.com 443/TCP widened: cannot match domain names",
        "kubernetes dialect: security rule tenant-t merged: default-deny only",
        "kubernetes dialect: security rule trusted-domains widened: cannot match domain names (x.com)"]


def test_summary_counts_rules_per_change():
    assert fidelity.summary([WIDENED, MERGED_IN, MERGED_OUT, TRUSTED, THREAT]) == "3 widened, 1 merged"
    assert fidelity.summary([]) == "nothing widened, merged or dropped"


def test_the_document_is_sorted_by_tier_then_rule_and_names_the_dialect_phase_and_served_kinds():
    document = fidelity.document(intent(microseg_cluster_serves=[]), "enforce", [WIDENED, MERGED_OUT, THREAT, MERGED_IN, TRUSTED, WIDENED])
    assert document["dialect"] == "kubernetes" and document["phase"] == "enforce" and document["cluster_serves"] == []
    assert [(loss["tier"], loss["rule"], loss["source"]) for loss in document["losses"]] == [
        ("security", "tenant-t", "*"), ("security", "tenant-t", "shop/*"), ("security", "threat-nets-deny", "*"),
        ("security", "trusted-domains", "*"), ("appsec", "shop/web -> domain:x.com 443/TCP", "shop/web")]
    assert document["losses"][-1] == {"change": "widened", "tier": "appsec", "rule": "shop/web -> domain:x.com 443/TCP",
                                      "why": "cannot match domain names", "source": "shop/web", "destination": "*", "port": "443/TCP"}


def test_write_only_when_the_text_changes_and_never_in_check_mode(tmp_path):
    reports = str(tmp_path / "reports")
    path = os.path.join(reports, "c1", "fidelity.json")
    checked = fidelity.write(reports, "c1", intent(), "deploy", [TRUSTED], check_mode=True)
    assert checked[0] and checked[1] == path and checked[2][0]["before"] == "" and not os.path.exists(path)
    changed, written, diff = fidelity.write(reports, "c1", intent(), "deploy", [TRUSTED])
    assert changed and written == path and diff == checked[2]
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == fidelity.document(intent(), "deploy", [TRUSTED])
    assert fidelity.write(reports, "c1", intent(), "deploy", [TRUSTED]) == (False, path, [])
    assert fidelity.write(reports, "c1", intent(), "enforce", [TRUSTED])[0]


def test_calico_writes_none_and_removes_what_another_dialect_left(tmp_path):
    reports = str(tmp_path / "reports")
    path = os.path.join(reports, "c1", "fidelity.json")
    assert fidelity.write(reports, "c1", intent("calico"), "deploy", [TRUSTED]) == (False, None, [])
    fidelity.write(reports, "c1", intent(), "deploy", [TRUSTED])
    changed, removed, diff = fidelity.write(reports, "c1", intent("calico"), "deploy", [], check_mode=True)
    assert changed and removed == path and diff[0]["after"] == "" and os.path.exists(path)
    assert fidelity.write(reports, "c1", intent("calico"), "deploy", [])[0] and not os.path.exists(path)


def test_only_the_calico_dialect_keeps_its_losses_as_plain_sentences():
    variables = {"microseg_apps": [{"name": "shop", "flows": [{"source": "web", "destination": "domain:x.com", "port": 443}]}]}
    calico = make_plan(intent("calico", **variables), "enforce")
    assert calico.warnings == [loss.why for loss in calico.losses]
    kubernetes = make_plan(intent(**variables), "enforce")
    assert kubernetes.warnings == fidelity.lines("kubernetes", kubernetes.losses)
    assert fidelity.reported("kubernetes") and fidelity.reported("kubernetes-anp") and not fidelity.reported("calico")


# -- Loss.covers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("loss, flow, covered", [
    (WIDENED, ("shop/web", "net:192.0.2.7/32", "443/TCP"), True),
    (WIDENED, ("shop/web", "domain:y.com", "443/TCP"), True),
    (WIDENED, ("shop/web", "net:192.0.2.7/32", "443/UDP"), False),
    (WIDENED, ("shop/web", "net:192.0.2.7/32", "80/TCP"), False),
    (WIDENED, ("shop/db", "net:192.0.2.7/32", "443/TCP"), False),
    (MERGED_IN, ("other/x", "shop/db", "5432/TCP"), True),
    (MERGED_IN, ("other/x", "shop/*", "*"), True),
    (MERGED_IN, ("other/x", "shopping/db", "5432/TCP"), False),
    (MERGED_OUT, ("shop/run=web", "kube-system/coredns", "53/UDP"), True),
    (THREAT, ("monitoring/agent", "net:203.0.113.9/32", "8080/TCP"), True),
    (THREAT, ("monitoring/agent", "net:203.0.113.0/24", "8080/TCP"), True),
    (THREAT, ("monitoring/agent", "net:203.0.0.0/16", "8080/TCP"), False),
    (THREAT, ("monitoring/agent", "net:2001:db8::1/128", "8080/TCP"), False),
    (THREAT, ("monitoring/agent", "domain:x.com", "8080/TCP"), False),
    (Loss("widened", "appsec", "r", "w", "a/b", "domain:*.x.com", "8000-8080/TCP"), ("a/b", "domain:api.x.com", "8080/TCP"), True),
    (Loss("widened", "appsec", "r", "w", "a/b", "domain:*.x.com", "8000-8080/TCP"), ("a/b", "domain:x.com", "8080/TCP"), False),
    (Loss("widened", "appsec", "r", "w", "a/b", "domain:*.x.com", "8000-8080/TCP"), ("a/b", "domain:api.x.com", "7999-8000/TCP"), False),
    (Loss("widened", "appsec", "r", "w", "a/b", "*", "8000-8080/TCP"), ("a/b", "x/y", "8000-8080/TCP"), True),
    (Loss("widened", "appsec", "r", "w", "a/b", "*", "8000-8080/TCP"), ("a/b", "x/y", "*"), False),
])
def test_a_loss_covers_the_flows_its_patterns_match(loss, flow, covered):
    assert loss.covers(*flow) == covered
