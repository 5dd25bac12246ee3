#!/bin/bash
set -euo pipefail
# vm/trusted_ca.sh: the root from the step-ca NFS volume installed once, the bundle updated
# once, Docker restarted only when it runs and the root changed; a missing root fails
# naming its path.

uca_stub() {
    own_stub update-ca-certificates <<'STUB'
#!/bin/bash
set -euo pipefail
printf 'MUTATE update-ca-certificates %s\n' "$*" >>"$STUB_LOG"
mkdir -p "$PHOENIX_ROOTFS/etc/ssl/certs"
ln -sf /usr/local/share/ca-certificates/phoenix_root_ca.crt "$PHOENIX_ROOTFS/etc/ssl/certs/phoenix_root_ca.pem"
STUB
}

root_pem() {
    mkdir -p "$(dirname "$PHOENIX_ROOTFS$1")"
    printf -- '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' "$2" >"$PHOENIX_ROOTFS$1"
}

new_case vm_trusted_ca '{"vm": {}, "globals": {}}'
export PHOENIX_VMID=1001
uca_stub
with_package ca-certificates
root_pem /etc/step-ca/certs/root_ca.crt AAAA
run_installer vm/trusted_ca.sh 1001
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt AAAA
assert_called "update-ca-certificates"
if grep -q 'restart docker' "$STUB_LOG"; then fail "docker restarted although not running"; fi
assert_idempotent vm/trusted_ca.sh 1001

# A new root (CA re-initialised) is installed and Docker, running, restarted.
root_pem /etc/step-ca/certs/root_ca.crt BBBB
printf 'docker\n' >>"$STUB_STATE/active"
run_installer vm/trusted_ca.sh 1001
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt BBBB
assert_called "update-ca-certificates"
assert_called "systemctl restart docker"
assert_idempotent vm/trusted_ca.sh 1001

# The source named by input.
new_case vm_trusted_ca_input '{"vm": {"trusted_ca_file": "/srv/ca/root.pem"}, "globals": {}}'
uca_stub
with_package ca-certificates
root_pem /srv/ca/root.pem CCCC
run_installer vm/trusted_ca.sh 1001
assert_file /usr/local/share/ca-certificates/phoenix_root_ca.crt CCCC

# No root: non-zero, the path named, nothing installed.
new_case vm_trusted_ca_missing '{"vm": {}, "globals": {}}'
uca_stub
if bash "$SCRIPTS/vm/trusted_ca.sh" 1001 >"$CASE/out" 2>&1; then
    fail "trusted_ca succeeded without a CA root"
fi
grep -qF '/etc/step-ca/certs/root_ca.crt' "$CASE/out" || fail "the message does not name the root's path"
[ -z "$(mutations)" ] || fail "a failed trusted_ca changed something: $(mutations)"
