# The two commands of the README: `make dev` and `make test`. Everything they need, they install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright downloads no browser of its own).
CHROMIUM := /usr/bin/chromium
# What `make test` and `make bench` install from Debian's packages when missing: as root, or through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get
# The audit tests run third-party checkers from npm (package-lock.json): axe-core in Chromium, the Nu Html Checker
# on Java, html-validate and Can I email's data on Node.
NODE_STAMP := node_modules/.installed
# SpamAssassin scores every kind of mail in the tests (its local rules only: no network).
SPAMASSASSIN := /usr/bin/spamassassin
# The benchmarks' load generator: Debian's wrk (a generator in Python would be the bottleneck it measures).
WRK := /usr/bin/wrk

.PHONY: dev dev-check test lint typecheck infra-check bench install audit-tools clean screenshots

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

# Mozilla's ical.js, which the calendar tests read our invitations with: its own package, pinned and locked.
ICALJS := tests/icaljs/node_modules/.package-lock.json

$(ICALJS): tests/icaljs/package.json tests/icaljs/package-lock.json | /usr/bin/npm
	npm ci --prefix tests/icaljs --no-audit --no-fund --silent
	touch $(ICALJS)

# What `make dev` needs: the virtualenv alone (no Node, no browser; those are the tests').
install: $(STAMP)

SCHEMA := infra/schema
SCHEMA_STAMP := $(SCHEMA)/node_modules/.installed

# The Google and archive providers' schemas, as the npm packages generated from them (versions pinned in
# infra/schema/package-lock.json); `terraform validate` would need the providers themselves, which are not at hand.
$(SCHEMA_STAMP): $(SCHEMA)/package.json $(SCHEMA)/package-lock.json | /usr/bin/npm
	cd $(SCHEMA) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(SCHEMA_STAMP)

# infra/: Terraform's own formatting, checkov's security checks, and every block against the providers' schemas
# (offline: no providers, no cloud, no network).
infra-check: $(INFRA_STAMP) $(STAMP) $(SCHEMA_STAMP)
	@command -v terraform >/dev/null || { echo "Terraform 1.11 or newer is not installed: https://developer.hashicorp.com/terraform/install"; exit 1; }
	terraform fmt -check -recursive infra
	$(INFRA_VENV)/bin/checkov -d infra --framework terraform --quiet --compact --skip-download
	$(BIN)/python -m tests.tf_schema

dev: install
	$(BIN)/python -m dev.run

# `signup check` against a running `make dev` (ARGS go to it, e.g. ARGS=--json).
dev-check: install
	$(BIN)/python -m dev.check $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Install Chromium at $(CHROMIUM) (Debian package chromium)"; exit 1; }
	$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends chromium

/usr/bin/npm:
	@command -v npm >/dev/null || command -v apt-get >/dev/null || { echo "Install Node.js 20 or newer with npm (Debian packages nodejs npm)"; exit 1; }
	@command -v npm >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends nodejs npm; }

/usr/bin/java:
	@command -v apt-get >/dev/null || { echo "Install Java 11 or newer at /usr/bin/java (Debian package default-jre-headless)"; exit 1; }
	$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends default-jre-headless

# --ignore-scripts: vnu-jar's install script would download a Java of its own; the tests use /usr/bin/java.
$(NODE_STAMP): package.json package-lock.json | /usr/bin/npm /usr/bin/java
	npm ci --ignore-scripts --no-audit --no-fund
	touch $(NODE_STAMP)

audit-tools: $(NODE_STAMP)

$(SPAMASSASSIN):
	@command -v apt-get >/dev/null || { echo "Install SpamAssassin at $(SPAMASSASSIN) (Debian package spamassassin)"; exit 1; }
	$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends spamassassin

test: lint typecheck infra-check $(CHROMIUM) $(SPAMASSASSIN) $(NODE_STAMP) $(ICALJS)
	$(BIN)/pytest

$(WRK):
	@command -v apt-get >/dev/null || { echo "Install wrk at $(WRK) (Debian package wrk)"; exit 1; }
	$(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends wrk

bench: install $(WRK)
	$(BIN)/python -m bench.register
	$(BIN)/python -m bench.ratelimit
	$(BIN)/python -m bench.sweep

clean:
	rm -rf $(VENV) $(INFRA_VENV) infra/.build .pytest_cache .mypy_cache .ruff_cache test-artifacts node_modules

# The documentation's pictures (docs/embedded-form.png, docs/confirmation-mail.png), made anew from make dev's demo.
screenshots: install $(CHROMIUM)
	$(BIN)/python -m dev.screenshots
