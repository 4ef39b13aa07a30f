# lbprovider developer entry points.  `make test` and `make demo` set up
# everything they need on a fresh machine (venv, dependencies, Kubernetes
# test binaries, cached outside the repository); `make setup` does both halves
# side by side, since the Go build (about 7.5 minutes on 2 cores) dominates a first run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SANDBOX_DIR ?= .sandbox
# make test's pytest processes (pytest-xdist), each with its own sandbox; 0 runs serially.
# More processes than cores pays here: most e2e time is waiting on controllers and clouds.
TEST_PROCESSES ?= 4
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install binaries setup lint test test-unit test-integration demo bench clean

# uv when it can be had (seconds), else pip (minutes); see the script.  The stamp
# makes a warm `make test` skip this entirely.
$(STAMP): pyproject.toml scripts/install-venv.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) scripts/install-venv.sh
	@touch $(STAMP)

install: $(STAMP)

# Prints the directory of kube-apiserver, kube-controller-manager and etcd,
# building them from their Go modules the first time (about 7.5 minutes on 2 cores).
binaries:
	@scripts/kube-binaries.sh >/dev/null

# Both halves of a first run at once; a sub-make so that `make -jN test` cannot
# start a second install beside this one.
setup:
	@$(MAKE) --no-print-directory -j2 install binaries

lint: install
	$(BIN)/ruff check lbprovider providers tests
	$(BIN)/ruff format --check -q lbprovider providers tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/hadolint Dockerfile

test: setup
	@$(MAKE) --no-print-directory lint
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m pytest -m "not bench" \
		-n $(TEST_PROCESSES) --dist worksteal

test-unit: install
	$(BIN)/python -m pytest -m unit

test-integration: setup
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m pytest -m "integration or e2e"

# The whole crash matrix (SIGKILL after every k-th cloud write), 200 Services under
# throttling and 30 % transient faults, the backoff budget; prints their figures
# (collected in build/reliability.txt).  `make test` runs a reduced version of each.
.PHONY: test-reliability
test-reliability: setup
	@mkdir -p build && rm -f build/reliability.txt
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" LBPROVIDER_RELIABILITY=full \
		LBPROVIDER_RELIABILITY_REPORT="$(CURDIR)/build/reliability.txt" \
		$(BIN)/python -m pytest -m "unit or e2e" tests/reliability \
		tests/e2e/test_crash_matrix.py tests/e2e/test_crash_faults.py; \
	status=$$?; echo "==> reliability figures"; cat build/reliability.txt 2>/dev/null; exit $$status

# ARGS=--keep leaves the sandbox, the controller and the Services running.
demo: install binaries
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m lbprovider.testing.demo --dir $(SANDBOX_DIR) $(ARGS)

# B1-B5 on a fresh sandbox, one table (about 9 minutes on 2 cores; BENCH_SCALE=0.1 for a
# quick look).  The older micro-benchmarks: `pytest -m bench -s tests/bench`.
bench: install binaries
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python tests/bench/bench.py

clean:
	-$(BIN)/lbprovider sandbox down --dir $(SANDBOX_DIR) 2>/dev/null
	rm -rf $(VENV) $(SANDBOX_DIR) build *.egg-info
