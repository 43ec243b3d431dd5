# paper_autotrain — `make help` lists the targets. Everything runs inside .venv (created on demand).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PAPER  ?= examples/papers/tinyprop.pdf
PAPERS ?= ../shared/papers
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install browser demo test test-full lint eval-extract bench clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch is pinned to the CPU wheel this machine carries; an unpinned torch pulls CUDA builds
	$(BIN)/pip install -q --disable-pip-version-check "torch==2.13.0"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## create .venv and install the package with its pinned dependencies

demo: $(STAMP) ## run the whole pipeline offline on the shipped example paper
	$(BIN)/python -m paper_autotrain $(PAPER)

# Debian's chromium renders report.html in tests/test_report_html.py; installed as root where apt exists, else that
# one test is skipped (it says so)
browser: ## headless Chromium for the report.html browser test (apt-get install chromium, as root, if missing)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else echo "no chromium and no root apt-get: tests/test_report_html.py's browser test will be skipped"; fi

test: lint browser ## ruff, then the fast test suite (no network, GPU or API key)
	$(BIN)/python -m pytest -q

test-full: $(STAMP) browser ## every CPU test, the slow end-to-end ones included
	$(BIN)/python -m pytest -q -m "not gpu and not network and not llm"

lint: $(STAMP) ## ruff over the package, tests and scripts
	$(BIN)/ruff check paper_autotrain tests scripts examples

eval-extract: $(STAMP) ## score the rules extractor on the dev papers (PAPERS=../shared/papers)
	$(BIN)/python scripts/eval_extractors.py $(PAPERS) results/eval_extract

bench: $(STAMP) ## time our models against RecBole's, side by side (BENCH_ARGS="--models BPR,NeuMF --as-shipped")
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

clean: ## remove generated code, results and saved splits (keeps .venv)
	rm -rf generated/*/ results/*/ datasets/*/
