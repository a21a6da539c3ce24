"""The built and installed collection, and the fleet rollout playbook."""
import glob
import json
import os
import subprocess

import yaml

from conftest import BIN, REPO, run_playbook


def test_installed_collection_runs_site_by_its_fqcn(lab, tmp_path):
    empty_config = tmp_path / "ansible.cfg"
    empty_config.write_text("[defaults]\n")
    galaxy_env = dict(os.environ, ANSIBLE_CONFIG=str(empty_config))
    build = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), REPO],
                           capture_output=True, text=True, check=False, cwd=str(tmp_path), env=galaxy_env)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = glob.glob(str(tmp_path / "zerotrust-microseg-*.tar.gz"))[0]
    installed = tmp_path / "installed"
    install = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(installed), tarball],
                             capture_output=True, text=True, check=False, cwd=str(tmp_path), env=galaxy_env)
    assert install.returncode == 0, install.stdout + install.stderr
    assert os.path.isfile(installed / "ansible_collections/zerotrust/microseg/playbooks/site.yml"), install.stdout
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed), "ANSIBLE_CONFIG": str(empty_config)}
    result = run_playbook(lab, playbook="zerotrust.microseg.site", env=env)
    assert result.rc == 0, result.out
    assert os.path.exists(os.path.join(lab, "cluster", "projectcalico.org", "NetworkPolicy", "hipstershop", "frontend.yaml"))
    again = run_playbook(lab, playbook="zerotrust.microseg.site", env=env)
    assert again.rc == 0 and again.changed == 0, again.out


