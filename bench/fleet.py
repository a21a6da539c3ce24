"""Benchmark: what one cluster costs in a no-change fleet run, against Ansible's own floor.

Builds an inventory of N directory-target clusters (each a copy of the lab's workloads and
intent), converges it once with ``playbooks/site.yml``, then times, in the same run:

* the floor: a playbook with one ``ansible.builtin.ping`` per host over the same inventory;
* a no-change rerun of ``playbooks/site.yml`` (every phase) over the same inventory;

both with ``-f FORKS``, and prints the two figures and their ratio, for 12 and 100 clusters by
default. The rerun must report changed=0 on every host (the script checks it).

Run: ``make bench-fleet`` or ``.venv/bin/python bench/fleet.py [--clusters 12 100] [--forks 10]``.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "inventories", "lab")
BIN = os.path.dirname(sys.executable)
PING = """---
- name: Ansible's floor, one module per host
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def inventory(base, clusters):
    """``clusters`` hosts, each with its own directory cluster holding the lab's workloads."""
    shutil.copytree(LAB, base, ignore=shutil.ignore_patterns("projectcalico.org", "networking.k8s.io", "policy.networking.k8s.io",
                                                             ".microseg", "reports", "hosts.yml"))
    source = os.path.join(base, "cluster")
    hosts = []
    for number in range(clusters):
        name = "cluster-%03d" % number
        shutil.copytree(source, os.path.join(base, "clusters", name))
        hosts.append("    %s:\n      microseg_directory: clusters/%s\n" % (name, name))
    with open(os.path.join(base, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write("---\nlab:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: \"{{ ansible_playbook_python }}\"\n"
                     "  hosts:\n" + "".join(hosts))
    with open(os.path.join(base, "ping.yml"), "w", encoding="utf-8") as handle:
        handle.write(PING)


def run(base, playbook, forks, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    started = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", os.path.join(base, "hosts.yml"), playbook, "-f", str(forks)] + list(args),
                          capture_output=True, text=True, cwd=base, env=env, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (playbook, (proc.stdout + proc.stderr)[-4000:]))
    changed = [int(n) for n in re.findall(r"changed=(\d+)", proc.stdout)]
    return elapsed, changed


def measure(clusters, forks):
    with tempfile.TemporaryDirectory(prefix="fleet-bench.") as tmp:
        base = os.path.join(tmp, "fleet")
        inventory(base, clusters)
        site = os.path.join(ROOT, "playbooks", "site.yml")
        converge, _changed = run(base, site, forks)
        floor, _changed = run(base, os.path.join(base, "ping.yml"), forks)
        rerun, changed = run(base, site, forks)
        if len(changed) != clusters or any(changed):
            sys.exit("the rerun changed something: changed=%s" % changed)
        print("%4d clusters, -f %d: converge %.1f s; ping floor %.1f s; no-change site.yml rerun %.1f s; ratio %.2f"
              % (clusters, forks, converge, floor, rerun, rerun / floor))
        sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[12, 100])
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args()
    for clusters in args.clusters:
        measure(clusters, args.forks)


if __name__ == "__main__":
    main()
