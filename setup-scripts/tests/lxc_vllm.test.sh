#!/bin/bash
set -euo pipefail
# lxc/vllm.sh: a venv at /opt/vllm and the wanted vllm once; a second run changes nothing;
# another version is installed over it; without a working nvidia-smi it fails.

new_case vllm '{"ctid": 910, "container": {"vllm_version": "0.10.1"}}'
with_package python3 python3-venv python3-dev build-essential
echo 580.82.07 >"$STUB_STATE/nvidia_version"
run_installer lxc/vllm.sh
assert_called "python3 -m venv $PHOENIX_ROOTFS/opt/vllm"
assert_called "python -m pip install --no-input vllm==0.10.1"
[ -x "$PHOENIX_ROOTFS/opt/vllm/bin/python" ] || fail "no venv python"
assert_idempotent lxc/vllm.sh

# The default version, into the existing venv.
printf '{"ctid": 910, "container": {}}\n' >"$PHOENIX_INPUTS"
run_installer lxc/vllm.sh
assert_called "python -m pip install --no-input vllm==0.10.2"
assert_not_called "venv"
assert_idempotent lxc/vllm.sh

new_case vllm_no_gpu '{"ctid": 910, "container": {}}'
run_fails lxc/vllm.sh "nvidia-smi does not work"
assert_not_called "pip"

# With a vllm_engine_config, the feature also writes the server unit (once).
new_case vllm_unit '{"ctid": 950, "container": {"vllm_engine_config": {"ModelConfig": {"model": "Qwen/Qwen2.5-7B", "trust_remote_code": true}, "ServerConfig": {"port": 8000}}}}'
with_package python3 python3-venv python3-dev build-essential
echo 580.82.07 >"$STUB_STATE/nvidia_version"
run_installer lxc/vllm.sh
assert_file /etc/systemd/system/vllm_model_server.service "api_server --model Qwen/Qwen2.5-7B --trust_remote_code --port 8000"
assert_called "systemctl enable vllm_model_server.service"
assert_idempotent lxc/vllm.sh
