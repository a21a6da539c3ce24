"""Benchmark: plan and apply a fleet-sized policy set on the directory target.

Synthetic intent: NAMESPACES appsec namespaces in TENANTS tenants, SERVICES services each,
every service calling FANOUT others (some across namespaces). Prints the time of planning,
of the first apply (all creates), of a no-change rerun and of a check-mode run, and how many
files each run wrote. Run: `make bench` or `.venv/bin/python bench/plan_and_apply.py [namespaces]`.
"""
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "collections"))

from ansible_collections.zerotrust.microseg.plugins.module_utils.apply import apply_objects  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.directory import DirectoryTarget  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.intent import load_intent  # noqa: E402
from ansible_collections.zerotrust.microseg.plugins.module_utils.plan import make_plan  # noqa: E402

NAMESPACES = int(sys.argv[1]) if len(sys.argv) > 1 else 50
SERVICES = 20
FANOUT = 3
TENANTS = 5


def intent_variables():
    rng = random.Random(7)
    tenants = [{"name": "tenant-%d" % t, "namespaces": [], "pci": t == 0} for t in range(TENANTS)]
    apps = []
    for n in range(NAMESPACES):
        namespace = "ns-%03d" % n
        tenant = tenants[n % TENANTS]
        tenant["namespaces"].append(namespace)
        flows = []
        for s in range(SERVICES):
            for _call in range(FANOUT):
                target = rng.randrange(SERVICES)
                other = namespace if rng.random() < 0.9 else "ns-%03d" % rng.randrange(NAMESPACES)
                flows.append({"source": "svc-%d" % s, "destination": "%s/svc-%d" % (other, target), "port": 8000 + target})
        apps.append({"name": namespace, "namespace": namespace, "tenant": tenant["name"], "tier": "appsec", "flows": flows})
    return {"microseg_tenants": tenants, "microseg_apps": apps, "microseg_threat_nets": ["203.0.113.0/24"],
            "microseg_trusted_domains": ["example.com"]}


def timed(label, func):
    start = time.perf_counter()
    value = func()
    print("%-34s %8.2f s" % (label, time.perf_counter() - start))
    return value


def main():
    intent = timed("validate intent", lambda: load_intent(intent_variables()))
    plan = timed("plan deploy", lambda: make_plan(intent, "deploy"))
    print("objects: %d, declared flows: %d" % (len(plan.objects), len(plan.flows)))
    with tempfile.TemporaryDirectory() as root:
        first = timed("apply (create all)", lambda: apply_objects(DirectoryTarget(root), plan.objects, scope=plan.scope))
        again = timed("apply again (no change)", lambda: apply_objects(DirectoryTarget(root), plan.objects, scope=plan.scope))
        enforce = make_plan(intent, "enforce")
        dry_run = DirectoryTarget(root, check_mode=True)
        check = timed("enforce in check mode", lambda: apply_objects(dry_run, enforce.objects, scope=enforce.scope))
        flip = timed("enforce", lambda: apply_objects(DirectoryTarget(root), enforce.objects, scope=enforce.scope))
    print("writes: create %d, rerun %d, check mode %d (would change %d), enforce %d"
          % (len(first.created), len(again.created) + len(again.updated) + len(again.deleted), 0,
             len(check.updated), len(flip.updated)))


if __name__ == "__main__":
    main()
