#!/bin/bash
set -euo pipefail
# Health check of the Nginx gateway container, run ON THE HOST:
# check_nginx_gateway.sh [ARGS...] <CTID> (PHOENIX_CTID as fallback).
# Read-only probes through `pct exec`: the configuration is valid (`nginx -t`) and the
# nginx service is active. Exit 0 when healthy; 1 with a message; 2 on bad usage.

id="${*: -1}"
id="${id:-${PHOENIX_CTID:-}}"
if ! [[ "$id" =~ ^[0-9]+$ ]]; then
    echo "usage: check_nginx_gateway.sh [ARGS...] <CTID>" >&2
    exit 2
fi

unhealthy() {
    echo "FAIL nginx in container $id: $*" >&2
    exit 1
}

pct exec "$id" -- nginx -t || unhealthy "the configuration is invalid (nginx -t above)"
pct exec "$id" -- systemctl is-active --quiet nginx || unhealthy "the nginx service is not active"
echo "OK nginx in container $id"
