# Image, deployment and manifest targets (included by the main Makefile).
# Variables: IMAGE, TAG, PLATFORMS, COMPONENTS, CONTAINER_TOOL, KUBECTL,
# BUILDX_BUILDER, BUILDX_OUTPUT; see docs/deploying.md.

HDP_VERSION := $(shell sed -n 's/^project(hailo-device-plugin VERSION \([0-9.]*\).*)$$/\1/p' CMakeLists.txt)
IMAGE ?= ghcr.io/snu-rtos/hailo-device-plugin
TAG ?= $(HDP_VERSION)
PLATFORMS ?= linux/amd64,linux/arm64
CONTAINER_TOOL ?= docker
BUILDX_BUILDER ?= hailo-builder
# Multi-platform images cannot be loaded into a local docker: push them, or
# set e.g. BUILDX_OUTPUT="--output type=oci,dest=hailo-device-plugin.oci.tar".
BUILDX_OUTPUT ?= --push
KUBECTL ?= kubectl
COMPONENTS ?=
export IMAGE TAG COMPONENTS KUBECTL

.PHONY: docker-build docker-build-multiarch image-test image-test-clean check-manifests \
	deploy undeploy render status check-nodes measure-resources

define hdp_need_docker
	@command -v $(CONTAINER_TOOL) >/dev/null 2>&1 || { \
	  echo "$@: '$(CONTAINER_TOOL)' not found. Install Docker (https://docs.docker.com/engine/install/)," >&2; \
	  echo "  or use CONTAINER_TOOL=podman, or 'make image-test' (buildah, no engine)." >&2; exit 1; }
	@if [ "$(CONTAINER_TOOL)" = docker ] && ! docker info >/dev/null 2>&1; then \
	  echo "$@: no Docker engine answers (is dockerd running, and may you use it?)." >&2; \
	  echo "  Start it (systemctl start docker), or use CONTAINER_TOOL=podman or 'make image-test'." >&2; \
	  exit 1; fi
endef

docker-build: ## Build the image IMAGE:TAG for this machine with docker (CONTAINER_TOOL)
	$(hdp_need_docker)
	$(CONTAINER_TOOL) build -f docker/Dockerfile --build-arg VERSION=$(TAG) -t $(IMAGE):$(TAG) .

docker-build-multiarch: ## Build IMAGE:TAG for PLATFORMS (amd64+arm64) with buildx and push it
	$(hdp_need_docker)
	@docker buildx version >/dev/null 2>&1 || { \
	  echo "$@: docker buildx not found: install the docker-buildx-plugin" >&2; \
	  echo "  (https://docs.docker.com/build/install-buildx/)." >&2; exit 1; }
	@docker buildx inspect $(BUILDX_BUILDER) >/dev/null 2>&1 || \
	  docker buildx create --name $(BUILDX_BUILDER) --driver docker-container --bootstrap
	@echo "Building $(IMAGE):$(TAG) for $(PLATFORMS). Foreign platforms run under QEMU:" \
	  "if one fails to start, run once: docker run --privileged --rm tonistiigi/binfmt --install all"
	docker buildx build --builder $(BUILDX_BUILDER) --platform $(PLATFORMS) \
	  -f docker/Dockerfile --build-arg VERSION=$(TAG) -t $(IMAGE):$(TAG) $(BUILDX_OUTPUT) .

image-test: ## Build docker/Dockerfile with buildah and test it with podman (root; no Docker)
	@scripts/image-test.sh

image-test-clean: ## Remove the image test's cache (/var/cache/hailo-dp-image-test)
	rm -rf $${IMAGE_TEST_CACHE:-/var/cache/hailo-dp-image-test} /run/hailo-dp-image-test-*

check-manifests: ## yamllint, schema + policy, kustomize and shellcheck checks (also in make test)
	@scripts/check-manifests.sh all

render: ## Print the manifests 'make deploy' applies (COMPONENTS, IMAGE, TAG)
	@scripts/deploy.sh render

deploy: ## Install the plugin in the current kubectl context (COMPONENTS="hailo-nodes ...")
	@scripts/deploy.sh deploy

undeploy: ## Remove the plugin from the cluster
	@scripts/deploy.sh undeploy

status: ## Show the plugin's DaemonSet, pods and recent logs
	@scripts/deploy.sh status

check-nodes: ## Show each node's hailo.ai/npu capacity and allocatable
	@scripts/deploy.sh check-nodes

measure-resources: ## Measure the daemon's memory and CPU on a fake node (sizes the DaemonSet)
	@scripts/install-deps.sh demo
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target hailo-device-plugin kubelet-sim
	@scripts/measure-resources.sh $(BUILD_DIR)
