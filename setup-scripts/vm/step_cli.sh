#!/bin/bash
set -euo pipefail
# Feature step_cli (VMs): the Smallstep CLI (`step`) from Smallstep's apt repository.
# Idempotent: the key is fetched only when absent, the list written only when different,
# `apt-get update` only when the list was written, step-cli installed only when missing.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

smallstep_repo
apt_install step-cli

log "step_cli: done"
