#!/bin/bash
set -euo pipefail
# Feature step_cli (containers): the Smallstep `step` CLI from Smallstep's apt repository.
# Reads: nothing but the library's defaults.
# Idempotent: the repository key is fetched only when /etc/apt/keyrings/smallstep.asc is
# missing, the list is written only when it differs (and only then `apt-get update`),
# step-cli is installed only when missing.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

smallstep_repo
apt_install step-cli

log "step_cli: done"
