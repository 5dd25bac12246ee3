#!/bin/bash
set -euo pipefail
# Feature nvidia (containers): the NVIDIA driver's user-space (nvidia-smi, libcuda, ...)
# matched to the host's driver; never a kernel module (the host's module is shared).
# Reads: NVIDIA_DRIVER_VERSION (or .globals.nvidia_driver_version; required),
# NVIDIA_RUNFILE_URL (or .globals.nvidia_runfile_url; the .run installer of that version),
# PHOENIX_NVIDIA_WAIT (seconds to wait for /dev/nvidia0, default 15).
# Idempotent: nothing is done when `nvidia-smi` already reports the wanted driver version;
# otherwise the runfile is downloaded to a temporary directory and run with
# --no-kernel-module, then the version is checked.
# shellcheck source=../lib/common.sh
. "${PHOENIX_LIB:-$(dirname "$0")/../lib/common.sh}"

want="${NVIDIA_DRIVER_VERSION:-$(input '.globals.nvidia_driver_version')}"
[ -n "$want" ] || die "NVIDIA_DRIVER_VERSION is not set: the host's driver version \
(nvidia_driver_version in the hypervisor configuration) is what this container's user-space must match"

# The GPU must be passed through (the host's gpu_assignment bind-mounts /dev/nvidia*).
wait_s="${PHOENIX_NVIDIA_WAIT:-15}"
while [ ! -e "$(p /dev/nvidia0)" ] && [ "$wait_s" -gt 0 ]; do
    sleep 1
    wait_s=$((wait_s - 1))
done
[ -e "$(p /dev/nvidia0)" ] || die "/dev/nvidia0 is missing in container ${PHOENIX_CTID:-?}: the GPU is \
not passed through (set gpu_assignment for this container and converge it; the host needs the NVIDIA driver loaded)"

installed_version() {
    nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '[:space:]'
}

current="$(installed_version)" || current=""
if [ "$current" = "$want" ]; then
    log "nvidia: driver user-space $want already installed"
    exit 0
fi

url="${NVIDIA_RUNFILE_URL:-$(input '.globals.nvidia_runfile_url')}"
[ -n "$url" ] || die "NVIDIA_RUNFILE_URL is not set (nvidia_runfile_url in the hypervisor configuration)"
runfile="$(basename "$url")"
case "$runfile" in
*"$want"*.run) ;;
*) die "NVIDIA_RUNFILE_URL ($url) is not the .run installer of driver $want (NVIDIA_DRIVER_VERSION)" ;;
esac

apt_install ca-certificates curl kmod
tmp=""
scratch tmp
log "nvidia: installing user-space $want (was: ${current:-none})"
curl -fsSL -o "$tmp/$runfile" "$url" || die "cannot download $url"
[ -s "$tmp/$runfile" ] || die "the download of $url is empty"
sh "$tmp/$runfile" --silent --no-kernel-module --no-x-check --no-nouveau-check \
    --no-nvidia-modprobe --no-dkms || die "the NVIDIA installer $runfile failed (see /var/log/nvidia-installer.log)"

current="$(installed_version)" || current=""
[ "$current" = "$want" ] || die "after installing $runfile nvidia-smi reports driver '${current:-nothing}', not $want"
log "nvidia: done ($want)"
