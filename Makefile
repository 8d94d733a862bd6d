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

# The main job end to end on the shipped sample.
demo: build
	$(BIN) run --config examples/henan-sample/job.yaml --out out/demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 30s ./normalize/idnumber
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 30s ./normalize/names
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./normalize/dates

clean:
	rm -rf bin out
