# The two commands of a fresh machine: `make run` and `make test`. Each makes its own virtualenv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
MODELS_DIR ?= models
CORPUS ?= data/sample/articles.jsonl
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test train lint clean

# Train on the bundled sample corpus, then serve it on localhost:$(PORT).
run: $(VENV)/.installed
	$(BIN)/relatedly train --corpus $(CORPUS) --models-dir $(MODELS_DIR)
	RELATEDLY_HOST=$${RELATEDLY_HOST:-127.0.0.1} PORT=$(PORT) RELATEDLY_MODELS_DIR=$(MODELS_DIR) \
		$(BIN)/relatedly serve

# Install the test dependencies, lint, and run the whole suite (real Redis, PostgreSQL, granian, Chromium).
test: $(VENV)/.installed-test
	bash .ci/system-deps
	$(MAKE) node_modules/.installed
	$(BIN)/ruff check recommender publishing training service storage tests benchmarks
	$(BIN)/python -m pytest

train: $(VENV)/.installed
	$(BIN)/relatedly train --corpus $(CORPUS) --models-dir $(MODELS_DIR)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# axe-core for the browser tests' accessibility audit (package.json; nothing of it is served).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) $(MODELS_DIR) .pytest_cache node_modules
