#!/usr/bin/env bash
# Cluster operations behind `make deploy|undeploy|status|check-nodes|render`,
# on the current kubectl context.
#   scripts/deploy.sh render|deploy|undeploy|status|check-nodes
# Environment:
#   IMAGE, TAG    the plugin image (default: the one in the manifest)
#   COMPONENTS    kustomize components of deploy/components to add, e.g.
#                 "hailo-nodes device-specs"
#   KUBECTL       the kubectl command (default kubectl)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KUBECTL=${KUBECTL:-kubectl}
NAMESPACE=kube-system
NAME=hailo-device-plugin
MANIFEST_IMAGE=ghcr.io/snu-rtos/hailo-device-plugin

log() { printf 'deploy: %s\n' "$*" >&2; }

need_kubectl() {
  command -v "${KUBECTL%% *}" >/dev/null 2>&1 && return 0
  log "kubectl not found. It is not packaged by Debian; install it from"
  log "  https://kubernetes.io/docs/tasks/tools/ (or the pkgs.k8s.io apt repository),"
  log "  or set KUBECTL (e.g. KUBECTL=\"k3s kubectl\" on a k3s node)."
  exit 1
}

# Prints the manifests: deploy/ plus COMPONENTS, with IMAGE:TAG, via a
# kustomization in a temporary directory (kustomize wants relative paths).
render() {
  local dir rel c rc=0
  dir=$(mktemp -d)
  rel=$(realpath --relative-to="$dir" "$ROOT/deploy")
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
    printf 'resources:\n  - %s\n' "$rel"
    if [ -n "${COMPONENTS:-}" ]; then
      printf 'components:\n'
      for c in $COMPONENTS; do
        [ -d "$ROOT/deploy/components/$c" ] || { log "no component $c"; rm -rf "$dir"; exit 2; }
        printf '  - %s/components/%s\n' "$rel" "$c"
      done
    fi
    if [ -n "${IMAGE:-}${TAG:-}" ]; then
      printf 'images:\n  - name: %s\n' "$MANIFEST_IMAGE"
      [ -z "${IMAGE:-}" ] || printf '    newName: "%s"\n' "$IMAGE"
      [ -z "${TAG:-}" ] || printf '    newTag: "%s"\n' "$TAG"
    fi
  } >"$dir/kustomization.yaml"
  $KUBECTL kustomize "$dir" || rc=$?
  rm -rf "$dir"
  return "$rc"
}

# An existing DaemonSet of the same name that lacks our label is the earlier
# Go plugin: `apply` would merge into it and keep its privileged settings.
refuse_old_plugin() {
  local label
  label=$($KUBECTL -n "$NAMESPACE" get daemonset "$NAME" --ignore-not-found \
    -o jsonpath='{.metadata.name}/{.metadata.labels.app\.kubernetes\.io/name}')
  if [ "$label" = "$NAME/" ]; then
    log "kube-system/$NAME exists without our labels: the earlier Go plugin?"
    log "Merging into it would keep its privileges. Delete it first, then deploy:"
    log "  $KUBECTL -n $NAMESPACE delete daemonset $NAME && make deploy"
    log "and remove /etc/cdi/hailo.json on each node (docs/deploying.md, 'Upgrading')."
    exit 1
  fi
}

deploy() {
  refuse_old_plugin
  local out
  out=$(render)
  $KUBECTL apply -f - <<<"$out"
  log "applied; watch it with: make status"
}

undeploy() {
  local out
  out=$(render)
  $KUBECTL delete --ignore-not-found -f - <<<"$out"
  log "removed. The CDI spec /var/run/cdi/hailo.ai-npu.json stays on each node"
  log "(tmpfs: gone at reboot); delete it by hand to clean up at once."
}

status() {
  echo "=== DaemonSet ==="
  $KUBECTL -n "$NAMESPACE" get daemonset "$NAME" -o wide
  echo
  echo "=== Pods ==="
  $KUBECTL -n "$NAMESPACE" get pods -l app=hailo-device-plugin -o wide
  echo
  echo "=== Recent logs ==="
  $KUBECTL -n "$NAMESPACE" logs -l app=hailo-device-plugin --tail=20 --prefix || true
}

check_nodes() {
  $KUBECTL get nodes -o custom-columns='NAME:.metadata.name,ARCH:.status.nodeInfo.architecture,CAPACITY:.status.capacity.hailo\.ai/npu,ALLOCATABLE:.status.allocatable.hailo\.ai/npu'
}

main() {
  local cmd=${1:-}
  need_kubectl
  case "$cmd" in
    render) render ;;
    deploy) deploy ;;
    undeploy) undeploy ;;
    status) status ;;
    check-nodes) check_nodes ;;
    *) log "usage: $0 render|deploy|undeploy|status|check-nodes"; exit 2 ;;
  esac
}

main "$@"
