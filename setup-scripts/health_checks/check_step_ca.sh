#!/bin/bash
set -euo pipefail
# Health check of the Step-CA container, run ON THE HOST: check_step_ca.sh [ARGS...] <CTID>
# (lxc-manager appends the container's ID to health_check.command; PHOENIX_CTID is a
# fallback). Read-only probes through `pct exec`: the step-ca service is active, the root
# exists, `step ca health` answers on :9000 against that root, and ca.ready is there.
# Exit 0 when healthy; 1 with a message naming the failed probe; 2 on bad usage.

STEPPATH=/etc/step-ca/ssl
ROOT="$STEPPATH/certs/root_ca.crt"

id="${*: -1}"
id="${id:-${PHOENIX_CTID:-}}"
if ! [[ "$id" =~ ^[0-9]+$ ]]; then
    echo "usage: check_step_ca.sh [ARGS...] <CTID>" >&2
    exit 2
fi

unhealthy() {
    echo "FAIL step-ca in container $id: $*" >&2
    exit 1
}

pct exec "$id" -- systemctl is-active --quiet step-ca ||
    unhealthy "the step-ca service is not active (pct exec $id -- journalctl -u step-ca)"
pct exec "$id" -- test -s "$ROOT" || unhealthy "the root certificate $ROOT is missing"
pct exec "$id" -- step ca health --ca-url https://127.0.0.1:9000 --root "$ROOT" ||
    unhealthy "step ca health on https://127.0.0.1:9000 failed"
pct exec "$id" -- test -e "$STEPPATH/ca.ready" ||
    unhealthy "$STEPPATH/ca.ready is absent (the application script did not finish)"
echo "OK step-ca in container $id"
