# `make demo` and `make test` are all a newcomer needs: each installs what it uses first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cnn2snn_tfmot-installed
OP_SOURCES := $(wildcard custom_ops/*.cc custom_ops/*.h custom_ops/*.inc)
PYTEST_ARGS ?=
WHEEL_DIR := build/wheel-check

.PHONY: install test test-long test-fast test-without-akida lint wheel-check ci demo bench bench-ci clean docs

install: $(STAMP)

# TensorFlow goes in first: setup.py compiles custom_ops/ against it (no build isolation).
$(STAMP): setup.py setup.cfg requirements-build.txt $(OP_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-build.txt
	$(PY) -m pip install --quiet --no-build-isolation -e ".[test]"
	touch $@

# The whole suite: the linter, the tests and every docstring example (doctests), but for the
# long differential sweeps (make test-long).
test: install lint
	$(PY) -m pytest -q -m "not long" $(PYTEST_ARGS)

# The long sweeps against BrainChip's runtime: 400 random models per mapping mode, 600 learning
# cases (about half an hour here; outside CI's time budget).
test-long: install
	$(PY) -m pytest -q -m long $(PYTEST_ARGS)

# Your own loop (about 2 minutes here): everything but the tests that train models for tens of
# seconds or start fresh Python processes, on every core (pytest-xdist).
test-fast: install
	$(PY) -m pytest -q -m "not slow and not processes" -n auto $(PYTEST_ARGS)

# The suite as if BrainChip's optional akida runtime were not installed, on every core. Left
# out, to keep CI within its time budget: the slow tests (they train models and never reach the
# runtime) and those starting fresh processes (test_package_works_without_akida, in make test,
# already runs a fresh process without the runtime).
test-without-akida: install
	PYTHONPATH=tests/hide_akida $(PY) -m pytest -q -m "not slow and not processes" -n auto \
		$(PYTEST_ARGS)

# ruff, then the import contracts of setup.cfg (the pipeline's order, no circles).
lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# Builds the wheel, installs it in a clean environment and runs the README quick start from a
# directory outside the repository.
wheel-check: install
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)
	$(PY) -m pip wheel --quiet --no-build-isolation --no-deps -w $(WHEEL_DIR)/dist .
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet --upgrade pip
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet $(WHEEL_DIR)/dist/*.whl
	$(PY) .ci/quick_start.py --python $(WHEEL_DIR)/venv/bin/python --readme README.md

# What CI runs (.ci/run).
ci: test test-without-akida wheel-check docs bench-ci

# The documentation site (mkdocs, material theme, API pages from the docstrings) into site/;
# --strict: a broken link, a missing page or an unreadable docstring fails the build. The docs
# extra of setup.cfg is installed on its own (reinstalling the package would rebuild the ops).
DOCS_STAMP := $(VENV)/.cnn2snn_tfmot-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(PY) -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); \
	print(c['options.extras_require']['docs'])" | xargs $(PY) -m pip install --quiet
	touch $@

docs: $(DOCS_STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

demo: install
	$(PY) examples/mnist_end_to_end.py

# CIFAR-10 from the JPEG class folders to the chip: float training, 8/4/4 quantization, QAT,
# hardware-exact QAT, conversion (the float recipe of the pretrained "cifar10" model: about 70 min on
# 2 cores). CIFAR10_ARGS=--quick runs it on 600 images in about a minute.
CIFAR10_DATA ?= ../shared/data/cifar10/train
CIFAR10_ARGS ?=
.PHONY: demo-cifar10
demo-cifar10: install
	$(PY) examples/cifar10.py --data $(CIFAR10_DATA) $(CIFAR10_ARGS)

# MNIST QAT on 2 local workers (MultiWorkerMirroredStrategy), then convert and evaluate sharded.
.PHONY: demo-distributed
demo-distributed: install
	$(PY) examples/distributed_qat.py

# Edge learning on CIFAR-10 (examples/edge_learning.py): an extractor trained on 8 classes,
# the 2 others learned on the emulated chip from 10 images each. CIFAR10_DIR: the training
# folder (one sub-folder per class).
.PHONY: demo-edge
CIFAR10_DIR ?= ../shared/data/cifar10/train
demo-edge: install
	$(PY) examples/edge_learning.py --data $(CIFAR10_DIR)

bench: install
	@for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

# The default engine against the faster of its two engines on a few small networks: a ratio
# measured side by side (benchmarks/engine_choice.py), the regression check CI runs.
bench-ci: install
	$(PY) benchmarks/engine_choice.py --size ci --check 0.8

clean:
	rm -rf build *.egg-info cnn2snn_tfmot/engine/_akida_ops*.so .pytest_cache site
