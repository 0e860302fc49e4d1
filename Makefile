# call-evidence — every target sets up what it needs (.venv) by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= evidence.db
RECORDINGS ?= recordings
PORT   ?= 8001
ARGS   ?=

.PHONY: setup system-deps transcribe demo browse detect test test-fast lint clean

setup: $(VENV)/.installed

# torch is installed first and pinned: 2.13.0 is the CPU build; an unpinned torch
# (pulled in by openai-whisper) would download a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# System packages for the browser tests and readable Chinese in screenshots/PDFs
# (Debian/Ubuntu, needs root). Transcription itself needs none: ffmpeg comes from pip.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		ffmpeg fonts-noto-cjk

transcribe: setup
	$(BIN)/call-evidence transcribe $(RECORDINGS) --db $(DB) $(ARGS)

demo: setup
	$(BIN)/call-evidence transcribe examples --db demo.db $(ARGS)
	@echo "Demo evidence is in demo.db — browse it with: make browse DB=demo.db"

browse: setup
	$(BIN)/call-evidence browse --db $(DB) --port $(PORT)

detect: setup
	$(BIN)/call-evidence detect --db $(DB)

lint: setup
	$(BIN)/ruff check pipeline tests

test: setup lint
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
