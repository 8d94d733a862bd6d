# crosscheck — build, test and demo.
# DuckDB's Arrow interface needs the duckdb_arrow build tag on every go command.
export GOFLAGS := -tags=duckdb_arrow -buildvcs=false
GO ?= go
BIN := bin/crosscheck
VERSION ?= 0.1.0
# What `crosscheck version` prints besides the version.
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X github.com/crosscheck/crosscheck/engine.Version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)

.PHONY: build test test-short lint demo bench fuzz clean release release-test offline-bundle offline-test

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/crosscheck

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

# Release archives for linux/amd64 and linux/arm64, their CycloneDX SBOMs and
# SHA256SUMS in dist/ (release/release.sh; needs gcc-aarch64-linux-gnu and
# g++-aarch64-linux-gnu: release/deps.sh installs them).
DIST ?= dist
release:
	VERSION=$(VERSION) COMMIT=$(COMMIT) BUILD_DATE=$(BUILD_DATE) DIST=$(DIST) GO=$(GO) release/release.sh

# Builds the release, then tests it: checksums, archive contents, glibc and
# libstdc++ needs, the arm64 binary under qemu-user on examples/henan-sample
# (hits equal expected_hits.csv) and the amd64 binary from its archive in a
# clean directory without Go on PATH.
release-test: release
	CROSSCHECK_RELEASE_DIR=$(abspath $(DIST)) CROSSCHECK_RELEASE_VERSION=$(VERSION) \
		$(GO) test -count=1 -v -timeout 60m -run TestRelease ./release/

# The Go modules a build and the tests need (linux amd64 and arm64), as a
# module download cache, for building on a machine without network:
# see README "Build on an intranet".
BUNDLE ?= $(DIST)/crosscheck-offline-bundle.tar.gz
offline-bundle:
	BUNDLE=$(BUNDLE) GO=$(GO) release/offline-bundle.sh

# Builds crosscheck from the bundle with the proxy off.
offline-test: offline-bundle
	CROSSCHECK_OFFLINE_BUNDLE=$(abspath $(BUNDLE)) $(GO) test -count=1 -v -timeout 60m -run TestOfflineBundle ./release/

clean:
	rm -rf bin out dist
