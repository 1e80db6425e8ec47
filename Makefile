# The two commands a newcomer runs: `make plan` (the whole prod stack offline) and `make test`.
# Both install what they need: the venv with pinned packages, and the validators' apt packages.
SHELL := /bin/bash
.DEFAULT_GOAL := plan
STACK ?= prod
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: plan test lint typecheck pytest boot-test validators policy-check bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@# one package per call: several in one call made pip backtrack into an sdist that fails here
	@grep -v -E '^\s*(#|$$)' requirements-dev.txt | while read -r pkg; do \
	  $(PY) -m pip install -q --disable-pip-version-check "$$pkg" || exit 1; done
	@touch $@

plan: $(STAMP)
	$(PY) tools/plan.py --stack $(STACK)

validators:
	bash tools/validators.sh
	bash tools/cosign.sh >/dev/null

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy components policies tools

pytest: $(STAMP) validators
	$(PY) -m pytest -q -m "not boot"

# Boots the plan's user_data under real cloud-init and systemd (tests/test_boot.py). Needs root
# and namespaces; without them it skips, and -rsx prints why (and why tests are expected to
# fail). The Debian 13 image is cached under /var/cache/honeydue-boot (HONEYDUE_BOOT_CACHE):
# ~3.5 min to build once.
boot-test: $(STAMP)
	bash tools/boot/deps.sh
	$(PY) -m pytest -q -rsx -m boot tests/test_boot.py

test: $(STAMP) validators lint typecheck pytest boot-test

# make policy-check FILE=build/prod/resources.json [CONFIG=policies/config.prod.json]
policy-check: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make policy-check FILE=<resources.json> [CONFIG=<policy config json>]"; exit 2; }
	$(PY) tools/policy_check.py "$(FILE)" $(if $(CONFIG),--config "$(CONFIG)")

bench: $(STAMP)
	$(PY) tools/bench.py

clean:
	rm -rf build .mypy_cache .ruff_cache
