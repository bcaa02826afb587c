# Developer entry points. `make install` once, then `make run`, `make test`, `make lint`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the copy `pip install uv` put next to python3 (resolved at use, after install).
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# Every package of the workspace, checked as installed (editable) in the venv.
MYPY_PACKAGES := $(addprefix -p ,$(notdir $(wildcard libs/*/src/* services/*/src/* deploy/*/src/*)))
PYTEST_ARGS ?=
TOKEN_ARGS ?=
ARGS ?=

.PHONY: help install run infra token test test-compose lint bench generate compose clean

help:
	@echo "make install       uv (via pip if missing) and the locked workspace with dev tools"
	@echo "make run           MongoDB, RabbitMQ and every service; gateway on http://localhost:8080"
	@echo "make infra         only make sure MongoDB (27017) and RabbitMQ (5672) run"
	@echo "make token         log in through the gateway of \`make run\` and print the access token:"
	@echo "                   the development operator's, registered on first use; another person"
	@echo "                   with TOKEN_ARGS='--email a@example.com --password ...'"
	@echo "make test          the whole test suite (PYTEST_ARGS='-k cars' to narrow it)"
	@echo "make test-compose  build the images, run docker-compose.yml and drive it (not in make test)"
	@echo "make lint          ruff check, ruff format --check, mypy"
	@echo "make bench         bench/run_all.py"
	@echo "make generate      write docker-compose.yml, deploy/docker/offline.yml and deploy/k8s/"
	@echo "                   from the service table (deploy/devstack/src/devstack/services.py)"
	@echo "make compose       docker-compose with the official images, or local ones where no"
	@echo "                   registry answers: ARGS='up --build' (gateway on localhost:8000)"
	@echo "make clean         caches, service logs and the image builds' copies (keeps .data/mongo"
	@echo "                   and .data/mail)"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --break-system-packages uv
	$(UV) sync --frozen --all-packages

run: install
	$(UV) run python -m devstack run

infra: install
	$(UV) run python -m devstack infra

# No install prerequisite, so the token is the only thing on stdout: TOKEN=$$(make -s token)
token:
	@$(UV) run --frozen python -m devstack token $(TOKEN_ARGS)

test: install
	$(UV) run pytest $(PYTEST_ARGS)

test-compose: install
	$(UV) run pytest -m compose -s deploy/devstack/tests/test_compose_up.py $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy $(MYPY_PACKAGES)

bench: install
	$(UV) run python bench/run_all.py

generate: install
	$(UV) run python -m devstack generate

compose: install
	$(UV) run python -m devstack compose $(ARGS)

clean:
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
	rm -rf .pytest_cache .mypy_cache .ruff_cache dist .data/logs
	rm -f deploy/docker/ca/*.crt deploy/docker/mongo/mongod
