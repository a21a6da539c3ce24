"""policy_apply on the cluster target (a loopback FakeKube): options wired through, rerun, check mode, snapshot/restore, force."""
import copy
import os

import pytest

from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan
from ansible_collections.zerotrust.microseg.plugins.modules import policy_apply
from ansible_collections.zerotrust.microseg.tests.fake_kube.server import FakeKube

VARIABLES = {
    "microseg_tenants": [{"name": "shop", "namespaces": ["hipstershop"], "pci": True}],
    "microseg_apps": [{"name": "hipstershop", "tenant": "shop", "flows": [{"source": "frontend", "destination": "cartservice", "port": 7070}]}],
    "microseg_threat_nets": ["203.0.113.0/24"],
}


POSTURE = ["projectcalico.org/GlobalNetworkPolicy/_cluster/tenant-shop-%s.yaml" % name for name in ("boundary", "catch-all", "pci-boundary")]


def rendered(phase="deploy"):
    return make_plan(load_intent(VARIABLES), phase).objects


@pytest.fixture(name="kube")
def _kube():
    with FakeKube() as fake:
        yield fake


@pytest.fixture(name="run")
def _run(run_module, kube, tmp_path):
    options = {"target": "cluster", "kubeconfig": kube.write_kubeconfig(tmp_path / "kubeconfig", context="lab"), "context": "lab",
               "state_dir": str(tmp_path / "state")}
    return lambda **args: run_module(policy_apply, **dict(options, **args))


def test_apply_then_rerun_writes_nothing(run, kube):
    objects = rendered()
    first = run(resources=objects)
    assert first["changed"] is True and len(first["created"]) == len(objects)
    assert len(kube.mutations()) == len(objects)
    second = run(resources=objects)
    assert (second["changed"], second["unchanged"]) == (False, len(objects))
    assert len(kube.mutations()) == len(objects)


def test_check_mode_diff_sends_only_dry_runs(run, kube):
    run(resources=rendered())
    before = kube.dump()
    result = run(resources=rendered("enforce"), _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and result["updated"] == POSTURE and len(result["diff"]) == 3
    assert "action: Pass" in result["diff"][0]["before"] and "action: Deny" in result["diff"][0]["after"]
    assert "tier: default" not in result["diff"][0]["before"]
    assert kube.dump() == before
    assert len(kube.mutations(dry_run=True)) == 3


def test_snapshot_restore_and_discard_through_the_module(run, kube, tmp_path):
    run(resources=rendered())
    snapshot = run(state="snapshot")["snapshot"]
    assert os.path.isfile(tmp_path / "state" / (snapshot + ".json"))
    assert run(resources=rendered("enforce"))["changed"] is True
    restored = run(state="restore", snapshot=snapshot)
    assert restored["changed"] is True and restored["restored"] == POSTURE
    assert not os.path.exists(tmp_path / "state" / (snapshot + ".json"))
    assert run(resources=rendered())["changed"] is False
    assert run(state="snapshot", _ansible_check_mode=True)["snapshot"] is None


def test_a_conflict_fails_naming_the_manager_and_force_takes_over(run, kube):
    objects = rendered()
    dns = next(obj for obj in objects if obj["metadata"]["name"] == "cluster-dns")
    edited = copy.deepcopy(dns)
    edited["spec"]["order"] = 1
    kube.seed(edited, manager="kubectl-edit")
    failed = run(resources=objects)
    assert failed["failed"] is True
    assert 'projectcalico.org GlobalNetworkPolicy cluster-dns: conflict: field manager "kubectl-edit" already owns .spec.order' in failed["msg"]
    assert "rolled back" in failed["msg"]
    assert run(resources=objects, force=True)["changed"] is True
    assert kube.get("projectcalico.org/v3", "GlobalNetworkPolicy", "cluster-dns")["spec"]["order"] == dns["spec"]["order"]


def test_an_unknown_context_fails_clearly(run):
    result = run(resources=rendered(), context="nope")
    assert result["failed"] is True
    assert result["msg"].startswith("cannot load the Kubernetes client configuration from kubeconfig ")
