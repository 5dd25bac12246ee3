#!/bin/bash
set -euo pipefail
# Application script for vLLM containers: the systemd unit vllm_model_server.service,
# generated from the container's `vllm_engine_config` (input `.container.vllm_engine_config`).
#
# The server's arguments come from the sub-objects ModelConfig, CacheConfig, ParallelConfig
# and ServerConfig, in that order, each key in its configured order: camelCase keys are
# kebab-cased (maxModelLen -> max-model-len), snake_case keys are kept; `true` gives `--key`,
# `false`/null are skipped, anything else gives `--key value` (objects and arrays as JSON).
# Idempotent: the unit is written only when different; systemd is reloaded and the server
# restarted only then; enabled and started when it is not.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

UNIT=vllm_model_server.service
PYTHON=/opt/vllm/bin/python

id="${PHOENIX_CTID:-${1:-}}"
[ -n "$id" ] || die "usage: phoenix_hypervisor_lxc_vllm.sh <CTID> (or PHOENIX_CTID)"

[ -n "$(input '.container.vllm_engine_config')" ] ||
    die "container $id has no vllm_engine_config: nothing says which model to serve"
[ -x "$(p "$PYTHON")" ] || die "$PYTHON is missing: the vllm feature installs vLLM into /opt/vllm"

# One argument per line; values systemd-quoted when they need it (% and $ escaped).
args="$(input '
    def kebab: gsub("(?<a>[a-z0-9])(?<b>[A-Z])"; "\(.a)-\(.b)") | ascii_downcase;
    def quote: if test("^[A-Za-z0-9._/:=@,+-]+$") then .
               else "\"" + (gsub("\\\\"; "\\\\") | gsub("\""; "\\\"")) + "\"" end
               | gsub("%"; "%%") | gsub("\\$"; "$$");
    .container.vllm_engine_config as $c
    | if ($c | type) != "object" then error("vllm_engine_config is not an object") else . end
    | [ ("ModelConfig", "CacheConfig", "ParallelConfig", "ServerConfig") as $s
        | ($c[$s] // {})
        | if type != "object" then error("vllm_engine_config.\($s) is not an object") else . end
        | to_entries[]
        | select(.value != false and .value != null)
        | ("--" + (.key | if test("_") then . else kebab end)),
          (if .value == true then empty
           elif (.value | type) == "string" then .value | quote
           else .value | tojson | quote end) ]
    | join(" ")')" || die "cannot read vllm_engine_config of container $id"
[ -n "$args" ] || die "vllm_engine_config of container $id gives no arguments (no ModelConfig.model?)"
case " $args " in
*" --model "*) ;;
*) die "vllm_engine_config of container $id names no model (ModelConfig.model)" ;;
esac

changed=0
if write_file "/etc/systemd/system/$UNIT" 644 <<UNIT_FILE; then changed=1; fi
[Unit]
Description=vLLM OpenAI-compatible model server (phoenix, container $id)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
WorkingDirectory=/opt/vllm
Environment=PATH=/opt/vllm/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
Environment=LD_LIBRARY_PATH=/usr/local/cuda/lib64
Environment=HF_HOME=/opt/vllm/huggingface
ExecStart=$PYTHON -m vllm.entrypoints.openai.api_server $args
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT_FILE

if [ "$changed" -eq 1 ]; then
    daemon_reload
    if systemctl is-active --quiet "$UNIT" 2>/dev/null; then
        systemctl restart "$UNIT"
    fi
fi
service_on "$UNIT"

log "vllm: $UNIT serves with: $args"
