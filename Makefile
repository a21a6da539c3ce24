# Two commands matter: `make demo` runs the whole method on the lab inventory,
# `make test` runs every test. Both install what they need into .venv first.
PYTHON ?= python3
VENV := .venv
NCA_VENV := .venv-nca
BENCH_VENV := .venv-bench
BIN := $(VENV)/bin
LINK := collections/ansible_collections/zerotrust/microseg
INVENTORY ?= inventories/lab/hosts.yml

.PHONY: demo test unit integration crosscheck molecule sanity lint changelog bench bench-compare bench-fleet bench-flow-logs bench-service-graph clean

demo: $(VENV)/.installed $(LINK)
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml $(ARGS)

test: unit integration crosscheck molecule sanity lint changelog

unit: $(VENV)/.installed $(LINK)
	$(BIN)/python -m pytest -q tests/unit

integration: $(VENV)/.installed $(LINK)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -rs -n 2 tests/integration

# network-config-analyzer must agree with our evaluator; it pins PyYAML 6.0.2, so it gets its own venv
crosscheck: $(VENV)/.installed $(LINK) $(NCA_VENV)/.installed
	NCA="$(CURDIR)/$(NCA_VENV)/bin/nca" $(BIN)/python -m pytest -q tests/crosscheck

# molecule installs the built collection into ~/.ansible/collections (not ./collections, our link)
molecule: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH=$(HOME)/.ansible/collections $(BIN)/molecule test -s lab_directory
	PATH="$(CURDIR)/$(BIN):$$PATH" ANSIBLE_COLLECTIONS_PATH=$(HOME)/.ansible/collections $(BIN)/molecule test -s fleet

sanity: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" tools/ansible-test.sh

lint: $(VENV)/.installed $(LINK)
	$(BIN)/ansible-lint --offline -q

changelog: $(VENV)/.installed
	$(BIN)/antsibull-changelog lint

bench: $(VENV)/.installed $(LINK)
	$(BIN)/python bench/plan_and_apply.py
	$(BIN)/python bench/apply_cluster.py

# the evidence report's service graph on 500 workloads in 50 namespaces (needs Graphviz's dot)
bench-service-graph: $(VENV)/.installed $(LINK)
	$(BIN)/python bench/service_graph.py

# a no-change fleet rerun of site.yml against one ansible.builtin.ping per host, 12 and 100 directory clusters
bench-fleet: $(VENV)/.installed $(LINK)
	$(BIN)/python bench/fleet.py

# the cluster target beside a plain Python SSA loop and kubernetes.core.k8s; kubernetes.core (PyPI `ansible`) lives
# in its own bench-only venv, never in .venv and never in `make test`
bench-compare: $(VENV)/.installed $(LINK) $(BENCH_VENV)/.installed
	$(BIN)/python bench/apply_cluster.py --compare

# flow log ingest (records/s, peak memory) beside hubble-audit2policy (PyPI, bench-only .venv-bench) on 200k and 1M
# generated Hubble records, plain JSON Lines in a temporary directory (1M is ~1.3 GiB, removed after use)
bench-flow-logs: $(VENV)/.installed $(LINK) $(BENCH_VENV)/.installed
	$(BIN)/python bench/flow_logs.py --compare --hubble-audit2policy $(BENCH_VENV)/bin/hubble-audit2policy

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NCA_VENV)/.installed: tests/crosscheck/requirements-nca.txt
	$(PYTHON) -m venv $(NCA_VENV)
	$(NCA_VENV)/bin/pip install -q --disable-pip-version-check -r tests/crosscheck/requirements-nca.txt
	touch $@

$(BENCH_VENV)/.installed: bench/requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r bench/requirements-bench.txt
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

clean:
	rm -rf $(VENV) $(NCA_VENV) $(BENCH_VENV) collections tests/output .ansible
