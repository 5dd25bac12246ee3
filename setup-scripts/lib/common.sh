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
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        pkg_installed "$pkg" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$PHOENIX_APT_UPDATED" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        PHOENIX_APT_UPDATED=1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
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
