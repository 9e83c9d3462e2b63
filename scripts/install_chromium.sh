#!/usr/bin/env bash
# Debian's Chromium for the leaderboard's browser test (Playwright drives it through executable_path;
# Playwright cannot download its own browsers on these machines). Needs root and Debian's package index.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || {
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends chromium >/dev/null
}
/usr/bin/chromium --version
