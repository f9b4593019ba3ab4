# Lethe — make help lists the targets.
GO       ?= go
BIN      := bin/lethe
PKGS     := ./...
# staticcheck runs at a pinned version through `go run pkg@version`, which
# builds it from the module proxy into the build cache and leaves go.mod
# alone. A `tool` directive (go get -tool) would pin it too, but would put
# staticcheck and its dependencies (golang.org/x/tools, ...) into the
# require list that every module importing Lethe inherits.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: help run build test race fuzz bench soak lint check clean

help: ## list targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/lethe
	$(GO) build -trimpath -o $(BIN) ./cmd/lethe

run: build ## run Lethe with embedded defaults (127.0.0.1:7880, ./lethe-data)
	./$(BIN) serve --dev

test: ## the whole suite: vet, unit, race, fuzz seeds, end-to-end with the real binary
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -race -timeout 20m ./sfu/... ./signaling/... ./worker/... ./control/... ./internal/... ./webhook/...

race: ## race detector over everything
	$(GO) test -count=1 -race -timeout 30m $(PKGS)

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "== $$t $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$t || exit 1; \
		done; \
	done

bench: build ## Go benchmarks of the forwarding path, then a short loadtest (figures only, never pass/fail)
	$(GO) test -run '^$$' -bench . -benchmem ./sfu/... ./internal/...
	./$(BIN) loadtest --spawn --publishers 1 --subscribers 50 --media video --duration 10s --quiet

soak: ## CYCLES (default 10000) join/publish/end cycles against one server, then both processes back where they started
	$(GO) test -count=1 -run '^TestSoak$$' -timeout 4h -v ./e2e -soak.cycles $${CYCLES:-10000} $${ROOMS:+-soak.rooms $$ROOMS}

lint: ## gofmt, go vet and staticcheck (STATICCHECK_VERSION)
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

check: lint test ## lint, then the whole suite

clean: ## remove build output
	rm -rf bin
