"""Beyond one controller: the execution environment (ansible-builder) and jobs run as AWX runs them (ansible-runner).

AWX / Automation Platform build an execution environment from execution-environment.yml, check out
the project, write the job's inventory, extra variables and command line into a private data dir
and hand that to ansible-runner. Here the same happens without a container engine or a network:
`ansible-builder create` writes the build context (the image build itself needs podman or docker,
and is not run), the collection is installed where the image would hold it, and ansible-runner runs
the playbook from a private data dir as AWX lays it out.
"""
import glob
import json
import os
import shutil
import subprocess
import sys

import ansible_runner
import pytest
import yaml

from conftest import BIN, REPO, tree

GENERATED = ("projectcalico.org", "networking.k8s.io", "policy.networking.k8s.io", ".microseg", "reports")


def _env(**extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(extra)
    return env


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, " ".join(cmd) + "\n" + proc.stdout + proc.stderr
    return proc


def clean_clone(dest):
    """A git clone of the checkout as it stands (tracked and new files, none that git ignores): what a
    project sync or a CI job sees. Building from it keeps local venvs and outputs out of the tarball."""
    work, clone = dest / "work", dest / "clone"
    listed = _run(["git", "-C", REPO, "ls-files", "-z", "-co", "--exclude-standard"]).stdout.split("\0")
    for rel in filter(None, listed):
        src, target = os.path.join(REPO, rel), work / rel
        if not os.path.lexists(src):   # tracked but deleted in the work tree
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)
    git = _env(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.invalid", GIT_CONFIG_NOSYSTEM="1", HOME=str(dest))
    for cmd in (["git", "init", "-q", str(work)], ["git", "-C", str(work), "add", "-A"],
                ["git", "-C", str(work), "commit", "-q", "-m", "snapshot"], ["git", "clone", "-q", str(work), str(clone)]):
        _run(cmd, env=git)
    return clone


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(clone, tarball, collections path): the collection built from a clean clone and installed where
    the execution environment holds it (/usr/share/ansible/collections in the image)."""
    base = tmp_path_factory.mktemp("awx")
    clone = clean_clone(base)
    config = base / "ansible.cfg"
    config.write_text("[defaults]\n")
    collections = base / "ee_collections"
    galaxy = _env(ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(collections))
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force"], cwd=str(clone), env=galaxy)
    tarball = glob.glob(str(clone / "zerotrust-microseg-*.tar.gz"))
    assert len(tarball) == 1, tarball
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(collections), tarball[0]],
         cwd=str(base), env=galaxy)
    return clone, tarball[0], str(collections)


def galaxy_version():
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        return str(yaml.safe_load(handle)["version"])


def test_execution_environment_build_context_is_created_offline(built, tmp_path):
    clone, tarball, _collections = built
    context = tmp_path / "context"
    _run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(clone / "execution-environment.yml"), "-c", str(context),
          "--output-filename", "Containerfile"], cwd=str(tmp_path), env=_env())
    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    # the collection, as built from this checkout, and the collection's run-time requirements
    assert (build / "collections" / os.path.basename(tarball)).read_bytes() == open(tarball, "rb").read()
    assert os.path.basename(tarball) == "zerotrust-microseg-%s.tar.gz" % galaxy_version()
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as handle:
        assert (build / "requirements.txt").read_text() == handle.read()
    assert yaml.safe_load((build / "requirements.yml").read_text()) == {
        "collections": [{"name": "collections/" + os.path.basename(tarball), "type": "file"}]}
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "introspect.py introspect --user-pip=requirements.txt" in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile

    # the image's galaxy stage, run here: from _build/ (the image's /build), the requirements install the collection
    image_collections = tmp_path / "usr_share_ansible_collections"
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements.yml", "-p", str(image_collections)],
         cwd=str(build), env=_env(ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(image_collections)))
    installed = image_collections / "ansible_collections" / "zerotrust" / "microseg"
    assert json.loads((installed / "MANIFEST.json").read_text())["collection_info"]["version"] == galaxy_version()
    assert (installed / "playbooks" / "site.yml").is_file()
    # ... and its builder stage: the Python requirements it assembles name the collection's own as well as ours
    introspect = _run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", "--user-pip=requirements.txt",
                       str(image_collections)], cwd=str(build), env=_env())
    python = yaml.safe_load(introspect.stdout)["python"]
    assert any(line.startswith("kubernetes") and "from collection zerotrust.microseg" in line for line in python), python
    assert any(line.startswith("kubernetes") and "from collection user" in line for line in python), python


def private_data_dir(path, clone, inventory_from, extravars=None, cmdline=None, project=None):
    """The private data dir AWX hands ansible-runner: project/ (the checked-out project), inventory/,
    env/extravars and env/cmdline. The collection comes from the execution environment (envvars)."""
    pdd = path / "pdd"
    shutil.copytree(clone, pdd / "project", symlinks=True, ignore=shutil.ignore_patterns(".git", "*.tar.gz"))
    for name, text in (project or {}).items():
        (pdd / "project" / name).write_text(text)
    shutil.copytree(inventory_from, pdd / "inventory", symlinks=True, ignore=shutil.ignore_patterns(*GENERATED))
    (pdd / "env").mkdir()
    if extravars:
        (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    if cmdline:
        (pdd / "env" / "cmdline").write_text(cmdline)
    return pdd


def job(pdd, collections, playbook, inventory="hosts.yml"):
    """One job: ansible_runner.run as AWX's worker runs it (no process isolation: the EE is this venv)."""
    envvars = {"ANSIBLE_COLLECTIONS_PATH": collections, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    return ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, inventory=os.path.join(str(pdd), "inventory", inventory),
                              envvars=envvars, quiet=True)


def stdout(result):
    return result.stdout.read()


def changed(result):
    return sum(result.stats["changed"].values())


# the project is this repository (playbooks/site.yml), or a team's own repository whose playbook
# imports the collection's
PROJECTS = {
    "this-repository": ("playbooks/site.yml", None),
    "own-project": ("site.yml", {"site.yml": "---\n- name: Micro-segmentation\n  ansible.builtin.import_playbook: zerotrust.microseg.site\n"}),
}


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_job_template_runs_the_site_playbook_and_a_rerun_changes_nothing(built, tmp_path, project):
    clone, _tarball, collections = built
    playbook, files = PROJECTS[project]
    reports = tmp_path / "reports"     # a volume of the execution environment, say
    pdd = private_data_dir(tmp_path, clone, clone / "inventories" / "lab", extravars={"microseg_report_dir": str(reports)}, project=files)
    first = job(pdd, collections, playbook)
    assert (first.status, first.rc) == ("successful", 0), stdout(first)
    assert first.stats["failures"] == {} and first.stats["dark"] == {}
    assert changed(first) >= 3, first.stats
    # the roles came from the execution environment's collection
    paths = [e["event_data"].get("task_path", "") for e in first.events if e["event"] == "runner_on_ok"]
    assert any(p.startswith(os.path.join(collections, "ansible_collections", "zerotrust", "microseg", "roles")) for p in paths), paths
    cluster = pdd / "inventory" / "cluster"
    assert (cluster / "projectcalico.org" / "NetworkPolicy" / "hipstershop" / "frontend.yaml").is_file()
    for report in ("reconciliation.json", "remediation.json"):
        assert (reports / "lab-cluster" / report).is_file(), sorted(os.listdir(reports / "lab-cluster"))
    with open(reports / "lab-cluster" / "reconciliation.json", encoding="utf-8") as handle:
        assert {"source": "hipstershop/frontend", "destination": "hipstershop/cartservice", "port": "7070/TCP"} in json.load(handle)["confirmed"]

    before = tree(cluster)
    second = job(pdd, collections, playbook)
    assert (second.status, second.rc) == ("successful", 0), stdout(second)
    assert changed(second) == 0, second.stats
    assert not [e for e in second.events if e["event"] == "runner_on_ok" and e["event_data"]["res"].get("changed")]
    stats = [e for e in second.events if e["event"] == "playbook_on_stats"][0]["event_data"]
    assert stats["changed"] == {} and stats["ok"] == {"lab-cluster": first.stats["ok"]["lab-cluster"]}
    assert {k: v for k, v in tree(cluster).items() if not k.startswith(".microseg")} == \
        {k: v for k, v in before.items() if not k.startswith(".microseg")}


def test_check_mode_job_template_for_one_phase_writes_nothing(built, tmp_path):
    clone, _tarball, collections = built
    reports = tmp_path / "reports"
    pdd = private_data_dir(tmp_path, clone, clone / "inventories" / "lab", extravars={"microseg_report_dir": str(reports)},
                           cmdline="--tags deploy --check --diff")
    before = tree(pdd / "inventory")
    result = job(pdd, collections, "playbooks/site.yml")
    assert (result.status, result.rc) == ("successful", 0), stdout(result)
    assert changed(result) >= 1
    out = stdout(result)
    assert "+++ after: projectcalico.org/GlobalNetworkPolicy/_cluster/cluster-dns.yaml" in out
    assert "zerotrust.microseg.analyze" not in out and "zerotrust.microseg.enforce" not in out   # only the deploy phase
    assert tree(pdd / "inventory") == before and not reports.exists()


def imported_inventory(clone, environment, dest):
    """An environment's inventory as AWX holds it after an inventory sync from the project: the
    `ansible-inventory --list --export` data, handed to the job as an executable inventory script."""
    listing = _run([os.path.join(BIN, "ansible-inventory"), "-i", str(clone / "inventories" / environment), "--list", "--export"],
                   cwd=str(clone), env=_env(ANSIBLE_CONFIG=str(clone / "ansible.cfg"))).stdout
    dest.mkdir()
    script = dest / "hosts"
    script.write_text("#!%s\nimport sys\nsys.stdout.write(%r)\n" % (sys.executable, listing))
    script.chmod(0o755)
    return json.loads(listing)


def test_canary_job_template_on_an_imported_environment_inventory(built, tmp_path):
    clone, _tarball, collections = built
    source = tmp_path / "imported"
    listing = imported_inventory(clone, "prod", source)
    cluster = tmp_path / "cluster"
    shutil.copytree(clone / "inventories" / "lab" / "cluster", cluster, ignore=shutil.ignore_patterns(*GENERATED))
    retarget = {"microseg_target": "directory", "microseg_directory": str(cluster), "microseg_report_dir": str(tmp_path / "reports")}

    # the inventory is no longer a directory of the project: the shared flow tables must be named
    pdd = private_data_dir(tmp_path / "without", clone, source, extravars=retarget, cmdline="--limit canary --check --tags identify,analyze")
    lost = job(pdd, collections, "playbooks/site.yml", inventory="hosts")
    assert lost.status == "failed" and lost.rc != 0
    assert os.path.join("pdd", "inventory", "..", "shared", "flows", "hipstershop.md") in stdout(lost)   # inventory_dir/../shared

    # as the job template's extra variable; /runner/project in the execution environment, pdd/project here
    extravars = dict(retarget, zerotrust_intent_dir=str(tmp_path / "with" / "pdd" / "project" / "inventories" / "shared"))
    pdd = private_data_dir(tmp_path / "with", clone, source, extravars=extravars, cmdline="--limit canary --check --tags identify,analyze")
    result = job(pdd, collections, "playbooks/site.yml", inventory="hosts")
    assert (result.status, result.rc) == ("successful", 0), stdout(result)
    assert set(result.stats["processed"]) == set(listing["canary"]["hosts"]) == {"prod-eu-1", "prod-us-1"}
    analyzed = [e["event_data"]["res"]["msg"] for e in result.events
                if e["event"] == "runner_on_ok" and e["event_data"].get("task_action") == "zerotrust.microseg.phases"
                and "unobserved" in str(e["event_data"]["res"].get("msg", ""))]
    assert len(analyzed) == 2 and all(m.startswith("0 confirmed, 26 unobserved, 0 undeclared") for m in analyzed), analyzed
    assert not glob.glob(str(cluster / "projectcalico.org"))
