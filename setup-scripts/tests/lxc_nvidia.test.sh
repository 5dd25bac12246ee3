#!/bin/bash
set -euo pipefail
# lxc/nvidia.sh: the runfile of the host's driver version downloaded and run once without a
# kernel module; a second run (nvidia-smi reports the version) changes nothing; no version,
# no /dev/nvidia0 or a runfile of another version fail with their message.

URL=https://download.nvidia.com/XFree86/Linux-x86_64/580.82.07/NVIDIA-Linux-x86_64-580.82.07.run
export PHOENIX_NVIDIA_WAIT=0

new_case nvidia '{"ctid": 901, "container": {"gpu_assignment": "0"}}'
export NVIDIA_DRIVER_VERSION=580.82.07 NVIDIA_RUNFILE_URL="$URL"
with_package ca-certificates curl kmod
mkdir -p "$PHOENIX_ROOTFS/dev"
touch "$PHOENIX_ROOTFS/dev/nvidia0"
run_installer lxc/nvidia.sh
grep -q "^READ curl -fsSL -o .*/NVIDIA-Linux-x86_64-580.82.07.run $URL" "$STUB_LOG" ||
    fail "the runfile was not downloaded"
assert_called "NVIDIA-Linux-x86_64-580.82.07.run --silent --no-kernel-module --no-x-check --no-nouveau-check --no-nvidia-modprobe --no-dkms"
assert_idempotent lxc/nvidia.sh
if grep -q '^READ curl' "$STUB_LOG"; then fail "the second run downloaded again"; fi

# Another driver in the guest: replaced.
echo 550.54.14 >"$STUB_STATE/nvidia_version"
run_installer lxc/nvidia.sh
assert_called "NVIDIA-Linux-x86_64-580.82.07.run --silent --no-kernel-module"

# From the inputs' globals when the environment has none.
new_case nvidia_globals "{\"ctid\": 901, \"container\": {}, \"globals\": {\"nvidia_driver_version\": \"580.82.07\", \"nvidia_runfile_url\": \"$URL\"}}"
unset NVIDIA_DRIVER_VERSION NVIDIA_RUNFILE_URL
with_package ca-certificates curl kmod
mkdir -p "$PHOENIX_ROOTFS/dev"
touch "$PHOENIX_ROOTFS/dev/nvidia0"
run_installer lxc/nvidia.sh
assert_called "NVIDIA-Linux-x86_64-580.82.07.run --silent"
assert_idempotent lxc/nvidia.sh

# No driver version anywhere.
new_case nvidia_no_version '{"ctid": 901, "container": {}}'
mkdir -p "$PHOENIX_ROOTFS/dev"
touch "$PHOENIX_ROOTFS/dev/nvidia0"
run_fails lxc/nvidia.sh "NVIDIA_DRIVER_VERSION is not set"

# No GPU passed through.
new_case nvidia_no_device '{"ctid": 901, "container": {}}'
export NVIDIA_DRIVER_VERSION=580.82.07 NVIDIA_RUNFILE_URL="$URL"
run_fails lxc/nvidia.sh "/dev/nvidia0 is missing"
assert_not_called "--silent"

# A runfile of another version.
new_case nvidia_wrong_runfile '{"ctid": 901, "container": {}}'
export NVIDIA_DRIVER_VERSION=570.00.01
mkdir -p "$PHOENIX_ROOTFS/dev"
touch "$PHOENIX_ROOTFS/dev/nvidia0"
run_fails lxc/nvidia.sh "is not the .run installer of driver 570.00.01"
