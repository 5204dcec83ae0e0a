#!/usr/bin/env bash
# Installs what recon needs to build and test, when it is missing: PostgreSQL 15 (server and
# client), libpq-dev, libphonenumber-dev, pkg-config. Debian packages; needs root to install.
set -euo pipefail
need=()
packages=(postgresql libpq-dev libphonenumber-dev pkg-config)
# The HTML report test renders the page in a real headless browser; the spreadsheet test opens
# the review files in LibreOffice Calc; the CSV round trip reads the reports with Python's csv module;
# the progress test drives recon in a tmux pseudo-terminal; the phone reference test installs
# PyPI's phonenumbers into a virtual environment.
[ "${RECON_BOOTSTRAP_TEST:-0}" = 1 ] && packages+=(chromium fonts-dejavu-core libreoffice-calc-nogui python3 python3-venv tmux)
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap: missing Debian packages: ${need[*]}; run as root or install them: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "bootstrap: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
