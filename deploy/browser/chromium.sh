#!/usr/bin/env bash
# Debian's headless Chromium and its matching ChromeDriver, for tests/browser (Selenium drives
# the system browser: no test tool downloads a browser of its own here).
#   install   install chromium + chromium-driver when missing (as root, from Debian's packages)
#   check     exit 0 when both are installed
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

installed() { [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; }

case "${1:-install}" in
  check) installed ;;
  install)
    installed && exit 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "browser: installing Debian's chromium and chromium-driver"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
      installed
    else
      echo "browser: please install Debian's chromium and chromium-driver (for tests/browser)" >&2
      exit 1
    fi
    ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
