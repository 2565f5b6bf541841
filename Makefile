# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench selfcheck clean

install: $(STAMP)

# plugin/help_hook.py goes into the venv's site-packages: `locust -f locustfile.py --help` lists our options.
$(STAMP): requirements.txt plugin/help_hook.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/python -m plugin.help_hook install
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) out

# A short headless run against the built-in emulator (TTFT 120 ms, ITL 7 ms); prints the LLM report.
EMULATOR_ARGS ?= --ttft-ms 120 --itl-ms 7
run: install
	mkdir -p out
	$(BIN)/python scripts/with_emulator.py $(EMULATOR_ARGS) -- \
	  $(BIN)/locust -f locustfile.py --config conf/run.conf --host {url}

bench: install
	$(BIN)/python bench/bench_shape.py
	$(BIN)/python bench/bench_client.py
	$(BIN)/python bench/bench_emulator.py
	$(BIN)/python bench/bench_payloads.py
	$(BIN)/python bench/bench_distribution.py
	$(BIN)/python bench/bench_distributed.py

# How exact the client is on this machine: every request's TTFT and ITL held against the packets on
# the wire (tcpdump on loopback: Debian's tcpdump package, run as root; says so and stops when absent).
selfcheck: install
	$(BIN)/python bench/wire_check.py --streams 64,256
