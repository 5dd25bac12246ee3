#!/bin/bash
set -euo pipefail
# Feature trusted_ca (VMs): trusts the Phoenix CA root.
# The root reaches the VM over its step-ca NFS volume, mounted at /etc/step-ca/certs (the
# manager stages root_ca.crt there); input `.vm.trusted_ca_file` names another source.
# Installs it as /usr/local/share/ca-certificates/phoenix_root_ca.crt only when different,
# then runs update-ca-certificates (also when the system bundle lacks it) and restarts Docker
# when it runs (so registries behind the CA work). Fails naming the path when the root is absent.
# The host's CA root is part of this installer's hash (a new root runs it again):
# phoenix-input: ca-root
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

DEFAULT_SOURCE=/etc/step-ca/certs/root_ca.crt
TARGET=/usr/local/share/ca-certificates/phoenix_root_ca.crt
LINK=/etc/ssl/certs/phoenix_root_ca.pem

src="$(input '.vm.trusted_ca_file')"
src="${src:-$DEFAULT_SOURCE}"

[ -s "$(p "$src")" ] ||
    die "the CA root $src is absent or empty (is the step-ca NFS volume mounted at $(dirname "$src"), and has the CA container exported its root?)"
grep -q 'BEGIN CERTIFICATE' "$(p "$src")" || die "$src is not a PEM certificate"

apt_install ca-certificates

changed=0
if write_file "$TARGET" 644 <"$(p "$src")"; then
    changed=1
fi
if [ "$changed" -eq 1 ] || ! { [ -L "$(p "$LINK")" ] || [ -e "$(p "$LINK")" ]; }; then
    update-ca-certificates
    if [ "$changed" -eq 1 ] && systemctl is-active --quiet docker 2>/dev/null; then
        systemctl restart docker
    fi
fi

log "trusted_ca: done"
