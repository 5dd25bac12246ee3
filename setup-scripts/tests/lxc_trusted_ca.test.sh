#!/bin/bash
set -euo pipefail
# lxc/trusted_ca.sh: the mounted root CA installed once, the trust store updated once and
# again only when the root changes; a missing root fails with its path.

cert() {
    printf -- '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' "$1"
}

new_case trusted_ca '{"ctid": 102, "container": {}}'
with_package ca-certificates
mkdir -p "$PHOENIX_ROOTFS/etc/step-ca/ssl"
cert ROOT1 >"$PHOENIX_ROOTFS/etc/step-ca/ssl/phoenix_root_ca.crt"
run_installer lxc/trusted_ca.sh
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt ROOT1
assert_called "update-ca-certificates"
assert_idempotent lxc/trusted_ca.sh

# A new root is installed again.
cert ROOT2 >"$PHOENIX_ROOTFS/etc/step-ca/ssl/phoenix_root_ca.crt"
run_installer lxc/trusted_ca.sh
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt ROOT2
assert_called "update-ca-certificates"

# Another source path from the inputs.
new_case trusted_ca_file '{"ctid": 101, "container": {"trusted_ca_file": "/srv/ca/root.crt"}}'
with_package ca-certificates
mkdir -p "$PHOENIX_ROOTFS/srv/ca"
cert ROOT3 >"$PHOENIX_ROOTFS/srv/ca/root.crt"
run_installer lxc/trusted_ca.sh
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt ROOT3
assert_idempotent lxc/trusted_ca.sh

# No root: a clear failure naming the path, nothing changed.
new_case trusted_ca_missing '{"ctid": 102, "container": {}}'
run_fails lxc/trusted_ca.sh "/etc/step-ca/ssl/phoenix_root_ca.crt"
assert_not_called "update-ca-certificates"

# The root from the host in the inputs: no mount needed, nothing else read.
new_case trusted_ca_pem "$(jq -n --arg pem "$(cert ROOT4)" '{ctid: 101, container: {}, globals: {ca_root_pem: $pem}}')"
with_package ca-certificates
run_installer lxc/trusted_ca.sh
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt ROOT4
assert_called "update-ca-certificates"
assert_idempotent lxc/trusted_ca.sh
