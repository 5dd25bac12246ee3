#!/bin/bash
set -euo pipefail
# Feature trusted_ca (containers): trusts the Phoenix root CA system-wide.
# Reads: input .container.trusted_ca_file (optional; default /etc/step-ca/ssl/phoenix_root_ca.crt,
# the CA container's state dir bind-mounted into this container).
# Installs it as /usr/local/share/ca-certificates/phoenix_root_ca.crt and runs
# update-ca-certificates. Idempotent: the copy is written only when it differs, and
# update-ca-certificates runs only then (or when the trust store lacks the certificate).
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

src="$(input '.container.trusted_ca_file')"
src="${src:-/etc/step-ca/ssl/phoenix_root_ca.crt}"
dest=/usr/local/share/ca-certificates/phoenix_root_ca.crt

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
