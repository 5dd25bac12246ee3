#!/bin/bash
set -euo pipefail
# Feature step_cli (VMs): the Smallstep CLI (`step`) from Smallstep's apt repository.
# Idempotent: the key is fetched only when absent, the list written only when different,
# `apt-get update` only when the list was written, step-cli installed only when missing.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

KEY_URL=https://packages.smallstep.com/keys/apt/repo-signing-key.gpg
KEYRING=/etc/apt/keyrings/smallstep.asc
LIST=/etc/apt/sources.list.d/smallstep.list

apt_install ca-certificates curl

if [ ! -s "$(p "$KEYRING")" ]; then
    tmp="$(mktemp)"
    trap 'rm -f "$tmp"' EXIT
    curl -fsSL "$KEY_URL" -o "$tmp" || die "cannot download the Smallstep apt key from $KEY_URL"
    [ -s "$tmp" ] || die "the Smallstep apt key from $KEY_URL is empty"
    write_file "$KEYRING" 644 <"$tmp" || true
fi

if printf 'deb [signed-by=%s] https://packages.smallstep.com/stable/debian debs main\n' "$KEYRING" |
    write_file "$LIST" 644; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2034 # read by apt_install (lib/common.sh)
    PHOENIX_APT_UPDATED=1
fi

apt_install step-cli

log "step_cli: done"
