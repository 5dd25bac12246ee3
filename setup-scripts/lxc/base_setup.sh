#!/bin/bash
# Feature base_setup (containers): the tools every guest gets, and the en_US.UTF-8 locale.
# Idempotent: installs only missing packages, generates the locale only when it is missing.
set -euo pipefail
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

apt_install curl wget vim htop jq git rsync gnupg locales ca-certificates

if ! grep -qx 'en_US.UTF-8 UTF-8' "$(p /etc/locale.gen)" 2>/dev/null; then
    printf 'en_US.UTF-8 UTF-8\n' >>"$(p /etc/locale.gen)"
    locale-gen
fi
printf 'LANG=en_US.UTF-8\n' | write_file /etc/default/locale 644 || true

log "base_setup: done"
