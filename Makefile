# The two commands of the README: `make dev` and `make test`. Everything they need, they install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright downloads no browser of its own).
CHROMIUM := /usr/bin/chromium
# The benchmarks' load generator: Debian's wrk (a generator in Python would be the bottleneck it measures).
WRK := /usr/bin/wrk

.PHONY: dev test lint typecheck infra-check bench install clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed

# checkov pins many packages of its own: it gets a virtualenv of its own, apart from the functions' and tests'.
$(INFRA_STAMP): requirements-infra.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $(INFRA_STAMP)

install: $(STAMP)

# infra/: Terraform's own formatting, and checkov's security checks (offline: no providers, no cloud, no network).
infra-check: $(INFRA_STAMP)
	@command -v terraform >/dev/null || { echo "Terraform 1.11 or newer is not installed: https://developer.hashicorp.com/terraform/install"; exit 1; }
	terraform fmt -check -recursive infra
	$(INFRA_VENV)/bin/checkov -d infra --framework terraform --quiet --compact --skip-download

dev: install
	$(BIN)/python -m dev.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Install Chromium at $(CHROMIUM) (Debian package chromium)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

test: lint typecheck infra-check $(CHROMIUM)
	$(BIN)/pytest

$(WRK):
	@command -v apt-get >/dev/null || { echo "Install wrk at $(WRK) (Debian package wrk)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk

bench: install $(WRK)
	$(BIN)/python -m bench.register
	$(BIN)/python -m bench.ratelimit
	$(BIN)/python -m bench.sweep

clean:
	rm -rf $(VENV) $(INFRA_VENV) infra/.build .pytest_cache .mypy_cache .ruff_cache test-artifacts
