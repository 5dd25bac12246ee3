#!/bin/bash
set -euo pipefail
# Feature docker (containers): Docker Engine from Docker's apt repository (docker-ce,
# docker-ce-cli, containerd.io, docker-compose-plugin) and fuse-overlayfs.
# Reads: .container.unprivileged (true or absent: storage driver fuse-overlayfs in
# /etc/docker/daemon.json), .container.gpu_assignment (non-empty and not "none": NVIDIA's
# container toolkit repository and nvidia-container-toolkit, the nvidia runtime as Docker's
# default; unprivileged also gets no-cgroups in the toolkit's config), /etc/os-release.
# Unprivileged containers need the host-side arrangement of seed 004: features nesting=1 and
# keyctl=1 and the AppArmor profile lxc-phoenix-v2 (apparmor_manages_nesting true); the
# preflight (`docker info`) fails with that advice when Docker's runtime is blocked.
# Idempotent: repository keys are fetched only when missing, lists and daemon.json are
# written only when they differ (apt-get update / docker restart only then; daemon.json is
# merged into what is there, keys sorted), packages are installed only when missing,
# docker is enabled and started only when it is not.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

KEYRING=/etc/apt/keyrings/docker.asc
LIST=/etc/apt/sources.list.d/docker.list
NV_KEYRING=/etc/apt/keyrings/nvidia-container-toolkit.asc
NV_LIST=/etc/apt/sources.list.d/nvidia-container-toolkit.list
DAEMON_JSON=/etc/docker/daemon.json
PROFILE_ADVICE="the container needs features nesting=1,keyctl=1 and \"apparmor_profile\": \"lxc-phoenix-v2\" \
with \"apparmor_manages_nesting\": true (etc/apparmor/lxc-phoenix-v2, loaded on the host); fix the \
container's configuration and converge it again"

tmp=""
scratch tmp

unprivileged="$(input '.container.unprivileged | tostring')"
gpu="$(input '.container.gpu_assignment')"
gpu_on=0
case "$gpu" in "" | none) ;; *) gpu_on=1 ;; esac

[ -r "$(p /etc/os-release)" ] || die "cannot read /etc/os-release (which distribution is this?)"
os_release() {
    sed -n "s/^$1=//p" "$(p /etc/os-release)" | tr -d "\"'" | head -n 1
}
os_id="$(os_release ID)"
codename="$(os_release VERSION_CODENAME)"
case "$os_id" in
debian | ubuntu) ;;
*) die "Docker's repository has no packages for distribution '${os_id:-unknown}' (debian and ubuntu only)" ;;
esac
[ -n "$codename" ] || die "/etc/os-release names no VERSION_CODENAME"

apt_install ca-certificates curl jq
arch="$(dpkg --print-architecture)"

lists_changed=0
apt_key "https://download.docker.com/linux/$os_id/gpg" "$KEYRING"
printf 'deb [arch=%s signed-by=%s] https://download.docker.com/linux/%s %s stable\n' \
    "$arch" "$KEYRING" "$os_id" "$codename" | write_file "$LIST" 644 && lists_changed=1
packages=(docker-ce docker-ce-cli containerd.io docker-compose-plugin fuse-overlayfs)
if [ "$gpu_on" -eq 1 ]; then
    apt_key https://nvidia.github.io/libnvidia-container/gpgkey "$NV_KEYRING"
    # shellcheck disable=SC2016 # $(ARCH) is apt's own variable
    printf 'deb [signed-by=%s] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n' \
        "$NV_KEYRING" | write_file "$NV_LIST" 644 && lists_changed=1
    packages+=(nvidia-container-toolkit)
fi
if [ "$lists_changed" -eq 1 ]; then
    apt_refresh
fi
apt_install "${packages[@]}"

# daemon.json: what this feature owns merged into what is there, keys sorted.
want='{}'
if [ "$unprivileged" != "false" ]; then
    want="$(jq -cn '{"storage-driver": "fuse-overlayfs"}')"
fi
if [ "$gpu_on" -eq 1 ]; then
    want="$(jq -c '. + {"default-runtime": "nvidia",
        "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}}' <<<"$want")"
fi
current='{}'
if [ -s "$(p "$DAEMON_JSON")" ]; then
    current="$(jq -c . "$(p "$DAEMON_JSON")")" || die "$DAEMON_JSON is not valid JSON; fix or remove it"
fi
config_changed=0
jq -S --argjson want "$want" '. * $want' <<<"$current" | write_file "$DAEMON_JSON" 644 && config_changed=1

# The toolkit cannot manage cgroups from inside an unprivileged container.
if [ "$gpu_on" -eq 1 ] && [ "$unprivileged" != "false" ]; then
    toml="$(p /etc/nvidia-container-runtime/config.toml)"
    [ -f "$toml" ] || die "nvidia-container-toolkit left no /etc/nvidia-container-runtime/config.toml"
    if ! grep -qx 'no-cgroups = true' "$toml"; then
        sed -E 's/^#? *no-cgroups *=.*/no-cgroups = true/' "$toml" >"$tmp/config.toml"
        grep -qx 'no-cgroups = true' "$tmp/config.toml" ||
            die "cannot set no-cgroups in /etc/nvidia-container-runtime/config.toml"
        write_file /etc/nvidia-container-runtime/config.toml 644 <"$tmp/config.toml" || true
        config_changed=1
    fi
fi

if [ "$config_changed" -eq 1 ]; then
    systemctl restart docker
fi
service_on docker

# Preflight: Docker's runtime must work in this container.
if ! info="$(docker info 2>&1)"; then
    case "$info" in
    *[Aa]pp[Aa]rmor* | *runc* | *"permission denied"* | *"operation not permitted"*)
        die "docker info fails with an AppArmor/runc error in container ${PHOENIX_CTID:-?}: $PROFILE_ADVICE. docker info said: $info"
        ;;
    *) die "docker info fails in container ${PHOENIX_CTID:-?}: $info" ;;
    esac
fi
case "$info" in
*"apparmor"*"denied"* | *"runc"*"permission denied"*)
    die "docker info reports an AppArmor/runc breakage in container ${PHOENIX_CTID:-?}: $PROFILE_ADVICE. docker info said: $info"
    ;;
esac

log "docker: done"
