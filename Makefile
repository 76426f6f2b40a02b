# The two commands of a fresh machine: `make run` and `make test`. Each makes its own virtualenv.
# `make test-image` builds the Docker image and tests it in real containers (Debian's docker.io, installed if missing).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
MODELS_DIR ?= models
CORPUS ?= data/sample/articles.jsonl
BASE_IMAGE ?= relatedly-base:bookworm
TEST_IMAGE ?= relatedly:test
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-image test-wordpress train lint clean

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

# The image on a stand-in base built from Debian's packages (kept between runs), then its tests in containers.
test-image: $(VENV)/.installed-test
	bash docker/engine
	bash docker/make-base-image $(BASE_IMAGE)
	docker build --build-arg BASE=$(BASE_IMAGE) --label relatedly-test --tag $(TEST_IMAGE) .
	docker image prune --force --filter label=relatedly-test  # the test images this build replaced
	RELATEDLY_TEST_IMAGE=$(TEST_IMAGE) $(BIN)/python -m pytest -m image -rA tests/image

# The WordPress plugin (integrations/wordpress/) against a real WordPress, MariaDB and `relatedly serve`;
# installs Debian's wordpress, php-cli, php-mysql and mariadb-server when missing and starts MariaDB.
test-wordpress: $(VENV)/.installed-test
	bash .ci/wordpress-deps
	$(BIN)/python -m pytest -m wordpress tests/wordpress

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
