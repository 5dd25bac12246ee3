#!/bin/bash
set -euo pipefail
# Feature base_setup (VMs): the tools every VM gets, IPv6 off, ufw off (the Proxmox firewall
# guards VMs). Idempotent: installs only missing packages; applies the sysctl file only when
# it was written (the shell version ran `sysctl -p`, which never read it [B40]); disables ufw
# only when it is installed and active.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

[ -n "${PHOENIX_VMID:-${1:-}}" ] || die "usage: base_setup.sh <VMID> (or PHOENIX_VMID)"

apt_install curl wget vim htop jq git rsync gnupg ca-certificates nfs-common

if printf '%s\n' \
    'net.ipv6.conf.all.disable_ipv6 = 1' \
    'net.ipv6.conf.default.disable_ipv6 = 1' \
    'net.ipv6.conf.lo.disable_ipv6 = 1' | write_file /etc/sysctl.d/99-disable-ipv6.conf 644; then
    sysctl -p /etc/sysctl.d/99-disable-ipv6.conf
fi

if pkg_installed ufw; then
    if ufw status 2>/dev/null | grep -q '^Status: active'; then
        ufw disable
    fi
    if systemctl is-enabled --quiet ufw 2>/dev/null; then
        systemctl disable --now ufw
    fi
fi

log "base_setup: done"
