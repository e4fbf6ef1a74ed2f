# scanbridge: the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KAFKA_DIR  ?= var/kafka
KAFKA_PORT ?= 9092
TOOLS      := var/tools
K8S_SCHEMAS_FROM := kubernetes-validate==1.37.0
K8S_VERSIONS     := 1.30.0 1.37.0
S3_DIR     ?= var/s3
S3_PORT    ?= 9000
SCANBRIDGE_CONFIG ?= examples/demo.toml
export SCANBRIDGE_CONFIG


.PHONY: setup venv kafka node-tools postgres-check chromium-check console-screenshots deploy-tools run run-kafka demo kafka-start kafka-stop s3 s3-start s3-stop test test-slow lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

deploy/kafka/lib/.complete: deploy/kafka/pom.xml
	deploy/kafka/kafka.sh build

## Node packages of the contract checks (the AsyncAPI parser) and of the TypeScript example consumer,
## exactly as locked, from the npm registry.
tools/asyncapi/node_modules/.complete: tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --no-audit --no-fund --ignore-scripts
	touch $@

examples/typescript-consumer/node_modules/.complete: examples/typescript-consumer/package-lock.json
	npm ci --prefix examples/typescript-consumer --no-audit --no-fund --ignore-scripts
	touch $@

node-tools: tools/asyncapi/node_modules/.complete examples/typescript-consumer/node_modules/.complete

## Everything the tests need: the virtualenv, the Kafka broker and S3Proxy (Java 17 and Maven build them),
## the node packages of the contract checks (npm) and
## PostgreSQL's server binaries for the state store's tests (Debian's `postgresql` package: installed
## here as root when missing, else the script says what to install; SCANBRIDGE_POSTGRES_DSN skips it), and
## Debian's `chromium` for the console's browser tests (the same way).
setup: venv kafka s3 node-tools postgres-check chromium-check deploy-tools

## The deployment files' validators, built here and used offline by tests/deploy: kubeconform and
## deploycheck (compose-go, BuildKit's Dockerfile parser) from the Go module proxy (deploy/check/go.mod
## pins them), and Kubernetes JSON schemas made from the PyPI package kubernetes-validate.
deploy-tools: $(TOOLS)/.go-tools $(TOOLS)/k8s-schemas/.complete

$(TOOLS)/.go-tools: deploy/check/go.mod deploy/check/go.sum deploy/check/main.go
	mkdir -p $(TOOLS)
	cd deploy/check && go build -o ../../$(TOOLS)/deploycheck . \
	    && go build -o ../../$(TOOLS)/kubeconform github.com/yannh/kubeconform/cmd/kubeconform
	touch $@

$(TOOLS)/k8s-schemas/.complete: deploy/kubernetes/schemas.py $(VENV)/.installed
	$(BIN)/python deploy/kubernetes/schemas.py $(TOOLS)/k8s-schemas $(K8S_SCHEMAS_FROM) $(K8S_VERSIONS)

postgres-check:
	@[ -n "$$SCANBRIDGE_POSTGRES_DSN" ] || deploy/postgres/postgres.sh check

chromium-check:
	@deploy/chromium/chromium.sh check >/dev/null

venv: $(VENV)/.installed

kafka: deploy/kafka/lib/.complete

s3: deploy/s3/lib/.complete

deploy/s3/lib/.complete: deploy/s3/pom.xml
	deploy/s3/s3proxy.sh build

## The main job (receiver, worker, pollers) on the embedded bus (var/bus.sqlite3): nothing else needed.
run: venv
	$(BIN)/scanbridge run

## The same on the project's own Kafka broker, started here on 127.0.0.1:$(KAFKA_PORT).
run-kafka: kafka-start
	KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) $(BIN)/scanbridge run

## Simulated scans through simulator, receiver and worker on the embedded bus, in a minute.
demo: venv
	$(BIN)/scanbridge demo

kafka-start: venv kafka
	deploy/kafka/kafka.sh start $(KAFKA_DIR) $(KAFKA_PORT)

kafka-stop:
	deploy/kafka/kafka.sh stop $(KAFKA_DIR)

## An S3-compatible server (S3Proxy) on 127.0.0.1:$(S3_PORT), objects under $(S3_DIR)/data.
s3-start: setup
	deploy/s3/s3proxy.sh start $(S3_DIR) $(S3_PORT)

s3-stop:
	deploy/s3/s3proxy.sh stop $(S3_DIR)

## The whole test suite; tests that need Kafka start the project's broker (or use KAFKA_BOOTSTRAP).
test: setup
	$(BIN)/pytest -m "not slow"

## The console's screenshots in docs/console/ (README "Console"), taken by its browser tests.
console-screenshots: setup
	SCANBRIDGE_CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest tests/scanbridge/console/test_browser.py -q

## Soak and load tests.
test-slow: setup
	$(BIN)/pytest -m slow --timeout=1800  # soaks and large fuzz budgets run for minutes each

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy schemas bus receiver consumers scanbridge simulators state

## Benchmarks against their ceilings, about 6 minutes (not part of `make test`); see bench/README.md.
bench: setup
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)
