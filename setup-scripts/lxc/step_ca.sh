#!/bin/bash
set -euo pipefail
# Feature step_ca (containers): the Smallstep CA (`step-ca`, and `step-cli`) from Smallstep's
# apt repository, and a step-ca.service unit (STEPPATH=/etc/step-ca/ssl, the CA's config
# /etc/step-ca/ssl/config/ca.json and password file /etc/step-ca/ssl/ca_password.txt).
# The unit is enabled, not started: the step-ca application script initialises the CA and
# starts it.
# Reads: nothing but the library's defaults.
# Idempotent: the repository key is fetched only when missing, the list and the unit are
# written only when they differ (`apt-get update` / `systemctl daemon-reload` only then),
# packages are installed only when missing, the unit is enabled only when it is not.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

UNIT=/etc/systemd/system/step-ca.service

smallstep_repo
apt_install step-cli step-ca

if write_file "$UNIT" 644 <<'UNIT'; then
[Unit]
Description=Smallstep CA (Phoenix)
Wants=network-online.target
After=network-online.target
ConditionPathExists=/etc/step-ca/ssl/config/ca.json

[Service]
Type=simple
Environment=STEPPATH=/etc/step-ca/ssl
WorkingDirectory=/etc/step-ca/ssl
ExecStart=/usr/bin/step-ca /etc/step-ca/ssl/config/ca.json --password-file /etc/step-ca/ssl/ca_password.txt
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
    daemon_reload
fi
if ! systemctl is-enabled --quiet step-ca 2>/dev/null; then
    systemctl enable step-ca
fi

log "step_ca: done"
