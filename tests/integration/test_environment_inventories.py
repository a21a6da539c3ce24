"""The example environment inventories: inventories/dev, staging and prod over inventories/shared.

Each environment is a directory inventory (`-i inventories/prod`): hosts.yml (one host per
cluster, group canary), group_vars/all.yml a relative symlink to the one shared intent, and
group_vars/<env>/ its own layer. The site and rollout playbooks run against them here with
every host retargeted to a copy of the lab's workload directory.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

from conftest import BIN, LAB, REPO
from test_awx import clean_clone

INVENTORIES = os.path.join(REPO, "inventories")
SHARED = os.path.join(INVENTORIES, "shared")
ENVIRONMENTS = ("dev", "staging", "prod")
# what every environment must share: the declared intent and how hosts are reached
SHARED_KEYS = ("microseg_apps", "microseg_tenants", "microseg_dialect", "microseg_calico_version", "microseg_calico_edition",
               "microseg_dns", "microseg_cluster_cidrs", "microseg_target", "microseg_remediated_flows", "zerotrust_intent_dir",
               "ansible_connection", "ansible_python_interpreter")
GENERATED = ("projectcalico.org", "networking.k8s.io", "policy.networking.k8s.io", ".microseg", "reports")


def environment(**extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"), ANSIBLE_DEPRECATION_WARNINGS="0",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(extra)
    return env


def inventory(path):
    """ansible-inventory --list of an inventory directory: (parsed JSON, stderr)."""
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", path, "--list"], capture_output=True, text=True,
                          check=False, env=environment(), cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout), proc.stderr


def hosts_of(listing, group):
    found = set(listing.get(group, {}).get("hosts", []))
    for child in listing.get(group, {}).get("children", []):
        found |= hosts_of(listing, child)
    return found


@pytest.fixture(scope="module")
def listings():
    return {name: inventory(os.path.join(INVENTORIES, name)) for name in ENVIRONMENTS}


@pytest.fixture
def cluster(tmp_path):
    """A private copy of the lab's cluster directory: its workloads, none of the policies a demo wrote."""
    dest = tmp_path / "cluster"
    shutil.copytree(os.path.join(LAB, "cluster"), dest, ignore=shutil.ignore_patterns(*GENERATED))
    return str(dest)


def retargeted(cluster, reports):
    """Extra variables that point every host of an environment at a directory target."""
    return ["-e", "microseg_target=directory", "-e", "microseg_directory=" + cluster, "-e", "microseg_report_dir=" + reports]


def playbook(name, inventory_dir, *args):
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory_dir, os.path.join(REPO, "playbooks", name)] + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=environment(), cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr


def recap(out):
    """PLAY RECAP: host -> {ok, changed, unreachable, failed, skipped, rescued, ignored}."""
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M)}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_inventory_parses_with_a_canary_and_cluster_targets(listings, name):
    listing, stderr = listings[name]
    assert "[WARNING]" not in stderr, stderr     # nothing in the directory but hosts.yml and group_vars/
    hosts = hosts_of(listing, "all")
    canaries = hosts_of(listing, "canary")
    assert canaries and canaries < hosts, (canaries, hosts)
    hostvars = listing["_meta"]["hostvars"]
    contexts = set()
    for host in hosts:
        variables = hostvars[host]
        assert variables["microseg_target"] == "cluster", host
        assert variables["microseg_context"] == host, host            # one host per kubeconfig context
        assert variables["microseg_kubeconfig"] == "~/.kube/" + name, host
        assert variables["ansible_connection"] == "local", host
        assert variables["ansible_python_interpreter"] == "{{ ansible_playbook_python }}", host
        contexts.add(variables["microseg_context"])
    assert len(contexts) == len(hosts)


def test_every_environment_shares_one_intent(listings):
    for name in ENVIRONMENTS:
        link = os.path.join(INVENTORIES, name, "group_vars", "all.yml")
        assert os.path.islink(link) and not os.path.isabs(os.readlink(link)), link   # relative: survives a clone anywhere
        assert os.path.samefile(link, os.path.join(SHARED, "group_vars", "all.yml"))
    for name in ENVIRONMENTS:
        hostvars = listings[name][0]["_meta"]["hostvars"]
        some = next(iter(hostvars.values()))
        for host, variables in hostvars.items():
            assert {k: variables[k] for k in SHARED_KEYS} == {k: some[k] for k in SHARED_KEYS}, host
    first = {name: next(iter(listings[name][0]["_meta"]["hostvars"].values())) for name in ENVIRONMENTS}
    for key in SHARED_KEYS:
        assert first["dev"][key] == first["staging"][key] == first["prod"][key], key
    assert [app["name"] for app in first["prod"]["microseg_apps"]] == ["hipstershop", "yaobank", "bookinfo"]
    # every flow table the intent names is in inventories/shared/flows/
    for app in first["prod"]["microseg_apps"]:
        assert app["flows"].startswith("{{ zerotrust_intent_dir }}/"), app
        assert os.path.isfile(os.path.join(SHARED, app["flows"].split("/", 1)[1])), app


