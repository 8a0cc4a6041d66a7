#!/usr/bin/env bash
# Installs the browser the approval page test drives: Debian's Chromium (never a browser download by a test tool).
# Idempotent; needs root (or sudo) on Debian/Ubuntu. Elsewhere, install Chromium yourself and set CHROMIUM.
set -euo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "browser: $(command -v "$name") ($("$name" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "no Chromium found and no apt-get: install Chromium and set CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "browser: $(command -v chromium) ($(chromium --version))"
