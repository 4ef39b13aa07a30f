# lbprovider developer entry points.  `make test` and `make demo` set up
# everything they need on a fresh machine (venv, dependencies, Kubernetes
# test binaries, cached outside the repository).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SANDBOX_DIR ?= .sandbox
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install binaries lint test test-unit test-integration demo bench clean

# PYTHONWARNINGS: the editable build warns about same-named folders (providers/ by design).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# Prints the directory of kube-apiserver, kube-controller-manager and etcd,
# building them from their Go modules the first time (about 10 minutes).
binaries:
	@scripts/kube-binaries.sh >/dev/null

lint: install
	$(BIN)/ruff check lbprovider providers tests
	$(BIN)/ruff format --check -q lbprovider providers tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install binaries lint
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m pytest -m "not bench"

test-unit: install
	$(BIN)/python -m pytest -m unit

test-integration: install binaries
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m pytest -m "integration or e2e"

demo: install binaries
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m lbprovider.testing.demo --dir $(SANDBOX_DIR)

bench: install binaries
	KUBEBUILDER_ASSETS="$$(scripts/kube-binaries.sh)" $(BIN)/python -m pytest -m bench -s tests/bench

clean:
	-$(BIN)/lbprovider sandbox down --dir $(SANDBOX_DIR) 2>/dev/null
	rm -rf $(VENV) $(SANDBOX_DIR) build *.egg-info
