#!/bin/bash
set -euo pipefail
# apps/phoenix_hypervisor_lxc_103.sh: passwords (600) and `step ca init` with the names from
# the inputs once, an ACME provisioner once, the exports, the service, ca.ready; a second run
# changes nothing; an existing CA is never re-initialised; no state dir or an unhealthy CA fails.

APP=apps/phoenix_hypervisor_lxc_103.sh
SSL=/etc/step-ca/ssl
INPUTS='{"ctid": 103, "container": {"name": "Step-CA", "network_config": {"ip": "10.0.0.10/24"}},
  "globals": {"domain_name": "lab.example"}}'

stubs() {
    own_stub openssl <<'STUB'
#!/bin/bash
set -euo pipefail
printf 'READ openssl %s\n' "$*" >>"$STUB_LOG"
[ "${1:-}" = rand ] && head -c 32 /dev/urandom | base64
STUB
    # step: `ca init` makes a CA under $STEPPATH; `ca provisioner add` adds to ca.json;
    # fingerprint and health read (health fails while $STUB_STATE/ca-down exists).
    own_stub step <<'STUB'
#!/bin/bash
set -euo pipefail
case "$1 ${2:-} ${3:-}" in
"ca init "*)
    printf 'MUTATE step %s\n' "$*" >>"$STUB_LOG"
    mkdir -p "$STEPPATH/config" "$STEPPATH/certs"
    printf '{"authority": {"provisioners": [{"type": "JWK", "name": "admin"}]}}\n' >"$STEPPATH/config/ca.json"
    printf -- '-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n' >"$STEPPATH/certs/root_ca.crt"
    printf -- '-----BEGIN CERTIFICATE-----\nINTER\n-----END CERTIFICATE-----\n' >"$STEPPATH/certs/intermediate_ca.crt"
    ;;
"ca provisioner add")
    printf 'MUTATE step %s\n' "$*" >>"$STUB_LOG"
    f="$STEPPATH/config/ca.json"
    jq '.authority.provisioners += [{"type": "ACME", "name": "acme"}]' "$f" >"$f.new"
    mv "$f.new" "$f"
    ;;
"certificate fingerprint "*)
    printf 'READ step %s\n' "$*" >>"$STUB_LOG"
    echo 5f3a9c
    ;;
"ca health "*)
    printf 'READ step %s\n' "$*" >>"$STUB_LOG"
    [ ! -e "$STUB_STATE/ca-down" ]
    ;;
*) printf 'MUTATE step %s\n' "$*" >>"$STUB_LOG" ;;
esac
STUB
}

new_case step_ca "$INPUTS"
export PHOENIX_CTID=103
stubs
mkdir -p "$PHOENIX_ROOTFS$SSL" "$PHOENIX_ROOTFS/etc"
printf '127.0.0.1 localhost\n' >"$PHOENIX_ROOTFS/etc/hosts"
run_installer "$APP" 103
for f in ca_password.txt provisioner_password.txt; do
    assert_file "$SSL/$f"
    [ -s "$PHOENIX_ROOTFS$SSL/$f" ] || fail "$f is empty"
    [ "$(stat -c '%a' "$PHOENIX_ROOTFS$SSL/$f")" = 600 ] || fail "$f is not 600"
done
assert_called "step ca init --deployment-type standalone --name Phoenix Internal CA --dns ca.lab.example --dns lab.example --dns *.lab.example --dns localhost --dns 127.0.0.1 --dns 10.0.0.10 --address :9000 --provisioner admin@lab.example"
grep -qF -- "--address :9000 --provisioner admin@lab.example --password-file $PHOENIX_ROOTFS$SSL/ca_password.txt --provisioner-password-file $PHOENIX_ROOTFS$SSL/provisioner_password.txt" "$STUB_LOG" ||
    fail "step ca init was not given the password files"
assert_called "step ca provisioner add acme --type ACME"
assert_file "$SSL/phoenix_root_ca.crt" ROOT
assert_file "$SSL/phoenix_ca.crt" INTER
assert_file "$SSL/root_ca.fingerprint" 5f3a9c
assert_file /etc/hosts "127.0.0.1 ca.lab.example"
assert_called "systemctl enable step-ca"
assert_called "systemctl start step-ca"
assert_file "$SSL/ca.ready"
pw="$(cat "$PHOENIX_ROOTFS$SSL/provisioner_password.txt")"
assert_idempotent "$APP" 103
[ "$pw" = "$(cat "$PHOENIX_ROOTFS$SSL/provisioner_password.txt")" ] || fail "the provisioner password changed"
if grep -q 'step ca init' "$STUB_LOG"; then fail "the CA was initialised again"; fi

# A shared directory left world-readable (the shell version's chmod -R 777): tightened, not rewritten.
chmod 644 "$PHOENIX_ROOTFS$SSL/provisioner_password.txt"
run_installer "$APP" 103
[ "$(stat -c '%a' "$PHOENIX_ROOTFS$SSL/provisioner_password.txt")" = 600 ] || fail "not tightened to 600"
[ "$pw" = "$(cat "$PHOENIX_ROOTFS$SSL/provisioner_password.txt")" ] || fail "the provisioner password changed"

# Names from globals.step_ca when given.
new_case step_ca_names '{"ctid": 103, "container": {"network_config": {"ip": "dhcp"}},
  "globals": {"domain_name": "lab.example", "step_ca": {"root_ca_name": "Lab CA", "dns_name": "pki.lab.example", "provisioner_name": "ops@lab.example"}}}'
stubs
mkdir -p "$PHOENIX_ROOTFS$SSL" "$PHOENIX_ROOTFS/etc"
: >"$PHOENIX_ROOTFS/etc/hosts"
run_installer "$APP" 103
assert_called "step ca init --deployment-type standalone --name Lab CA --dns pki.lab.example --dns lab.example --dns *.lab.example --dns localhost --dns 127.0.0.1 --address :9000 --provisioner ops@lab.example"
assert_file /etc/hosts "127.0.0.1 pki.lab.example"

# The state directory not mounted: non-zero, nothing done.
new_case step_ca_unmounted "$INPUTS"
stubs
if bash "$SCRIPTS/$APP" 103 >"$CASE/out" 2>&1; then fail "succeeded without $SSL"; fi
grep -qF "$SSL" "$CASE/out" || fail "the message does not name $SSL"
[ -z "$(mutations)" ] || fail "a failed run changed something"

# An unhealthy CA: non-zero after the (short) wait, and no ca.ready.
new_case step_ca_unhealthy "$INPUTS"
stubs
mkdir -p "$PHOENIX_ROOTFS$SSL" "$PHOENIX_ROOTFS/etc"
: >"$PHOENIX_ROOTFS/etc/hosts"
touch "$STUB_STATE/ca-down"
if PHOENIX_CA_HEALTH_TIMEOUT=0 bash "$SCRIPTS/$APP" 103 >"$CASE/out" 2>&1; then fail "succeeded with an unhealthy CA"; fi
grep -q 'not healthy' "$CASE/out" || fail "the message does not say the CA is unhealthy"
[ ! -e "$PHOENIX_ROOTFS$SSL/ca.ready" ] || fail "ca.ready written for an unhealthy CA"
