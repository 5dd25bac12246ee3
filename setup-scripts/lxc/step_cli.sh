#!/bin/bash
set -euo pipefail
# Feature step_cli (containers): the Smallstep `step` CLI from Smallstep's apt repository.
# Reads: nothing but the library's defaults.
# Idempotent: the repository key is fetched only when /etc/apt/keyrings/smallstep.asc is
# missing, the list is written only when it differs (and only then `apt-get update`),
# step-cli is installed only when missing.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

KEY_URL=https://packages.smallstep.com/keys/apt/repo-signing-key.gpg
KEYRING=/etc/apt/keyrings/smallstep.asc
LIST=/etc/apt/sources.list.d/smallstep.list

tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT

apt_install ca-certificates curl

if [ ! -s "$(p "$KEYRING")" ]; then
    tmp="$(mktemp -d)"
    curl -fsSL -o "$tmp/key" "$KEY_URL" || die "cannot download the Smallstep repository key from $KEY_URL"
    [ -s "$tmp/key" ] || die "the Smallstep repository key from $KEY_URL is empty"
    write_file "$KEYRING" 644 <"$tmp/key" || true
fi
if printf 'deb [signed-by=%s] https://packages.smallstep.com/stable/debian debs main\n' "$KEYRING" |
    write_file "$LIST" 644; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2034 # read by apt_install (lib/common.sh)
    PHOENIX_APT_UPDATED=1 # read by apt_install: no second update
fi
apt_install step-cli

log "step_cli: done"
