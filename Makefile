# certflow: the two commands are `make demo` and `make test` (see README.md).
# Both install what they need first: BIND from Debian packages (deps) and the
# pinned tool binaries built from Go modules into a cache outside the clone (tools).

SHELL := /bin/bash
GO ?= go
CONTROLLER_GEN = bin/controller-gen
TEST_TIMEOUT ?= 30m
HELM = bin/helm
CHART = deploy/charts/certflow

# What `certflow version` prints: the release (a v* tag on HEAD, else version.go's) and the
# commit (HEAD, -dirty when tracked files changed). The image's files and config carry the
# commit's time, so the same commit gives the same image digest.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --exact-match 2>/dev/null || sed -n 's/^[[:space:]]*version = "\(.*\)"$$/\1/p' cmd/certflow/version.go)
COMMIT ?= $(shell git rev-parse HEAD)$(shell git diff --quiet HEAD -- || echo -dirty)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)
LDFLAGS = -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all demo screenshots test test-unit fuzz deps tools build image chart generate verify-generated vet workflowcheck clean bench histories

all: build

## demo: bring up the local stack with the Temporal Web UI and run certflow against it
demo: deps tools build
	$(GO) run ./hack/demo

## screenshots: photograph the Temporal Web UI telling a stuck certificate's story into docs/images/
screenshots: deps tools build
	hack/screenshots/chromium.sh
	$(GO) run ./hack/screenshots

## test: every test, on the real local stack (BIND, Pebble, Temporal, kube-apiserver)
test: deps tools vet workflowcheck verify-generated chart test-unit
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 ./...

## test-unit: the fast tests that need no stack, with the race detector
test-unit:
	$(GO) test -race -count=1 ./workflows/... ./worker/... ./internal/pki/... ./internal/codec/... ./api/...

## fuzz: run every fuzz target for FUZZTIME, one after another (go test -fuzz takes one target per run)
FUZZTIME ?= 20s
fuzz:
	@set -e; for dir in $$(grep -l '^func Fuzz' $$(git ls-files -co --exclude-standard '*_test.go') | xargs -n1 dirname | sort -u); do \
		for target in $$($(GO) test -list '^Fuzz' ./$$dir | grep '^Fuzz'); do \
			echo "fuzz: $$target in ./$$dir for $(FUZZTIME)"; \
			$(GO) test ./$$dir -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s; \
		done; \
	done

## deps: install BIND 9 and the CA certificates the image carries from Debian packages when missing
deps:
	@if [ -s /etc/ssl/certs/ca-certificates.crt ]; then \
		echo "deps: CA certificates: installed"; \
	else \
		echo "deps: installing ca-certificates from Debian packages"; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq ca-certificates >/dev/null; \
	fi
	@if command -v named >/dev/null || [ -x /usr/sbin/named ]; then \
		echo "deps: BIND $$(/usr/sbin/named -v 2>/dev/null | cut -d' ' -f2): installed"; \
	else \
		echo "deps: installing BIND 9 (bind9, bind9-utils) from Debian packages"; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq bind9 bind9-utils >/dev/null; \
	fi

## tools: build the pinned binaries into bin/ (cached; the first run takes about 20 minutes)
tools:
	hack/tools.sh

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/certflow ./cmd/certflow

## image: the container image, built without Docker, as a tarball `docker load` reads
##        (bin/certflow-image.tar; the same commit gives the same digest)
image: deps
	$(GO) run ./hack/image -o bin/certflow-image.tar -version $(VERSION) -commit $(COMMIT) -source-date-epoch $(SOURCE_DATE_EPOCH)

## chart: helm lint and helm template of the chart, in both modes and with every option on
chart:
	hack/tools.sh helm
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/all-options-values.yaml
	$(HELM) template certflow $(CHART) --namespace certflow >/dev/null
	$(HELM) template certflow $(CHART) --namespace certflow -f $(CHART)/ci/all-options-values.yaml >/dev/null

