# `make demo` and `make test` are all a newcomer needs: each installs what it uses first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cnn2snn_tfmot-installed
OP_SOURCES := $(wildcard custom_ops/*.cc custom_ops/*.h custom_ops/*.inc)
PYTEST_ARGS ?=

.PHONY: install test demo bench clean

install: $(STAMP)

# TensorFlow goes in first: setup.py compiles custom_ops/ against it (no build isolation).
$(STAMP): setup.py setup.cfg requirements-build.txt $(OP_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-build.txt
	$(PY) -m pip install --quiet --no-build-isolation -e ".[test]"
	touch $@

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	@if [ -f examples/mnist_end_to_end.py ]; then $(PY) examples/mnist_end_to_end.py; \
	else echo "make demo: not yet - the end-to-end MNIST example lands with its issue."; fi

bench: install
	@for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf build *.egg-info cnn2snn_tfmot/engine/_akida_ops*.so .pytest_cache
