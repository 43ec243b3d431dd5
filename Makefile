# paper_autotrain — `make help` lists the targets. Everything runs inside .venv (created on demand).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PAPER  ?= examples/papers/tinyprop.pdf
PAPERS ?= ../shared/papers
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test test-full lint eval-extract bench clean

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

test: lint ## ruff, then the fast test suite (no network, GPU or API key)
	$(BIN)/python -m pytest -q

test-full: $(STAMP) ## every CPU test, the slow end-to-end ones included
	$(BIN)/python -m pytest -q -m "not gpu and not network and not llm"

lint: $(STAMP) ## ruff over the package, tests and scripts
	$(BIN)/ruff check paper_autotrain tests scripts examples

eval-extract: $(STAMP) ## score the rules extractor on the dev papers (PAPERS=../shared/papers)
	$(BIN)/python scripts/eval_extractors.py $(PAPERS) results/eval_extract

bench: $(STAMP) ## time our models against RecBole's, side by side (BENCH_ARGS="--models BPR,NeuMF --as-shipped")
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

clean: ## remove generated code, results and saved splits (keeps .venv)
	rm -rf generated/*/ results/*/ datasets/*/
