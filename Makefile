# The two commands a newcomer runs: `make plan` (the whole prod stack offline) and `make test`.
# Both install what they need: the venv with pinned packages, and the validators' apt packages.
SHELL := /bin/bash
.DEFAULT_GOAL := plan
STACK ?= prod
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: plan plan-diff test lint typecheck pytest boot-test validators policy-check bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@# one package per call: several in one call made pip backtrack into an sdist that fails here
	@grep -v -E '^\s*(#|$$)' requirements-dev.txt | while read -r pkg; do \
	  $(PY) -m pip install -q --disable-pip-version-check "$$pkg" || exit 1; done
	@touch $@

# make plan [STACK=prod] [PREVIEW=1] [OUT=dir] [POLICY_CONFIG=file]: PREVIEW=1 plans a first
# preview of an empty stack (IDs and outputs unknown) into build/<stack>-preview.
# The pack's per-stack config is generated from the stack config first (one fact, one place), into
# policies/config.<stack>.json; POLICY_CONFIG writes it elsewhere (tests: never into the checkout).
POLICY_CONFIG ?= policies/config.$(STACK).json
plan: $(STAMP) $(POLICY_CONFIG)
	$(PY) tools/plan.py --stack $(STACK) --policy-config "$(POLICY_CONFIG)" $(if $(PREVIEW),--preview) $(if $(OUT),--out "$(OUT)")

# Regenerated only when one of its sources changed (it costs a second Python start-up per plan).
$(POLICY_CONFIG): Pulumi.$(STACK).yaml policies/config.base.json policies/cosign.pub tools/policy_config.py \
		$(wildcard components/config/*.py) $(wildcard policies/guardrails/*.py) | $(STAMP)
	$(PY) tools/policy_config.py --stack $(STACK) --out "$@"
	@touch "$@"

# make plan-diff BASE=<git ref> [STACK=prod]: plans BASE and the working tree offline and prints
# what would be added, removed, replaced and changed; exits 1 when a stateful resource would be
# deleted or replaced and replacements.allow does not list it (default: every stack).
plan-diff: $(STAMP)
	@test -n "$(BASE)" || { echo "usage: make plan-diff BASE=<git ref> [STACK=<stack>]"; exit 2; }
	$(PY) tools/plan_diff.py --base "$(BASE)" $(if $(filter command line,$(origin STACK)),--stack "$(STACK)")

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
