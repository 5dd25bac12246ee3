#!/bin/bash
set -euo pipefail
# Feature python_api_service (containers): Python 3 with pip and venv for API services.
# Reads: nothing but the library's defaults.
# Idempotent: installs only the packages that are missing.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

apt_install python3 python3-pip python3-venv

log "python_api_service: done"
