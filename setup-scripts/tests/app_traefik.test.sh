#!/bin/bash
set -euo pipefail
# apps/phoenix_hypervisor_lxc_102.sh: the certificate obtained once (only when missing), the
# CA root and acme.json written once, traefik restarted only when something changed; no CA
# mount: skipped with a message; CA not ready: bounded wait, then failure; no binary: failure.

APP=apps/phoenix_hypervisor_lxc_102.sh
CA=/etc/step-ca/ssl
INPUTS='{"ctid": 102, "container": {"name": "Traefik-Internal", "network_config": {"ip": "10.0.0.12/24"}},
  "globals": {"domain_name": "lab.example"}}'

setup() {
    export PHOENIX_CTID=102
    unset PHOENIX_CA_URL
    # `step ca certificate NAME CRT KEY ...` writes CRT and KEY.
    own_stub step <<'STUB'
#!/bin/bash
set -euo pipefail
printf 'MUTATE step %s\n' "$*" >>"$STUB_LOG"
if [ "$1 $2" = "ca certificate" ]; then
    printf 'CERT %s\n' "$3" >"$4"
    printf 'KEY\n' >"$5"
fi
STUB
    mkdir -p "$PHOENIX_ROOTFS/usr/local/bin"
    printf '#!/bin/sh\n' >"$PHOENIX_ROOTFS/usr/local/bin/traefik"
    chmod +x "$PHOENIX_ROOTFS/usr/local/bin/traefik"
}

ca_ready() {
    mkdir -p "$PHOENIX_ROOTFS$CA"
    printf -- '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' "$1" >"$PHOENIX_ROOTFS$CA/phoenix_root_ca.crt"
    printf 'secret\n' >"$PHOENIX_ROOTFS$CA/provisioner_password.txt"
    touch "$PHOENIX_ROOTFS$CA/ca.ready"
}

new_case traefik "$INPUTS"
setup
ca_ready ROOT1
run_installer "$APP" 102
R="$PHOENIX_ROOTFS"
assert_called "step ca certificate traefik.lab.example $R/etc/traefik/certs/traefik.lab.example.crt $R/etc/traefik/certs/traefik.lab.example.key --san traefik.lab.example --san 10.0.0.12 --provisioner admin@lab.example --provisioner-password-file $R$CA/provisioner_password.txt --ca-url https://ca.lab.example:9000 --root $R$CA/phoenix_root_ca.crt"
assert_file /etc/traefik/certs/ca.pem ROOT1
[ "$(stat -c '%a' "$R/etc/traefik/certs/traefik.lab.example.key")" = 600 ] || fail "the key is not 600"
assert_file /etc/traefik/acme.json
[ "$(stat -c '%a' "$R/etc/traefik/acme.json")" = 600 ] || fail "acme.json is not 600"
assert_called "systemctl enable traefik"
assert_called "systemctl start traefik"
if grep -q 'restart traefik' "$STUB_LOG"; then fail "a traefik that was not running was restarted"; fi
assert_idempotent "$APP" 102

# ACME state survives a run; a new CA root restarts the running traefik, without a new certificate.
printf '{"acme": "state"}\n' >"$R/etc/traefik/acme.json"
ca_ready ROOT2
run_installer "$APP" 102
assert_file /etc/traefik/certs/ca.pem ROOT2
assert_file /etc/traefik/acme.json '"acme": "state"'
assert_called "systemctl restart traefik"
if grep -q 'step ca certificate' "$STUB_LOG"; then fail "an existing certificate was replaced"; fi
assert_idempotent "$APP" 102

# The bootstrap CA URL from the manager.
new_case traefik_ca_url "$INPUTS"
setup
ca_ready ROOT1
export PHOENIX_CA_URL=https://10.0.0.10:9000
run_installer "$APP" 102
grep -qF -- "--ca-url https://10.0.0.10:9000 " "$STUB_LOG" || fail "PHOENIX_CA_URL was not used"
unset PHOENIX_CA_URL

# No CA mount: says so, no certificate, traefik still on.
new_case traefik_no_ca "$INPUTS"
setup
run_installer "$APP" 102
grep -q 'not mounted' "$CASE/out" || fail "no message about the missing CA mount"
if grep -q '^MUTATE step' "$STUB_LOG"; then fail "a certificate was requested without the CA"; fi
assert_called "systemctl start traefik"
assert_idempotent "$APP" 102

# The CA mounted but never ready: fails after the (short) wait, nothing requested or restarted.
new_case traefik_ca_not_ready "$INPUTS"
setup
mkdir -p "$PHOENIX_ROOTFS$CA"
if PHOENIX_CA_READY_TIMEOUT=0 bash "$SCRIPTS/$APP" 102 >"$CASE/out" 2>&1; then fail "succeeded without ca.ready"; fi
grep -q 'ca.ready' "$CASE/out" || fail "the message does not name ca.ready"
if grep -q '^MUTATE step\|systemctl \(restart\|start\)' "$STUB_LOG"; then fail "acted although the CA is not ready"; fi

# No traefik binary (no traefik feature): fails naming it.
new_case traefik_no_binary "$INPUTS"
setup
rm -f "$PHOENIX_ROOTFS/usr/local/bin/traefik"
if bash "$SCRIPTS/$APP" 102 >"$CASE/out" 2>&1; then fail "succeeded without the traefik binary"; fi
grep -q '/usr/local/bin/traefik' "$CASE/out" || fail "the message does not name the binary"
