#!/bin/bash
# Shared helpers for phoenix installers (sourced, never run).
set -euo pipefail
#
# The managers push this file into the guest and name it in PHOENIX_LIB; an installer starts
#   set -euo pipefail
#   # shellcheck source=../lib/common.sh
#   . "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"
#
# Inputs (see setup-scripts/README.md): PHOENIX_INPUTS (a JSON file), PHOENIX_NAME,
# PHOENIX_CTID or PHOENIX_VMID, PHOENIX_CA_URL, NVIDIA_*.
# Tests set PHOENIX_ROOTFS to a temporary directory: every path an installer reads or writes
# goes through "$(p /etc/...)", so a test never touches the machine it runs on.

# A path inside the guest's file system (PHOENIX_ROOTFS prefix in tests).
p() {
    printf '%s%s' "${PHOENIX_ROOTFS:-}" "$1"
}

log() {
    printf '%s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# A value of the inputs file: `input '.container.vllm_engine_config'` (jq syntax; empty
# when null or absent).
input() {
    [ -n "${PHOENIX_INPUTS:-}" ] || die "PHOENIX_INPUTS is not set (the manager names the inputs file)"
    [ -r "${PHOENIX_INPUTS}" ] || die "cannot read the inputs file ${PHOENIX_INPUTS}"
    command -v jq >/dev/null 2>&1 || apt_install jq
    jq -r "$1 // empty" "${PHOENIX_INPUTS}"
}

# Whether a Debian package is installed.
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

PHOENIX_APT_UPDATED=0

# Installs the packages that are missing, and only those.
# apt waits for a dpkg lock another apt holds (a fresh guest's apt-daily or
# unattended-upgrades run at boot) instead of failing at once (apt.conf(5):
# DPkg::Lock::Timeout, apt >= 1.9.11: Debian 11, Ubuntu 20.04 and later).
APT_WAIT=(-o DPkg::Lock::Timeout=600)

apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        pkg_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$PHOENIX_APT_UPDATED" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" update -q
        PHOENIX_APT_UPDATED=1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" install -y -q --no-install-recommends "${missing[@]}"
}

# scratch VAR [dir|file]: a temporary directory (or file) in VAR, removed when the installer
# exits, however it exits. The paths live in a global no function shadows: an EXIT trap that
# names `$tmp` sees the `local tmp` of the function `die` exits from (apt_key, write_file), so
# it removed that one and left the installer's own behind.
_PHOENIX_SCRATCH=()
_phoenix_cleanup() {
    local path
    for path in "${_PHOENIX_SCRATCH[@]}"; do rm -rf -- "$path"; done
}
scratch() {
    local made
    if [ "${2:-dir}" = dir ]; then made="$(mktemp -d)"; else made="$(mktemp)"; fi
    _PHOENIX_SCRATCH+=("$made")
    trap _phoenix_cleanup EXIT
    printf -v "$1" '%s' "$made"
}

# An apt repository's signing key at KEYRING, fetched from URL only when it is missing.
apt_key() {
    local url="$1" keyring="$2" tmp
    [ -s "$(p "$keyring")" ] && return 0
    tmp="$(mktemp)"
    if ! curl -fsSL -o "$tmp" "$url" || [ ! -s "$tmp" ]; then
        rm -f "$tmp"
        die "cannot download the repository key $url"
    fi
    write_file "$keyring" 644 <"$tmp" || true
    rm -f "$tmp"
}

# Runs `apt-get update` (after a list changed); apt_install then does not run it again.
apt_refresh() {
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" update -q
    PHOENIX_APT_UPDATED=1
}

# Smallstep's apt repository (step-cli, step-ca): key, list, and an update only when the
# list was written.
smallstep_repo() {
    local keyring=/etc/apt/keyrings/smallstep.asc
    apt_install ca-certificates curl
    apt_key https://packages.smallstep.com/keys/apt/repo-signing-key.gpg "$keyring"
    if printf 'deb [signed-by=%s] https://packages.smallstep.com/stable/debian debs main\n' \
        "$keyring" | write_file /etc/apt/sources.list.d/smallstep.list 644; then
        apt_refresh
    fi
}

# Writes stdin to a guest path with a mode, only when the content or mode differs.
# Returns 0 when it wrote, 1 when the file was already so.
write_file() {
    local path mode tmp
    path="$(p "$1")"
    mode="$2"
    tmp="$(mktemp)"
    cat >"$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path" &&
        [ "$(stat -c '%a' "$path")" = "${mode#0}" ]; then
        rm -f "$tmp"
        return 1
    fi
    mkdir -p "$(dirname "$path")"
    install -m "$mode" "$tmp" "$path"
    rm -f "$tmp"
    log "wrote $1"
    return 0
}

# Enables and starts a systemd unit unless it already is.
service_on() {
    local unit="$1"
    if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        systemctl enable "$unit"
    fi
    if ! systemctl is-active --quiet "$unit" 2>/dev/null; then
        systemctl start "$unit"
    fi
}

# Reloads systemd when a unit file was written.
daemon_reload() {
    systemctl daemon-reload
}

# The vLLM server unit (vllm_model_server.service) for container $1, generated from its
# `vllm_engine_config` (input `.container.vllm_engine_config`): the sub-objects ModelConfig,
# CacheConfig, ParallelConfig and ServerConfig in that order, each key in its configured
# order; camelCase keys kebab-cased (maxModelLen -> max-model-len), snake_case kept; `true`
# gives `--key`, `false`/null are skipped, anything else `--key value` (objects and arrays
# as JSON). Written only when different; systemd reloaded and the server restarted only
# then; enabled and started when it is not. Used by the vllm feature and the vLLM
# application script.
vllm_server_unit() {
    local UNIT=vllm_model_server.service PYTHON=/opt/vllm/bin/python args changed
    [ -n "$(input '.container.vllm_engine_config')" ] ||
        die "container $1 has no vllm_engine_config: nothing says which model to serve"
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
        | join(" ")')" || die "cannot read vllm_engine_config of container $1"
    [ -n "$args" ] || die "vllm_engine_config of container $1 gives no arguments (no ModelConfig.model?)"
    case " $args " in
    *" --model "*) ;;
    *) die "vllm_engine_config of container $1 names no model (ModelConfig.model)" ;;
    esac

    changed=0
    if write_file "/etc/systemd/system/$UNIT" 644 <<UNIT_FILE; then changed=1; fi
[Unit]
Description=vLLM OpenAI-compatible model server (phoenix, container $1)
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
}