## generate: regenerate deepcopy functions and the CRDs from api/, a ClusterRole each for the
##           controller and the worker from their markers (the rest of deploy/rbac is hand-written),
##           the list of lego's DNS providers that build with go.mod
##           (activities/dns/lego/providers_gen.go), the Gateway API CRDs the tests install, copied
##           from the sigs.k8s.io/gateway-api module in go.mod, the chart's copies of the CRDs and
##           roles, and deploy/manifests rendered from the chart
GATEWAY_API_CRDS = gateways gatewayclasses httproutes referencegrants
CHART_RBAC = role-controller.yaml role-worker.yaml leader-election.yaml http01.yaml user-roles.yaml
generate:
	hack/tools.sh controller-gen
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=deploy/crds
	$(CONTROLLER_GEN) rbac:roleName=certflow-controller,fileName=role-controller.yaml paths=./controller/... output:rbac:artifacts:config=deploy/rbac
	$(CONTROLLER_GEN) rbac:roleName=certflow-worker,fileName=role-worker.yaml paths=./worker/... output:rbac:artifacts:config=deploy/rbac
	$(GO) run ./hack/legoproviders
	@mkdir -p internal/sandbox/testdata/gateway-api
	@dir=$$($(GO) list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard; \
		for crd in $(GATEWAY_API_CRDS); do \
			install -m 0644 $$dir/gateway.networking.k8s.io_$$crd.yaml internal/sandbox/testdata/gateway-api/; \
		done
	hack/tools.sh helm
	rm -f $(CHART)/crds/*.yaml && cp deploy/crds/*.yaml $(CHART)/crds/
	cp $(addprefix deploy/rbac/,$(CHART_RBAC)) $(CHART)/files/rbac/
	{ echo "# Generated by make generate from deploy/charts/certflow with its default values"; \
	  echo "# (helm template certflow --namespace certflow --include-crds): do not edit."; \
	  echo "# kubectl apply --server-side -f deploy/manifests/ installs certflow into namespace certflow."; \
	  echo "apiVersion: v1"; echo "kind: Namespace"; echo "metadata:"; echo "  name: certflow"; \
	  $(HELM) template certflow $(CHART) --namespace certflow --include-crds; } > deploy/manifests/certflow.yaml

## verify-generated: fail when generated files differ from what api/ and the RBAC markers generate
GENERATED = deploy/rbac/role-controller.yaml deploy/rbac/role-worker.yaml activities/dns/lego/providers_gen.go docs/lego-providers.md \
	internal/sandbox/testdata/gateway-api $(CHART)/crds $(CHART)/files/rbac deploy/manifests
verify-generated: generate
	@git diff --exit-code --stat -- api deploy/crds $(GENERATED) || \
		{ echo "generated files are stale: run make generate and commit the result"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- api deploy/crds $(GENERATED)); \
		[ -z "$$untracked" ] || { echo "generated files not committed: $$untracked"; exit 1; }

## workflowcheck: fail when workflow code can decide differently on replay (time.Now, rand, goroutines, map ranging)
workflowcheck:
	hack/tools.sh workflowcheck
	bin/workflowcheck ./workflows/...

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		[ -z "$$unformatted" ] || { echo "gofmt needed: $$unformatted"; exit 1; }

clean:
	rm -rf bin .sandbox

## histories: record the replay tests' histories of this release's workflow shapes (PREFIX=v0.2.0-)
histories: build
	$(GO) run ./hack/histories -prefix "$(PREFIX)"

## bench: issue N certificates at once on the local stack and report times and resources
##        (N=20, ISSUER=ClusterIssuer or Issuer, BENCH_ARGS such as "-new-orders 300/1m -v")
N ?= 20
ISSUER ?= ClusterIssuer
bench: deps tools build
	$(GO) run ./hack/bench -n $(N) -issuer-kind $(ISSUER) $(BENCH_ARGS)