def test_environment_layers_differ_where_they_should(listings):
    layer = {name: next(iter(listings[name][0]["_meta"]["hostvars"].values())) for name in ENVIRONMENTS}
    assert layer["prod"]["microseg_batch"] == "10%"
    assert layer["staging"]["microseg_batch"] == "25%"
    assert layer["dev"]["microseg_batch"] == "100%"
    assert layer["prod"]["microseg_max_fail_percentage"] == 0
    for key in ("microseg_trusted_domains", "microseg_threat_nets", "microseg_kubeconfig", "microseg_report_dir"):
        values = [layer[name][key] for name in ENVIRONMENTS]
        assert len({json.dumps(v) for v in values}) == 3, (key, values)
    assert set(layer["prod"]["microseg_trusted_domains"]) < set(layer["dev"]["microseg_trusted_domains"])
    assert set(layer["dev"]["microseg_threat_nets"]) < set(layer["prod"]["microseg_threat_nets"])
    for name in ENVIRONMENTS:
        # reports land outside the inventory directory, or the next `-i inventories/<env>` would parse them
        inventory_dir = os.path.join(INVENTORIES, name)
        reports = os.path.normpath(os.path.join(inventory_dir, layer[name]["microseg_report_dir"]))
        assert not reports.startswith(inventory_dir + os.sep), reports
        with open(os.path.join(inventory_dir, "group_vars", name, "rollout.yml"), encoding="utf-8") as handle:
            assert "microseg_batch: %s" % layer[name]["microseg_batch"] in handle.read()


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_site_in_check_mode_reads_the_environments_intent(name, cluster, tmp_path, listings):
    before = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(cluster, "**"), recursive=True)}
    reports = str(tmp_path / "reports")
    rc, out = playbook("site.yml", os.path.join(INVENTORIES, name), "--check", "--diff", *retargeted(cluster, reports))
    assert rc == 0, out
    hosts = hosts_of(listings[name][0], "all")
    summary = recap(out)
    assert set(summary) == hosts and all(v["failed"] == 0 and v["unreachable"] == 0 for v in summary.values()), out
    assert "namespace(s) in scope: bookinfo (application, 6 workloads); hipstershop (appsec," in out
    # analyze read the shared flow tables: 17 + 4 + 5 declared flows, none observed in this environment
    analyzed = re.findall(r"0 confirmed, 26 unobserved, 0 undeclared flow\(s\); report " + re.escape(reports) + r"/(\S+)/reconciliation.json", out)
    assert sorted(analyzed) == sorted(hosts), out
    # the environment's layer shaped the policies: its threat feed is what deploy would write
    nets = listings[name][0]["_meta"]["hostvars"][sorted(hosts)[0]]["microseg_threat_nets"]
    diff = out.split("+++ after: projectcalico.org/GlobalNetworkSet/_cluster/threat-nets.yaml", 1)[1].split("+++ after:", 1)[0]
    assert sorted(re.findall(r"^\+  - (\S+)$", diff, re.M)) == sorted(nets), diff
    # check mode: nothing written, neither to the cluster nor reports
    assert {p: os.path.getmtime(p) for p in glob.glob(os.path.join(cluster, "**"), recursive=True)} == before
    assert not os.path.exists(reports)


def test_rollout_moves_through_prod_in_batches_of_its_layer(cluster, tmp_path, listings):
    prod = os.path.join(INVENTORIES, "prod")
    rc, out = playbook("rollout.yml", prod, "--check", "--tags", "identify", *retargeted(cluster, str(tmp_path / "reports")))   # the batch: prod's layer
    assert rc == 0, out
    hosts = hosts_of(listings["prod"][0], "all")
    canaries = hosts_of(listings["prod"][0], "canary")
    assert out.count("PLAY [Canary clusters]") == 1
    # 10% of the 10 clusters after the two canaries: ten batches of one
    assert out.count("PLAY [The rest of the fleet, batch by batch]") == len(hosts - canaries) == 10, out
    assert set(recap(out)) == hosts


def test_symlinked_intent_survives_git_clone_collection_build_and_install(tmp_path, listings):
    clone = clean_clone(tmp_path)   # git keeps the link (mode 120000) ...
    for name in ENVIRONMENTS:
        staged = subprocess.run(["git", "-C", str(clone), "ls-files", "-s", "inventories/%s/group_vars/all.yml" % name],
                                capture_output=True, text=True, check=True).stdout
        assert staged.startswith("120000 "), staged
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = environment(ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed"))
    build = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(clone)],
                           capture_output=True, text=True, check=False, cwd=str(tmp_path), env=env)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = glob.glob(str(tmp_path / "zerotrust-microseg-*.tar.gz"))[0]
    with tarfile.open(tarball) as archive:   # ... so does ansible-galaxy collection build ...
        for name in ENVIRONMENTS:
            member = archive.getmember("inventories/%s/group_vars/all.yml" % name)
            assert member.issym() and member.linkname == "../../shared/group_vars/all.yml", name
        assert "inventories/shared/flows/hipstershop.md" in archive.getnames()
    install = subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(tmp_path / "installed"),
                              tarball], capture_output=True, text=True, check=False, cwd=str(tmp_path), env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = tmp_path / "installed" / "ansible_collections" / "zerotrust" / "microseg"
    for copy in (clone, installed):          # ... and install: both read as the checkout does
        for name in ENVIRONMENTS:
            assert os.path.islink(copy / "inventories" / name / "group_vars" / "all.yml"), (copy, name)
            listing, stderr = inventory(str(copy / "inventories" / name))
            assert "[WARNING]" not in stderr, stderr
            assert listing["_meta"]["hostvars"] == listings[name][0]["_meta"]["hostvars"], (copy, name)
