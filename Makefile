# crosscheck — build, test and demo.
# DuckDB's Arrow interface needs the duckdb_arrow build tag on every go command.
export GOFLAGS := -tags=duckdb_arrow -buildvcs=false
GO ?= go
BIN := bin/crosscheck
VERSION ?= 0.1.0

.PHONY: build test test-short lint demo bench fuzz clean

build:
	$(GO) build -ldflags "-X github.com/crosscheck/crosscheck/engine.Version=$(VERSION)" -o $(BIN) ./cmd/crosscheck

# All tests, including the end-to-end run of examples/henan-sample.
test:
	$(GO) test -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The main job end to end: a generated province of about 50,000 persons
# (generated once into out/province-50k, a few seconds), screened by the
# embedded engine.
DEMO_DIR ?= out/province-50k
demo: build
	@test -f $(DEMO_DIR)/job.yaml || $(BIN) gen --persons 50000 --seed 1 --out $(DEMO_DIR)
	$(BIN) run --config $(DEMO_DIR)/job.yaml --out out/demo
	@echo "run report: $(abspath out/demo/report.html)"

# The small hand-checked sample whose hits are checked exactly by the tests.
demo-sample: build
	$(BIN) run --config examples/henan-sample/job.yaml --out out/demo-sample
	@echo "run report: $(abspath out/demo-sample/report.html)"

# Go benchmarks of the hot paths, then the accuracy and performance harness
# (PERSONS=200000 by default) with the naive DuckDB and PostgreSQL baselines;
# CSV_MB sets the size of the CSV load benchmark (default 2048 MB).
PERSONS ?= 200000
CSV_MB ?= 2048
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -short ./normalize/... ./connectors/csv ./benchmarks/gen
	CROSSCHECK_BENCH_CSV_MB=$(CSV_MB) $(GO) test -run '^$$' -bench CSVLoad -benchtime 1x -timeout 60m ./engine/
	CROSSCHECK_LINKAGE_1M=1 $(GO) test -count=1 -run 'TestChinese1M|TestFEBRL' -v ./benchmarks/linkage
	$(BIN) bench --persons $(PERSONS) --dir out/bench-$(PERSONS) --baselines duckdb,postgres --reuse

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 30s ./normalize/idnumber
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 30s ./normalize/names
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./normalize/dates

clean:
	rm -rf bin out
