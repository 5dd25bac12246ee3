#!/bin/bash
set -euo pipefail
# Application script for the Step-CA container (103 in the reference).
#
# The CA keeps its state in /etc/step-ca/ssl (STEPPATH), a bind mount of the host's
# lxc-persistent-data/<CTID>/ssl that the gateway, Traefik and the VMs read. When
# config/ca.json is absent it initialises a standalone CA: the CA and provisioner passwords
# (ca_password.txt, provisioner_password.txt, mode 600, `openssl rand -base64 32`, kept when
# present), then `step ca init` with
#   name        input .globals.step_ca.root_ca_name    (default "Phoenix Internal CA")
#   DNS names   input .globals.step_ca.dns_name         (default ca.<domain>), <domain>,
#               *.<domain>, localhost, 127.0.0.1 and the container's IP (.container.network_config.ip)
#   provisioner input .globals.step_ca.provisioner_name (default admin@<domain>)
# where <domain> is .globals.domain_name. Then, on every run (each write only when different):
# an ACME provisioner when ca.json has none; the exports phoenix_root_ca.crt, phoenix_ca.crt
# (intermediate + root) and root_ca.fingerprint; `127.0.0.1 <dns name>` in /etc/hosts; the
# step-ca service (installed by the step_ca feature) enabled and started, restarted when the
# CA configuration changed; a bounded wait for `step ca health`; and finally ca.ready, which
# the Traefik container waits for. Idempotent through ca.json's presence; never re-initialises.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

SSL=/etc/step-ca/ssl
HEALTH_TIMEOUT="${PHOENIX_CA_HEALTH_TIMEOUT:-60}"

id="${PHOENIX_CTID:-${1:-}}"
[ -n "$id" ] || die "usage: phoenix_hypervisor_lxc_103.sh <CTID> (or PHOENIX_CTID)"
[ -d "$(p "$SSL")" ] ||
    die "$SSL is missing: container $id needs the CA state directory bind-mounted there (mount_points)"

domain="$(input '.globals.domain_name')"
[ -n "$domain" ] || die "globals.domain_name is not set: the CA's names derive from it"
ca_name="$(input '.globals.step_ca.root_ca_name')"
ca_name="${ca_name:-Phoenix Internal CA}"
dns_name="$(input '.globals.step_ca.dns_name')"
dns_name="${dns_name:-ca.$domain}"
provisioner="$(input '.globals.step_ca.provisioner_name')"
provisioner="${provisioner:-admin@$domain}"
ip="$(input '.container.network_config.ip')"
ip="${ip%%/*}"
case "$ip" in dhcp | manual) ip="" ;; esac

export STEPPATH
STEPPATH="$(p "$SSL")"
CA_JSON="$STEPPATH/config/ca.json"

# The CA's own name resolves locally (health checks, step ca commands inside the container).
if ! grep -qE "^127\.0\.0\.1[[:space:]](.*[[:space:]])?${dns_name//./\\.}([[:space:]]|$)" "$(p /etc/hosts)" 2>/dev/null; then
    printf '127.0.0.1 %s\n' "$dns_name" >>"$(p /etc/hosts)"
    log "added $dns_name to /etc/hosts"
fi

# A password file: kept when present (mode tightened to 600: the shell version made the
# directory world-writable), else, before the CA exists, 32 random bytes.
password_file() {
    local f="$SSL/$1" pw
    if [ -s "$(p "$f")" ]; then
        if [ "$(stat -c '%a' "$(p "$f")")" != 600 ]; then
            chmod 600 "$(p "$f")"
            log "made $f private (600)"
        fi
        return 0
    fi
    if [ -f "$CA_JSON" ]; then
        log "warning: $f is missing although the CA exists; not inventing one (it would not match)"
        return 0
    fi
    pw="$(openssl rand -base64 32)" || die "cannot generate $f (openssl rand)"
    [ -n "$pw" ] || die "openssl rand gave an empty password for $f"
    printf '%s\n' "$pw" | write_file "$f" 600 || true
}

changed=0
password_file ca_password.txt
password_file provisioner_password.txt
if [ ! -f "$CA_JSON" ]; then
    dns_args=(--dns "$dns_name" --dns "$domain" --dns "*.$domain" --dns localhost --dns 127.0.0.1)
    [ -z "$ip" ] || dns_args+=(--dns "$ip")
    log "initialising the CA \"$ca_name\" ($dns_name) in $SSL"
    step ca init --deployment-type standalone --name "$ca_name" "${dns_args[@]}" \
        --address :9000 --provisioner "$provisioner" \
        --password-file "$STEPPATH/ca_password.txt" \
        --provisioner-password-file "$STEPPATH/provisioner_password.txt" ||
        die "step ca init failed in container $id"
    [ -f "$CA_JSON" ] || die "step ca init did not create $SSL/config/ca.json"
    changed=1
fi

if ! jq -e '[.authority.provisioners[]? | select(.type == "ACME")] | length > 0' "$CA_JSON" >/dev/null; then
    step ca provisioner add acme --type ACME --ca-config "$CA_JSON" ||
        die "cannot add the ACME provisioner to $SSL/config/ca.json"
    changed=1
fi

root="$STEPPATH/certs/root_ca.crt"
intermediate="$STEPPATH/certs/intermediate_ca.crt"
[ -s "$root" ] || die "the CA has no root certificate ($SSL/certs/root_ca.crt)"
[ -s "$intermediate" ] || die "the CA has no intermediate certificate ($SSL/certs/intermediate_ca.crt)"
write_file "$SSL/phoenix_root_ca.crt" 644 <"$root" || true
cat "$intermediate" "$root" | write_file "$SSL/phoenix_ca.crt" 644 || true
fingerprint="$(step certificate fingerprint "$root")" || die "cannot read the root's fingerprint"
[ -n "$fingerprint" ] || die "the root's fingerprint is empty"
printf '%s\n' "$fingerprint" | write_file "$SSL/root_ca.fingerprint" 644 || true

if [ "$changed" -eq 1 ] && systemctl is-active --quiet step-ca 2>/dev/null; then
    systemctl restart step-ca
fi
service_on step-ca

deadline=$((SECONDS + HEALTH_TIMEOUT))
until step ca health --ca-url "https://127.0.0.1:9000" --root "$root" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] ||
        die "step-ca in container $id is not healthy after ${HEALTH_TIMEOUT}s (journalctl -u step-ca)"
    sleep 2
done

if [ ! -e "$(p "$SSL/ca.ready")" ]; then
    touch "$(p "$SSL/ca.ready")"
    log "wrote $SSL/ca.ready"
fi
log "step-ca: ready (root fingerprint $fingerprint)"
