#!/bin/bash
set -euo pipefail
# Feature docker (VMs): plain Docker Engine from Docker's apt repository (overlay2, the
# default storage driver; no fuse-overlayfs, which only unprivileged containers need).
# Idempotent: the key is fetched only when absent, the list written only when different,
# `apt-get update` only when the list was written, packages installed only when missing,
# the VM's user (input `.vm.user`) added to the docker group only when not a member.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

KEY_URL=https://download.docker.com/linux/ubuntu/gpg
KEYRING=/etc/apt/keyrings/docker.asc
LIST=/etc/apt/sources.list.d/docker.list

os_release="$(p /etc/os-release)"
[ -r "$os_release" ] || die "cannot read /etc/os-release (is this an Ubuntu cloud image?)"
# shellcheck disable=SC1090
codename="$(. "$os_release" && printf '%s' "${UBUNTU_CODENAME:-${VERSION_CODENAME:-}}")"
[ -n "$codename" ] || die "/etc/os-release names no release codename"
arch="$(dpkg --print-architecture)" || die "cannot tell the architecture (dpkg --print-architecture)"

apt_install ca-certificates curl

apt_key "$KEY_URL" "$KEYRING"
if printf 'deb [arch=%s signed-by=%s] https://download.docker.com/linux/ubuntu %s stable\n' \
    "$arch" "$KEYRING" "$codename" | write_file "$LIST" 644; then
    apt_refresh
fi

apt_install docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
service_on docker

user="$(input '.vm.user')"
if [ -n "$user" ]; then
    if ! grep -q "^${user}:" "$(p /etc/passwd)" 2>/dev/null; then
        log "docker: user $user does not exist (yet); not adding it to the docker group"
    elif ! grep -E '^docker:' "$(p /etc/group)" 2>/dev/null | cut -d: -f4 | tr ',' '\n' | grep -qxF "$user"; then
        usermod -aG docker "$user"
    fi
fi

log "docker: done"
