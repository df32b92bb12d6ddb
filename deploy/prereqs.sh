#!/usr/bin/env bash
# Checks the tools the project builds on (Python 3.11+, Java 17+, Maven) and installs the
# missing ones from Debian's packages when running as root; otherwise says what to install.
set -euo pipefail

missing=()
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || missing+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
java -version >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
mvn -v >/dev/null 2>&1 || missing+=(maven)
# The compiled core (deploy/compile.py, mypyc) needs a C compiler and Python's headers.
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null || missing+=(python3-dev)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "prereqs: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "prereqs: please install: ${missing[*]} (Python >= 3.11 with headers, Java 17, Maven, a C compiler)" >&2
  exit 1
fi
