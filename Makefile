# The two commands: `make demo` and `make test`. Everything else is set-up they do for you.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit bench image clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/shipyard demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	# One test process per core (at most 4): the suite waits on real servers and databases.
	# loadgroup: tests marked xdist_group("ray") share one worker (and its one Ray cluster).
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadgroup

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/slo.py
	$(BIN)/python benchmarks/batch_score.py

# The container image (Dockerfile). Not part of `make test`: a machine without a container
# engine still runs every test. CONTAINER_ENGINE=podman picks one; IMAGE_BUILD_ARGS adds
# arguments, e.g. IMAGE_BUILD_ARGS='--build-arg EXTRAS=xgboost,lightgbm'.
IMAGE            ?= shipyard:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
CONTAINER_ENGINE ?= $(firstword $(foreach e,docker podman,$(if $(shell command -v $(e) 2>/dev/null),$(e))))
IMAGE_BUILD_ARGS ?=

image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
		echo "make image: no container engine found (install docker or podman, or set CONTAINER_ENGINE)" >&2; exit 1; fi
	$(CONTAINER_ENGINE) build $(IMAGE_BUILD_ARGS) -t $(IMAGE) .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache benchmarks/results
