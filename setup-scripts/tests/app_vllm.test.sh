#!/bin/bash
set -euo pipefail
# apps/phoenix_hypervisor_lxc_vllm.sh: the unit generated from vllm_engine_config (the
# reference's CT 910 gives the spec's argument list), written once, reloaded and started
# once; a changed config restarts the server; no config, no model or no vLLM fails.

APP=apps/phoenix_hypervisor_lxc_vllm.sh
UNIT=/etc/systemd/system/vllm_model_server.service
CT910='{"ctid": 910, "container": {"name": "vllm-qwen2.5-7b-awq", "vllm_engine_config": {
  "ModelConfig": {"model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "trust_remote_code": true, "dtype": "auto", "max_model_len": 4096},
  "CacheConfig": {"quantization": "awq_marlin", "gpu_memory_utilization": 0.5},
  "ParallelConfig": {"tensor_parallel_size": 2},
  "ServerConfig": {"host": "0.0.0.0", "port": 8000, "served_model_name": "qwen2.5-7b-awq"}}},
  "globals": {}}'

fake_vllm() {
    mkdir -p "$PHOENIX_ROOTFS/opt/vllm/bin"
    printf '#!/bin/sh\n' >"$PHOENIX_ROOTFS/opt/vllm/bin/python"
    chmod +x "$PHOENIX_ROOTFS/opt/vllm/bin/python"
}

new_case vllm "$CT910"
export PHOENIX_CTID=910
fake_vllm
run_installer "$APP" 910
assert_file "$UNIT" "ExecStart=/opt/vllm/bin/python -m vllm.entrypoints.openai.api_server --model Qwen/Qwen2.5-7B-Instruct-AWQ --trust_remote_code --dtype auto --max_model_len 4096 --quantization awq_marlin --gpu_memory_utilization 0.5 --tensor_parallel_size 2 --host 0.0.0.0 --port 8000 --served_model_name qwen2.5-7b-awq"
assert_file "$UNIT" "WorkingDirectory=/opt/vllm"
assert_called "systemctl daemon-reload"
assert_called "systemctl enable vllm_model_server.service"
assert_called "systemctl start vllm_model_server.service"
if grep -q 'restart' "$STUB_LOG"; then fail "a server that was not running was restarted"; fi
assert_idempotent "$APP" 910

# A changed config: rewritten, reloaded, the running server restarted. camelCase keys are
# kebab-cased, false/null skipped, objects passed as (quoted) JSON.
jq '.container.vllm_engine_config.ModelConfig += {"maxModelLen": 8192, "enforce_eager": false, "revision": null}
    | .container.vllm_engine_config.ServerConfig += {"overrideGenerationConfig": {"temperature": 0.2}}' \
    "$PHOENIX_INPUTS" >"$CASE/new.json"
mv "$CASE/new.json" "$PHOENIX_INPUTS"
run_installer "$APP" 910
assert_file "$UNIT" "--max_model_len 4096 --max-model-len 8192 --quantization"
assert_file "$UNIT" '--override-generation-config "{\"temperature\":0.2}"'
if grep -q 'enforce\|revision' "$PHOENIX_ROOTFS$UNIT"; then fail "false/null keys were passed"; fi
assert_called "systemctl daemon-reload"
assert_called "systemctl restart vllm_model_server.service"
assert_idempotent "$APP" 910

# No vllm_engine_config: non-zero, nothing written.
new_case vllm_no_config '{"ctid": 911, "container": {"name": "x"}, "globals": {}}'
fake_vllm
if bash "$SCRIPTS/$APP" 911 >"$CASE/out" 2>&1; then fail "succeeded without vllm_engine_config"; fi
grep -q 'vllm_engine_config' "$CASE/out" || fail "the message does not name vllm_engine_config"
[ ! -e "$PHOENIX_ROOTFS$UNIT" ] || fail "a unit was written without a config"
[ -z "$(mutations)" ] || fail "a failed run changed something"

# No model: non-zero.
new_case vllm_no_model '{"ctid": 912, "container": {"vllm_engine_config": {"ServerConfig": {"port": 8000}}}, "globals": {}}'
fake_vllm
if bash "$SCRIPTS/$APP" 912 >"$CASE/out" 2>&1; then fail "succeeded without a model"; fi
[ ! -e "$PHOENIX_ROOTFS$UNIT" ] || fail "a unit was written without a model"

# vLLM not installed (no vllm feature): non-zero, naming /opt/vllm.
new_case vllm_not_installed "$CT910"
if bash "$SCRIPTS/$APP" 910 >"$CASE/out" 2>&1; then fail "succeeded without /opt/vllm"; fi
grep -q '/opt/vllm' "$CASE/out" || fail "the message does not name /opt/vllm"
