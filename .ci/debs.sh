#!/usr/bin/env bash
# Install the Debian packages the tests need, if missing:
#   python3-openpyxl  reads back the xlsx workbooks `cpx report` writes.
set -euo pipefail
if /usr/bin/python3 -c 'import openpyxl' 2>/dev/null; then
  exit 0
fi
sudo_=""
[ "$(id -u)" = 0 ] || sudo_=sudo
echo "debs.sh: installing python3-openpyxl" >&2
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq python3-openpyxl >/dev/null
/usr/bin/python3 -c 'import openpyxl'
