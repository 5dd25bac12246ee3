#!/bin/bash
set -euo pipefail
# lxc/docker.sh: Docker's repository, packages, fuse-overlayfs daemon.json and the service
# once; a GPU container also gets NVIDIA's toolkit and runtime; a second run changes nothing;
# an AppArmor/runc breakage in `docker info` fails pointing at lxc-phoenix-v2.

os_release() {
    mkdir -p "$PHOENIX_ROOTFS/etc"
    printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n' \
        >"$PHOENIX_ROOTFS/etc/os-release"
}

new_case docker '{"ctid": 900, "container": {"unprivileged": true, "gpu_assignment": "none"}}'
os_release
with_package ca-certificates curl jq
run_installer lxc/docker.sh
assert_file /etc/apt/keyrings/docker.asc
assert_file /etc/apt/sources.list.d/docker.list \
    "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable"
assert_called "apt-get install -y -q --no-install-recommends docker-ce docker-ce-cli containerd.io docker-compose-plugin fuse-overlayfs"
assert_file /etc/docker/daemon.json '"storage-driver": "fuse-overlayfs"'
assert_called "systemctl restart docker"
assert_called "systemctl enable docker"
[ ! -e "$PHOENIX_ROOTFS/etc/apt/sources.list.d/nvidia-container-toolkit.list" ] || fail "no GPU, no toolkit"
assert_idempotent lxc/docker.sh

# An operator's key in daemon.json is kept; a missing storage driver is put back and docker
# restarted.
echo '{"log-driver": "journald"}' >"$PHOENIX_ROOTFS/etc/docker/daemon.json"
run_installer lxc/docker.sh
assert_file /etc/docker/daemon.json '"log-driver": "journald"'
assert_file /etc/docker/daemon.json '"storage-driver": "fuse-overlayfs"'
assert_called "systemctl restart docker"
assert_not_called "apt-get"

# Privileged: Docker's default storage driver.
new_case docker_privileged '{"ctid": 900, "container": {"unprivileged": false}}'
os_release
with_package ca-certificates curl jq
run_installer lxc/docker.sh
if grep -q storage-driver "$PHOENIX_ROOTFS/etc/docker/daemon.json"; then
    fail "a privileged container got fuse-overlayfs"
fi
assert_idempotent lxc/docker.sh

# GPU: toolkit repository and package, the nvidia runtime, no-cgroups.
new_case docker_gpu '{"ctid": 901, "container": {"unprivileged": true, "gpu_assignment": "0"}}'
os_release
with_package ca-certificates curl jq
mkdir -p "$PHOENIX_ROOTFS/etc/nvidia-container-runtime"
printf '[nvidia-container-cli]\n#no-cgroups = false\nldconfig = "@/sbin/ldconfig.real"\n' \
    >"$PHOENIX_ROOTFS/etc/nvidia-container-runtime/config.toml"
run_installer lxc/docker.sh
# shellcheck disable=SC2016 # apt's $(ARCH)
assert_file /etc/apt/sources.list.d/nvidia-container-toolkit.list \
    'deb [signed-by=/etc/apt/keyrings/nvidia-container-toolkit.asc] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /'
assert_called "apt-get install -y -q --no-install-recommends docker-ce docker-ce-cli containerd.io docker-compose-plugin fuse-overlayfs nvidia-container-toolkit"
assert_file /etc/docker/daemon.json '"default-runtime": "nvidia"'
assert_file /etc/docker/daemon.json '"path": "nvidia-container-runtime"'
assert_file /etc/nvidia-container-runtime/config.toml "no-cgroups = true"
[ "$(jq -r 'keys_unsorted | join(",")' "$PHOENIX_ROOTFS/etc/docker/daemon.json")" = \
    "default-runtime,runtimes,storage-driver" ] || fail "daemon.json keys are not sorted"
[ "$(grep -c '^READ apt-get update' "$STUB_LOG")" -eq 1 ] || fail "expected exactly one apt-get update"
assert_idempotent lxc/docker.sh

# The known runc/AppArmor breakage.
new_case docker_apparmor '{"ctid": 902, "container": {"unprivileged": true}}'
os_release
with_package ca-certificates curl jq
echo "Cannot connect: runc: apparmor failed to apply profile: write /proc/self/attr/apparmor/exec: permission denied" \
    >"$STUB_STATE/docker_info"
echo 1 >"$STUB_STATE/docker_info_rc"
run_fails lxc/docker.sh "lxc-phoenix-v2"

# A failed run leaves no temporary directory behind (the EXIT trap once removed a function's
# `local tmp` instead of the installer's own).
new_case docker_key_fails '{"ctid": 902, "container": {"unprivileged": true}}'
os_release
with_package ca-certificates curl jq
mkdir -p "$CASE/tmp"
touch "$STUB_STATE/curl_fail"
TMPDIR="$CASE/tmp" run_fails lxc/docker.sh "cannot download the repository key"
[ -z "$(ls -A "$CASE/tmp")" ] || fail "a failed run left $(ls -A "$CASE/tmp") behind"
