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

id="${PHOENIX_CTID:-${1:-}}"
[ -n "$id" ] || die "usage: phoenix_hypervisor_lxc_vllm.sh <CTID> (or PHOENIX_CTID)"

vllm_server_unit "$id"
