# The two commands of the README: `make demo` and `make test`.
# Each bootstraps .venv (python3 -m venv + pip install -e .[dev]) when missing or stale.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   ?= examples/homelab

.PHONY: demo test lint typecheck unit bench clean peers

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tailcfg policy fmt --check $(DEMO)/policy.hujson
	$(VENV)/bin/tailcfg policy lint $(DEMO)/policy.hujson
	$(VENV)/bin/tailcfg policy test $(DEMO)/policy.hujson
	$(VENV)/bin/tailcfg verify $(DEMO)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy tailcfg

unit: $(STAMP)
	$(VENV)/bin/pytest

test: lint typecheck unit

# The real peers (tailscaled, tailscale, headscale at pinned versions) into .peers/bin; needs Go.
peers:
	scripts/build-peers

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
