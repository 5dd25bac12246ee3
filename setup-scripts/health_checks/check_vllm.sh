#!/bin/bash
set -euo pipefail
# Health check of a vLLM container, run ON THE HOST: check_vllm.sh [--port N] <CTID>
# (PHOENIX_CTID as fallback; port 8000 by default, ServerConfig.port's usual value).
# Read-only probes through `pct exec`: vllm_model_server.service is active and the server's
# /health answers. Exit 0 when healthy; 1 with a message; 2 on bad usage.

port=8000
id="${PHOENIX_CTID:-}"
while [ "$#" -gt 0 ]; do
    case "$1" in
    --port)
        [ "$#" -ge 2 ] || { echo "check_vllm.sh: --port needs a value" >&2; exit 2; }
        port="$2"
        shift 2
        ;;
    *)
        id="$1"
        shift
        ;;
    esac
done
if ! [[ "$id" =~ ^[0-9]+$ ]] || ! [[ "$port" =~ ^[0-9]+$ ]]; then
    echo "usage: check_vllm.sh [--port N] <CTID>" >&2
    exit 2
fi

unhealthy() {
    echo "FAIL vLLM in container $id: $*" >&2
    exit 1
}

pct exec "$id" -- systemctl is-active --quiet vllm_model_server.service ||
    unhealthy "vllm_model_server.service is not active (pct exec $id -- journalctl -u vllm_model_server)"
pct exec "$id" -- curl -fsS --max-time 10 "http://127.0.0.1:$port/health" ||
    unhealthy "http://127.0.0.1:$port/health does not answer (the model may still be loading)"
echo "OK vLLM in container $id (port $port)"
