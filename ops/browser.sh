#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser tests (Playwright drives /usr/bin/chromium;
# `playwright install` cannot download browsers here).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(uname)" = Darwin ]; then
  echo "browser: install Chromium and set SCIMHUB_CHROMIUM to its binary" >&2; exit 1
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "browser: installing Debian's chromium"
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
