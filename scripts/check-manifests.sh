#!/usr/bin/env bash
# Static checks of the deployment files and scripts, runnable without a
# cluster or a container engine:
#   yamllint    every YAML file in the repository (yamllint --strict)
#   schema      every manifest under deploy/ against the Kubernetes API schema,
#               strict about unknown fields, plus the plugin's least-privilege
#               policy (tools/k8s-validate, installed from npm, offline after)
#               and the example config file through the daemon's own parser
#   kustomize   `kubectl kustomize` of deploy/ and of every component
#               combination, each rendering validated like `schema`
#   "shellcheck"  every shell script in the repository (*.sh and #! files)
#   all         all of the above (the default)
# Usage: scripts/check-manifests.sh [yamllint|schema|kustomize|shellcheck|all]
# Exit status: 0 passed, 1 failed, 77 skipped because a tool is missing
# (each skip says which tool and how to get it).
# Environment: HDP_BINARY = the daemon binary (default build/hailo-device-plugin).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VALIDATOR_DIR="$ROOT/tools/k8s-validate"
COMPONENTS=(hailo-nodes cdi-annotations device-specs config-file nfd-labels)
# Combinations rendered by `kustomize` (components that set the allocation
# modes exclude each other).
COMBINATIONS=(
  ""
  "hailo-nodes"
  "cdi-annotations"
  "device-specs"
  "config-file"
  "hailo-nodes cdi-annotations config-file"
  "hailo-nodes device-specs"
  "nfd-labels"
  "hailo-nodes config-file nfd-labels"
)
readonly SKIP=77

log() { printf 'check-manifests: %s\n' "$*" >&2; }

# Installs Debian packages when running as root; otherwise says what to run.
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: $*; run: sudo apt-get install $*"
    return 1
  fi
  log "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "$@" >/dev/null
}

# need COMMAND PACKAGE: makes sure COMMAND exists (installing PACKAGE).
need() {
  command -v "$1" >/dev/null 2>&1 || apt_install "$2" || return 1
  command -v "$1" >/dev/null 2>&1
}

# The repository's files of the given patterns: from git when this is a
# checkout (tracked and new, minus ignored), else from find.
repo_files() {
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files --cached --others --exclude-standard -- "$@" |
      while IFS= read -r f; do [ -f "$ROOT/$f" ] && printf '%s\n' "$f"; done | sort -u
  else
    local args=() p
    for p in "$@"; do args+=(-o -name "${p##*/}"); done
    (cd "$ROOT" && find . \( -name 'build*' -o -name node_modules -o -name .git \) -prune \
      -o -type f \( "${args[@]:1}" \) -print | sed 's|^\./||' | sort)
  fi
}

check_yamllint() {
  need yamllint yamllint || return $SKIP
  local files
  # Fuzz corpora and test data are deliberately odd YAML: not linted.
  mapfile -t files < <(repo_files '*.yaml' '*.yml' '.yamllint*' |
    grep -vE '(^|/)(corpus|testdata|test-data)/')
  (cd "$ROOT" && yamllint --strict -c deploy/.yamllint.yaml "${files[@]}") || return 1
  log "yamllint: ${#files[@]} files clean"
}

# Installs the pinned validator (package-lock.json) once; reruns only when
# the lock file changes. Serialised with flock: ctest runs tests in parallel.
ensure_validator() {
  need node nodejs || return 1
  need npm npm || return 1
  local stamp="$VALIDATOR_DIR/node_modules/.installed-lock.json"
  (
    flock 9
    if ! cmp -s "$VALIDATOR_DIR/package-lock.json" "$stamp"; then
      log "installing the manifest validator (npm ci in tools/k8s-validate)"
      (cd "$VALIDATOR_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2) || exit 1
      cp "$VALIDATOR_DIR/package-lock.json" "$stamp" || exit 1
    fi
  ) 9>"$VALIDATOR_DIR/.install.lock"
}

validate() { node "$VALIDATOR_DIR/validate.mjs" --policy "$@"; }

# The manifests under deploy/: YAML files with an apiVersion, but not the
# kustomize files (checked by `kustomize`) and not the daemon's config.
manifest_files() {
  local f
  while IFS= read -r f; do
    grep -q '^apiVersion:' "$ROOT/$f" || continue
    grep -q '^apiVersion: kustomize.config.k8s.io/' "$ROOT/$f" && continue
    printf '%s\n' "$ROOT/$f"
  done < <(repo_files 'deploy/*.yaml' 'deploy/*.yml')
}

check_config_example() {
  local bin=${HDP_BINARY:-$ROOT/build/hailo-device-plugin}
  local config="$ROOT/deploy/components/config-file/config.yaml"
  if [ ! -x "$bin" ]; then
    log "note: $bin not built (make build), so the example config file was not parsed"
    return 0
  fi
  if ! env -u HAILO_DP_CONFIG "$bin" config print --config "$config" >/dev/null; then
    log "FAIL: $bin does not accept $config"
    return 1
  fi
  log "schema: $config accepted by $(basename "$bin") config print"
}

check_schema() {
  ensure_validator || return $SKIP
  local files
  mapfile -t files < <(manifest_files)
  [ "${#files[@]}" -gt 0 ] || { log "FAIL: no manifests found under deploy/"; return 1; }
  validate "${files[@]}" || return 1
  check_config_example
}

kubectl_missing() {
  log "SKIP: kubectl not found. It is not packaged by Debian: install it from"
  log "  https://kubernetes.io/docs/tasks/tools/ (or the Kubernetes apt repository"
  log "  pkgs.k8s.io), then rerun. The kustomize renderings were NOT checked."
}

# render COMPONENT...: prints `kubectl kustomize` of deploy/ with those
# components, through a kustomization in a temporary directory.
render() {
  local dir rel c
  dir=$(mktemp -d)
  rel=$(realpath --relative-to="$dir" "$ROOT/deploy")
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
    printf 'resources:\n  - %s\n' "$rel"
    if [ "$#" -gt 0 ]; then
      printf 'components:\n'
      for c in "$@"; do printf '  - %s/components/%s\n' "$rel" "$c"; done
    fi
  } >"$dir/kustomization.yaml"
  local rc=0
  kubectl kustomize "$dir" || rc=$?
  rm -rf "$dir"
  return "$rc"
}