def _fleet(lab, names, canaries):
    with open(os.path.join(lab, "group_vars", "lab.yml"), encoding="utf-8") as handle:
        intent = yaml.safe_load(handle)
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "microseg_directory": "clusters/" + name} for name in names}
    inventory = {"all": {"vars": intent, "children": {
        "canary": {"hosts": {n: hosts[n] for n in canaries}},
        "fleet": {"hosts": {n: hosts[n] for n in names if n not in canaries}}}}}
    with open(os.path.join(lab, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    os.remove(os.path.join(lab, "group_vars", "lab.yml"))
    for name in names:
        os.makedirs(os.path.join(lab, "clusters", name))


def test_rollout_runs_canary_then_batches_and_stops_on_a_failed_batch(lab):
    _fleet(lab, ["c1", "c2", "c3", "c4"], ["c1"])
    blocked = os.path.join(lab, "clusters", "c2", "projectcalico.org", "Tier", "_cluster", "security.yaml")
    os.makedirs(blocked)  # c2 cannot be written: its deploy fails and is rolled back
    playbook = os.path.join(REPO, "playbooks", "rollout.yml")
    result = run_playbook(lab, "-e", "microseg_batch=1", playbook=playbook)
    assert result.rc != 0
    assert os.path.exists(os.path.join(lab, "clusters", "c1", "projectcalico.org", "Tier"))
    c2 = [p for p in glob.glob(os.path.join(lab, "clusters", "c2", "**", "*.yaml"), recursive=True) if os.path.isfile(p)]
    assert c2 == []
    # batches of one, in inventory order after the canary: c2 fails, so c3 and c4 are never touched
    for name in ("c3", "c4"):
        assert not os.path.exists(os.path.join(lab, "clusters", name, "projectcalico.org")), result.out
    assert "deploy failed on c2 and was rolled back" in result.out
    assert fleet_statuses(lab) == {"c1": "changed", "c2": "rolled_back", "c3": "untouched", "c4": "untouched"}
    assert "rollout stopped: 1 of 1 cluster(s) of the batch failed" in result.out
    assert_lines(result.out, {"c1": "changed", "c2": "rolled_back", "c3": "untouched", "c4": "untouched"})


def fleet_statuses(lab):
    with open(os.path.join(lab, "reports", "fleet.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    with open(os.path.join(lab, "reports", "fleet.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")   # self-contained
    assert all(entry["host"] in page for entry in summary["clusters"])
    for entry in summary["clusters"]:   # each cluster that ran links its evidence page, beside fleet.html
        if entry["status"] == "untouched":
            assert entry["report"] is None and not os.path.exists(os.path.join(lab, "reports", entry["host"], "report.html")), entry
        else:
            assert entry["report"] == entry["host"] + "/report.html", entry
            assert os.path.isfile(os.path.join(lab, "reports", entry["report"])) and 'href="%s"' % entry["report"] in page, entry
    return {entry["host"]: entry["status"] for entry in summary["clusters"]}


def assert_lines(out, statuses):
    """One line per cluster in the run's output."""
    for host, status in statuses.items():
        assert any(line.strip(" -'").split()[:2] == [host, status] for line in out.splitlines() if line.strip()), (host, status, out)


def test_rollout_canary_failure_stops_everything(lab):
    _fleet(lab, ["c1", "c2", "c3"], ["c1"])
    os.makedirs(os.path.join(lab, "clusters", "c1", "projectcalico.org", "Tier", "_cluster", "security.yaml"))
    result = run_playbook(lab, playbook=os.path.join(REPO, "playbooks", "rollout.yml"))
    assert result.rc != 0
    for name in ("c2", "c3"):
        assert not os.path.exists(os.path.join(lab, "clusters", name, "projectcalico.org")), name
    assert fleet_statuses(lab) == {"c1": "rolled_back", "c2": "untouched", "c3": "untouched"}
    assert "rollout stopped: canary c1 failed: deploy failed on c1 and was rolled back" in " ".join(result.out.split())


def test_a_rollout_that_runs_through_summarises_changed_then_unchanged(lab):
    _fleet(lab, ["c1", "c2", "c3"], ["c1"])
    playbook = os.path.join(REPO, "playbooks", "rollout.yml")
    first = run_playbook(lab, "-e", "microseg_batch=2", playbook=playbook)
    assert first.rc == 0, first.out
    assert fleet_statuses(lab) == {"c1": "changed", "c2": "changed", "c3": "changed"}
    second = run_playbook(lab, "-e", "microseg_batch=2", playbook=playbook)
    assert second.rc == 0, second.out
    assert fleet_statuses(lab) == {"c1": "unchanged", "c2": "unchanged", "c3": "unchanged"}
    assert_lines(second.out, {"c1": "unchanged", "c2": "unchanged", "c3": "unchanged"})
    before = open(os.path.join(lab, "reports", "fleet.json"), encoding="utf-8").read()
    with open(os.path.join(lab, "flows", "yaobank.md"), "a", encoding="utf-8") as handle:
        handle.write("summary | customer | 8080\n")
    checked = run_playbook(lab, "--check", playbook=playbook)
    assert checked.rc == 0, checked.out
    assert_lines(checked.out, {"c1": "changed", "c2": "changed", "c3": "changed"})
    assert open(os.path.join(lab, "reports", "fleet.json"), encoding="utf-8").read() == before   # check mode writes nothing


def test_the_batch_size_comes_from_the_inventory_too(lab):
    _fleet(lab, ["c1", "c2", "c3", "c4", "c5"], ["c1"])
    with open(os.path.join(lab, "hosts.yml"), encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["vars"]["microseg_batch"] = 2   # as an environment's group_vars would set it; the default would be 1 of 4
    with open(os.path.join(lab, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    os.makedirs(os.path.join(lab, "clusters", "c2", "projectcalico.org", "Tier", "_cluster", "security.yaml"))   # c2 fails
    result = run_playbook(lab, playbook=os.path.join(REPO, "playbooks", "rollout.yml"))
    assert result.rc != 0
    assert fleet_statuses(lab) == {"c1": "changed", "c2": "rolled_back", "c3": "changed", "c4": "untouched", "c5": "untouched"}
