#!/usr/bin/env bash
# Installs headless Chromium from Debian packages when it is missing, for
# `make screenshots` (the same way `make deps` installs BIND).
set -euo pipefail
if command -v chromium >/dev/null; then
	echo "screenshots: $(chromium --version 2>/dev/null): installed"
	exit 0
fi
echo "screenshots: installing Chromium from Debian packages"
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