# expect RENDERING PATTERN WHAT: fails unless the rendering contains PATTERN.
expect() {
  grep -qE -- "$2" <<<"$1" || { log "FAIL: $3"; return 1; }
}

check_kustomize() {
  command -v kubectl >/dev/null 2>&1 || { kubectl_missing; return $SKIP; }
  ensure_validator || return $SKIP
  local out combo failed=0
  out=$(kubectl kustomize "$ROOT/deploy") || return 1
  validate - <<<"$out" || failed=1
  # The base must render exactly the one-file install.
  diff <(kubectl kustomize "$ROOT/deploy" | grep -E '^(kind|  name):') \
    <(render | grep -E '^(kind|  name):') >/dev/null || failed=1
  for combo in "${COMBINATIONS[@]}"; do
    # shellcheck disable=SC2086 # word splitting of the component list is intended
    out=$(render $combo) || { log "FAIL: kustomize with [$combo]"; failed=1; continue; }
    validate - <<<"$out" >/dev/null || { validate - <<<"$out" || true; failed=1; }
    case " $combo " in
      *" hailo-nodes "*) expect "$out" 'pci-1e60\.present' "[$combo]: no NFD node affinity" ||
        failed=1 ;;
    esac
    case " $combo " in
      *" device-specs "*) expect "$out" 'value: device-specs' "[$combo]: mode not set" ||
        failed=1 ;;
      *" cdi-annotations "*) expect "$out" 'value: cdi-cri,cdi-annotations' \
        "[$combo]: modes not set" || failed=1 ;;
    esac
    case " $combo " in
      *" config-file "*) expect "$out" 'name: hailo-device-plugin-config-' \
        "[$combo]: no generated ConfigMap" || failed=1 ;;
    esac
  done
  local c
  for c in "${COMPONENTS[@]}"; do
    [ -f "$ROOT/deploy/components/$c/kustomization.yaml" ] ||
      { log "FAIL: component $c missing"; failed=1; }
  done
  [ "$failed" -eq 0 ] && log "kustomize: deploy/ and ${#COMBINATIONS[@]} component sets valid"
  return "$failed"
}

# Shell scripts: *.sh files and files whose first line names a shell.
shell_scripts() {
  local f
  while IFS= read -r f; do
    case "$f" in
      *.sh) printf '%s\n' "$f" ;;
      *) head -n1 "$ROOT/$f" 2>/dev/null | grep -qE '^#!.*\b(ba|da|k)?sh\b' &&
        printf '%s\n' "$f" ;;
    esac
  done < <(repo_files '*')
}

check_shellcheck() {
  need shellcheck shellcheck || return $SKIP
  local files
  mapfile -t files < <(shell_scripts)
  (cd "$ROOT" && shellcheck -x "${files[@]}") || return 1
  log "shellcheck: ${#files[@]} scripts clean"
}

run() {
  local rc=0
  "check_$1" || rc=$?
  case "$rc" in
    0) log "PASS $1" ;;
    "$SKIP") log "SKIP $1" ;;
    *) log "FAIL $1" ;;
  esac
  return "$rc"
}

main() {
  local what=${1:-all}
  case "$what" in
    yamllint | schema | kustomize | shellcheck) run "$what" ;;
    all)
      local c rc failed=0 skipped=0
      for c in yamllint schema kustomize shellcheck; do
        rc=0
        run "$c" || rc=$?
        if [ "$rc" -eq "$SKIP" ]; then skipped=$((skipped + 1)); elif [ "$rc" -ne 0 ]; then failed=1; fi
      done
      [ "$skipped" -eq 0 ] || log "$skipped check(s) skipped: see the SKIP lines above"
      return "$failed"
      ;;
    *) log "usage: $0 [yamllint|schema|kustomize|shellcheck|all]"; return 2 ;;
  esac
}

main "$@"
