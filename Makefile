# Palisade: `make run` starts the portal, `make test` runs every test. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format system-deps bench bench-deps clean viewer

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# The OHIF viewer at /viewer/: npm @ohif/app's prebuilt dist/ (version and integrity pinned in
# imaging/viewer/release.py), rewritten for /viewer/ (docs/viewer.md). Needs npm and its registry, once.
VIEWER_DIR ?= $(or $(PALISADE_VIEWER_DIR),$(CURDIR)/var/viewer)
$(VIEWER_DIR)/palisade-viewer.json: imaging/viewer/release.py imaging/viewer/install.py | $(VENV)/.installed-run
	PALISADE_VIEWER_DIR=$(VIEWER_DIR) $(BIN)/python manage.py install_viewer --force

viewer: $(VIEWER_DIR)/palisade-viewer.json

# Plain HTTP on loopback, so the HTTPS-only cookie and redirect settings are switched off here alone.
run: export PALISADE_HTTPS ?= false
# Plain log lines for a terminal; a deployment keeps the default, one JSON object a line (docs/operations.md).
run: export PALISADE_LOG_FORMAT ?= plain
run: export PALISADE_VIEWER_DIR := $(VIEWER_DIR)
run: $(VENV)/.installed-run viewer
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo "Palisade on http://127.0.0.1:8000/ (Ctrl-C stops the web server, worker and beat)"
	$(BIN)/honcho start

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser),
# SoftHSM2 for the PKCS#11 key provider tests, and dcmtk (echoscu, storescu) for the DIMSE tests.
system-deps:
	@command -v chromium >/dev/null && command -v softhsm2-util >/dev/null && command -v storescu >/dev/null \
	  && ldconfig -p | grep -q libpangoft2-1.0 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium softhsm2 dcmtk libpango-1.0-0 libpangoft2-1.0-0; \
	  else echo "Install Debian's chromium, softhsm2, dcmtk and Pango packages (sudo apt-get install chromium softhsm2 dcmtk libpango-1.0-0 libpangoft2-1.0-0) for the browser, HSM, DIMSE and PDF tests." >&2; exit 1; fi; }

test: export PALISADE_VIEWER_DIR := $(VIEWER_DIR)
test: $(VENV)/.installed-test system-deps viewer
	$(BIN)/pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# End-to-end ingest, then C-STORE, QIDO-RS and WADO-RS, next to Orthanc on this machine, then what the audit
# trail adds to a QIDO-RS search (bench/README.md).
# Debian's orthanc is installed when run as root; the service the package may start is stopped, the bench
# starts its own on free ports.
BENCH_ARGS ?= --repeat 3
BENCH_DICOM_ARGS ?=
BENCH_AUDIT_ARGS ?=
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed-run

bench-deps:
	@dpkg -s orthanc orthanc-dicomweb dcmtk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb dcmtk \
	    && { service orthanc stop >/dev/null 2>&1 || true; }; \
	  else echo "Install Debian's orthanc, orthanc-dicomweb and dcmtk packages (sudo apt-get install orthanc orthanc-dicomweb dcmtk) for the benchmark." >&2; exit 1; fi; }

bench: $(VENV)/.installed-bench bench-deps
	$(BIN)/python bench/run_ingest.py $(BENCH_ARGS)
	$(BIN)/python bench/run_dicom.py $(BENCH_DICOM_ARGS)
	$(BIN)/python bench/run_audit_overhead.py $(BENCH_AUDIT_ARGS)

clean:
	rm -rf $(VENV) var
