#!/bin/bash
set -euo pipefail
# Feature trusted_ca (containers): trusts the Phoenix root CA system-wide.
# Reads, first that is given: input .container.trusted_ca_file (a path in this container);
# input .globals.ca_root_pem (the root as the CA container left it on the host, which
# lxc-manager passes when it is there: no mount of the CA's state dir, which also holds its
# secrets, is needed); /etc/step-ca/ssl/phoenix_root_ca.crt (the CA's state dir mounted here).
# Installs it as /usr/local/share/ca-certificates/phoenix_root_ca.crt and runs
# update-ca-certificates. Idempotent: the copy is written only when it differs, and
# update-ca-certificates runs only then (or when the trust store lacks the certificate).
# The host's CA root is part of this installer's hash (a new root runs it again):
# phoenix-input: ca-root
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

src="$(input '.container.trusted_ca_file')"
pem="$(input '.globals.ca_root_pem')"
dest=/usr/local/share/ca-certificates/phoenix_root_ca.crt
if [ -z "$src" ] && [ -n "$pem" ]; then
    staged=""
    scratch staged file
    printf '%s\n' "$pem" >"$staged"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$staged" || die "the CA root passed in the inputs is not a PEM certificate"
    apt_install ca-certificates
    if write_file "$dest" 644 <"$staged" || [ ! -e "$(p /etc/ssl/certs/phoenix_root_ca.pem)" ]; then
        update-ca-certificates
    fi
    log "trusted_ca: done (the root from the host)"
    exit 0
fi
src="${src:-/etc/step-ca/ssl/phoenix_root_ca.crt}"

[ -f "$(p "$src")" ] || die "the Phoenix root CA is not at $src in container ${PHOENIX_CTID:-?}: \
mount the CA container's state dir there (or set trusted_ca_file) and make sure the CA is initialised"
grep -q -- '-----BEGIN CERTIFICATE-----' "$(p "$src")" ||
    die "$src is not a PEM certificate"

apt_install ca-certificates

changed=0
write_file "$dest" 644 <"$(p "$src")" && changed=1
if [ "$changed" -eq 1 ] || [ ! -e "$(p /etc/ssl/certs/phoenix_root_ca.pem)" ]; then
    update-ca-certificates
fi

log "trusted_ca: done"
