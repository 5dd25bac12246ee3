#!/bin/bash
set -euo pipefail
# Application script for the Traefik container (102 in the reference).
#
# Needs the traefik feature's binary (/usr/local/bin/traefik). When the CA's state directory
# is bind-mounted at /etc/step-ca/ssl, waits (bounded: PHOENIX_CA_READY_TIMEOUT seconds,
# default 300; the shell version waited forever) for the CA container's ca.ready, installs
# the CA root as /etc/traefik/certs/ca.pem (when different) and, only when the certificate
# is missing, obtains traefik.<domain> from the CA:
#   step ca certificate traefik.<domain> <crt> <key> --provisioner <name>
#        --provisioner-password-file /etc/step-ca/ssl/provisioner_password.txt
#        --ca-url <PHOENIX_CA_URL, default https://ca.<domain>:9000> --root <CA root>
# (<domain> = input .globals.domain_name; provisioner = input .globals.step_ca.provisioner_name,
# default admin@<domain>). Without the mount it says so and skips the certificate.
# Creates /etc/traefik/acme.json (600) only when absent (the shell version emptied it on every
# run). Restarts traefik only when something changed; enables and starts it when it is not.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

TRAEFIK=/usr/local/bin/traefik
CA_DIR=/etc/step-ca/ssl
CERTS=/etc/traefik/certs
READY_TIMEOUT="${PHOENIX_CA_READY_TIMEOUT:-300}"

id="${PHOENIX_CTID:-${1:-}}"
[ -n "$id" ] || die "usage: phoenix_hypervisor_lxc_102.sh <CTID> (or PHOENIX_CTID)"
[ -x "$(p "$TRAEFIK")" ] ||
    die "$TRAEFIK is missing: container $id needs the traefik feature before this script"

domain="$(input '.globals.domain_name')"
[ -n "$domain" ] || die "globals.domain_name is not set: Traefik's certificate name derives from it"
name="traefik.$domain"
provisioner="$(input '.globals.step_ca.provisioner_name')"
provisioner="${provisioner:-admin@$domain}"
ca_url="${PHOENIX_CA_URL:-https://ca.$domain:9000}"
ip="$(input '.container.network_config.ip')"
ip="${ip%%/*}"
case "$ip" in dhcp | manual) ip="" ;; esac

for d in /etc/traefik /etc/traefik/dynamic "$CERTS" /var/log/traefik; do
    [ -d "$(p "$d")" ] || mkdir -p "$(p "$d")"
done

changed=0
if [ ! -d "$(p "$CA_DIR")" ]; then
    log "traefik: $CA_DIR is not mounted in container $id (no CA state bind mount); skipping the certificate"
else
    deadline=$((SECONDS + READY_TIMEOUT))
    until [ -e "$(p "$CA_DIR/ca.ready")" ]; do
        [ "$SECONDS" -lt "$deadline" ] ||
            die "the CA is not ready after ${READY_TIMEOUT}s: $CA_DIR/ca.ready is absent (has the CA container's application script run?)"
        log "traefik: waiting for $CA_DIR/ca.ready"
        sleep 5
    done
    root="$CA_DIR/phoenix_root_ca.crt"
    password="$CA_DIR/provisioner_password.txt"
    [ -s "$(p "$root")" ] || die "the CA root $root is missing although ca.ready is there"
    [ -s "$(p "$password")" ] || die "the provisioner password $password is missing although ca.ready is there"
    if write_file "$CERTS/ca.pem" 644 <"$(p "$root")"; then changed=1; fi

    crt="$CERTS/$name.crt"
    key="$CERTS/$name.key"
    if [ ! -s "$(p "$crt")" ] || [ ! -s "$(p "$key")" ]; then
        sans=(--san "$name")
        [ -z "$ip" ] || sans+=(--san "$ip")
        step ca certificate "$name" "$(p "$crt")" "$(p "$key")" "${sans[@]}" \
            --provisioner "$provisioner" --provisioner-password-file "$(p "$password")" \
            --ca-url "$ca_url" --root "$(p "$root")" --force ||
            die "cannot obtain the certificate $name from $ca_url"
        chmod 600 "$(p "$key")"
        log "wrote $crt"
        changed=1
    fi
fi

if [ ! -e "$(p /etc/traefik/acme.json)" ]; then
    : | write_file /etc/traefik/acme.json 600 || true
    changed=1
fi

if [ "$changed" -eq 1 ] && systemctl is-active --quiet traefik 2>/dev/null; then
    systemctl restart traefik
fi
service_on traefik

log "traefik: done"
