# Portico chores. `make help` lists them.
.PHONY: help generate check-generated test test-race lint run demo devtenant migrate bench fuzz ci build image

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

generate: ## regenerate templ views (templ is pinned as a Go tool)
	go tool templ generate -path views

check-generated: generate ## fail when committed templ output is stale
	git diff --exit-code -- views

test: ## run all tests (the README's test command)
	go test ./...

test-race: ## run all tests with the race detector
	go test -race ./...

lint: ## gofmt, go vet, go mod tidy -diff, golangci-lint v2 (installed into ~/.cache/portico-bin)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...
	go mod tidy -diff
	bash scripts/golangci-lint run ./...

run: demo ## alias for demo

demo: ## run Portico against the built-in devtenant
	go run . -demo

devtenant: ## run the Entra stand-in on its own (for several instances)
	go run . devtenant -addr 127.0.0.1:9999

migrate: ## apply pending migrations to PORTICO_DATABASE_URL and exit
	go run . migrate

bench: ## run benchmarks
	go test -run '^$$' -bench . -benchmem ./...

fuzz: ## run every fuzz target briefly
	bash scripts/fuzz 10s

build: ## the release binary, as CI and the Dockerfile build it (scripts/build: flags in one place)
	bash scripts/build

image: ## the container image (Dockerfile; needs a Docker daemon)
	docker build -t portico:dev .

ci: ## what CI runs
	bash .ci/run
