#!/bin/bash
set -euo pipefail
# Feature vllm (containers): vLLM in a virtual environment at /opt/vllm.
# Needs a working GPU (the nvidia feature first: `nvidia-smi` must work). With a
# vllm_engine_config, the systemd unit that serves the model is written too
# (vllm_server_unit in lib/common.sh, shared with the vLLM application script).
# Reads: .container.vllm_version (default below).
# Idempotent: the venv is created only when /opt/vllm/bin/python is missing, and pip runs
# only when `import vllm` there does not report the wanted version.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

DEFAULT_VLLM_VERSION=0.10.2
VENV=/opt/vllm

want="$(input '.container.vllm_version')"
want="${want:-$DEFAULT_VLLM_VERSION}"

nvidia-smi >/dev/null 2>&1 || die "nvidia-smi does not work in container ${PHOENIX_CTID:-?}: \
vLLM needs the GPU (list the nvidia feature before vllm, and set gpu_assignment)"

current="$("$(p "$VENV/bin/python")" -c 'import vllm; print(vllm.__version__)' 2>/dev/null)" || current=""
install_vllm() {
apt_install python3 python3-venv python3-dev build-essential
if [ ! -x "$(p "$VENV/bin/python")" ]; then
    python3 -m venv "$(p "$VENV")" || die "cannot create the virtual environment $VENV"
fi
log "vllm: installing vllm==$want (was: ${current:-none})"
"$(p "$VENV/bin/python")" -m pip install --no-input --upgrade pip ||
    die "cannot upgrade pip in $VENV"
"$(p "$VENV/bin/python")" -m pip install --no-input "vllm==$want" ||
    die "pip cannot install vllm==$want into $VENV"

current="$("$(p "$VENV/bin/python")" -c 'import vllm; print(vllm.__version__)' 2>/dev/null)" || current=""
[ "$current" = "$want" ] || die "after pip install, $VENV reports vllm '${current:-not importable}', not $want"
}

if [ "$current" = "$want" ]; then
    log "vllm: $want already installed in $VENV"
else
    install_vllm
fi
if [ -n "$(input '.container.vllm_engine_config')" ]; then
    vllm_server_unit "${PHOENIX_CTID:-${1:-?}}"
fi
log "vllm: done ($want)"
